"""uvicorn's h11 protocol with a deadline for request headers.

uvicorn times out an idle keep-alive connection, but not one that has
started a request and sends its headers slowly, nor one that connects and
sends nothing: each holds a connection and a file descriptor for as long as
it likes. :class:`HeaderDeadline` closes a connection whose request headers
are not complete ``header_timeout`` seconds after the connection was made,
or after the first byte of a next request on a kept-alive connection.

Runs on the server's event loop, as uvicorn's protocols do; ``uvicorn`` and
``h11`` are imported with this module, which only ``_listen`` imports when
a server is made.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["COUNTERS", "HEADER_TIMEOUT", "HeaderDeadline"]

HEADER_TIMEOUT = 10.0
COUNTERS: Counter[str] = Counter()  # for the process, as uvicorn's state is


class HeaderDeadline(H11Protocol):
    """``H11Protocol`` closing connections whose request headers are late."""

    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:  # a request is starting (or has not yet)
            self._arm()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # its headers are complete
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._late)

    def _disarm(self) -> None:
        timer: Any = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            COUNTERS["header_timeouts"] += 1
            self.transport.close()
