"""Task fingerprints: has this task changed since the run was stored?

A fingerprint hashes what defines a task's work: its function (qualified
name, and its source text, or its bytecode where no source is available),
the function's default arguments, the task's ``kwargs`` and its dependency
ids. The variables a function closes over are part of it: those with a
content digest (numbers, strings, containers, arrays; see
:mod:`taskbeam.engine._digest`) by their value, functions by their code,
other objects by their type only. Globals are not part of it: pass inputs
that should invalidate stored results as ``kwargs``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson

from taskbeam.engine._digest import digest_bytes
from taskbeam.graph import Graph, Task
from taskbeam.graph._graph import Links

__all__ = ["code_digest", "fingerprint", "fingerprints"]

# Fingerprints of the tasks without kwargs (None for the others), per version of a graph.
_PLAIN: weakref.WeakKeyDictionary[Links, list[str | None]] = weakref.WeakKeyDictionary()


def fingerprint(task: Task) -> str:
    """A 16-hex-digit digest of the task's function, kwargs and dependencies."""
    if not task.kwargs:  # the common case in big graphs: one function, many nodes
        with contextlib.suppress(TypeError):  # an unhashable callable: no cache
            return _plain(task.fn, task.args, task.deps)
    return _digest(task)


def fingerprints(graph: Graph) -> Sequence[str]:
    """The fingerprint of every task of ``graph`` (validated), in task order.

    Those of tasks without kwargs are kept for as long as the graph is
    unchanged, so running a graph again does not hash its tasks again; a
    task's kwargs may hold values changed in place, so those are hashed anew.
    """
    links = graph.links()
    tasks = graph.tasks.values()
    plain = _PLAIN.get(links)
    if plain is None:
        plain = [None if t.kwargs else fingerprint(t) for t in tasks]
        _PLAIN[links] = plain
    if None not in plain:  # no task has kwargs: all kept (the caller only reads the list)
        return cast("list[str]", plain)
    return [fp if fp is not None else _digest(t) for fp, t in zip(plain, tasks, strict=True)]


@functools.lru_cache(maxsize=65536)
def _plain(fn: Callable[..., Any], args: tuple[str, ...], deps: tuple[str, ...]) -> str:
    return _digest(Task(id="", fn=fn, args=args, deps=deps))


def _digest(task: Task) -> str:
    h = hashlib.blake2b(digest_size=8)
    try:
        h.update(code_digest(task.fn))
    except TypeError:  # unhashable callable: no cache
        h.update(code_digest.__wrapped__(task.fn))
    if task.kwargs:
        h.update(_stable(task.kwargs))
    if task.deps:
        h.update(
            "\x00".join(f"{a}={d}" for a, d in zip(task.args, task.deps, strict=True)).encode()
        )
    return h.hexdigest()


@functools.lru_cache(maxsize=4096)
def code_digest(fn: Callable[..., Any]) -> bytes:
    target = inspect.unwrap(fn)
    if isinstance(target, functools.partial):
        inner = code_digest(target.func)
        return inner + _stable([target.args, target.keywords])
    if not inspect.isfunction(target) and not inspect.ismethod(target) and callable(target):
        call = getattr(type(target), "__call__", None)  # noqa: B004
        if call is not None and inspect.isfunction(call):
            target = call
    name = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', repr(target))}"
    h = hashlib.blake2b(name.encode(), digest_size=16)
    try:
        h.update(inspect.getsource(target).encode())
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        if code is not None:
            h.update(code.co_code)
            h.update(repr(code.co_consts).encode())
    defaults = getattr(target, "__defaults__", None)
    if defaults:
        h.update(_stable(defaults))
    kwdefaults = getattr(target, "__kwdefaults__", None)
    if kwdefaults:
        h.update(_stable(kwdefaults))
    closure = getattr(target, "__closure__", None)
    if closure:
        h.update(_closure_digest(closure, 0))
    return h.digest()


def _closure_digest(cells: tuple[Any, ...], depth: int) -> bytes:
    """The variables a function closes over: values with a digest by their content,
    functions by their code (and theirs, a few levels down), anything else by its type."""
    h = hashlib.blake2b(digest_size=16)
    for cell in cells:
        try:
            value = cell.cell_contents
        except ValueError:  # not assigned yet
            h.update(b"-")
            continue
        if inspect.isfunction(value):
            code = value.__code__
            h.update(b"f" + code.co_code + repr(code.co_consts).encode())
            if value.__closure__ and depth < 3:  # a helper of a helper; recursion ends here
                h.update(_closure_digest(value.__closure__, depth + 1))
            continue
        made = digest_bytes(value)
        if made is not None:
            h.update(b"v" + made)
        else:
            kind = type(value)
            h.update(f"t{kind.__module__}.{kind.__qualname__}".encode())
    return h.digest()


def _stable(value: Any) -> bytes:
    """Bytes that are equal for equal plain data (dict order does not matter)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return repr(value).encode()
