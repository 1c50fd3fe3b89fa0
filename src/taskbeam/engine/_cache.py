"""The result cache: a node whose inputs and task were seen before is not run again.

A node's **cache key** is a digest of what decides its result: its task's
function (as in :mod:`taskbeam.engine._fingerprint`: qualified name, source
and defaults), its ``kwargs``, and, for each dependency, the keyword it is
passed under and the *digest of the value* it passes (:mod:`._digest`), or
what the task's ``cache_key`` callable returns for those inputs. Keys are
content-addressed: two nodes of any runs with the same function and the same
input data share an entry, and a node whose dependency ran again but made
an equal value is a hit (early cutoff: what an edit does not change does not
run again).

A value with no stable digest makes every node that takes it uncacheable:
such a node always runs, and the run counts it (``uncacheable``), so a miss
is never silent and a hit is never wrong. Expanded parents are not stored:
their children are looked up one by one as they appear.

The cache is called on the run's thread only (the store's writer makes the
keys of an ended run's nodes with :func:`key_after`, which writes nothing to
them). :class:`MemoryCache` is the process's own (LRU, bounded by an
estimate of the values' sizes); the store keeps one that spans processes
(``taskbeam.store._cache``), which gets a run's entries after the run (see
``taskbeam.engine._reuse``). Both implement :class:`Cache`.
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import xxhash

from taskbeam.engine._digest import digest_bytes
from taskbeam.engine._fingerprint import code_digest
from taskbeam.engine._node import _UNSET, Node
from taskbeam.graph import Graph
from taskbeam.graph._graph import Links
from taskbeam.store._base import CacheEntry as Entry

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Cache",
    "GraphFunctions",
    "CacheKeyError",
    "Entry",
    "MemoryCache",
    "default_cache",
    "fn_digest",
    "fn_name",
    "graph_functions",
    "input_digest",
    "key_after",
    "node_key",
    "resolve_cache",
]

DEFAULT_MAX_BYTES = 256 * 2**20  # what a process's own cache holds at most (estimated)
_VERSION = b"taskbeam-cache-1\x00"  # changes whenever the key's recipe does


class CacheKeyError(TypeError):
    """A task's ``cache_key`` callable returned something other than a str."""


class Cache(Protocol):
    """What a run calls on its cache (on the run's thread)."""

    def get(self, key: str) -> Entry | None:
        """The entry stored under ``key``, or None (a miss)."""
        ...

    def put(self, key: str, entry: Entry) -> None:
        """Keep ``entry`` under ``key`` (replacing what was there)."""
        ...

    def put_many(self, items: list[tuple[str, Entry]]) -> None:
        """:meth:`put` for each item; the store's cache writes them in one transaction."""
        ...


class MemoryCache:
    """The process's own cache: entries kept in memory, least recently used dropped first.

    ``max_bytes`` bounds an estimate of the values' sizes (numpy and pandas
    objects by their data; containers by their items, sampled). Values are
    shared, not copied: a task that changes a value it was given in place
    changes the cached one too.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[Entry, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # runs of one process share this cache
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Entry | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: str, entry: Entry) -> None:
        size = estimate_size(entry.value)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return  # bigger than the whole cache: never kept
            self._entries[key] = (entry, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def put_many(self, items: list[tuple[str, Entry]]) -> None:
        for key, entry in items:
            self.put(key, entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> dict[str, int]:
        """Entries, estimated bytes, the bound, hits and misses since the process started."""
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
            }

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<MemoryCache {len(self._entries)} entries, ~{self._bytes} of {self.max_bytes} B>"


_default: MemoryCache | None = None
_default_lock = threading.Lock()


def default_cache() -> MemoryCache:
    """The process's cache for runs started with ``cache=True`` and no store."""
    global _default
    with _default_lock:
        if _default is None:
            _default = MemoryCache()
        return _default


_FLAT = frozenset({type(None), bool, int, float, complex, str, bytes})


def estimate_size(value: Any, depth: int = 0) -> int:
    """About how many bytes ``value`` holds: exact for arrays and strings, sampled for
    containers (the first 100 items stand for all)."""
    if type(value) in _FLAT:  # the common result: no attribute to look for, no items
        return sys.getsizeof(value, 100)
    nbytes = getattr(value, "nbytes", None)  # numpy arrays and scalars
    if isinstance(nbytes, int):
        return nbytes + 100
    module = type(value).__module__
    if (module == "pandas" or module.startswith("pandas.")) and hasattr(value, "memory_usage"):
        used = value.memory_usage(deep=False)
        return int(getattr(used, "sum", lambda: used)()) + 100
    size = sys.getsizeof(value, 100)
    if depth > 3 or isinstance(value, (str, bytes, bytearray)):
        return size
    if type(value) is dict or isinstance(value, Mapping):
        pairs = list(value.items())
        some = pairs[:100]
        inner = sum(estimate_size(k, depth + 1) + estimate_size(v, depth + 1) for k, v in some)
        return size + (inner * len(pairs) // len(some) if some else 0)
    if isinstance(value, (list, tuple, set, frozenset)):
        seq = list(value) if not isinstance(value, (list, tuple)) else value
        sample = seq[:100]
        inner = sum(estimate_size(v, depth + 1) for v in sample)
        return size + (inner * len(seq) // len(sample) if sample else 0)
    return size


# -- keys ---------------------------------------------------------------------------


def input_digest(node: Node) -> bytes | None:
    """The digest of a done node's result, made once and kept on the node."""
    made: bytes | None = node.digest
    if made is UNSET:
        made = node.digest = digest_bytes(node.result)
    return made


UNSET: Any = _UNSET  # a node's digest before it is made (see _node.Node)


def fn_digest(fn: Callable[..., Any]) -> bytes:
    """The digest of a task's function in its cache key (see _fingerprint.code_digest)."""
    try:
        return code_digest(fn)
    except TypeError:  # an unhashable callable: digested each time
        return code_digest.__wrapped__(fn)


def fn_name(fn: Callable[..., Any]) -> str:
    """How the store's cache names the function an entry was made by (its ``fn`` column):
    the hex of :func:`fn_digest`."""
    return _prefix(fn)[len(_VERSION) :].hex()


# What every key of a function starts with (_VERSION and its digest), and the bytes each
# dependency of a task adds before its digest, by the identity of the task's args (held
# here, so no other tuple takes its id). Bounded: emptied when full. Like code_digest's
# own cache, a function is digested once per process (see _fingerprint).
_PREFIXES: dict[Any, bytes] = {}
_ARGS: dict[int, tuple[tuple[str, ...], list[bytes]]] = {}
_KEPT = 65536
_hexdigest = xxhash.xxh3_128_hexdigest  # the hex digest of data fed at once or in parts
_NONE_DIGEST = digest_bytes(None)


def _prefix(fn: Callable[..., Any]) -> bytes:
    try:
        return _PREFIXES[fn]
    except KeyError:
        pass
    except TypeError:  # an unhashable callable
        return _VERSION + code_digest.__wrapped__(fn)
    if len(_PREFIXES) >= _KEPT:
        _PREFIXES.clear()
    made = _PREFIXES[fn] = _VERSION + fn_digest(fn)
    return made


def _arg_bytes(args: tuple[str, ...]) -> list[bytes]:
    made = _ARGS.get(id(args))
    if made is None or made[0] is not args:
        if len(_ARGS) >= _KEPT:
            _ARGS.clear()
        made = _ARGS[id(args)] = (args, [b"a" + a.encode() + b"\x00" for a in args])
    return made[1]


def node_key(node: Node, kwargs: Mapping[str, Any] | None = None) -> str | None:
    """The cache key of a node whose dependencies are done; None: uncacheable.

    ``kwargs`` are the inputs the task is called with (the task's ``kwargs``
    and its dependencies' results by keyword), needed only by a task with a
    ``cache_key`` callable. Raises what that callable raises, and
    :class:`CacheKeyError` when it returns anything but a str.

    The key is XXH3-128 of, in order: ``_VERSION``, the function's digest,
    ``k`` and the kwargs' digest (if any), then either ``c``, the
    ``cache_key`` callable's code digest and the string it returned, or for
    each dependency ``a``, its keyword, a NUL byte and its value's digest.
    """
    task = node.task
    head = _prefix(task.fn)
    if task.kwargs:
        own = digest_bytes(dict(task.kwargs))
        if own is None:
            return None
        head += b"k" + own
    custom: Callable[..., Any] | None = task.cache_key
    if custom is not None:
        made = custom(**(kwargs if kwargs is not None else _inputs(node)))
        if type(made) is not str:
            raise CacheKeyError(
                f"task {node.id!r}: cache_key returned {type(made).__name__}, not a str"
            )
        h = xxhash.xxh3_128(head)
        h.update(b"c" + code_digest.__wrapped__(custom) + made.encode("utf-8", "surrogatepass"))
        return h.hexdigest()
    parts = [head]
    append = parts.append
    group = node.group
    for arg, i in zip(_arg_bytes(task.args), node.up, strict=True):
        dep = group[i]
        made_digest: bytes | None = dep.digest  # input_digest(dep), inlined: once per edge
        if made_digest is UNSET:
            made_digest = dep.digest = digest_bytes(dep.result)
        if made_digest is None:
            return None
        append(arg)
        append(made_digest)
    return _hexdigest(b"".join(parts))


def batch_keys(nodes: list[Node]) -> list[str | None]:
    """:func:`node_key` of each node (a batch about to start), the common case written
    out; a key whose ``cache_key`` raises is :data:`FAILED` (made again at the node's
    launch, which fails it)."""
    out: list[str | None] = []
    add = out.append
    prefixes, known = _PREFIXES, _ARGS
    unset = UNSET
    hexdigest, join = _hexdigest, b"".join
    for node in nodes:
        task = node.task
        if task.kwargs or task.cache_key is not None:
            try:
                add(node_key(node))
            except BaseException:
                add(FAILED)
            continue
        fn = task.fn
        try:
            head = prefixes[fn]
        except (KeyError, TypeError):
            head = _prefix(fn)
        args = task.args
        made = known.get(id(args))
        parts = [head]
        part = parts.append
        group = node.group
        for arg, i in zip(
            made[1] if made is not None and made[0] is args else _arg_bytes(args),
            node.up,
            strict=True,
        ):
            digest = group[i].digest
            if digest is unset or digest is None:
                add(node_key(node))  # a digest to make, or none: the long way
                break
            part(arg)
            part(digest)
        else:
            add(hexdigest(join(parts)))
    return out


FAILED: Any = "\x00failed"  # batch_keys: the node's cache_key raised


def key_after(node: Node, made: dict[Node, bytes | None]) -> str | None:
    """:func:`node_key` of a node without ``cache_key``, made once its run has ended (by
    the store's writer): the same key, with the digests of results not made yet kept in
    ``made`` (by node) rather than on the nodes, so that nothing is written to them."""
    task = node.task
    head = _prefix(task.fn)
    if task.kwargs:
        own = digest_bytes(dict(task.kwargs))
        if own is None:
            return None
        head += b"k" + own
    parts = [head]
    append = parts.append
    group = node.group
    for arg, i in zip(_arg_bytes(task.args), node.up, strict=True):
        dep = group[i]
        found: bytes | None = dep.digest
        if found is UNSET:
            result = dep.result
            if result is None:
                found = _NONE_DIGEST
            else:
                found = made.get(dep, UNSET)
                if found is UNSET:
                    found = made[dep] = digest_bytes(result)
            if found is None:
                return None
        elif found is None:
            return None
        append(arg)
        append(found)
    return _hexdigest(b"".join(parts))


class GraphFunctions(NamedTuple):
    """What the cache needs to know of a graph's top level at a run's start."""

    functions: frozenset[Any]  # of its cacheable tasks
    keyed: bool  # one of those has a cache_key
    plain: bool  # every task is cacheable and none has a cache_key
    kwargs: bool  # one of its cacheable tasks has kwargs


# Per version of a graph (None: a function that cannot be a set member).
_FUNCTIONS: weakref.WeakKeyDictionary[Links, GraphFunctions | None]
_FUNCTIONS = weakref.WeakKeyDictionary()


def graph_functions(graph: Graph) -> GraphFunctions | None:
    """The distinct functions of ``graph``'s cacheable tasks (its top level) and how they
    are keyed; None when a function is unhashable. Kept until the graph changes."""
    links = graph.links()
    try:
        return _FUNCTIONS[links]
    except KeyError:
        pass
    every = graph.tasks.values()
    tasks = [t for t in every if t.cache]
    keyed = any(t.cache_key is not None for t in tasks)
    made: GraphFunctions | None
    try:
        made = GraphFunctions(
            frozenset(t.fn for t in tasks),
            keyed,
            not keyed and len(tasks) == len(every),
            any(t.kwargs for t in tasks),
        )
    except TypeError:
        made = None
    _FUNCTIONS[links] = made
    return made


def _inputs(node: Node) -> dict[str, Any]:
    task = node.task
    kwargs = dict(task.kwargs) if task.kwargs else {}
    group = node.group
    for arg, i in zip(task.args, node.up, strict=True):
        kwargs[arg] = group[i].result
    return kwargs


def fresh(entry: Entry, ttl: float | None, now: float | None = None) -> bool:
    """Whether ``entry`` may still be used by a task whose results last ``ttl`` seconds."""
    if ttl is None:
        return True
    return (time.time() if now is None else now) - entry.created <= ttl


def resolve_cache(option: Any, store: Any) -> Cache | None:
    """The cache a run's ``cache=`` option names: None (off), the store's, the process's."""
    if option is False or option is None:
        return None
    if option is True:
        if store is None:
            return default_cache()
        made: Cache | None = getattr(store, "cache", None)
        if made is None:
            raise TypeError(
                f"{type(store).__name__} keeps no cache: pass cache=tb.MemoryCache() instead"
            )
        return made
    cache: Cache = option
    return cache
