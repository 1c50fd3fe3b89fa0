"""Live output: who watches a run's printed output, and ``logging`` into nodes.

What a task prints is kept in its node's :class:`~taskbeam.engine._capture.OutputBuffer`
(see :mod:`taskbeam.engine._capture`). This module adds what makes it live:

* :class:`OutputFeed`, one per run: the watchers of its output. A node
  launched while someone watches names the feed (``node.output_feed``); a
  write then tells each active :class:`OutputWatch` that the node wrote,
  once until that watch looks (``take``). Nobody watching: one attribute
  read per write, and no thread is woken.
* :class:`NodeLogHandler`, installed once on the root logger: a ``logging``
  record made while a node's context is set is written to that node's
  output as ``LEVEL logger: message``; records made anywhere else are left
  to the other handlers exactly as before (``logging.lastResort`` included).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from taskbeam.engine._capture import _Router, current_output, write_output
from taskbeam.engine._status import Status

__all__ = [
    "NodeLogHandler",
    "OutputFeed",
    "OutputWatch",
    "check_offset",
    "follow",
    "install_logging",
]

# Nodes that may still print: a task runs, waits on a question, or its aggregator will run.
_LIVE = frozenset({Status.RUNNING, Status.WAITING, Status.EXPANDED, Status.AGGREGATING})


class OutputWatch:
    """One watcher of a run's output: the ids of the nodes that wrote since it last looked.

    ``wake()`` is called (on the writing thread) when the first node writes
    after a :meth:`take`; it must only post and return. ``active`` false
    (nobody is subscribed to the watcher) makes writes skip it.
    """

    __slots__ = ("_lock", "active", "dirty", "wake")

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self.active = True
        self.dirty: set[str] = set()
        self._lock = threading.Lock()

    def mark(self, node_id: str) -> None:
        if node_id in self.dirty:  # the common case under a flood: already told
            return
        with self._lock:
            dirty = self.dirty
            if node_id in dirty:
                return
            dirty.add(node_id)
            first = len(dirty) == 1
        if first:
            self.wake()

    def take(self) -> set[str]:
        """The nodes that wrote since the last call; the next write marks again.

        Taken before their text is read, so a write that lands after the
        read marks its node again and nothing is missed.
        """
        with self._lock:
            taken, self.dirty = self.dirty, set()
        return taken


class OutputFeed:
    """The watchers of one run's output (see the module notes)."""

    __slots__ = ("watches",)

    def __init__(self) -> None:
        self.watches: tuple[OutputWatch, ...] = ()

    @property
    def watched(self) -> bool:
        return any(w.active for w in self.watches)

    def wrote(self, sink: Any) -> None:
        """``sink`` (a node) wrote: tell the active watchers (any thread)."""
        for watch in self.watches:
            if watch.active and sink.id not in watch.dirty:  # told already: the common case
                watch.mark(sink.id)

    def add(self, watch: OutputWatch) -> None:
        self.watches = (*self.watches, watch)

    def remove(self, watch: OutputWatch) -> None:
        self.watches = tuple(w for w in self.watches if w is not watch)


def follow(feed: OutputFeed, nodes: Iterable[Any], watch: OutputWatch) -> None:
    """On the run's loop: add ``watch`` to ``feed`` and name the feed on the nodes
    that may print now (nodes launched later name it at launch)."""
    feed.add(watch)
    for node in nodes:
        if node.status in _LIVE and node.output_feed is not feed:
            node.output_feed = feed


def check_offset(node: Any, offset: Any) -> None:
    """Refuse an output position that is not one of ``node``'s (``None``: no position)."""
    if offset is None:
        return
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer, not {offset!r:.40}")
    written = 0 if node.output is None else node.output.written
    if offset > written:
        raise ValueError(
            f"offset {offset} is past the output of node {node.id!r:.200} ({written} characters)"
        )


FORMAT = "%(levelname)s %(name)s: %(message)s"


class NodeLogHandler(logging.Handler):
    """Writes the records made in a node's context to that node's output."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter(FORMAT))

    def handle(self, record: logging.LogRecord) -> bool:
        sink = current_output.get()
        if sink is None:
            # Outside any node: as if this handler were not there. Alone in
            # the record's chain it would hide logging.lastResort, so it calls it.
            last = logging.lastResort
            if last is not None and record.levelno >= last.level and _alone(record, self):
                last.handle(record)
            return False
        if _reaches_router(record, self):
            return False  # a handler writing to the wrapped stderr puts it there already
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return False
        write_output(sink, text + "\n")
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() does it
        pass


def _chain(record: logging.LogRecord) -> list[logging.Handler]:
    """The handlers ``record`` reaches, as ``Logger.callHandlers`` walks them."""
    out: list[logging.Handler] = []
    logger: Any = logging.getLogger(record.name) if record.name != "root" else logging.root
    while logger is not None:
        out.extend(logger.handlers)
        if not logger.propagate:
            break
        logger = logger.parent
    return out


def _alone(record: logging.LogRecord, mine: logging.Handler) -> bool:
    return all(h is mine for h in _chain(record))


def _reaches_router(record: logging.LogRecord, mine: logging.Handler) -> bool:
    return any(
        h is not mine
        and isinstance(h, logging.StreamHandler)
        and isinstance(h.stream, _Router)
        and record.levelno >= h.level
        for h in _chain(record)
    )


_installed: NodeLogHandler | None = None
_lock = threading.Lock()


def install_logging() -> None:
    """Put one :class:`NodeLogHandler` on the root logger (idempotent)."""
    global _installed
    with _lock:
        if _installed is None or _installed not in logging.root.handlers:
            _installed = NodeLogHandler()
            logging.root.addHandler(_installed)
