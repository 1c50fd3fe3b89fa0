"""The runs alive in this process: by id (for views that name a run) and for exit.

A run is entered when its thread is about to start and leaves when the
thread ends. ``by_id`` maps a run's id to its handle (the ``Run``) for as
long as any code holds that handle; the set of live drivers is what the
interpreter's exit hook cancels and waits for.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any, Protocol

from taskbeam.engine._executor import abandoned
from taskbeam.engine._state import short_id

__all__ = ["BY_ID", "enter", "leave"]

log = logging.getLogger("taskbeam")


class _Live(Protocol):
    id: str

    def cancel(self) -> None: ...

    def wait(self, timeout: float | None = None) -> Any: ...


_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
BY_ID: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def enter(run_id: str, live: _Live, handle: object) -> None:
    """``live`` (a driver) is starting; its run's id now finds ``handle``."""
    _LIVE.add(live)
    BY_ID[run_id] = handle


def leave(live: _Live) -> None:
    _LIVE.discard(live)


def _shutdown_all() -> None:
    """At interpreter exit: cancel every live run, wait a little for each, name what is left.

    Threads still inside sync tasks that were given up are daemons: the
    interpreter exits without them, and each task left running is logged.
    """
    runs: list[_Live] = list(_LIVE)
    for run in runs:
        run.cancel()
    deadline = time.monotonic() + 10
    for run in runs:
        try:
            run.wait(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            log.warning("run %s did not stop within 10 s of interpreter exit", run.id)
    for call in abandoned():
        log.warning(
            "task %r was still running at interpreter exit (its node was cancelled or "
            "timed out); its thread is left behind",
            short_id(call.node.id),
        )


# Hooks run in reverse order of registration: ours (registered after the thread
# pool module's, imported above) cancels runs before the pools stop taking work.
try:
    threading._register_atexit(_shutdown_all)  # type: ignore[attr-defined]
except (AttributeError, RuntimeError):  # pragma: no cover
    import atexit

    atexit.register(_shutdown_all)
