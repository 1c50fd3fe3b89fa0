"""The Socket.IO clients and their subscriptions, between the event loop and the broadcaster.

Everything here runs on the server's event loop, except what it submits to
the broadcaster thread with :func:`on_broadcaster` (attach, subscribe,
requests: the broadcaster's rooms are touched by its own thread only, as
the widget does it). Each client (a Socket.IO ``sid``) is a
:class:`~taskbeam.server._client.Client` with at most one subscription per
project; a subscription follows its project to a new run when the project
is executed again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import socketio  # type: ignore[import-untyped]

from taskbeam.broadcast import Broadcaster, Subscription
from taskbeam.broadcast._source import Source
from taskbeam.server._client import Client

__all__ = ["Hub", "on_broadcaster"]

T = TypeVar("T")


async def on_broadcaster(broadcaster: Broadcaster, fn: Callable[[], T], timeout: float = 10) -> T:
    """Run ``fn()`` on the broadcaster thread and await its result (or its error)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # the caller gave up waiting
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def call() -> None:
        try:
            result, error = fn(), None
        except Exception as exc:
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(settle, result, error)

    broadcaster.submit(call)
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise TimeoutError("the broadcaster did not answer (is it closed?)") from None


class Hub:
    """Clients by sid; their subscriptions by project id.

    Parameters
    ----------
    sio : socketio.AsyncServer
    broadcaster : Broadcaster
    capacity, hard_limit : int
        Each client's outbox bounds (see :class:`~taskbeam.server._outbox.Outbox`).
    max_subscriptions : int
        Projects one client may follow at once.
    """

    def __init__(
        self,
        sio: socketio.AsyncServer,
        broadcaster: Broadcaster,
        *,
        capacity: int = 4,
        hard_limit: int = 16,
        max_subscriptions: int = 16,
    ) -> None:
        self.sio = sio
        self.broadcaster = broadcaster
        self.capacity = capacity
        self.hard_limit = hard_limit
        self.max_subscriptions = max_subscriptions
        self.clients: dict[str, Client] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """At the server's start-up: remember its loop (other threads post to it)."""
        self.loop = asyncio.get_running_loop()

    def connect(self, sid: str) -> None:
        """A new client (on the loop)."""
        self.clients[sid] = Client(
            sid, self.sio, self.broadcaster, capacity=self.capacity, hard_limit=self.hard_limit
        )

    async def disconnect(self, sid: str) -> None:
        """Forget a client: leave its rooms, stop its writer (idempotent)."""
        client = self.clients.pop(sid, None)
        if client is not None:
            await client.close()

    async def close(self) -> None:
        for sid in list(self.clients):
            await self.disconnect(sid)

    async def subscribe(self, sid: str, project_id: str, run: Source) -> str:
        """Send ``run``'s frames to ``sid`` (a snapshot first) as ``project_id``'s; its room."""
        client = self.clients.get(sid)
        if client is None:
            raise LookupError("the client has disconnected")
        client.replace(project_id, None)
        if len(client.subs) >= self.max_subscriptions:
            raise ValueError(f"a client follows at most {self.max_subscriptions} projects")
        outbox, b = client.outbox, self.broadcaster

        def join() -> Subscription:
            b.attach(run)
            return b.subscribe(run.id, outbox.send, ready=outbox.ready, kind="socketio")

        sub = await on_broadcaster(b, join)
        if self.clients.get(sid) is not client:  # it left while we waited
            sub.close()
            raise LookupError("the client has disconnected")
        client.replace(project_id, sub)
        return run.id

    async def follow(self, project_id: str, run: Source) -> None:
        """The project has a new run: move its subscribers there (each gets a snapshot)."""
        for sid, client in list(self.clients.items()):
            sub = client.subs.get(project_id)
            if sub is not None and sub.room != run.id:
                with contextlib.suppress(LookupError, ValueError, TimeoutError):
                    await self.subscribe(sid, project_id, run)

    async def attach(self, run: Source) -> None:
        """Open ``run``'s room; a run continued from a stored one takes over its room."""
        b = self.broadcaster
        await on_broadcaster(b, lambda: b.attach(run))

    async def request(self, run: Source, message: dict[str, Any]) -> dict[str, Any]:
        """The broadcaster's answer to ``message`` about ``run`` (see docs/protocol.md)."""
        b = self.broadcaster

        def ask() -> dict[str, Any]:
            b.attach(run)
            return b.request(run.id, message)

        return await on_broadcaster(b, ask)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per client: frames queued, packets waiting in Engine.IO, overflows, subscriptions."""
        return {
            sid: {
                "queued": c.outbox.queued,
                "backlog": c.backlog(),
                "overflows": c.outbox.overflows,
                "subscriptions": len(c.subs),
            }
            for sid, c in self.clients.items()
        }
