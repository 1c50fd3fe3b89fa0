"""Reuse: what the driver does before it starts a node, when results may be reused.

A run with a cache (:mod:`taskbeam.engine._cache`) or an earlier run at hand
(a rerun, :mod:`taskbeam.engine._rerun`) asks here, for each node about to
start, whether its result can be taken instead of made; and stores the
results of the nodes that ran after a miss. A mixin of
:class:`~taskbeam.engine._driver.Driver`, on the run's thread.

Two ways of storing. A cache without ``write_later`` (a
:class:`~taskbeam.engine._cache.MemoryCache`) gets each scheduling pass's new
entries at once. The store's cache gets a run's entries once the run has
ended and its final save has landed (:meth:`Reuse._cache_after`): the run's
loop hands over the list of nodes, and the store's writer makes their keys,
digests and rows (:func:`_entries`), reading the ended run's nodes and
writing nothing to them.

Cold functions: the store's cache says at the run's start which functions
have any entry (``begin()``). A node whose function has none certainly
misses: it is neither keyed nor looked up while the run goes on, only counted
when the run ends (:meth:`Reuse._settle_cache`) and keyed after it. When no
task of the graph can hit, the run does not consult reuse at all until an
expansion brings tasks it has not seen.
"""

from __future__ import annotations

import concurrent.futures
import time
import warnings
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from taskbeam._errors import CacheWarning
from taskbeam.engine._cache import (
    FAILED,
    UNSET,
    Cache,
    Entry,
    GraphFunctions,
    batch_keys,
    fn_name,
    fresh,
    graph_functions,
    input_digest,
    key_after,
    node_key,
)
from taskbeam.engine._digest import digest_bytes
from taskbeam.engine._node import Node
from taskbeam.engine._rerun import Prior
from taskbeam.engine._state import RunState
from taskbeam.engine._status import Status
from taskbeam.graph import Expansion, Graph

__all__ = ["Reuse"]

DONE = Status.DONE
_NOT_MADE: Any = object()  # a node whose key _reuse_batch did not make
_AGAIN: Any = object()  # _take: an entry a node took; the next with its key asks again
# Results that always have a digest: a node whose inputs are all of these types is cacheable.
_DIGESTED = frozenset({type(None), bool, int, float, complex, str, bytes, bytearray})
_IMMUTABLE = _DIGESTED - {bytearray}  # values two nodes may share
RUNNING = Status.RUNNING
_result = attrgetter("result")
ENDED_WAIT = 10.0  # seconds the writer waits for a run's thread to end before its entries
YIELD_EVERY = 256  # nodes or rows between two yields of the interpreter's lock (_entries)


class Reuse:
    """The cache and the earlier run, as the driver consults them."""

    id: str
    state: RunState
    cache: Cache | None
    prior: Prior | None
    cache_counts: list[int]
    options: dict[str, Any]
    _cache_warned: bool
    _reusing: bool
    ended: concurrent.futures.Future[None]

    if TYPE_CHECKING:

        def _failed(self, node: Node, attempt: int, error: BaseException) -> None: ...

        def _expand(self, node: Node, expansion: Expansion) -> None: ...

    def _setup_reuse(self, cache: Cache | None, prior: Prior | None, graph: Graph) -> bool:
        """Attach the cache and the earlier run; whether there is anything to reuse."""
        self.cache = cache
        self.cache_counts = [0, 0, 0]  # hits, misses (run and stored), uncacheable
        self._made_keys: dict[Node, str | None] = {}  # keys made ahead by _reuse_batch
        self._cache_warned = False
        # The store's cache: entries written after the run (see the module's text).
        self._later: Callable[..., None] | None = getattr(cache, "write_later", None)
        self._missed: list[Node] = []  # looked up, missed: stored after the run (_later)
        self._stored_later: tuple[list[Node], set[Node]] | None = None  # see _settle_cache
        # Functions whose nodes certainly miss (None: every node is looked up); the
        # names of the functions that have entries; whether no task could hit at all.
        self._cold: dict[Any, bool] | None = None
        self._warm: set[str] = set()
        self._all_cold = False
        self._skipped = False  # a node of a cold function was let through (_from_cache)
        self._name_fns = False  # the table has rows without a function: hits name theirs
        self._functions: GraphFunctions | None = None
        if cache is not None and prior is None and getattr(cache, "begin", None) is not None:
            self._functions = graph_functions(graph)
        if cache is not None:
            if self._later is None:
                self.state.cache_done = []
            self.options["cache"] = True
        self.prior = prior
        if prior is not None:
            self.options["parent_run"] = prior.run_id
            self.state.parent_run = prior.run_id
        if cache is None and prior is None:
            return False
        self.state.cache_fields = self._cache_fields
        return True

    def _begin_reuse(self) -> None:
        """As the run starts (its loop): ask the cache which functions have entries."""
        begin = getattr(self.cache, "begin", None)
        if begin is None:
            return
        warm = begin()  # the store's cache: also waits for entries still being written
        self._name_fns = bool(getattr(self.cache, "unnamed", False))
        if not isinstance(warm, (set, frozenset)) or self.prior is not None:
            return  # every node is looked up
        self._warm = set(warm)
        self._cold = {}
        made = self._functions
        if made is not None and not made.keyed and all(map(self._is_cold, made.functions)):
            self._all_cold = True  # no node of the graph can hit: none is looked up
            self._reusing = False

    def _is_cold(self, fn: Any) -> bool:
        """Whether no entry was made by ``fn`` (so its nodes need no lookup)."""
        cold = self._cold
        if cold is None:
            return False
        try:
            return cold[fn]
        except KeyError:
            made = cold[fn] = fn_name(fn) not in self._warm
            return made
        except TypeError:  # an unhashable callable: looked up as any
            return False

    def _digest_now(self, node: Node, result: Any) -> None:
        """A done node's result that something could still change in place (a dependant,
        say) has its digest made now, for the store's cache, which makes the others once
        the run has ended: a key is made of its inputs as they were, and a value changed
        after it was stored fails its digest when read (a miss, not a wrong value)."""
        if type(result) not in _IMMUTABLE and node.digest is UNSET:
            node.digest = digest_bytes(result)

    def _expanded(self) -> None:
        """An expansion added tasks: a run that consulted nothing looks them up."""
        if self._all_cold:
            self._reusing = True

    def _reuse(self, node: Node) -> bool:
        """Take ``node``'s result from the earlier run or the cache, if it may; whether it did."""
        prior = self.prior
        forced = False
        if prior is not None:
            forced = prior.is_forced(node)
            kept = None if forced else prior.match(node)
            if kept is not None:
                self.cache_counts[0] += 1
                node.cached = {"run": prior.run_id, "node": node.id}
                if kept.expansion is not None:  # the same plan again, without asking for it
                    self._expand(node, kept.expansion)
                    return True
                if kept.digest is not UNSET:
                    node.digest = kept.digest
                self.state.succeed(node, kept.value, time.monotonic())
                return True
        if self.cache is not None:
            return self._from_cache(node, lookup=not forced)
        self.cache_counts[1] += 1
        return False

    def _reuse_batch(self, batch: list[Node]) -> list[Node]:
        """Before a batch of nodes starts: make their keys and have the store's cache read
        their entries at once; the hits are taken here, rather than one call each (what a
        later run mostly is). Returns the nodes still to launch. (A cache of another kind
        with ``prefetch`` reads the keys ahead; its lookups stay one by one.)"""
        prefetch = getattr(self.cache, "prefetch", None)
        if prefetch is None or self.prior is not None or len(batch) < 2:
            return batch
        cold = self._cold
        if cold is None:
            nodes = [n for n in batch if n.task.cache and n.key is None]
        else:
            nodes = []
            for node in batch:
                task = node.task
                if not task.cache or node.key is not None:
                    continue
                if task.cache_key is None:
                    fn = task.fn
                    try:
                        skip = cold[fn]
                    except (KeyError, TypeError):
                        skip = self._is_cold(fn)
                    if skip:
                        continue  # left to _from_cache, which lets it through
                nodes.append(node)
        made = dict(zip(nodes, batch_keys(nodes), strict=True))
        keys = [k for k in made.values() if k is not None and k is not FAILED]
        if len(keys) < 2:
            self._made_keys = made
            return batch
        names = None
        if self._name_fns:
            names = {k: fn_name(n.task.fn) for n, k in made.items() if k is not None}
        found = prefetch(keys, names) if names is not None else prefetch(keys)
        if not isinstance(found, dict):  # not the store's: only the keys were read ahead
            self._made_keys = made
            return batch
        self._take(made, found)
        return [n for n in batch if n.status is RUNNING]

    def _take(self, made: dict[Node, str | None], found: dict[str, Any]) -> None:
        """Decide each node of a batch from what the store's cache found: hits are done
        here, misses and uncacheable nodes counted (they launch)."""
        counts = self.cache_counts
        missed = self._missed if self._later is not None else None
        succeed = self.state.succeed
        verify = getattr(self.cache, "verify", False)
        now = time.monotonic()
        for node, key in made.items():
            if key is None:
                counts[2] += 1
                node.key = ""  # looked up: uncacheable
                continue
            if key is FAILED:
                continue  # its launch fails it
            task = node.task
            entry = found.get(key)
            if entry is not None:
                if entry is _AGAIN:  # another node of the batch has it: a copy of its own
                    entry = self._lookup(key, task.fn)
                elif type(entry) is not Entry or (
                    verify
                    and entry.digest is not None
                    and digest_bytes(entry.value) != entry.digest
                ):
                    entry = self._lookup(key, task.fn, entry)  # damaged, or not as stored
                elif type(entry.value) not in _IMMUTABLE:
                    found[key] = _AGAIN
            ttl = task.cache_ttl
            if entry is None or (ttl is not None and not fresh(entry, ttl)):
                node.key = key
                counts[1] += 1
                if missed is not None:
                    missed.append(node)
                continue
            counts[0] += 1
            node.digest = entry.digest
            node.cached = {"run": entry.run, "node": entry.node}
            succeed(node, entry.value, now)

    def _from_cache(self, node: Node, lookup: bool = True) -> bool:
        """Look ``node`` up; on a hit it is done here. Returns whether it was.

        ``lookup=False`` (a node a rerun forces): only its key is made, so its
        new result is stored. A node of a cold function is left alone: it is
        counted when the run ends and keyed after it.
        """
        if node.key is not None:  # looked up already (by _reuse_batch, or a past attempt)
            return False
        task = node.task
        cold = self._cold
        if cold is not None and lookup and task.cache_key is None:
            fn = task.fn
            try:
                skip = cold[fn]
            except (KeyError, TypeError):
                skip = self._is_cold(fn)
            if skip:
                self._skipped = True
                return False
        made = self._made_keys
        key = made.pop(node, _NOT_MADE) if made else _NOT_MADE
        if key is _NOT_MADE:
            try:
                key = node_key(node)
            except BaseException as exc:  # the task's cache_key raised or made no str
                self._failed(node, node.attempt, exc)
                return True
        counts = self.cache_counts
        if key is None:
            counts[2] += 1
            node.key = ""  # looked up: uncacheable
            return False
        entry = self._lookup(key, task.fn) if lookup else None
        ttl = task.cache_ttl
        if entry is None or (ttl is not None and not fresh(entry, ttl)):
            node.key = key
            counts[1] += 1
            if self._later is not None:
                self._missed.append(node)
            return False
        counts[0] += 1
        node.digest = entry.digest
        node.cached = {"run": entry.run, "node": entry.node}
        self.state.succeed(node, entry.value, time.monotonic())
        return True

    def _lookup(self, key: str, fn: Any, entry: Any = _NOT_MADE) -> Entry | None:
        """The entry under ``key`` (``entry``: what prefetch found, if it looked), checked
        against its digest where the cache asks for it."""
        cache = self.cache
        assert cache is not None
        if entry is _NOT_MADE:
            try:
                # The store's cache, with rows from before schema 5: it names their function.
                named = self._name_fns
                entry = cache.get(key, fn_name(fn)) if named else cache.get(key)  # type: ignore[call-arg]
            except Exception as exc:  # a damaged entry, a store that cannot be read: a miss
                entry = exc
        if isinstance(entry, Exception):
            self._cache_trouble("read", entry)
            return None
        if (  # from a file: the value must be the one its digest was made of
            entry is not None
            and entry.digest is not None
            and getattr(cache, "verify", False)
            and digest_bytes(entry.value) != entry.digest
        ):
            forget = getattr(cache, "forget", None)  # the store's memory copy of it goes
            if forget is not None and forget(key):
                try:  # the memory copy is gone: the table's row, checked the same way
                    entry = cache.get(key)
                except Exception as exc:
                    self._cache_trouble("read", exc)
                    return None
                if entry is None or digest_bytes(entry.value) == entry.digest:
                    again: Entry | None = entry
                    return again
                forget(key)
            self._cache_trouble("read", ValueError(f"entry {key}: its value's digest differs"))
            return None
        made: Entry | None = entry
        return made

    def _cache_put(self, done: list[Node]) -> None:
        """Store the results of the nodes that ran after a miss (expanded parents excepted)."""
        nodes = done[:]
        done.clear()
        cache = self.cache
        assert cache is not None
        now, rid = time.time(), self.id
        items = [
            (key, Entry(node.result, input_digest(node), rid, node.id, now))
            for node in nodes
            if (key := node.key) and node.status is DONE and node.children is None
        ]
        if not items:
            return
        try:
            put_many = getattr(cache, "put_many", None)
            if put_many is not None:
                put_many(items)
            else:  # a cache of the user's own with put() only
                for key, entry in items:
                    cache.put(key, entry)
        except Exception as exc:
            self._cache_trouble("write", exc)

    def _settle_cache(self) -> None:
        """The run has ended (its loop, before the final save): count the nodes of cold
        functions, which were not looked up, and choose what goes to the store's cache."""
        if self.cache is None or self._later is None:
            return
        st = self.state
        nodes = st.nodes.values()
        cold: list[Node] = []
        kwargs = True  # whether a node of cold may have kwargs
        if self._cold is not None and (self._all_cold or self._skipped):
            restored = st.restored
            made = self._functions
            if (  # the common first run: every node ran, none restored, all cacheable
                self._all_cold
                and not self._reusing  # so no expansion: the nodes are the graph's
                and not restored
                and made is not None
                and made.plain
                and st.counts.get(DONE, 0) == len(st.nodes)
            ):
                cold = list(nodes)
                kwargs = made.kwargs
            else:
                skip = set(restored)
                cold = [
                    n
                    for n in nodes
                    if n.key is None
                    and n.cached is None
                    and n.attempt
                    and n.task.cache
                    and n.task.cache_key is None
                    and n not in skip
                ]
        bad = _uncacheable(cold, nodes, kwargs) if cold else set()
        counts = self.cache_counts
        counts[1] += len(cold) - len(bad)
        counts[2] += len(bad)
        self._stored_later = (cold + self._missed, bad)
        self._missed = []

    def _cache_after(self, stored: bool) -> None:
        """The run's final save has landed (``stored``: in the run's store): hand the
        store's cache what the run made, to be keyed and written by its writer."""
        later, chosen = self._later, self._stored_later
        if later is None or chosen is None:
            return
        self._stored_later = None
        nodes, bad = chosen
        if not nodes:
            return
        rid = self.id
        offset = time.time() - time.monotonic()  # a node's end, monotonic, as wall time
        ended = self.ended

        def make() -> list[tuple[str, Any, bytes | None, str, str, float, str]]:
            # On the writer, whose Python work would otherwise take the interpreter's
            # lock from the run's last steps and from its caller waking up in wait():
            # it starts once the run's thread is done, and gives the lock up often.
            concurrent.futures.wait([ended], timeout=ENDED_WAIT)
            return _entries(nodes, bad, rid, offset)

        try:
            later(make, run_id=rid if stored else None)
        except Exception as exc:
            self._cache_trouble("write", exc)

    def _cache_trouble(self, what: str, exc: Exception) -> None:
        if not self._cache_warned:  # once a run: the run goes on, the node runs
            self._cache_warned = True
            warnings.warn(
                f"run {self.id}: the cache could not {what} an entry ({exc}); "
                "the node runs as if it were not cached",
                CacheWarning,
                stacklevel=2,
            )

    def _cache_fields(self, run: dict[str, Any]) -> None:
        hits, misses, uncacheable = self.cache_counts
        run["cache"] = {"hits": hits, "misses": misses, "uncacheable": uncacheable}


def _uncacheable(cold: list[Node], nodes: Any, kwargs: bool) -> set[Node]:
    """The nodes of ``cold`` with an input or kwargs that has no stable digest (on the
    run's loop: the digests of results of other types are made here, as a lookup would)."""
    bad: set[Node] = set()
    if not set(map(type, map(_result, nodes))) <= _DIGESTED:
        members = set(cold)
        for n in nodes:
            if (
                n.down
                and n.status is DONE
                and type(n.result) not in _DIGESTED
                and input_digest(n) is None
            ):
                group = n.group
                bad.update(d for i in n.down if (d := group[i]) in members)
    if kwargs:
        for n in cold:
            given = n.task.kwargs
            if given and n not in bad and digest_bytes(dict(given)) is None:
                bad.add(n)
    return bad


def _entries(
    nodes: list[Node], bad: set[Node], run_id: str, offset: float
) -> list[tuple[str, Any, bytes | None, str, str, float, str]]:
    """The cache entries of an ended run's nodes (on the store's writer): keys made for
    those without one, digests of results, first node of each key only (see the store
    cache's ``write_later`` for the fields)."""
    made: dict[Node, bytes | None] = {}  # digests made here, by node (not on the nodes)
    names: dict[Any, str] = {}  # function -> its name in the table
    out: dict[str, tuple[str, Any, bytes | None, str, str, float, str]] = {}
    now = time.time()
    for i, node in enumerate(nodes):
        if not i % YIELD_EVERY:
            time.sleep(0)  # let a thread that waits for the interpreter's lock have it
        if node.status is not DONE or node.children is not None or node in bad:
            continue
        key = node.key or key_after(node, made)
        if not key or key in out:
            continue
        value = node.result
        digest = node.digest
        if digest is UNSET:
            digest = made.get(node, UNSET)
            if digest is UNSET:
                digest = digest_bytes(value)
        fn = node.task.fn
        try:
            name = names[fn]
        except KeyError:
            name = names[fn] = fn_name(fn)
        except TypeError:  # an unhashable callable
            name = fn_name(fn)
        ended = node.ended
        created = offset + ended if ended is not None else now
        out[key] = (key, value, digest, run_id, node.id, created, name)
    return list(out.values())
