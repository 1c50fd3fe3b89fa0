"""Test doubles that users can use too: an in-memory broadcast subscriber.

:class:`MemorySubscriber` is a transport with no network: frames wait in a
queue until :meth:`MemorySubscriber.receive` applies them to its own copy of
the state, exactly as the widget and the web page do (snapshot, then
batches whose ``base_seq`` must match; a gap asks for a resync).

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
from typing import TYPE_CHECKING, Any

from taskbeam.broadcast._codec import decode
from taskbeam.broadcast._patch import apply

if TYPE_CHECKING:
    from taskbeam.broadcast import Broadcaster, Subscription

__all__ = ["MemorySubscriber"]


class MemorySubscriber:
    """An in-memory subscriber with an optional bounded queue.

    Parameters
    ----------
    capacity : int, optional
        Frames it holds before it reports itself busy (``ready()`` is false),
        which makes the broadcaster compose patches for it instead.
    """

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self.queue: deque[tuple[dict[str, Any], list[bytes]]] = deque()
        self.state: dict[str, Any] | None = None
        self.seq: int | None = None
        self.events: list[dict[str, Any]] = []
        self.received = 0
        self.snapshots = 0
        self.gaps = 0
        self.compressed = 0
        self.subscription: Subscription | None = None
        self._lock = threading.Lock()

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
            applied += self._apply(message, buffers)
        if self.state is None and not self.queue and self.subscription is not None:
            self.subscription.resync()  # the first snapshot was lost: ask again, as views do
        return applied

    def _apply(self, message: dict[str, Any], buffers: list[bytes]) -> int:
        if message.get("encoding"):
            self.compressed += 1
        frame = decode(message, buffers)
        self.received += 1
        if frame["type"] == "snapshot":
            self.state, self.seq = frame["state"], frame["seq"]
            self.snapshots += 1
        elif frame["type"] == "heartbeat":
            self.received -= 1
            if frame["seq"] == self.seq:
                return 0
            self.gaps += 1  # the last frame was lost
            if self.subscription is not None:
                self.subscription.resync()
        elif frame["type"] == "batch":
            if self.state is None or frame["base_seq"] != self.seq:
                self.gaps += 1  # a frame was lost: ask for the whole state again
                if self.subscription is not None:
                    self.subscription.resync()
                return 1
            self.state = apply(self.state, frame["patch"])
            self.seq = frame["seq"]
            self.events.extend(frame["events"])
        return 1
