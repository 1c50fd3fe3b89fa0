"""One Socket.IO client's outgoing frames: a bounded hand-over from the broadcaster thread.

The broadcaster calls :meth:`Outbox.send` on its own thread. The frame is
counted and handed to the server's event loop with
``loop.call_soon_threadsafe``; a writer task emits the frames in order and,
after each, waits until the Engine.IO socket has taken what it was given
(its packet queue is empty), so a client that does not read holds at most
``capacity`` frames here and one in Engine.IO. While the count is at
``capacity``, :meth:`Outbox.ready` is false and the broadcaster composes
what the client misses into one pending patch instead of sending.

Frames that bypass ``ready()`` (a snapshot after a resync, a forced flush)
could still pile up; past ``hard_limit`` the queue is emptied and
``on_overflow`` is called (the client will need a fresh snapshot). When the
count falls below ``capacity`` again, ``on_ready`` is called: the hub sends
the snapshots it deferred and wakes the broadcaster for what is pending.

Threading: ``_queued`` is written by both threads, under ``_lock``; the
queue and the writer task belong to the loop. ``_starved`` is a flag either
thread may set; should the broadcaster set it just after the writer looked,
no wake-up follows, and the broadcaster's own retry delivers the frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["EVENTS", "SOCKETIO_NAMES", "Outbox", "event_of"]

log = logging.getLogger("taskbeam.server")

# Socket.IO's names for the protocol's message types where they differ, kept
# for compatibility: the frames it sends and the requests it is sent. The one
# place Python renames them (the page's is js/src/page-channel.js).
SOCKETIO_NAMES = {"batch": "batch_update", "cancel": "stop"}
# The broadcaster's frame types and the Socket.IO events that carry them.
EVENTS = {kind: SOCKETIO_NAMES.get(kind, kind) for kind in ("snapshot", "batch", "heartbeat")}

Emit = Callable[[str, Any], Awaitable[None]]


def event_of(message: dict[str, Any], buffers: list[bytes]) -> tuple[str, Any]:
    """The event name and arguments for a frame: a compressed one is ``(header, gzip bytes)``.

    >>> event_of({"type": "batch", "seq": 2}, [])
    ('batch_update', {'type': 'batch', 'seq': 2})
    >>> event_of({"type": "batch", "seq": 2, "encoding": "gzip"}, [b"..."])[1][1]
    b'...'
    """
    event = EVENTS.get(message.get("type", ""), "frame")
    if buffers:
        return event, (message, buffers[0])
    return event, message


class Outbox:
    """A bounded queue of frames for one client, drained by one writer task.

    Parameters
    ----------
    loop : asyncio.AbstractEventLoop
        The server's loop; the outbox must be made on it.
    emit : callable
        ``await emit(event, args)`` sends one frame.
    drained : callable
        ``await drained()`` returns once the transport took what was emitted.
    on_overflow : callable
        Called on the loop when frames had to be thrown away.
    on_ready : callable
        Called on the loop when ``ready()`` turns true again.
    on_frame : callable
        Called on the loop with each frame's event and arguments as it is queued.
    capacity : int
        Frames handed over and not yet taken at which ``ready()`` turns false.
    hard_limit : int
        Frames at which the queue is emptied whatever sent them.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        emit: Emit,
        drained: Callable[[], Awaitable[None]],
        *,
        on_overflow: Callable[[], None],
        on_ready: Callable[[], None],
        on_frame: Callable[[str, Any], None],
        capacity: int = 4,
        hard_limit: int = 16,
    ) -> None:
        self._loop = loop
        self._emit = emit
        self._drained = drained
        self._on_overflow = on_overflow
        self._on_ready = on_ready
        self._on_frame = on_frame
        self.capacity = capacity
        self.hard_limit = max(hard_limit, capacity)
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._queued = 0
        self._starved = False
        self._lock = threading.Lock()
        self.overflows = 0
        self._task = loop.create_task(self._writer())

    # -- the broadcaster thread ----------------------------------------------
    def ready(self) -> bool:
        """Whether a frame would be sent soon (the broadcaster composes while it is not)."""
        if self._queued < self.capacity:
            return True
        self._starved = True  # someone is waiting for room: call on_ready once there is
        return False

    def send(self, message: dict[str, Any], buffers: list[bytes]) -> None:
        """Hand a frame to the loop; never waits."""
        frame = event_of(message, buffers)
        with self._lock:
            self._queued += 1
        try:
            self._loop.call_soon_threadsafe(self._put, frame)
        except RuntimeError:  # the loop is closed: the server has stopped
            self._done(1)

    # -- the loop ------------------------------------------------------------
    def notify_when_ready(self) -> None:
        """Call ``on_ready`` after the next frame is taken, if there is room then."""
        self._starved = True

    @property
    def queued(self) -> int:
        """Frames handed over and not yet taken by the transport."""
        return self._queued

    def _put(self, frame: tuple[str, Any]) -> None:
        if self._task.done():
            self._done(1)
            return
        if self._queue.qsize() >= self.hard_limit:
            dropped = 0
            while not self._queue.empty():
                self._queue.get_nowait()
                dropped += 1
            self._done(dropped)
            self.overflows += 1
            self._starved = True
            self._on_overflow()
        self._queue.put_nowait(frame)
        self._on_frame(*frame)

    def _done(self, n: int) -> None:
        with self._lock:
            self._queued -= n

    async def _writer(self) -> None:
        while True:
            event, args = await self._queue.get()
            try:
                await self._emit(event, args)
                await self._drained()
            except asyncio.CancelledError:
                raise
            except Exception:  # the client went away mid-frame: the hub closes us
                log.debug("emitting %s failed", event, exc_info=True)
            finally:
                self._done(1)
            if self._starved and self._queued < self.capacity:
                self._starved = False
                self._on_ready()

    async def close(self) -> None:
        """Stop the writer and forget what is queued (idempotent)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._done(self._queue.qsize())
        self._queue = asyncio.Queue()
