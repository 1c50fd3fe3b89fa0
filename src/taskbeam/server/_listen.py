"""Listening: the socket, the uvicorn server on it, and the checks made before either.

The socket is bound by the caller before uvicorn starts, so a port of 0 is
read back at once and an address in use fails in the caller's thread with
the OS's message. uvicorn is imported here only, when a server is made:
the ``server`` extra is optional.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import os
import secrets
import socket
from typing import Any

__all__ = ["base_url", "bind", "check_auth", "is_loopback", "require", "uvicorn_server"]


def require() -> None:
    """Fail with the command that installs the server's dependencies, if one is missing."""
    missing = [m for m in ("starlette", "uvicorn", "socketio", "wsproto") if not _found(m)]
    if missing:
        raise ImportError(
            f"the taskbeam server needs {', '.join(missing)}: pip install 'taskbeam[server]'"
        )


def _found(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, maybe ``[v6]``) names this machine only."""
    host = host.strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port).

    The socket is made with ``proto=IPPROTO_TCP``, not 0 as
    ``socket.create_server`` makes it: asyncio sets ``TCP_NODELAY`` on the
    connections it accepts only when the protocol says TCP, and without it
    Nagle's algorithm and delayed ACKs add about 40 ms to each keep-alive
    response.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name not in ("nt", "cygwin"):  # as create_server: restart without TIME_WAIT errors
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def base_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def check_auth(host: str, token: str | None, auth: bool) -> str | None:
    """The token to require (made up when not given), or None when ``auth`` is off."""
    if auth:
        return token or secrets.token_urlsafe(32)
    if token:
        raise ValueError("a token was given with authentication turned off")
    if not is_loopback(host):
        raise ValueError(
            f"authentication can be turned off only on a loopback host "
            f"(127.0.0.1, ::1, localhost), not {host!r}: anyone who reaches it could run graphs"
        )
    return None


def uvicorn_server(
    app: Any,
    max_message_bytes: int,
    log_level: str = "warning",
    max_connections: int = 1000,
    header_timeout: float = 10.0,
) -> Any:
    """A ``uvicorn.Server`` for ``app``: h11, wsproto, the message limit, a 3 s shutdown.

    uvicorn answers 503 once ``max_connections`` plus a margin (for the page,
    its static files and the API beside the Socket.IO sessions) connections
    or requests are open. A connection whose request headers are not
    complete within ``header_timeout`` seconds is closed (see ``_http``);
    slow bodies are not bounded: put a reverse proxy in front of a server
    others can reach (docs/server.md).
    """
    import uvicorn

    from taskbeam.server._http import HeaderDeadline

    http = type("HeaderDeadline", (HeaderDeadline,), {"header_timeout": header_timeout})

    config = uvicorn.Config(
        app,
        http=http,
        ws="wsproto",
        ws_max_size=max_message_bytes,
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=3,
        timeout_keep_alive=5,
        limit_concurrency=max_connections + 100,
    )
    from taskbeam.server._guard import UVICORN_LOGS, RepeatedLines

    # after Config, which (re)configures uvicorn's loggers
    error_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RepeatedLines) for f in error_log.filters):
        error_log.addFilter(RepeatedLines(UVICORN_LOGS))
    return uvicorn.Server(config)
