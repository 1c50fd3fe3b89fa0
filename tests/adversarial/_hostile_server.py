"""What the hostile server tests share: a permissive registry, raw clients, log and RSS probes.

No tests here. Everything talks to 127.0.0.1 only; every loop is bounded in
count and time.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
from tests.integration._server import RawClient, registry, running

import taskbeam as tb
from taskbeam.server import Registry, Server

__all__ = [
    "LogBytes",
    "RawClient",
    "hostile",
    "hostile_registry",
    "nested_json",
    "polling_handshake",
    "raw_http",
    "rss",
]


def anything(**params: Any) -> tb.Graph:
    """A graph that takes any params (and ignores them): what a lax factory accepts."""
    g = tb.Graph("anything")
    g.add("only", lambda: len(params))
    return g


def hostile_registry() -> Registry:
    """The integration tests' graphs, and ``anything``."""
    r = registry()
    r.register("anything", anything)
    return r


@contextlib.contextmanager
def hostile(**options: Any) -> Iterator[tuple[Server, tb.ExecutionService]]:
    """A server on 127.0.0.1, port 0, with :func:`hostile_registry`."""
    options.setdefault("registry", hostile_registry())
    with running(**options) as pair:
        yield pair


def nested_json(depth: int, leaf: str = "1") -> str:
    """``depth`` nested arrays around ``leaf``, as text (no encoder's depth limit applies)."""
    return "[" * depth + leaf + "]" * depth


def rss() -> int:
    """This process's resident set size, in bytes."""
    return int(psutil.Process().memory_info().rss)


def polling_handshake(url: str, timeout: float = 5) -> httpx.Response:
    """One Engine.IO long-polling handshake (opens a session, sends no Socket.IO packet)."""
    return httpx.get(
        f"{url}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=timeout
    )


def raw_http(server: Server, request: bytes, timeout: float = 5) -> bytes:
    """Send ``request`` over a fresh TCP connection; what comes back until the server closes."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    out = b""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            out += data
            if b"\r\n\r\n" in out and b"content-length: 0" not in out.lower():
                head, _, body = out.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(body) >= length:
                    break
    return out


class LogBytes(logging.Handler):
    """Counts the bytes of every formatted log record at INFO or above, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.bytes = 0
        self.records = 0
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        self.bytes += len(self.format(record)) + 1

    @contextlib.contextmanager
    def installed(self) -> Iterator[LogBytes]:
        """Listen on the root logger, at INFO, for the duration of the block."""
        root = logging.getLogger()
        level = root.level
        root.addHandler(self)
        root.setLevel(logging.INFO)
        try:
            yield self
        finally:
            root.removeHandler(self)
            root.setLevel(level)
