"""The run's side of persistence: what changed, when to save, the final save.

Lives on the run's thread. The state machine marks every node it changes
(``RunState.dirty``); the recorder turns those nodes into plain columns
(:func:`columns`) and hands them to the store's writer thread, which
serializes results and commits,
so the run never waits on the disk except twice: its creation is stored
before the first node starts (so any run that started can be continued), and
its final save is confirmed before ``run.wait()`` returns.

Save policy: a run someone watches (it has subscribers) saves within
``watched`` seconds of a change, an unwatched one at most every
``unwatched`` seconds; a change of the run's own status (pause, resume, the
end) is saved at once.

Final save: once the save still with the writer (if any) has landed, what
changed since (every node, if a save failed), then read back and compared
(node count and the CRC-32 of every batch of the log), up to ``attempts``
times with backoff. If the database still refuses, the run is written to an
emergency JSON backup, and the failure becomes the run's ``store_error``.

What the recorder reads of its run is explicit: the run's identity and
options, its state machine and graph, whether it continues a stored run and whether
anyone watches it (given when it is made), and the loop and start time
(set by the run as it starts: ``loop`` before the run's thread starts,
``t0`` when its first node may start). It writes through the store's
protocol (:class:`taskbeam.store._base.Store`), plain records only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from taskbeam.engine._capture import OutputBuffer
from taskbeam.engine._metrics import Meter
from taskbeam.engine._preview import previews
from taskbeam.engine._state import Node, RunState, structure
from taskbeam.engine._status import Status
from taskbeam.engine._timeline import Spans, span_fields
from taskbeam.graph._graph import Graph, Links
from taskbeam.store._backup import write_backup
from taskbeam.store._base import RunRecord, Saved, Store, StoreError, log_digest

__all__ = ["Recorder", "SavePolicy", "columns"]

log = logging.getLogger("taskbeam.store")
T = TypeVar("T")
STREAM_GAP = 0.05
DONE, FAILED, RETRYING = Status.DONE, Status.FAILED, Status.RETRYING
# The stored structure (JSON) of a graph's top level, per version of the graph.
_STRUCTURE: weakref.WeakKeyDictionary[Links, str] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class SavePolicy:
    """When a run's changes reach the store.

    Parameters
    ----------
    watched : float
        Seconds within which a change is saved while the run has subscribers.
    unwatched : float
        Seconds between saves of a run nobody watches.
    attempts : int
        Tries of the final save before the emergency backup.
    backoff : float
        Seconds before the second try of the final save; doubles each time.
    """

    watched: float = 0.5
    unwatched: float = 5.0
    attempts: int = 3
    backoff: float = 0.1

    def __post_init__(self) -> None:
        for name in ("watched", "unwatched", "backoff"):
            if getattr(self, name) < 0:
                raise ValueError(f"SavePolicy.{name} must be >= 0")
        if self.attempts < 1:
            raise ValueError("SavePolicy.attempts must be >= 1")


def columns(nodes: Sequence[Node], t0: float, errors: bool = True) -> dict[str, Any]:
    """A batch of ``nodes`` as plain columns (the format of :mod:`taskbeam.store._log`).

    Previews of done nodes are made here if the nodes have none yet (they
    are not kept on the nodes: a snapshot makes its own).

    ``errors=False`` promises that no node is failed or retrying (the run's
    counts tell), which skips a pass over the nodes.
    """
    done, failed, retrying = DONE, FAILED, RETRYING
    count = len(nodes)
    status = [n.status for n in nodes]
    result = [n.result for n in nodes]
    preview: list[str | None] = [n.preview for n in nodes]
    if status.count(done) == count:  # the common case: every node is done
        fmt: list[str | None] = ["json"] * count
        if preview.count(None) == count:  # and none has its preview yet
            # Tasks run for their effects return None: no per-result pass then.
            # By identity: list.count also compares with ==, which an array answers elementwise.
            nothing = all(r is None for r in result)
            preview[:] = ["None"] * count if nothing else previews(result)
    else:
        fmt = ["json" if s is done else None for s in status]
        result = [r if s is done else None for s, r in zip(status, result, strict=True)]
        preview = [p if s is done else None for s, p in zip(status, preview, strict=True)]
    if None in preview:
        missing = [i for i, p in enumerate(preview) if p is None and status[i] is done]
        for i, text in zip(missing, previews([result[i] for i in missing]), strict=True):
            preview[i] = text
    return {
        "t0": t0,
        "id": [n.id for n in nodes],
        "status": status,
        "attempt": [n.attempt for n in nodes],
        "started": [n.started for n in nodes],
        "ended": [n.ended for n in nodes],
        "preview": preview,
        "format": fmt,
        "result": result,
        "fingerprint": [n.fingerprint for n in nodes],
        "error": {
            n.id: [n.error.type, n.error.message, n.error.traceback]
            for n in nodes
            if n.error is not None and (n.status is failed or n.status is retrying)
        }
        if errors
        else {},
        "output": {
            n.id: text for n in nodes if n.output is not None and (text := n.output.getvalue())
        }
        if OutputBuffer.made
        else {},
        # Each node's own metrics, {name: [value, agg, unit, stamp]} (see _meters.Meters.stored).
        "metrics": {
            n.id: kept for n in nodes if n.meter is not None and (kept := n.meter.meters.stored(n))
        }
        if Meter.made
        else {},
        **(
            {"spans": {n.id: span_fields(n.spans, t0) for n in nodes if n.spans is not None}}
            if Spans.made
            else {}
        ),
        # Nodes whose result was reused (the cache, a rerun): {node: {"run", "node"}}.
        **({"cached": cached} if (cached := {n.id: n.cached for n in nodes if n.cached}) else {}),
    }


class Recorder:
    """Saves one run to one store. Every method runs on the run's thread except ``create``."""

    def __init__(
        self,
        state: RunState,
        graph: Graph,
        store: Store,
        policy: SavePolicy,
        *,
        run_id: str,
        name: str,
        options: dict[str, Any],
        created: float,
        resumed: bool,
        watched: Callable[[], bool],
    ) -> None:
        self.state = state
        self.graph = graph
        self.store = store
        self.id = run_id
        self.name = name
        self.options = options
        self.created = created
        self.resumed = resumed
        self.watched = watched  # whether the run has subscribers now
        # Set by the run: its loop (before its thread starts), its start time.
        self.loop: asyncio.AbstractEventLoop | None = None
        self.t0 = 0.0
        self.policy = policy
        self.timer: asyncio.TimerHandle | None = None
        self.error: str | None = None
        self.refused = 0
        self.backup: str | None = None
        # The latest save handed to the writer; done once its result was applied.
        self.in_flight: concurrent.futures.Future[None] | None = None
        self.lost = False  # a save failed: its changes must be sent again
        self.last = 0.0  # loop time of the last save
        self.batches: dict[int, int] = {}  # the run's log as written: {seq: crc32}

    def record(self) -> RunRecord:
        st = self.state
        return RunRecord(
            id=self.id,
            name=self.name,
            status=st.status.value,
            options=self.options,
            created=self.created,
            ended=None if st.ended is None else round(st.ended - self.t0, 3),
            counts={s.value: n for s, n in st.counts.items()},
            total=len(st.nodes),
            checksum=log_digest(self.batches),
            error=self.error,
        )

    def create(self, keep: list[str] | None) -> None:
        """Store the run and its graph; blocks the caller. Raises StoreError."""
        st = self.state
        links = self.graph.links()
        text = _STRUCTURE.get(links)
        if text is None:  # the top level is the graph itself: encoded once per graph version
            text = _STRUCTURE[links] = orjson.dumps(st.structure()).decode()
        self._apply(self.store.create_run(self.record(), text, keep).result())
        st.dirty = set()

    def _apply(self, saved: Saved) -> None:
        """Remember what the log holds now (the checksums verification expects)."""
        if saved.replace:
            self.batches = dict(saved.batches)
        else:
            self.batches.update(saved.batches)
        self.refused += saved.refused

    def changed(self, loop: asyncio.AbstractEventLoop) -> None:
        """Something changed (or someone started watching): make sure a save is
        on its way within the delay the policy allows now.

        A watched run streams: the next save leaves as soon as the writer is
        free again (at most every ``STREAM_GAP`` seconds), so the writer works
        beside the run instead of after it.
        """
        if self.state.open == 0:
            return  # the run has ended: its final save follows at once
        now = loop.time()
        if self.watched():
            delay = self.policy.watched
            if self.in_flight is None or self.in_flight.done():
                delay = min(delay, max(0.0, self.last + STREAM_GAP - now))
        else:
            delay = self.policy.unwatched
        due = now + delay
        if self.timer is not None and self.timer.when() <= due:
            return
        if self.timer is not None:
            self.timer.cancel()
        self.timer = loop.call_at(due, self.flush)

    def flush(self) -> None:
        """Hand what changed since the last save to the writer; do not wait."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        st = self.state
        if not st.dirty or st.open == 0:
            return  # nothing to save, or the run has ended and its final save follows
        batch = columns(list(st.dirty), self.t0, self._errors())
        st.dirty.clear()
        structures, st.structures = st.structures, []
        loop = self.loop
        self.last = loop.time() if loop is not None else 0.0
        applied = self.in_flight = concurrent.futures.Future()
        self.store.save(self.record(), batch, structures, log=self.batches).add_done_callback(
            lambda future: self._saved(future, applied)
        )

    def _errors(self) -> bool:
        counts = self.state.counts
        return bool(counts.get(FAILED) or counts.get(RETRYING))

    def _saved(
        self, future: concurrent.futures.Future[Saved], applied: concurrent.futures.Future[None]
    ) -> None:
        # On the writer thread, which runs saves one by one in order.
        try:
            exc = future.exception()
            if exc is not None:
                self.lost = True  # the final save sends every node, not only the last changes
                log.warning("saving run %s failed (the final save will retry): %s", self.id, exc)
            else:
                self._apply(future.result())
        finally:
            applied.set_result(None)  # the final save waits for this

    async def final(self) -> None:
        """Save what is left, verify it, retry, and fall back to an emergency backup."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        st = self.state
        nodes = list(st.nodes.values())
        dirty, st.dirty = st.dirty or set(), None
        live = [n.id for n in nodes] if self.resumed else None
        if self.in_flight is not None:  # whether it landed decides what is sent now
            await asyncio.wrap_future(self.in_flight)
            self.in_flight = None
        last: Exception | None = None
        for attempt in range(self.policy.attempts):
            full = self.lost or attempt > 0
            every = full or len(dirty) == len(nodes)  # then in the run's order
            batch = columns(nodes if every else list(dirty), self.t0, self._errors())
            structures = (
                [(n.id, structure(n.children)) for n in nodes if n.children]
                if full or live is not None
                else st.structures
            )
            try:
                saved = await asyncio.wrap_future(
                    self.store.save(self.record(), batch, structures, live=live, log=self.batches)
                )
                self._apply(saved)
                # Read back on this thread: the run has ended, nothing waits on its loop.
                problems = self.store.verify(self.id, self.batches, len(nodes))
                if problems:
                    raise StoreError(
                        f"verification of run {self.id} failed: " + "; ".join(problems)
                    )
                return
            except StoreError as exc:
                last = exc
                if attempt + 1 < self.policy.attempts:
                    await asyncio.sleep(self.policy.backoff * 2**attempt)
        batch = columns(nodes, self.t0)
        structures = [(n.id, structure(n.children)) for n in nodes if n.children]
        try:
            path = await _off_loop(
                write_backup,
                self.store.path,
                self.record(),
                [("", st.structure()), *structures],
                batch,
            )
            self.backup = str(path)
            self.error = f"{last}; the run was written to the emergency backup {path}"
        except StoreError as exc:
            self.error = f"{last}; {exc}; results are only in memory (run.results)"
        log.error("run %s: %s", self.id, self.error)


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking I/O in a thread; at interpreter exit (no new threads), inline."""
    try:
        return await asyncio.to_thread(fn, *args)
    except RuntimeError:
        return fn(*args)
