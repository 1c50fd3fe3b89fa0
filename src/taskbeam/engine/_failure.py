"""Exceptions as data: what a failed node keeps of the exception that failed it."""

from __future__ import annotations

import traceback
from types import TracebackType

from taskbeam.engine._state import MESSAGE_CHARS, ErrorInfo

__all__ = ["MESSAGE_CHARS", "TRACEBACK_CHARS", "error_info"]

TRACEBACK_CHARS = 20_000

# Modules whose frames sit between the engine and a task's code: a traceback
# starts below them, at the task's own first frame.
_ENGINE_MODULES = frozenset(
    {
        "taskbeam.engine._run",
        "taskbeam.engine._start",
        "taskbeam.engine._executor",
        "taskbeam.engine._process",
        "taskbeam.engine._dask",
    }
)


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """``tb`` without the engine's own frames at its top (where it called the task)."""
    while (
        tb is not None
        and tb.tb_next is not None
        and tb.tb_frame.f_globals.get("__name__") in _ENGINE_MODULES
    ):
        tb = tb.tb_next
    return tb


def error_info(exc: BaseException) -> ErrorInfo:
    """An exception as :class:`ErrorInfo`, with bounded message and traceback."""
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    try:
        message = str(exc)
    except Exception:
        message = "<str() of the exception failed>"
    tb = "".join(traceback.format_exception(cls, exc, _user_frames(exc.__traceback__)))
    if len(tb) > TRACEBACK_CHARS:
        tb = "…" + tb[-TRACEBACK_CHARS:]
    return ErrorInfo(name, message[:MESSAGE_CHARS], tb)
