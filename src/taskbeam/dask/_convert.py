"""A Dask graph as a taskbeam :class:`~taskbeam.Graph`: readable node ids, one node per task.

Dask hands a scheduler a mapping of keys to tasks (legacy tuples, the
task-spec objects of ``dask._task_spec``, literal data and aliases, or a
``HighLevelGraph``) and the keys it wants. :func:`convert` turns it into:

- one taskbeam node per *task* needed for those keys (the graph is culled),
  with an id made from its key (``('sum-aggregate-<token>', 3)`` becomes
  ``sum-aggregate[3]``; see :func:`readable`), tagged with its key name so the
  members of one Dask layer are grouped, and named after the task's function;
- no node for literal data and aliases: a task that needs one gets its value
  (or its target's result) directly, and a wanted key that is one is answered
  from it;
- a *token* per node, a digest of the task's work (its function's code, its
  literal arguments, where each dependency goes): the node's fingerprint and
  cache key are made from it, so a continued run or the result cache reuses a
  node exactly when its task is the same, even where Dask's own key tokens
  differ between processes.

Everything is linear in the size of the graph; a task costs a few
microseconds (a 100,000-task graph converts in about a second).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import re
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import xxhash

from taskbeam.engine._digest import digest_bytes
from taskbeam.engine._fingerprint import code_digest
from taskbeam.graph import Graph

__all__ = ["Converted", "DaskCall", "convert", "flatten_keys", "readable"]

try:
    from dask._task_spec import (
        Alias,
        DataNode,
        Task,
        TaskRef,
        _execute_subgraph,
        convert_legacy_graph,
    )
    from dask.utils import ensure_dict, funcname
except ImportError:  # pragma: no cover - the extra is missing
    raise ImportError("taskbeam.dask needs dask: pip install 'taskbeam[dask]'") from None

# The longest node id made from a key; a longer one is cut and given a digest.
MAX_ID = 120
# A word of a key name that is a token Dask made, not a name a person gave.
_HEX32 = re.compile(r"[0-9a-f]{32}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEXWORD = re.compile(r"[0-9a-f]{8,40}")
_DIGITS = frozenset("0123456789")


# -- node ids -------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def readable(name: str) -> str:
    """A key name without the tokens Dask puts in it.

    Drops each ``-``-separated word that is a token: 32 hex digits
    (``tokenize``), a UUID (``delayed``), or 8 to 40 hex digits mixing digits
    and letters. ``"sum-aggregate-ff47399641d0ebd6c8020780ea758552"`` gives
    ``"sum-aggregate"``, ``"inc-0e0b4c6a-1f2d-4a5b-9c3e-123456789abc"``
    ``"inc"``; ``"x-1"`` and ``"hello-world"`` stay as they are. A name that
    is all token stays whole.

    >>> readable("sum-aggregate-ff47399641d0ebd6c8020780ea758552")
    'sum-aggregate'
    >>> readable("x-1")
    'x-1'
    """
    if "-" not in name:
        return name
    stripped = _UUID.sub("", name) if len(name) >= 36 else name
    words = [w for w in stripped.split("-") if w and not _token_word(w)]
    return "-".join(words) or name


def _token_word(word: str) -> bool:
    if len(word) == 32 and _HEX32.fullmatch(word):
        return True
    return (
        8 <= len(word) <= 40
        and _HEXWORD.fullmatch(word) is not None
        and not word.isdigit()
        and not _DIGITS.isdisjoint(word)
    )


def _split_key(key: Hashable) -> tuple[str, str]:
    """``(name, index)`` of a key: ``('x-1f…', 0, 2)`` → ``('x-1f…', '[0,2]')``."""
    if type(key) is tuple and key and type(key[0]) in (str, bytes):
        head = key[0]
        name = head.decode("utf-8", "replace") if type(head) is bytes else head
        return name, "[" + ",".join(_index(i) for i in key[1:]) + "]" if len(key) > 1 else ""
    if type(key) is str:
        return key, ""
    if type(key) is bytes:
        return key.decode("utf-8", "replace"), ""
    return repr(key), ""


def _index(i: object) -> str:
    return str(i) if type(i) in (int, str) else repr(i)


class _Ids:
    """Readable, unique node ids for keys, and the way back.

    The keys of one name (one Dask layer, or one ``delayed`` call) share a
    *display* name, their readable name; a second name with the same
    readable name gets ``~2``, the next ``~3`` (in the order of the graph).
    The *group*, the readable name without that suffix, is the tag the
    layer's nodes are grouped by.
    """

    def __init__(self) -> None:
        self.display: dict[str, tuple[str, str]] = {}  # full name -> (display, group)
        self.taken: set[str] = set()  # display names given
        self.next: dict[str, int] = {}  # readable name -> the next suffix to try
        self.ids: set[str] = set()

    def make(self, key: Hashable) -> tuple[str, str]:
        """``(node id, group)`` of ``key``, never an id given before."""
        name, index = _split_key(key)
        found = self.display.get(name)
        if found is None:
            base = _clean(readable(name))
            display = base
            if display in self.taken:  # another name with the same readable name
                n = self.next.get(base, 2)
                while f"{base}~{n}" in self.taken:
                    n += 1
                self.next[base] = n + 1
                display = f"{base}~{n}"
            self.taken.add(display)
            found = self.display[name] = (display, base)
        display, group = found
        node_id = display + index
        if len(node_id) > MAX_ID:
            node_id = node_id[: MAX_ID - 18] + "…" + xxhash.xxh3_64_hexdigest(node_id.encode())
        if node_id in self.ids:  # e.g. the str key "a[1]" beside the key ("a", 1)
            n = 2
            while f"{node_id}~{n}" in self.ids:
                n += 1
            node_id = f"{node_id}~{n}"
        self.ids.add(node_id)
        return node_id, group


def _clean(name: str) -> str:
    """A name fit for a node id: one line, no ``/`` (reserved for children), not empty."""
    name = " ".join(name.replace("/", "∕").split())[:100]
    return name or "_"


# -- the node's callable --------------------------------------------------------------


class DaskCall:
    """The function of one node: calls the Dask task with the values of its dependencies.

    Called with ``d0=..., d1=...`` (the results of the node's dependencies,
    in the order of its ``deps``) and ``token=...`` (ignored here: it is in
    the node's kwargs for its fingerprint and cache key). Each ``dI`` is
    given to the Dask keys in ``keys[I]`` (several when aliases point at one
    task); ``literals`` holds the values of the literal data the task reads.

    All instances compare equal and hash alike: they run one code, this
    class's ``__call__``. The engine keys its caches of a function's code
    digest and signature by the function, so each of those is computed once
    for every Dask node, not once per node; what tells two nodes apart is the
    token in their kwargs.
    """

    def __init__(
        self,
        task: Any,
        keys: tuple[tuple[Hashable, ...], ...],
        literals: dict[Hashable, Any] | None,
        name: str,
        errors: list[tuple[Hashable, BaseException]] | None,
        context: tuple[tuple[contextvars.ContextVar[Any], Any], ...] = (),
    ) -> None:
        self.task = task
        self.keys = keys
        self.literals = literals
        self.key = task.key if task is not None else None
        self.errors = errors
        self.context = context
        self.__qualname__ = name  # what views and timelines call the node's function
        self.__name__ = name

    def __call__(self, **kwargs: Any) -> Any:
        values: dict[Hashable, Any] = dict(self.literals) if self.literals else {}
        for i, keys in enumerate(self.keys):
            value = kwargs[f"d{i}"]
            for key in keys:
                values[key] = value
        try:
            if self.context:
                return contextvars.copy_context().run(self._in_context, values)
            return self.task(values)
        except BaseException as exc:
            errors = self.errors
            if errors is not None:  # the original exception, for get() to raise (same process)
                errors.append((self.key, exc))
            raise

    def _in_context(self, values: dict[Hashable, Any]) -> Any:
        # The caller's context variables, as Dask's threads see them (taskbeam's own stay).
        for var, value in self.context:
            var.set(value)
        return self.task(values)

    def __eq__(self, other: object) -> bool:
        return type(other) is DaskCall

    def __hash__(self) -> int:
        return hash(DaskCall)

    def __repr__(self) -> str:
        return f"<DaskCall {self.key!r} {self.__qualname__}>"

    def __getstate__(self) -> dict[str, Any]:
        # The error list and the caller's context stay in the process that made the graph.
        return {**self.__dict__, "errors": None, "context": ()}


_EMPTY = DaskCall(None, (), None, "dask", None)
# Fill the engine's per-function caches with a call that holds no data: every
# DaskCall then finds its entry there and none is kept alive by them.
code_digest(_EMPTY)


def task_name(task: Any) -> str:
    """The function name a person would call a Dask task by (inside fused and applied tasks)."""
    for _ in range(8):  # a fused task inside a fused task: not deeper than this
        func = getattr(task, "func", None)
        if func is None:
            break
        fname = getattr(func, "__name__", "")
        if fname == "_execute_subgraph" and len(task.args) >= 2:
            inner, out = task.args[0], task.args[1]
            if isinstance(inner, dict) and out in inner:
                task = inner[out]
                continue
        if fname == "apply" and task.args and callable(task.args[0]):
            return str(funcname(task.args[0]))
        if type(func).__name__ == "Compose" and hasattr(func, "first"):  # toolz.compose
            steps = (func.first, *getattr(func, "funcs", ()))
            return " → ".join(str(funcname(f)) for f in steps)[:200]
        if fname in ("_identity_cast", "to_container"):
            typ = task.kwargs.get("typ") or task.kwargs.get("constructor")
            return getattr(typ, "__name__", "list")
        return str(funcname(func))
    return "task"


# -- tokens ----------------------------------------------------------------------------


class _Tokens:
    """Digests of tasks' work: functions by code, values by content, references by slot.

    Objects that many tasks share (a function, a partial, a meta frame) are
    digested once: the digest is kept by ``id()`` for as long as the
    conversion, whose graph keeps those objects alive.
    """

    def __init__(self, literal: Callable[[Hashable], bytes | None]) -> None:
        self._by_id: dict[int, bytes] = {}
        self._literal = literal

    def task(self, task: Any, slot: Mapping[Hashable, int]) -> str:
        """The token of ``task``, whose dependency keys go to the slots ``slot`` gives."""
        h = xxhash.xxh3_128()
        self._feed(h.update, task, {k: b"r%d;" % i for k, i in slot.items()}, 0)
        return h.hexdigest()

    def _ref(self, key: Hashable, refs: Mapping[Hashable, bytes]) -> bytes:
        made = refs.get(key)
        if made is not None:
            return made
        literal = self._literal(key)
        if literal is not None:
            return b"l" + literal
        name, index = _split_key(key)  # a key inside a fused task: by its readable name
        return b"k" + (readable(name) + index).encode("utf-8", "surrogatepass") + b";"

    def _feed(
        self,
        update: Callable[[bytes], None],
        obj: Any,
        refs: Mapping[Hashable, bytes],
        depth: int,
    ) -> None:
        kind = type(obj)
        if kind is str or kind is int or kind is float or obj is None or kind is bool:
            made = digest_bytes(obj)
            assert made is not None
            update(made)
            return
        if depth > 60:
            update(b"?" + self._fallback(obj))
            return
        if kind is TaskRef or kind is Alias:
            update(self._ref(obj.key if kind is TaskRef else obj.target, refs))
            return
        if isinstance(obj, Task):
            if obj.func is _execute_subgraph and len(obj.args) >= 3:
                self._fused(update, obj, refs, depth)
                return
            update(b"T" + self.func(obj.func))
            update(b"(%d" % len(obj.args))
            for a in obj.args:
                self._feed(update, a, refs, depth + 1)
            if obj.kwargs:
                update(b"{%d" % len(obj.kwargs))
                for k in sorted(obj.kwargs, key=str):
                    self._feed(update, k, refs, depth + 1)
                    self._feed(update, obj.kwargs[k], refs, depth + 1)
            return
        if kind is DataNode:
            self._feed(update, obj.value, refs, depth + 1)
            return
        if kind is tuple or kind is list:
            update((b"(" if kind is tuple else b"[") + b"%d" % len(obj))
            for a in obj:
                self._feed(update, a, refs, depth + 1)
            return
        if kind is dict:
            update(b"{%d" % len(obj))
            for k, v in obj.items():
                self._feed(update, k, refs, depth + 1)
                self._feed(update, v, refs, depth + 1)
            return
        if kind is slice:
            update(b"S")
            for a in (obj.start, obj.stop, obj.step):
                self._feed(update, a, refs, depth + 1)
            return
        update(self.value(obj))

    def _fused(
        self, update: Callable[[bytes], None], task: Any, refs: Mapping[Hashable, bytes], depth: int
    ) -> None:
        """A fused task (``_execute_subgraph``): its inner tasks in order, their keys by
        position, so that the tokens in those keys do not count."""
        inner, out = task.args[0], task.args[1]
        if not isinstance(inner, dict):
            update(self.value(task))
            return
        local = {**refs, **{k: b"i%d;" % p for p, k in enumerate(inner)}}
        update(b"X%d" % len(inner))
        for node in inner.values():
            self._feed(update, node, local, depth + 1)
        update(self._ref(out, local))

    def value(self, obj: Any) -> bytes:
        """The digest of a value that is not a reference: by content, kept by ``id()``."""
        found = self._by_id.get(id(obj))
        if found is not None:
            return found
        if callable(obj) and not isinstance(obj, type):
            made = b"F" + self.func(obj)
        else:
            content = digest_bytes(obj)
            made = b"v" + content if content is not None else b"t" + self._fallback(obj)
        self._by_id[id(obj)] = made
        return made

    def func(self, fn: Any) -> bytes:
        """A function's digest: its code (taskbeam's code digest), a partial's parts, or
        Dask's own token for any other callable (which covers the object's state)."""
        found = self._by_id.get(id(fn))
        if found is not None:
            return found
        if type(fn) is functools.partial:
            h = xxhash.xxh3_128(b"P" + self.func(fn.func))
            self._feed(h.update, fn.args, {}, 1)
            self._feed(h.update, fn.keywords, {}, 1)
            made = h.digest()
        elif inspect.isfunction(fn) or inspect.isbuiltin(fn) or type(fn) is type:
            try:
                made = code_digest(fn)
            except TypeError:  # unhashable
                made = code_digest.__wrapped__(fn)
        elif inspect.ismethod(fn):
            made = code_digest(fn.__func__) + self.value(fn.__self__)
        else:
            made = self._fallback(fn)
        self._by_id[id(fn)] = made
        return made

    def _fallback(self, obj: Any) -> bytes:
        """Dask's token of ``obj`` (random where Dask finds none: never reused then)."""
        found = self._by_id.get(id(obj))
        if found is not None:
            return found
        from dask.tokenize import tokenize

        made = tokenize(obj).encode()
        self._by_id[id(obj)] = made
        return made


# -- the conversion --------------------------------------------------------------------


@dataclass
class Converted:
    """A Dask graph made a taskbeam graph, and how to read the wanted keys back.

    ``node_of`` maps each Dask key that has a node to its id and ``key_of``
    the other way. ``answer`` maps each wanted key to where its value
    comes from: ``("node", id)`` or ``("value", literal)``. ``errors``
    collects the exceptions the tasks raised, in order, with their keys.
    """

    graph: Graph
    node_of: dict[Hashable, str]
    key_of: dict[str, Hashable]
    answer: dict[Hashable, tuple[str, Any]]
    errors: list[tuple[Hashable, BaseException]]


def flatten_keys(keys: Any) -> list[Hashable]:
    """The keys of a Dask ``keys`` argument: a key, or nested lists of keys."""
    if not isinstance(keys, list):
        return [keys]
    out: list[Hashable] = []
    stack: list[Any] = [iter(keys)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def convert(
    dsk: Any,
    keys: Any,
    *,
    name: str = "dask",
    known: Mapping[Hashable, Any] | None = None,
    priorities: bool = True,
    context: contextvars.Context | None = None,
    content: bool = True,
) -> Converted:
    """Make the graph that computes ``keys`` of ``dsk`` (see the module's docstring).

    ``known`` holds values of keys computed before (Dask's ``cache=``): they
    are literal data. Raises ``KeyError`` for a wanted key the graph does not
    have and ``ValueError`` for a dependency nobody provides, as Dask's own
    schedulers do. The context variables set in ``context`` (the caller's)
    are set again around each task, as Dask's threads do.

    ``content=False`` gives each node a token unique to this conversion
    instead of its content's digest (half the cost of a conversion of
    literal data): for runs with neither a store nor a cache, where no other
    run's node is compared with this one's, except a rerun of this graph.
    """
    if not isinstance(dsk, Mapping):
        dsk = dsk.__dask_graph__()
    raw = ensure_dict(dsk)
    known = dict(known) if known else {}
    spec = convert_legacy_graph(raw, all_keys=raw.keys() | known.keys() if known else None)
    wanted = flatten_keys(keys)
    for key in wanted:
        if key not in spec and key not in known:
            raise KeyError(key)

    # Cull: the tasks the wanted keys need, found depth first (no recursion: chains are long).
    needed: dict[Hashable, Any] = {}
    stack = list(wanted)
    while stack:
        key = stack.pop()
        if key in needed:
            continue
        node = spec.get(key)
        if node is None:
            needed[key] = None  # known before
            continue
        needed[key] = node
        for dep in node.dependencies:
            if dep not in needed:
                if dep not in spec and dep not in known:
                    users = sorted(
                        (k for k, n in spec.items() if n is not None and dep in n.dependencies),
                        key=str,
                    )
                    raise ValueError(f"Missing dependency {dep} for dependents {set(users)}")
                stack.append(dep)

    # Literal data and aliases get no node: where does each key's value come from?
    source: dict[Hashable, Hashable] = {}  # alias -> the key it ends at

    def final(key: Hashable) -> Hashable:
        seen = []
        while True:
            node = needed.get(key)
            if type(node) is not Alias:
                break
            if key in source:
                key = source[key]
                break
            seen.append(key)
            key = node.target
            if key in seen:
                raise ValueError(f"Alias cycle in the Dask graph: {seen}")
        for k in seen:
            source[k] = key
        return key

    def literal_value(key: Hashable) -> Any:
        node = needed.get(key)
        return known[key] if node is None else node.value

    literal_digests: dict[Hashable, bytes] = {}

    def literal_digest(key: Hashable) -> bytes | None:
        """The digest of the literal data ``key`` stands for; None for any other key."""
        made = literal_digests.get(key)
        if made is None:
            if key not in needed:
                return None
            end = final(key)
            if isinstance(needed.get(end), Task):
                return None
            made = literal_digests[key] = tokens.value(literal_value(end))
        return made

    tokens = _Tokens(literal_digest)
    once = uuid.uuid4().hex
    carried = tuple(
        (var, value)
        for var, value in (context.items() if context is not None else ())
        if not var.name.startswith("taskbeam")
    )
    order = _priorities(needed) if priorities else None
    ids = _Ids()
    graph = Graph(name)
    node_of: dict[Hashable, str] = {}
    key_of: dict[str, Hashable] = {}
    errors: list[tuple[Hashable, BaseException]] = []
    # In the graph's own order, which its maker fixed (the culling's order follows the
    # hashes of keys, which change from process to process): the ids, the names
    # given to layers whose readable names collide and each node's order of
    # dependencies are then the same in every process, and so are fingerprints.
    tasks = [(k, n) for k, n in ((k, needed.get(k)) for k in raw) if isinstance(n, Task)]
    if len(tasks) < sum(1 for n in needed.values() if isinstance(n, Task)):
        tasks += [(k, n) for k, n in needed.items() if isinstance(n, Task) and k not in raw]
    group_of: dict[str, str] = {}
    for key, _ in tasks:
        node_id, group_of[node_id] = ids.make(key)
        node_of[key] = node_id
        key_of[node_id] = key
    for key, task in tasks:
        node_id = node_of[key]
        slots: dict[Hashable, int] = {}  # final key -> its slot
        slot_keys: list[list[Hashable]] = []
        slot_of: dict[Hashable, int] = {}  # each dependency key -> its slot
        literals: dict[Hashable, Any] | None = None
        for dep in sorted(task.dependencies, key=lambda d: node_of.get(final(d)) or repr(d)):
            end = final(dep)
            if isinstance(needed.get(end), Task):
                i = slots.get(end)
                if i is None:
                    i = slots[end] = len(slot_keys)
                    slot_keys.append([])
                slot_keys[i].append(dep)
                slot_of[dep] = i
            else:
                if literals is None:
                    literals = {}
                literals[dep] = literal_value(end)
        deps = {f"d{i}": node_of[end] for end, i in slots.items()}
        token = tokens.task(task, slot_of) if content else f"{once}:{node_id}"
        fname = task_name(task)
        graph.add(
            node_id,
            DaskCall(task, tuple(tuple(k) for k in slot_keys), literals, fname, errors, carried),
            deps,
            kwargs={"token": token},
            tags=(group_of[node_id],),
            priority=order.get(key, 0) if order is not None else 0,
        )
    answer: dict[Hashable, tuple[str, Any]] = {}
    for key in wanted:
        end = final(key)
        if end in node_of:
            answer[key] = ("node", node_of[end])
        else:
            answer[key] = ("value", literal_value(end))
    return Converted(graph, node_of, key_of, answer, errors)


def _priorities(needed: Mapping[Hashable, Any]) -> dict[Hashable, int]:
    """Dask's own order of the tasks, as taskbeam priorities (higher runs first).

    ``dask.order`` picks among ready tasks the one that lets data be released
    soonest, depth first; the engine runs the ready node of highest priority.
    """
    from dask.order import order

    tasks: dict[Any, Any] = {k: n for k, n in needed.items() if n is not None}
    if len(tasks) < 2:
        return {}
    try:
        made = order(tasks)
    except Exception:  # an ordering Dask cannot make is only a lost preference
        return {}
    top = len(made)
    return {k: top - int(v) for k, v in made.items()}


def keys_of(items: Iterable[Any]) -> list[Hashable]:
    """Keys named in ``items`` (used by tests and docs)."""
    return [getattr(i, "key", i) for i in items]
