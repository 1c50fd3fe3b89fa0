"""Test doubles that users can use too: a frame follower and an in-memory subscriber.

:class:`Follower` is what every view does with the frames it gets, in one
place: it decodes each frame, keeps the room's state (a snapshot, then
batches whose ``base_seq`` must be the ``seq`` it holds), and says when a
frame was lost and the view must ask for a ``resync`` (a batch that does
not apply, a heartbeat of another ``seq``). It does no I/O, so any client
(a Socket.IO one, a benchmark's reader) feeds it and sends the resync its
own way.

:class:`MemorySubscriber` is a transport with no network: frames wait in a
queue until :meth:`MemorySubscriber.receive` feeds them to its follower and
asks its subscription for the resyncs the follower calls for.

>>> import taskbeam as tb
>>> from taskbeam.testing import MemorySubscriber
>>> g = tb.Graph("demo")
>>> _ = g.add("a", lambda: 1)
>>> run = tb.start(g)
>>> with tb.Broadcaster() as b:
...     client = MemorySubscriber().join(b, b.attach(run))
...     _ = run.wait()
...     b.flush_all()
...     _ = client.receive()
>>> client.state == run.snapshot()
True
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskbeam.broadcast._codec import decode
from taskbeam.broadcast._patch import apply

if TYPE_CHECKING:
    from taskbeam.broadcast import Broadcaster, Subscription

__all__ = ["Follower", "MemorySubscriber", "Step"]


@dataclass(frozen=True, slots=True)
class Step:
    """What one frame did to a :class:`Follower`.

    Attributes
    ----------
    frame : dict
        The decoded frame (``{}`` for a frame of another room, not decoded).
    applied : bool
        A snapshot taken or a batch applied: the follower's state changed.
    resync : bool
        A frame was lost: ask the broadcaster for a ``resync`` (a fresh snapshot).
    """

    frame: dict[str, Any]
    applied: bool
    resync: bool


_IGNORED = Step({}, applied=False, resync=False)


class Follower:
    """One room's state, kept from its frames exactly as the front ends keep it.

    Parameters
    ----------
    room : str, optional
        Follow only this room: frames of any other (a run followed before)
        are ignored and counted in ``other_rooms``. By default every frame
        is taken, as a view that follows whichever run it is sent.
    in_place : bool
        Apply patches to the state in place instead of building a new state
        that shares the unchanged parts. Faster on large states, but only
        for frames decoded for this follower alone (from a socket): frames
        handed over in memory share their dicts with the broadcaster.

    Attributes
    ----------
    state : dict or None
        The room's state as of ``seq`` (None before the first snapshot).
    seq : int or None
        The ``seq`` of the last frame applied.
    events : list of dict
        The events of the batches applied, in order.
    frames, snapshots, batches, heartbeats, gaps, compressed, other_rooms : int
        Frames fed (of the room followed), snapshots taken, batches applied,
        heartbeats fed, frames found lost, frames that came compressed,
        frames of other rooms ignored.

    Examples
    --------
    >>> f = Follower()
    >>> f.feed({"type": "snapshot", "room": "r", "seq": 3, "state": {"nodes": {}}}).applied
    True
    >>> f.feed({"type": "batch", "room": "r", "seq": 4, "base_seq": 3,
    ...         "patch": {"nodes": {"a": {"status": "done"}}}, "events": []}).applied
    True
    >>> f.state, f.seq
    ({'nodes': {'a': {'status': 'done'}}}, 4)
    >>> f.feed({"type": "batch", "room": "r", "seq": 6, "base_seq": 5,
    ...         "patch": {}, "events": []}).resync
    True
    >>> f.feed({"type": "heartbeat", "room": "r", "seq": 4}), f.gaps
    (Step(frame={'type': 'heartbeat', 'room': 'r', 'seq': 4}, applied=False, resync=False), 1)
    """

    def __init__(self, room: str | None = None, *, in_place: bool = False) -> None:
        self.room = room
        self.in_place = in_place
        self.reset(room)

    def reset(self, room: str | None = None) -> None:
        """Forget the state and the counts; follow ``room`` (or every room) from now on."""
        self.room = room
        self.state: dict[str, Any] | None = None
        self.seq: int | None = None
        self.events: list[dict[str, Any]] = []
        self.frames = self.snapshots = self.batches = self.heartbeats = 0
        self.gaps = self.compressed = self.other_rooms = 0

    def feed(
        self,
        message: Mapping[str, Any],
        buffers: Sequence[bytes | bytearray | memoryview] = (),
    ) -> Step:
        """Take one frame as it came over the wire (``message`` and its binary ``buffers``).

        Raises
        ------
        ValueError
            If the frame cannot be decoded (see :func:`taskbeam.broadcast.decode`).
        """
        if self.room is not None and message.get("room") != self.room:
            self.other_rooms += 1
            return _IGNORED
        if message.get("encoding"):
            self.compressed += 1
        frame = decode(dict(message), buffers)
        self.frames += 1
        kind = frame.get("type")
        if kind == "snapshot":
            self.state, self.seq = frame["state"], frame["seq"]
            self.snapshots += 1
            return Step(frame, applied=True, resync=False)
        if kind == "batch":
            if self.state is None or frame["base_seq"] != self.seq:
                return self._lost(frame)
            if self.in_place:
                _merge(self.state, frame["patch"])
            else:
                self.state = apply(self.state, frame["patch"])
            self.seq = frame["seq"]
            self.batches += 1
            self.events.extend(frame["events"])
            return Step(frame, applied=True, resync=False)
        if kind == "heartbeat":
            self.heartbeats += 1
            if frame["seq"] != self.seq:  # the last frame of a burst was lost
                return self._lost(frame)
        return Step(frame, applied=False, resync=False)

    def _lost(self, frame: dict[str, Any]) -> Step:
        self.gaps += 1
        return Step(frame, applied=False, resync=True)


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """Apply a JSON merge patch (RFC 7386) to ``target`` in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            inner = target.get(key)
            if not isinstance(inner, dict):
                inner = target[key] = {}
            _merge(inner, value)
        else:
            target[key] = value


class MemorySubscriber:
    """An in-memory subscriber with an optional bounded queue.

    Parameters
    ----------
    capacity : int, optional
        Frames it holds before it reports itself busy (``ready()`` is false),
        which makes the broadcaster compose patches for it instead.

    Attributes
    ----------
    follower : Follower
        The state it keeps; ``state``, ``seq``, ``events``, ``snapshots``,
        ``gaps`` and ``compressed`` are its follower's.
    received : int
        Snapshots and batches it took (applied or found lost), heartbeats not counted.
    """

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self.queue: deque[tuple[dict[str, Any], list[bytes]]] = deque()
        self.follower = Follower()
        self.received = 0
        self.subscription: Subscription | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> dict[str, Any] | None:
        return self.follower.state

    @property
    def seq(self) -> int | None:
        return self.follower.seq

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.follower.events

    @property
    def snapshots(self) -> int:
        return self.follower.snapshots

    @property
    def gaps(self) -> int:
        return self.follower.gaps

    @property
    def compressed(self) -> int:
        return self.follower.compressed

    # transport side (the broadcaster thread)
    def send(self, message: dict[str, Any], buffers: list[bytes]) -> None:
        with self._lock:
            self.queue.append((message, buffers))

    def ready(self) -> bool:
        return self.capacity is None or len(self.queue) < self.capacity

    def join(self, broadcaster: Broadcaster, room: str, **options: Any) -> MemorySubscriber:
        """Subscribe to ``room``; returns self."""
        self.subscription = broadcaster.subscribe(room, self.send, ready=self.ready, **options)
        return self

    # client side (the test's thread)
    def receive(self, limit: int | None = None, drop: int = 0) -> int:
        """Apply up to ``limit`` queued frames (dropping the first ``drop``); return how many.

        Heartbeats count only when they revealed a lost frame (and so asked
        for a resync): zero means this subscriber is in step with its room.
        """
        applied = 0
        while limit is None or applied < limit:
            with self._lock:
                if not self.queue:
                    break
                message, buffers = self.queue.popleft()
            if drop:
                drop -= 1
                continue
            step = self.follower.feed(message, buffers)
            heartbeat = step.frame.get("type") == "heartbeat"
            if not heartbeat:
                self.received += 1
            if step.resync and self.subscription is not None:
                self.subscription.resync()
            if not heartbeat or step.resync:
                applied += 1
        if self.state is None and not self.queue and self.subscription is not None:
            self.subscription.resync()  # the first snapshot was lost: ask again, as views do
        return applied
