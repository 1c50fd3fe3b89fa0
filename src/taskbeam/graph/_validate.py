"""Whole-graph checks: unknown dependencies, cycles, callability.

Pure functions of a ``{id: Task}`` mapping, linear in nodes plus edges. The
signature check is cached per (function, argument names) so a graph of a
hundred thousand nodes that share one function costs one ``inspect`` call.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from taskbeam._errors import GraphError

if TYPE_CHECKING:
    from taskbeam.graph._graph import Task

__all__ = ["find_cycle", "validate"]


def validate(tasks: Mapping[str, Task], name: str) -> None:
    """Raise :class:`GraphError` for the first problem found in ``tasks``."""
    for t in tasks.values():
        for dep in t.deps:
            if dep not in tasks:
                raise GraphError(f"task {t.id!r} depends on unknown task {dep!r} in graph {name!r}")
    cycle = find_cycle(tasks)
    if cycle:
        raise GraphError(f"cycle in graph {name!r}: {' -> '.join(cycle)}")
    checked: dict[tuple[Callable[..., Any], frozenset[str]], str | None] = {}
    for t in tasks.values():
        for arg, dep in zip(t.args, t.deps, strict=True):
            if not arg.isidentifier() or keyword.iskeyword(arg):
                suggestion = "".join(c if c.isalnum() else "_" for c in dep).lstrip("0123456789")
                raise GraphError(
                    f"task {t.id!r}: dependency {dep!r} cannot be passed as a keyword "
                    f"argument; map it to a valid name, e.g. "
                    f"deps={{{(suggestion or 'value')!r}: {dep!r}}}"
                )
        key = (t.fn, frozenset(t.args) | frozenset(t.kwargs))
        try:
            problem = checked[key]
        except KeyError:
            problem = checked[key] = _call_problem(t.fn, key[1])
        except TypeError:  # unhashable callable: check it every time
            problem = _call_problem(t.fn, key[1])
        if problem:
            raise GraphError(f"task {t.id!r} cannot be called with {sorted(key[1])}: {problem}")


def _call_problem(fn: Callable[..., Any], names: frozenset[str]) -> str | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and C callables: nothing to check
        return None
    try:
        sig.bind(**dict.fromkeys(names))
    except TypeError as exc:
        return str(exc)
    return None


def find_cycle(tasks: Mapping[str, Task]) -> list[str]:
    """Return one cycle as a path ``[a, b, ..., a]``, or ``[]`` for a DAG.

    Kahn's algorithm removes every node not on or behind a cycle; from any
    node left, following a remaining dependency must revisit a node.
    """
    indegree = {tid: 0 for tid in tasks}
    dependants: dict[str, list[str]] = {tid: [] for tid in tasks}
    for t in tasks.values():
        for dep in t.deps:
            if dep in tasks:
                indegree[t.id] += 1
                dependants[dep].append(t.id)
    stack = [tid for tid, n in indegree.items() if n == 0]
    while stack:
        for child in dependants[stack.pop()]:
            indegree[child] -= 1
            if indegree[child] == 0:
                stack.append(child)
    left = {tid for tid, n in indegree.items() if n > 0}
    if not left:
        return []
    node = next(iter(tid for tid in tasks if tid in left))
    seen: dict[str, int] = {}
    path: list[str] = []
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(dep for dep in tasks[node].deps if dep in left)
    cycle = [*path[seen[node] :], node]
    cycle.reverse()  # read in execution order: dependency -> dependant
    return cycle
