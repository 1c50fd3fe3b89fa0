"""What every command of ``taskbeam`` shares: exit codes, the one-line mistake,
status colours, opening a store.

Every string that comes from a user is printed as plain text (a ``Text``),
never read as rich markup; see the module docstring of ``taskbeam._cli``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from rich.text import Text

from taskbeam.engine import RunStatus, SavePolicy
from taskbeam.engine._status import Status
from taskbeam.store import SQLiteStore, StoreError

__all__ = [
    "BAD_GRAPH",
    "CANCELLED",
    "CONTINUABLE",
    "ENVIRONMENT",
    "EXIT",
    "EXIT_CODES",
    "OK",
    "RUN_FAILED",
    "SAVE_EVERY",
    "STATUS_STYLE",
    "STORE",
    "USAGE",
    "CliError",
    "one_line",
    "open_store",
    "signature",
    "styled",
]

# Exit codes. A run's outcome (0, 1, 130) and the kind of mistake (2 to 5)
# are told apart, so scripts can react to each.
OK = 0
RUN_FAILED = 1
USAGE = 2
BAD_GRAPH = 3
STORE = 4
ENVIRONMENT = 5
CANCELLED = 130  # as a shell reports a command stopped by Ctrl-C
EXIT_CODES: dict[int, str] = {
    OK: "the run finished done (or the command succeeded)",
    RUN_FAILED: "the run finished failed: some node failed (or was skipped after a failure)",
    USAGE: "a command-line mistake: an unknown option, a value out of range",
    BAD_GRAPH: "the graph could not be loaded: bad MODULE:GRAPH, an import or factory "
    "that raised, a factory that needs arguments, a cycle, an unknown dependency",
    STORE: "the run store: it cannot be opened or written, or holds no such run or node",
    ENVIRONMENT: "something outside taskbeam: an optional package missing, a Dask "
    "scheduler out of reach, JupyterLab not starting",
    CANCELLED: "the run was cancelled (Ctrl-C)",
}

# One style per status, keyed by the enums themselves: a status added to
# engine/_status.py without a style here fails at import, in every test.
_NODE_STYLE: dict[Status, str] = {
    Status.PENDING: "dim",
    Status.READY: "blue",
    Status.RUNNING: "cyan",
    Status.WAITING: "bright_green",
    Status.RETRYING: "magenta",
    Status.EXPANDED: "bright_cyan",
    Status.AGGREGATING: "bright_blue",
    Status.DONE: "green",
    Status.FAILED: "bold red",
    Status.CANCELLED: "yellow",
    Status.SKIPPED: "dim",
}
_RUN_STYLE: dict[RunStatus, str] = {
    RunStatus.RUNNING: "cyan",
    RunStatus.PAUSED: "bright_yellow",
    RunStatus.DONE: "green",
    RunStatus.FAILED: "bold red",
    RunStatus.CANCELLED: "yellow",
    RunStatus.INTERRUPTED: "bold yellow",  # its process was killed: it can be continued
}
# A store written by a newer version may hold statuses this one does not
# know: they print in plain bold.
STATUS_STYLE: dict[str, str] = {
    **{s.value: _NODE_STYLE[s] for s in Status},
    **{s.value: _RUN_STYLE[s] for s in RunStatus},
}
EXIT = {RunStatus.DONE: OK, RunStatus.FAILED: RUN_FAILED, RunStatus.CANCELLED: CANCELLED}
SAVE_EVERY = SavePolicy().watched
# Stored runs that did not finish done: `taskbeam show` says how to continue them.
CONTINUABLE = frozenset({"interrupted", "failed", "cancelled"})


class CliError(Exception):
    """A mistake the command reports in one line and an exit code (see ``EXIT_CODES``)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def styled(status: str) -> Text:
    """``status`` in its colour (plain bold for a status this version does not know)."""
    return Text(status, style=STATUS_STYLE.get(status, "bold"))


def open_store(path: str | None, readonly: bool = False) -> SQLiteStore:
    """The store at ``path``; ``readonly`` (the commands that only read) creates nothing."""
    try:
        return SQLiteStore(path, readonly=readonly)
    except StoreError as exc:
        raise CliError(STORE, str(exc)) from None


def signature(fn: Callable[..., Any]) -> str:
    """``fn``'s signature as text, ``(...)`` when it has none to inspect."""
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return "(...)"


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__
