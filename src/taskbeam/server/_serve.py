"""The server in a background thread, for notebooks: :func:`serve` and its handle.

:func:`serve` binds the socket in the caller's thread (see ``_listen``), then
runs uvicorn in a thread with its own event loop, so the notebook's loop is
left alone; it returns once uvicorn listens. ``stop()`` asks uvicorn to
exit, joins the thread and is idempotent.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Collection
from typing import Any

from taskbeam._service import ExecutionService
from taskbeam.broadcast import Broadcaster
from taskbeam.server._listen import base_url, bind, check_auth, require, uvicorn_server
from taskbeam.server._registry import Registry

__all__ = ["Server", "serve"]


class Server:
    """A running server (see :func:`serve`): ``url``, ``token``, ``stop()``."""

    def __init__(
        self,
        app: Any,
        sock: socket.socket,
        token: str | None,
        owned: Broadcaster | None,
        max_message_bytes: int,
        max_connections: int = 1000,
        header_timeout: float = 10.0,
    ) -> None:
        self.app = app
        self.token = token
        self.url = base_url(sock)
        self._sock = sock
        self._owned = owned
        self._uvicorn = uvicorn_server(
            app, max_message_bytes, max_connections=max_connections, header_timeout=header_timeout
        )
        self._thread = threading.Thread(
            target=self._uvicorn.run,
            kwargs={"sockets": [sock]},
            name="taskbeam-server",
            daemon=True,
        )
        self._lock = threading.Lock()
        self._stopped = False

    def _start(self, timeout: float = 30) -> Server:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:  # uvicorn sets it once listening; it has no event
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the taskbeam server did not start (see the log above)")
            time.sleep(0.01)
        return self

    @property
    def link(self) -> str:
        """The URL to open in a browser, with the token (keep it private)."""
        return f"{self.url}/?token={self.token}" if self.token else f"{self.url}/"

    def stats(self, timeout: float = 10) -> dict[str, dict[str, int]]:
        """Per Socket.IO client: frames queued, packets unsent, overflows, subscriptions."""

        async def read() -> dict[str, dict[str, int]]:
            stats: dict[str, dict[str, int]] = self.app.hub.stats()
            return stats

        loop = self.app.hub.loop
        if loop is None or self._stopped:
            return {}
        return asyncio.run_coroutine_threadsafe(read(), loop).result(timeout)

    def security_stats(self, timeout: float = 10) -> dict[str, int]:
        """Socket.IO sessions open, and what was refused, dropped or not logged, since start.

        Keys: ``sessions``, ``refused_total``, ``refused_per_client``,
        ``connect_timeouts``, ``protocol_errors``, ``binary_refused``,
        ``attachments_dropped``, ``malformed_packets``, ``internal_errors``,
        ``websocket_errors``, ``log_lines_suppressed``,
        ``library_log_lines_suppressed``, ``uvicorn_log_lines_suppressed``,
        ``header_timeouts``, ``released_projects``. A count that is still zero
        may be missing; the log and header counts are the process's.
        """

        async def read() -> dict[str, int]:
            stats: dict[str, int] = self.app.stats()
            return stats

        loop = self.app.hub.loop
        if loop is None or self._stopped:
            return {}
        return asyncio.run_coroutine_threadsafe(read(), loop).result(timeout)

    def stop(self, timeout: float = 10) -> None:
        """Close every connection, stop the thread (idempotent). The service keeps running."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._uvicorn.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<taskbeam Server {self.url} {state}>"


def serve(
    service: ExecutionService,
    registry: Registry | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    token: str | None = None,
    *,
    auth: bool = True,
    allow_origins: Collection[str] = (),
    broadcaster: Broadcaster | None = None,
    max_body_bytes: int = 1 << 20,
    max_message_bytes: int = 1 << 20,
    connect_timeout: float = 5.0,
    max_connections: int = 1000,
    max_connections_per_client: int = 100,
    keep_finished: int = 100,
    header_timeout: float = 10.0,
) -> Server:
    """Serve ``service`` over HTTP and Socket.IO from a background thread.

    Parameters
    ----------
    service : ExecutionService
        Its projects are listed and controllable; it is not shut down by ``stop()``.
    registry : Registry, optional
        Graphs that clients may create projects of, by name.
    port : int
        0 picks a free port; read it back from ``url``.
    host : str
        The address to listen on: loopback unless you mean to share it.
    token : str, optional
        The token clients must give; made up when not given (see ``token``).
    auth : bool
        False serves with no token, on a loopback host only.
    allow_origins : collection of str
        Web pages of other origins (``https://host:port``) allowed to call it.
    broadcaster : Broadcaster, optional
        Default: a new one, closed by ``stop()``.
    max_body_bytes, max_message_bytes : int
        The largest request body, and the largest Socket.IO packet.
    connect_timeout : float
        Seconds a new Socket.IO session has to authenticate before it is closed.
    max_connections, max_connections_per_client : int
        Socket.IO sessions open at once, in total and from one client address.
    keep_finished : int
        Finished projects kept in memory; older ones are released (404).
    header_timeout : float
        Seconds a connection has to send a request's headers before it is closed.

    Returns
    -------
    Server
        ``url``, ``token``, ``link`` (the URL with the token), ``stop()``; a
        context manager too.
    """
    require()
    from taskbeam.server._app import create_app

    token = check_auth(host, token, auth)
    used = Broadcaster() if broadcaster is None else broadcaster
    owned = used if broadcaster is None else None
    app = create_app(
        service,
        registry,
        token=token,
        broadcaster=used,
        allow_origins=allow_origins,
        max_body_bytes=max_body_bytes,
        max_message_bytes=max_message_bytes,
        connect_timeout=connect_timeout,
        max_connections=max_connections,
        max_connections_per_client=max_connections_per_client,
        keep_finished=keep_finished,
    )
    try:
        sock = bind(host, port)
    except BaseException:
        if owned is not None:
            owned.close()
        raise
    server = Server(app, sock, token, owned, max_message_bytes, max_connections, header_timeout)
    return server._start()
