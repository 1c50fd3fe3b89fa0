"""One Socket.IO connection: its outbox, its subscriptions by project, its resyncs.

Lives on the server's event loop. Resyncs are coalesced: a snapshot asked
for and not yet arrived is not asked for again, and while frames are on
their way to the client a resync waits until they are taken. So a client
that asks for resyncs and never reads costs the broadcaster (shared by
every client) one snapshot, not one per request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio  # type: ignore[import-untyped]

from taskbeam.broadcast import Broadcaster, Subscription
from taskbeam.server._outbox import Outbox

__all__ = ["Client"]


class Client:
    """A connected client (``sid``) of the Socket.IO server ``sio``."""

    def __init__(
        self,
        sid: str,
        sio: socketio.AsyncServer,
        broadcaster: Broadcaster,
        *,
        capacity: int,
        hard_limit: int,
    ) -> None:
        self.sid = sid
        self.subs: dict[str, Subscription] = {}  # by project id
        self.inflight = 0  # requests being answered
        self._sio = sio
        self._broadcaster = broadcaster
        self._deferred: set[str] = set()  # projects whose resync waits for room
        self._awaiting: set[str] = set()  # rooms whose snapshot was asked for, not yet here
        self.outbox = Outbox(
            asyncio.get_running_loop(),
            self._emit,
            self._drained,
            on_overflow=self._overflow,
            on_ready=self._ready,
            on_frame=self._frame,
            capacity=capacity,
            hard_limit=hard_limit,
        )

    # -- Engine.IO ------------------------------------------------------------
    def engine_queue(self) -> asyncio.Queue[Any] | None:
        """The Engine.IO packet queue of this client: what was emitted and not yet written."""
        eio_sid = self._sio.manager.eio_sid_from_sid(self.sid, "/")
        socket = self._sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        queue = getattr(socket, "queue", None)
        return queue if isinstance(queue, asyncio.Queue) else None

    def backlog(self) -> int:
        """Packets emitted to this client that Engine.IO has not written yet."""
        queue = self.engine_queue()
        return queue.qsize() if queue is not None else 0

    async def _emit(self, event: str, args: Any) -> None:
        await self._sio.emit(event, args, to=self.sid)

    async def _drained(self) -> None:
        queue = self.engine_queue()
        if queue is not None:
            await queue.join()

    # -- subscriptions --------------------------------------------------------
    def replace(self, project_id: str, sub: Subscription | None) -> None:
        """Follow ``project_id`` through ``sub`` (None: stop following it)."""
        old = self.subs.pop(project_id, None)
        if old is not None:
            old.close()
            self._awaiting.discard(old.room)
        self._deferred.discard(project_id)
        if sub is not None:
            self.subs[project_id] = sub

    def resync(self, project_id: str) -> None:
        """A fresh snapshot of the project: now, once the frames on their way are taken,
        or not at all if one is already coming."""
        sub = self.subs.get(project_id)
        if sub is None or sub.room in self._awaiting:
            return
        if self.outbox.queued == 0:
            self._awaiting.add(sub.room)
            sub.resync()
        else:
            self._deferred.add(project_id)
            self.outbox.notify_when_ready()

    async def close(self) -> None:
        for project_id in list(self.subs):
            self.replace(project_id, None)
        await self.outbox.close()

    # -- outbox callbacks (on the loop) ----------------------------------------
    def _frame(self, event: str, args: Any) -> None:
        if event == "snapshot":
            header = args[0] if isinstance(args, tuple) else args
            self._awaiting.discard(header.get("room", ""))

    def _overflow(self) -> None:
        # Frames were thrown away, maybe a snapshot among them: every project needs one.
        self._awaiting.clear()
        self._deferred.update(self.subs)

    def _ready(self) -> None:
        deferred, self._deferred = self._deferred, set()
        for project_id in deferred:
            self.resync(project_id)
        self._broadcaster.submit(_wake)  # it may hold a pending patch for this client


def _wake() -> None:
    """Nothing: submitted only to wake the broadcaster, which then sends what waits."""
