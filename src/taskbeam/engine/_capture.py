"""Per-node capture of ``print`` output.

Output printed from a run's threads must not reach the notebook: Jupyter
shows it under whichever cell ran last. While a task runs, a context
variable names its node; ``sys.stdout`` and ``sys.stderr`` are wrapped once
by :class:`_Router`, which sends text written under a node to that node's
:class:`OutputBuffer` and everything else to the original stream unchanged.

Async tasks run in their own asyncio Task, which copies the context it is
made in: the engine sets the variable just around making it and resets it
at once, so the Task (and whatever the task starts from it) keeps the node
and nothing else does; worker threads set and reset it around each sync
call.

Live output: each buffer counts the characters ever written to it
(``written``, monotonic, dropped ones included), so a position in a node's
output is one integer; :meth:`OutputBuffer.tail` reads from a position. A
sink may name a feed (``output_feed``, see :mod:`taskbeam.engine._output`)
that is told, once per look, that the node wrote: nothing else happens on a
write when nobody watches.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from contextvars import ContextVar
from typing import IO, Any, Protocol

__all__ = [
    "OUTPUT_LIMIT",
    "OutputBuffer",
    "Sink",
    "TextSink",
    "current_output",
    "install",
    "write_output",
]

OUTPUT_LIMIT = 64 * 1024


class Sink(Protocol):
    """What a task's context names: something that owns an output buffer."""

    output: OutputBuffer | None
    output_limit: int
    output_feed: Any  # an OutputFeed, or None (nobody watches)


current_output: ContextVar[Sink | None] = ContextVar("taskbeam_output", default=None)


class OutputBuffer:
    """The last ``limit`` characters written by one node, stdout and stderr interleaved.

    Every node gets one, most never see a write: it stays a few dozen bytes
    until the first one.
    """

    __slots__ = ("_chunks", "_size", "dropped", "limit", "written")

    # One lock for all buffers: writes are rare next to everything else, and
    # a lock per node would cost memory on graphs of 100,000 nodes.
    _lock = threading.Lock()

    made = 0  # buffers made in this process; 0 means no task has printed yet

    def __init__(self, limit: int = OUTPUT_LIMIT) -> None:
        OutputBuffer.made += 1
        self.limit = limit
        self._chunks: deque[str] | None = None
        self._size = 0
        self.dropped = 0
        self.written = 0  # characters ever written (monotonic: one store per write)

    def write(self, text: str) -> None:
        with self._lock:
            chunks = self._chunks
            if chunks is None:
                chunks = self._chunks = deque()
            chunks.append(text)
            self._size += len(text)
            self.written += len(text)
            while self._size > self.limit:
                head = chunks.popleft()
                excess = self._size - self.limit
                if len(head) > excess:
                    chunks.appendleft(head[excess:])
                    self._size -= excess
                    self.dropped += excess
                else:
                    self._size -= len(head)
                    self.dropped += len(head)

    def getvalue(self) -> str:
        with self._lock:
            return "".join(self._chunks or ())

    def tail(self, offset: int = 0, limit: int | None = None) -> tuple[int, str]:
        """``(start, text)``: what is kept from position ``offset`` on.

        ``start`` is where ``text`` begins: ``offset``, or the first kept
        character when ``offset`` is older than what is kept. With ``limit``
        only the last ``limit`` characters of that are read (``start`` moves
        on to match).
        """
        with self._lock:
            text = "".join(self._chunks or ())
            first = self.dropped
        start = max(offset, first)
        end = first + len(text)
        if limit is not None and end - start > limit:
            start = end - limit
        return start, text[start - first :]


def write_output(sink: Sink, text: str) -> None:
    """Append ``text`` to ``sink``'s buffer, making the buffer on the first write (any thread)."""
    buffer = sink.output
    if buffer is None:
        with OutputBuffer._lock:
            buffer = sink.output
            if buffer is None:
                buffer = sink.output = OutputBuffer(sink.output_limit)
    buffer.write(text)
    feed = sink.output_feed
    if feed is not None:
        feed.wrote(sink)


class TextSink:
    """A sink of its own, for a task that runs away from its node (another process)."""

    __slots__ = ("output", "output_limit")
    output_feed = None  # nobody watches a worker process's output live

    def __init__(self, limit: int = OUTPUT_LIMIT) -> None:
        self.output: OutputBuffer | None = None
        self.output_limit = limit

    def text(self) -> str:
        return "" if self.output is None else self.output.getvalue()


class _Router:
    """A stand-in for ``sys.stdout``/``sys.stderr`` that routes by context."""

    def __init__(self, stream: IO[str]) -> None:
        self._taskbeam_original = stream

    def write(self, text: str) -> int:
        sink = current_output.get()
        if sink is None:
            return self._taskbeam_original.write(text)
        write_output(sink, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if current_output.get() is None:
            self._taskbeam_original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._taskbeam_original, name)


_install_lock = threading.Lock()


def install() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` unless they already are (idempotent)."""
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, _Router):
                setattr(sys, name, _Router(stream))
