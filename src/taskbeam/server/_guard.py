"""The Socket.IO server's guard: who may hold a session, and what a packet may be.

:class:`GuardedServer` is python-socketio's ``AsyncServer`` with these rules
at its Engine.IO edge (every method here runs on the server's event loop):

* Sessions are counted per client address and in total; past
  ``max_connections_per_client`` or ``max_connections`` a new Engine.IO
  handshake is refused (HTTP 401 with the reason, or a closed WebSocket).
* A session must send its Socket.IO ``connect`` packet, with a valid token,
  within ``connect_timeout`` seconds of its handshake; one that has not is
  closed (a refused ``connect`` does not reset the clock).
* Clients' events take no binary attachments: a binary packet is answered
  with an error acknowledgement (when it asks for one) and its attachments
  are counted and thrown away as they arrive, never kept. (python-socketio
  would otherwise keep them until the announced count arrives, with no
  bound, and keep them after the client left.)
* A packet that cannot be decoded (an unknown type, a broken header) closes
  the session; JSON that the limits refuse is decoded by
  :data:`~taskbeam.server._limits.JSON` into an event the handlers answer
  with an error acknowledgement.
* Every refusal is counted in :attr:`GuardedServer.counters`; log lines go
  through a :class:`LogLimiter`, at most a few per client address and kind
  each minute, so junk cannot fill the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import engineio  # type: ignore[import-untyped]
import socketio  # type: ignore[import-untyped]
from socketio import packet as sio_packet

from taskbeam.server._limits import JSON

__all__ = [
    "LIBRARY_LOGS",
    "UVICORN_LOGS",
    "GuardedServer",
    "LogLimiter",
    "RepeatedLines",
    "SafePacket",
    "client_address",
]

log = logging.getLogger("taskbeam.server")


class SafePacket(sio_packet.Packet):  # type: ignore[misc]
    """python-socketio's packet, decoding its JSON with the limits of ``_limits``."""

    json = JSON


def client_address(environ: Any) -> str:
    """The peer address of an Engine.IO request (``?`` when the ASGI server gives none)."""
    scope = environ.get("asgi.scope", {}) if isinstance(environ, dict) else {}
    client = scope.get("client") if isinstance(scope, dict) else None
    return str(client[0]) if client else "?"


class LogLimiter:
    """At most ``burst`` log lines per (client, kind) each ``window`` seconds; the rest counted.

    >>> limiter = LogLimiter(burst=2, window=60)
    >>> [limiter.allow("1.2.3.4", "junk", now=0.0) for _ in range(3)]
    [True, True, False]
    >>> limiter.allow("1.2.3.4", "junk", now=61.0), limiter.suppressed
    (True, 1)
    """

    def __init__(self, burst: int = 3, window: float = 60.0, max_keys: int = 4096) -> None:
        self.burst = burst
        self.window = window
        self.max_keys = max_keys
        self.suppressed = 0
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def allow(self, client: str, kind: str, now: float | None = None) -> bool:
        """Whether to log this line (False: it is counted in ``suppressed`` instead)."""
        now = time.monotonic() if now is None else now
        key = (client, kind)
        start, count = self._seen.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        if count >= self.burst:
            self.suppressed += 1
            return False
        if len(self._seen) >= self.max_keys and key not in self._seen:
            self._seen.clear()  # many clients: forget them all rather than grow
        self._seen[key] = (start, count + 1)
        return True


class RepeatedLines(logging.Filter):
    """A logging filter: the same message at most ``burst`` times a ``window`` (uvicorn's lines).

    uvicorn logs one warning per malformed request ("Invalid HTTP request
    received.") or per request over its concurrency limit, with no client
    address; this keys on the message.
    """

    def __init__(self, limiter: LogLimiter) -> None:
        super().__init__()
        self.limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        return self.limiter.allow("uvicorn", str(record.msg)[:200])


UVICORN_LOGS = LogLimiter()  # one for the process, as uvicorn's loggers are
LIBRARY_LOGS = LogLimiter()  # python-socketio's and python-engineio's, for the process


def _quiet_logger(name: str) -> logging.Logger:
    """A logger at ERROR that lets each message through a few times a minute only."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)
    if not any(isinstance(f, RepeatedLines) for f in logger.filters):
        logger.addFilter(RepeatedLines(LIBRARY_LOGS))
    return logger


class _Engine(engineio.AsyncServer):  # type: ignore[misc]
    """Engine.IO's server, keeping each session's ping task so that closing it frees it.

    Engine.IO starts a task per session that sleeps ``ping_interval`` and
    holds the session meanwhile: without cancelling it, every closed session
    (and its queues) stays in memory up to 25 s.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.ping_tasks: dict[str, asyncio.Task[Any]] = {}

    def start_background_task(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        task = super().start_background_task(target, *args, **kwargs)
        owner = getattr(target, "__self__", None)
        if getattr(target, "__name__", "") == "_send_ping" and owner is not None:
            sid = str(owner.sid)
            self.ping_tasks[sid] = task
            task.add_done_callback(lambda t: self._drop_ping(sid, t))
        return task

    def _drop_ping(self, sid: str, task: asyncio.Task[Any]) -> None:
        if self.ping_tasks.get(sid) is task:
            del self.ping_tasks[sid]

    def cancel_ping(self, sid: str) -> None:
        task = self.ping_tasks.pop(sid, None)
        if task is not None:
            task.cancel()


class GuardedServer(socketio.AsyncServer):  # type: ignore[misc]
    """An ``AsyncServer`` that bounds sessions and packets (see the module docstring).

    Parameters
    ----------
    connect_timeout : float
        Seconds a new session has to authenticate (send a valid ``connect``).
    max_connections : int
        Engine.IO sessions open at once, all clients together.
    max_connections_per_client : int
        Engine.IO sessions open at once from one client address.
    **options
        Passed to ``socketio.AsyncServer``.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        max_connections: int = 1000,
        max_connections_per_client: int = 100,
        **options: Any,
    ) -> None:
        # Engine.IO logs one error with a traceback per undecodable packet: its
        # logger repeats each message at most a few times a minute.
        options.setdefault("logger", _quiet_logger("taskbeam.server.socketio"))
        options.setdefault("engineio_logger", _quiet_logger("taskbeam.server.engineio"))
        super().__init__(serializer=SafePacket, **options)
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self.max_connections_per_client = max_connections_per_client
        self.counters: Counter[str] = Counter()
        self.logs = LogLimiter()
        self._address: dict[str, str] = {}  # eio sid -> client address
        self._per_address: Counter[str] = Counter()
        self._deadlines: dict[str, asyncio.TimerHandle] = {}
        self._discard: dict[str, int] = {}  # eio sid -> attachments still to throw away
        self._tasks: set[asyncio.Task[None]] = set()

    def _engineio_server_class(self) -> type[_Engine]:
        return _Engine

    # -- sessions ---------------------------------------------------------------
    @property
    def sessions(self) -> int:
        """Engine.IO sessions open now."""
        return len(self._address)

    async def _handle_eio_connect(self, eio_sid: str, environ: Any) -> Any:
        address = client_address(environ)
        if len(self._address) >= self.max_connections:
            return self._refuse(address, "refused_total", "the server has too many connections")
        if self._per_address[address] >= self.max_connections_per_client:
            return self._refuse(
                address, "refused_per_client", "too many connections from this address"
            )
        self._address[eio_sid] = address
        self._per_address[address] += 1
        loop = asyncio.get_running_loop()
        self._deadlines[eio_sid] = loop.call_later(self.connect_timeout, self._expire, eio_sid)
        await super()._handle_eio_connect(eio_sid, environ)
        return None

    def _refuse(self, address: str, kind: str, reason: str) -> dict[str, str]:
        self.counters[kind] += 1
        self.note(address, kind, f"Engine.IO handshake from {address} refused: {reason}")
        return {"message": reason}

    def _expire(self, eio_sid: str) -> None:
        self._deadlines.pop(eio_sid, None)
        if eio_sid in self._address and self.manager.sid_from_eio_sid(eio_sid, "/") is None:
            self.counters["connect_timeouts"] += 1
            self._close(eio_sid)

    def authenticated(self, eio_sid: str) -> None:
        """The session connected with a valid token: its deadline is lifted."""
        handle = self._deadlines.pop(eio_sid, None)
        if handle is not None:
            handle.cancel()

    async def _handle_eio_disconnect(self, eio_sid: str, *args: Any) -> None:
        try:
            await super()._handle_eio_disconnect(eio_sid, *args)
        finally:
            self._forget(eio_sid)

    def _forget(self, eio_sid: str) -> None:
        self.authenticated(eio_sid)
        self.eio.cancel_ping(eio_sid)
        self._discard.pop(eio_sid, None)
        self._binary_packet.pop(eio_sid, None)
        address = self._address.pop(eio_sid, None)
        if address is not None:
            self._per_address[address] -= 1
            if self._per_address[address] <= 0:
                del self._per_address[address]

    def _close(self, eio_sid: str) -> None:
        task = asyncio.get_running_loop().create_task(self._close_now(eio_sid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_now(self, eio_sid: str) -> None:
        socket = self.eio.sockets.get(eio_sid)
        try:
            if socket is not None:
                # Not eio.disconnect(): it waits until the client has taken the CLOSE
                # packet, for ever if it never polls again.
                await socket.close(wait=False, reason=self.eio.reason.SERVER_DISCONNECT)
                self.eio.sockets.pop(eio_sid, None)
                # Wake its WebSocket writer, which would otherwise wait for the next
                # packet (up to a ping interval) before closing the connection.
                socket.queue.put_nowait(None)
        except Exception:  # already gone
            log.debug("closing Engine.IO session %s failed", eio_sid, exc_info=True)
        self._forget(eio_sid)

    # -- packets ----------------------------------------------------------------
    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if not isinstance(data, str):  # a binary attachment
            left = self._discard.get(eio_sid, 0)
            self.counters["attachments_dropped"] += 1
            if left > 1:
                self._discard[eio_sid] = left - 1
            elif left == 1:
                del self._discard[eio_sid]
            else:
                self._protocol_error(eio_sid, "an attachment no packet announced")
            return
        if data[:1] in ("5", "6"):  # BINARY_EVENT, BINARY_ACK
            await self._refuse_binary(eio_sid, data)
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception as exc:
            self._protocol_error(eio_sid, f"{type(exc).__name__}: {str(exc)[:200]}")

    async def _refuse_binary(self, eio_sid: str, data: str) -> None:
        self.counters["binary_refused"] += 1
        try:
            pkt = self.packet_class(encoded_packet=data)
        except Exception as exc:
            self._protocol_error(eio_sid, f"a broken binary packet: {str(exc)[:200]}")
            return
        if pkt.attachment_count:
            self._discard[eio_sid] = int(pkt.attachment_count)
        namespace = pkt.namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if pkt.packet_type == sio_packet.BINARY_EVENT and pkt.id is not None and sid is not None:
            error = {"type": "error", "error": "events take no binary attachments"}
            answer = self.packet_class(sio_packet.ACK, namespace=namespace, id=pkt.id, data=[error])
            await self._send_packet(eio_sid, answer)

    def _protocol_error(self, eio_sid: str, what: str) -> None:
        self.counters["protocol_errors"] += 1
        address = self._address.get(eio_sid, "?")
        self.note(address, "protocol_error", f"Socket.IO session from {address} closed: {what}")
        self._close(eio_sid)

    def note(self, client: str, kind: str, message: str, level: int = logging.INFO) -> None:
        """Log ``message`` unless this client has logged this kind too often lately."""
        if self.logs.allow(client, kind):
            log.log(level, "%s", message)
        else:
            self.counters["log_lines_suppressed"] += 1

    def stats(self) -> dict[str, int]:
        """Sessions open now, and every refusal and dropped thing counted since start."""
        return {
            "sessions": self.sessions,
            **self.counters,
            "library_log_lines_suppressed": LIBRARY_LOGS.suppressed,
        }
