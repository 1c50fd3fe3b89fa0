"""Reuse: what the driver does before it starts a node, when results may be reused.

A run with a cache (:mod:`taskbeam.engine._cache`) or an earlier run at hand
(a rerun, :mod:`taskbeam.engine._rerun`) asks here, for each node about to
start, whether its result can be taken instead of made; and stores, after
each scheduling pass, the results of the nodes that ran after a miss. A
mixin of :class:`~taskbeam.engine._driver.Driver`, on the run's thread.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

from taskbeam._errors import CacheWarning
from taskbeam.engine._cache import UNSET, Cache, Entry, fresh, input_digest, node_key
from taskbeam.engine._digest import digest_bytes
from taskbeam.engine._node import Node
from taskbeam.engine._rerun import Prior
from taskbeam.engine._state import RunState
from taskbeam.engine._status import Status
from taskbeam.graph import Expansion

__all__ = ["Reuse"]

DONE = Status.DONE
_NOT_MADE: Any = object()  # a node whose key _prefetch did not make


class Reuse:
    """The cache and the earlier run, as the driver consults them."""

    id: str
    state: RunState
    cache: Cache | None
    prior: Prior | None
    cache_counts: list[int]
    options: dict[str, Any]
    _cache_warned: bool

    if TYPE_CHECKING:

        def _failed(self, node: Node, attempt: int, error: BaseException) -> None: ...

        def _expand(self, node: Node, expansion: Expansion) -> None: ...

    def _setup_reuse(self, cache: Cache | None, prior: Prior | None) -> bool:
        """Attach the cache and the earlier run; whether there is anything to reuse."""
        self.cache = cache
        self.cache_counts = [0, 0, 0]  # hits, misses (run and stored), uncacheable
        self._made_keys: dict[Node, str | None] = {}  # keys made ahead by _prefetch
        self._cache_warned = False
        if cache is not None:
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

    def _prefetch(self, batch: list[Node]) -> None:
        """Before a batch of nodes starts: make their keys and let the store's cache read
        their rows in a few queries rather than one each (what a later run mostly hits)."""
        prefetch = getattr(self.cache, "prefetch", None)
        if prefetch is None or self.prior is not None or len(batch) < 2:
            return
        made: dict[Node, str | None] = {}
        for node in batch:
            if node.task.cache:
                try:
                    made[node] = node_key(node)
                except BaseException:  # made again by _from_cache, which fails the node
                    continue
        self._made_keys = made
        keys = [k for k in made.values() if k is not None]
        if len(keys) >= 2:
            prefetch(keys)

    def _from_cache(self, node: Node, lookup: bool = True) -> bool:
        """Look ``node`` up; on a hit it is done here. Returns whether it was.

        ``lookup=False`` (a node a rerun forces): only its key is made, so its
        new result is stored.
        """
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
            return False
        assert self.cache is not None
        entry = None
        if lookup:
            try:
                entry = self.cache.get(key)
            except Exception as exc:  # a damaged entry, a store that cannot be read: a miss
                self._cache_trouble("read", exc)
        if (  # from a file: the value must be the one its digest was made of
            entry is not None
            and entry.digest is not None
            and getattr(self.cache, "verify", False)
            and digest_bytes(entry.value) != entry.digest
        ):
            self._cache_trouble("read", ValueError(f"entry {key}: its value's digest differs"))
            entry = None
        if entry is None or not fresh(entry, node.task.cache_ttl):
            node.key = key
            counts[1] += 1
            return False
        counts[0] += 1
        node.digest = entry.digest
        node.cached = {"run": entry.run, "node": entry.node}
        self.state.succeed(node, entry.value, time.monotonic())
        return True

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
            if (key := node.key) is not None and node.status is DONE and node.children is None
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
