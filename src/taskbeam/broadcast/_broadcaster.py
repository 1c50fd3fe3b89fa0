"""The broadcaster: rooms of subscribers fed with batched merge patches.

One broadcaster per process, one thread of its own. Runs publish into it
without blocking; transports (the Jupyter comm, Socket.IO, the in-memory one
in :mod:`taskbeam.testing`) subscribe to rooms and get frames through a
``send(message, buffers)`` callable that must hand the frame to its own I/O
and return.

Threading
---------
* A run's events arrive on the run's thread. The callback only appends
  ``(room, key, priority)`` to the inbox and wakes the broadcaster thread
  (once for any number of events): it never waits.
* Everything else happens on the broadcaster thread: batching, reading the
  changed nodes' summaries from the run (a short call on the run's thread,
  O(changed nodes)), diffing, encoding, sending. Rooms, subscribers and
  their queues are touched by no other thread; the public methods post
  commands to it.

Ordering and rules
------------------
Each room keeps its own copy of the run's snapshot and a ``seq``. A flush
reads the summaries of the nodes that changed, builds the merge patch of
what actually changed (an empty patch is never sent), bumps ``seq`` and
encodes the frame once for every subscriber that can take it.

A subscriber gets a snapshot first, then batches whose ``base_seq`` is the
``seq`` of the frame before. A subscriber that cannot take a frame now (its
transport reports it is busy, or its frame-rate cap has not let it send
again yet) keeps one pending patch: later patches are composed into it, so
its memory is bounded by the size of the state, not by the number of
frames it missed; past ``max_pending_bytes`` it is dropped and the
subscriber gets a fresh snapshot instead. Low-priority events are dropped
first for subscribers that are behind, and counted. Critical changes (an
error, the end of the run) are flushed at once and bypass the frame-rate cap.

Comm subscribers (the Jupyter widget) also share a process-wide budget of
frames per second: the Jupyter server drops comm messages above about 1,000
per second averaged over 3 s.

Requests (node details, a page of nodes, the controls, ...) are answered on
the broadcaster thread through the request table of :mod:`._requests`:
:meth:`Broadcaster.request` checks a message there, :meth:`Broadcaster.answer`
answers one a transport has already checked.

Modules
-------
This module holds the public API, the inbox and the thread's loop; the rooms
and subscribers are records of :mod:`._rooms`, the frames are built and sent
by :mod:`._frames`.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import functools
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from taskbeam._schema import Event, Status
from taskbeam.broadcast._batcher import RUN, Batcher, Priority
from taskbeam.broadcast._frames import Frames
from taskbeam.broadcast._frames import _node_diff as _node_diff
from taskbeam.broadcast._output import FRAME_CHARS, NODE_CHARS, OUTPUT
from taskbeam.broadcast._output import watch as watch_output
from taskbeam.broadcast._requests import (
    BadRequest,
    Request,
    Target,
    answer,
    parse,
    with_request_id,
)
from taskbeam.broadcast._rooms import (
    RUN_END,
    STRUCTURE,
    BroadcastStats,
    Ready,
    Room,
    Send,
    Subscriber,
    SubscriberStats,
    is_waiting,
)
from taskbeam.broadcast._source import Source

__all__ = ["BroadcastStats", "Broadcaster", "SubscriberStats", "Subscription"]

log = logging.getLogger("taskbeam.broadcast")

_CRITICAL_NODE = frozenset({Status.FAILED})
# Module constants: looking a member up on its enum class costs more than the rest of a change.
LOW, NORMAL, CRITICAL = Priority.LOW, Priority.NORMAL, Priority.CRITICAL


class Subscription:
    """A subscriber's handle: close it, ask for a resync, fetch details."""

    def __init__(self, broadcaster: Broadcaster, sub: Subscriber) -> None:
        self._b = broadcaster
        self._sub = sub
        self.id = sub.id
        self.room = sub.room

    def close(self) -> None:
        """Stop receiving frames (idempotent)."""
        self._b._post(("unsubscribe", self._sub))

    def resync(self) -> None:
        """Ask for a fresh snapshot (after a gap in ``seq``)."""
        self._b._post(("resync", self._sub))

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Answer a client's request (resync, node details, a page of nodes)."""
        return self._b.request(self.room, message, self)


class Broadcaster(Frames):
    """Turns run state changes into batched, diffed, compressed frames.

    Parameters
    ----------
    max_delay_ms : float
        Longest a normal change waits before its batch is sent.
    compress_min_bytes : int
        Frames at least this long are gzip-compressed when that saves 20 %.
    max_fps : float
        Frames per second per subscriber, at most (critical frames excepted).
    max_batch : int
        A batch is sent at once when this many nodes changed.
    max_pending_bytes : int
        A subscriber this far behind gets a fresh snapshot instead of patches.
    comm_fps : float
        Frames per second for all comm (Jupyter) subscribers together.
    compress_level : int
        gzip level, 1 (fastest, the default: JSON of node states still shrinks
        several times) to 9.
    """

    def __init__(
        self,
        max_delay_ms: float = 50,
        compress_min_bytes: int = 1024,
        max_fps: float = 20,
        *,
        max_batch: int = 10_000,
        max_pending_bytes: int = 1 << 20,
        comm_fps: float = 200,
        compress_level: int = 1,
    ) -> None:
        if max_fps <= 0 or comm_fps <= 0 or max_delay_ms < 0:
            raise ValueError("max_fps and comm_fps must be > 0, max_delay_ms >= 0")
        self.max_delay = max_delay_ms / 1000
        self.compress_min_bytes = compress_min_bytes
        self.compress_level = compress_level
        self.max_fps = max_fps
        self.max_batch = max_batch
        self.max_pending_bytes = max_pending_bytes
        self.comm_gap = 1 / comm_fps
        # Live output per frame (see _output.py): per node, and all nodes together.
        self.output_node_chars = NODE_CHARS
        self.output_frame_chars = FRAME_CHARS
        self._rooms: dict[str, Room] = {}
        self._inbox: deque[Any] = deque()
        self._awake = True
        self._wake = threading.Condition()
        self._ids = itertools.count(1)
        self._closed = False
        self._comm_next = 0.0
        self._counters: dict[str, int] = dict.fromkeys(
            ("changes_in", "frames_out", "batches", "snapshots_out", "coalesced", "resyncs"), 0
        )
        self._bytes = [0, 0]
        self._dropped = {p.name.lower(): 0 for p in Priority}
        self._thread = threading.Thread(target=self._main, name="taskbeam-broadcaster", daemon=True)
        self._thread.start()

    # -- public API (any thread) ---------------------------------------------
    @classmethod
    def shared(cls) -> Broadcaster:
        """The process-wide broadcaster that views use unless given another one.

        Made on first use with the default settings; closed at interpreter exit.
        """
        with _SHARED_LOCK:
            global _SHARED
            if _SHARED is None or _SHARED._closed:
                _SHARED = cls()
                atexit.register(_SHARED.close)
            return _SHARED

    def attach(self, run: Source) -> str:
        """Open the room of ``run`` (its id), on a running, finished or stored run.

        A room whose run is stored, or has ended, passes to another run of
        the same id (a continued run): its subscribers get a fresh snapshot.
        """
        if threading.current_thread() is self._thread:
            self._attach(run)
        else:
            self._ask("attach", run)
        return run.id

    def detach(self, room: str) -> None:
        """Close the room ``room`` (a run id): its subscribers get nothing more; idempotent.

        The room's copy of the snapshot and its reference to the run are
        dropped, so a finished run that nobody else holds can be freed.
        """
        self._post(("detach", room))

    def subscribe(
        self,
        room: str,
        send: Send,
        *,
        ready: Ready | None = None,
        kind: str = "other",
        max_fps: float | None = None,
    ) -> Subscription:
        """Send ``room``'s frames to ``send`` (a snapshot first).

        ``ready()``, if given, says whether the transport can take a frame now;
        while it cannot, frames are composed into one pending patch. ``kind``
        ``"comm"`` puts the subscriber under the process-wide comm budget.
        """
        gap = 1 / (max_fps or self.max_fps)
        sub = Subscriber(next(self._ids), room, send, ready, kind, gap)
        self._ask("subscribe", sub)
        if sub.closed:
            raise KeyError(f"no room {room!r}: attach its run first")
        return Subscription(self, sub)

    def request(
        self, room: str, message: dict[str, Any], sub: Subscription | None = None
    ) -> dict[str, Any]:
        """Answer a request for ``room`` (see docs/protocol.md).

        ``{"type": "resync" | "node_details" | "nodes" | "pause" | "resume" |
        "cancel" | "cancel_node" | "continue", ...}``: the entries of
        :data:`~taskbeam.broadcast._requests.REQUESTS` offered to the
        ``"broadcaster"`` transport. The answer carries the request's ``id``
        when it had one (an integer or a short string), so a client can
        match answers to requests over a transport without acknowledgements.
        """
        if room not in self._rooms:
            return with_request_id({"type": "error", "error": f"no room {room!r}"}, message)
        try:
            entry, fields = parse("broadcaster", message)
        except BadRequest as exc:
            return with_request_id({"type": "error", "error": str(exc)}, message)
        return with_request_id(self.answer(room, entry, fields, sub), message)

    def answer(
        self, room: str, entry: Request, fields: dict[str, Any], sub: Subscription | None = None
    ) -> dict[str, Any]:
        """Answer a request that :func:`~taskbeam.broadcast._requests.parse` checked.

        On the broadcaster thread (transports call it from ``submit``). The
        answer carries no ``id``: the transport adds the request's.
        """
        target = self._rooms.get(room)
        if target is None:
            return {"type": "error", "error": f"no room {room!r}"}
        return answer(entry, Target(self, room, target.run, target.state, sub), fields)

    def submit(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` on the broadcaster thread, soon; return at once.

        Transports use it to answer their clients from the one thread that
        sends frames (a Jupyter comm's ``on_msg`` handler only enqueues). An
        exception in ``fn`` is logged; the thread goes on.
        """
        self._post(("call", fn))

    def flush_all(self, timeout: float | None = 10) -> None:
        """Send everything waiting in every room now; return when it is sent."""
        self._ask("flush", timeout=timeout)

    def stats(self) -> BroadcastStats:
        """A snapshot of the counters (see :class:`BroadcastStats`)."""
        stats: BroadcastStats = self._ask("stats")
        return stats

    def close(self) -> None:
        """Flush, then stop the thread and leave every run (idempotent)."""
        if self._closed:
            return
        self._post(("close",))
        self._thread.join()

    def __enter__(self) -> Broadcaster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the inbox -----------------------------------------------------------
    def _ask(self, kind: str, arg: Any = None, timeout: float | None = 30) -> Any:
        """Have the broadcaster thread do ``kind`` and return its answer (or raise its error)."""
        if threading.current_thread() is self._thread:  # from submit(): do it now
            return self._answer(kind, arg, time.monotonic())
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._post(("ask", kind, arg, future))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"the broadcaster did not answer {kind!r} in {timeout} s") from None

    def _post(self, item: Any) -> None:
        with self._wake:
            if self._closed and item[0] != "close":
                if item[0] == "ask":  # never leave a caller waiting on a stopped thread
                    item[3].set_exception(RuntimeError("the broadcaster is closed"))
                return
            self._inbox.append(item)
            self._wake.notify()

    def _on_event(self, room: str, event: Event) -> None:
        # On the run's thread: append and wake, nothing else.
        key = event.node_id
        if key is None:
            key, priority = RUN, CRITICAL if event.new in RUN_END else NORMAL
            self._inbox.append(("change", room, key, priority, False))
        elif event.old == event.new:
            # The node's summary changed, not its status (progress, metrics,
            # its questions): low priority, coalesced with its other changes.
            priority = LOW
            self._inbox.append(("change", room, key, priority, False))
        else:
            priority = CRITICAL if event.new in _CRITICAL_NODE else NORMAL
            self._inbox.append(("change", room, key, priority, event.old is None))
        if not self._awake:  # see _main: the thread clears the flag before it looks
            with self._wake:
                self._wake.notify()

    def _on_output(self, room: str) -> None:
        # On a printing thread, once per frame window per room: append and wake.
        self._inbox.append(("output", room))
        if not self._awake:
            with self._wake:
                self._wake.notify()

    # -- the broadcaster thread ----------------------------------------------
    def _main(self) -> None:
        # Wake-ups: a publisher appends to the inbox (a deque: appends are
        # atomic) and notifies only when ``_awake`` is false. The thread clears
        # ``_awake`` under the lock *before* it checks the inbox, so an item
        # appended after that check always finds the flag clear and notifies.
        while True:
            with self._wake:
                self._awake = False
                if not self._inbox:
                    self._wake.wait(self._timeout())
                self._awake = True
            # Take what is there now, in one C-level pass (appends may go on meanwhile).
            inbox = self._inbox
            items = list(itertools.starmap(inbox.popleft, itertools.repeat((), len(inbox))))
            try:
                if self._handle(items):
                    return
                self._tick(time.monotonic())
            except Exception:  # a bug must not silence every room
                log.exception("broadcaster step failed")

    def _timeout(self) -> float | None:
        now = time.monotonic()
        deadlines = [r.batcher.deadline() for r in self._rooms.values()]
        deadlines += [r.heartbeats[0] for r in self._rooms.values() if r.heartbeats]
        deadlines += [
            s.next_at for r in self._rooms.values() for s in r.subscribers if is_waiting(s)
        ]
        due = [d for d in deadlines if d is not None]
        return max(0.0, min(due) - now) if due else None

    def _handle(self, items: list[Any]) -> bool:
        now = time.monotonic()
        touched: set[str] = set()
        rooms = self._rooms
        changes = 0
        for item in items:
            kind = item[0]
            if kind == "change":
                _, name, key, priority, created = item
                room = rooms.get(name)
                if room is None:
                    continue
                changes += 1
                batcher = room.batcher
                waiting = batcher.waiting
                if key in waiting and waiting[key] >= priority:
                    continue  # the common case: already waiting, nothing to add
                batcher.add(key, priority, now)
                if created:
                    batcher.add(STRUCTURE, priority, now)
                if name not in touched:
                    touched.add(name)
                    batcher.add(RUN, Priority.NORMAL, now)  # counts change with every event
            elif kind == "output":
                room = rooms.get(item[1])
                if room is not None:
                    room.batcher.add(OUTPUT, LOW, now)  # coalesced: one key per room
            elif kind == "ask":
                _, what, arg, future = item
                try:
                    future.set_result(self._answer(what, arg, now))
                except Exception as exc:  # the caller gets the error, the thread goes on
                    future.set_exception(exc)
            elif kind == "unsubscribe":
                sub = item[1]
                sub.closed = True
                room = self._rooms.get(sub.room)
                if room is not None and sub in room.subscribers:
                    room.subscribers.remove(sub)
                    _watch_output(room)
            elif kind == "detach":
                gone = self._rooms.pop(item[1], None)
                if gone is not None:
                    gone.unsubscribe()
                    _stop_output(gone)
                    for sub in gone.subscribers:
                        sub.closed = True
                    gone.subscribers.clear()
            elif kind == "resync":
                sub = item[1]
                room = self._rooms.get(sub.room)
                if room is not None and not sub.closed:
                    self._counters["resyncs"] += 1
                    self._send_snapshot(room, sub, now)
            elif kind == "call":
                try:
                    item[1]()
                except Exception:
                    log.exception("a call submitted to the broadcaster failed")
            elif kind == "close":
                self._counters["changes_in"] += changes
                for room in self._rooms.values():
                    self._flush(room, now, force=True)
                    room.unsubscribe()
                    _stop_output(room)
                self._closed = True
                return True
        self._counters["changes_in"] += changes
        return False

    def _answer(self, what: str, arg: Any, now: float) -> Any:
        if what == "attach":
            self._attach(arg)
        elif what == "subscribe":
            room = self._rooms.get(arg.room)
            if room is None:
                arg.closed = True
            else:
                room.subscribers.append(arg)
                _watch_output(room)
                self._send_snapshot(room, arg, now)
        elif what == "flush":
            for room in self._rooms.values():
                self._flush(room, now, force=True)
                self._heartbeat(room, now)
        elif what == "stats":
            return self._stats(now)
        return None

    def _attach(self, run: Source) -> None:
        old = self._rooms.get(run.id)
        if old is not None:
            if old.run is not run and _supersedes(run, old.run):
                self._replace(old, run)
            return
        name = run.id
        snap, unsubscribe = run.watch(functools.partial(self._on_event, name))
        self._rooms[name] = room = Room(
            name, run, snap, unsubscribe, Batcher(self.max_delay, self.max_batch)
        )
        notes = getattr(run, "question_events", None)
        if notes is not None:  # a live run: its question events from now on
            room.notes = notes(None)[0]
        room.output = watch_output(run, functools.partial(self._on_output, name))

    def _replace(self, room: Room, run: Source) -> None:
        """Give ``room`` to ``run`` (same id); every subscriber gets a fresh snapshot."""
        room.unsubscribe()
        _stop_output(room)
        snap, unsubscribe = run.watch(functools.partial(self._on_event, room.name))
        room.run, room.state, room.unsubscribe = run, snap, unsubscribe
        room.output = watch_output(run, functools.partial(self._on_output, room.name))
        _watch_output(room)
        room.seq += 1
        now = time.monotonic()
        for sub in room.subscribers:
            if not sub.closed:
                self._send_snapshot(room, sub, now)

    def _tick(self, now: float) -> None:
        for room in self._rooms.values():
            if room.batcher.due(now):
                self._flush(room, now)
            if room.heartbeats and now >= room.heartbeats[0]:
                room.heartbeats.pop(0)
                self._heartbeat(room, now)
            for sub in room.subscribers:
                if is_waiting(sub) and self._may_send(sub, now, sub.critical):
                    self._deliver_pending(room, sub, now)


_SHARED: Broadcaster | None = None
_SHARED_LOCK = threading.Lock()


def _watch_output(room: Room) -> None:
    """Output is watched while the room has subscribers: with none, a print wakes nobody."""
    if room.output is not None:
        room.output.watch.active = bool(room.subscribers)


def _stop_output(room: Room) -> None:
    if room.output is not None:
        room.output.watch.active = False
        room.output.stop()
        room.output = None


def _supersedes(new: Source, old: Source) -> bool:
    """Whether a room of ``old`` passes to ``new`` (another object, same id).

    A running run is never replaced. An ended live run gives way to any
    other; a stored run to a live one that has not ended (it was continued)
    and to a later read of itself (``read_at``), never back and forth.
    """
    if not getattr(old, "stored", False):
        return old.done
    if not getattr(new, "stored", False):
        return not new.done
    return float(getattr(new, "read_at", 0.0)) > float(getattr(old, "read_at", 0.0))
