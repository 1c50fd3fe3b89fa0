"""Live output: who watches a run's printed output, and ``logging`` into nodes.

What a task prints is kept in its node's :class:`~taskbeam.engine._capture.OutputBuffer`
(see :mod:`taskbeam.engine._capture`). This module adds what makes it live:

* :class:`OutputFeed`, one per run: the watchers of its output. A node
  launched while someone watches names the feed (``node.output_feed``); a
  write then tells each active :class:`OutputWatch` that the node wrote,
  once until that watch looks (``take``). Nobody watching: one attribute
  read per write, and no thread is woken.
* :func:`install_logging`: a ``logging`` record made while a node's context
  is set is written to that node's output as ``LEVEL logger: message``
  (``Logger.callHandlers`` is wrapped once; no handler is added, so
  ``logging.basicConfig`` works as before); records made anywhere else go
  to the handlers exactly as before (``logging.lastResort`` included).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from taskbeam.engine._capture import _Router, current_output, write_output
from taskbeam.engine._status import Status

__all__ = [
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
_FORMATTER = logging.Formatter(FORMAT)


def _call_handlers(original: Callable[[logging.Logger, logging.LogRecord], None]) -> Any:
    """``Logger.callHandlers`` that also writes a record made in a node to its output."""

    def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
        sink = current_output.get()
        if sink is None:  # outside any node: logging as it always was
            original(self, record)
            return
        handlers = _chain(self)
        if not any(_to_router(h, record) for h in handlers):  # else that one puts it there
            try:
                text = _FORMATTER.format(record)
            except Exception:  # a bad format string is logging's own error, reported its way
                original(self, record)
                return
            write_output(sink, text + "\n")
        if handlers:
            original(self, record)
        # No handler: logging.lastResort would write the bare message to the captured
        # stderr, that is to this node a second time; the line above is the record.

    call_handlers.taskbeam = True  # type: ignore[attr-defined]
    return call_handlers


def _chain(logger: Any) -> list[logging.Handler]:
    """The handlers a record of ``logger`` reaches, as ``Logger.callHandlers`` walks them."""
    out: list[logging.Handler] = []
    while logger is not None:
        out.extend(logger.handlers)
        if not logger.propagate:
            break
        logger = logger.parent
    return out


def _to_router(handler: logging.Handler, record: logging.LogRecord) -> bool:
    """Whether ``handler`` writes ``record`` to the wrapped stdout or stderr (so to the node)."""
    return (
        isinstance(handler, logging.StreamHandler)
        and isinstance(handler.stream, _Router)
        and record.levelno >= handler.level
    )


_lock = threading.Lock()


def install_logging() -> None:
    """Make ``logging`` write the records made in a node to its output (idempotent).

    ``logging.Logger.callHandlers`` is wrapped once: no handler is added
    anywhere (``logging.basicConfig`` and ``root.handlers`` see no change),
    and records made outside every node go through the original unchanged.
    """
    with _lock:
        current = logging.Logger.callHandlers
        if not getattr(current, "taskbeam", False):
            logging.Logger.callHandlers = _call_handlers(current)  # type: ignore[method-assign]
