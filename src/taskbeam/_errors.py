"""Exceptions raised by taskbeam.

Every error names its culprit (a node id, a cycle path, an option) so that a
person reading it in a notebook knows what to change without a debugger.
"""

from __future__ import annotations

__all__ = [
    "CacheWarning",
    "AnswerError",
    "DepthError",
    "GraphError",
    "IllegalTransition",
    "NodeTimeout",
    "NotRunning",
    "QuestionClosed",
    "QuestionTimeout",
    "TaskbeamError",
    "WorkerLost",
]


class TaskbeamError(Exception):
    """Base class of every error raised by taskbeam itself."""


class GraphError(TaskbeamError, ValueError):
    """A graph is invalid: a cycle, an unknown dependency, a duplicate id, ..."""


class IllegalTransition(TaskbeamError, RuntimeError):
    """A node was asked to move between two states that have no edge.

    This is always a bug in the engine, never a user error, and it is raised
    rather than logged so that it cannot go unnoticed.
    """


class NodeTimeout(TaskbeamError, TimeoutError):
    """A task ran longer than its ``timeout``."""


class DepthError(TaskbeamError, RecursionError):
    """A task returned ``expand(...)`` deeper than the run's ``max_depth``."""


class WorkerLost(TaskbeamError, RuntimeError):
    """The worker process (or cluster worker) running a task died; the attempt failed."""


class NotRunning(TaskbeamError, RuntimeError):
    """A control (pause, cancel, ...) was sent to a stored run, which nothing runs."""


class AnswerError(TaskbeamError, ValueError):
    """An answer was refused: it does not fit its question, or the question is not open.

    The message says which: what is wrong with the value (the question stays
    open), or that the id is unknown, already answered or withdrawn.
    """


class QuestionClosed(AnswerError):
    """The question is not open: ``reason`` is ``"unknown"`` (no such id in the
    run), ``"answered"`` or ``"withdrawn"`` (its node was cancelled, or it
    timed out)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class QuestionTimeout(TaskbeamError, TimeoutError):
    """A question's ``timeout`` passed with no answer and no ``default``."""


# Users meet these as ``taskbeam.NodeTimeout`` etc.: name them so in tracebacks
# and in the error types that runs record.
for _cls in (
    TaskbeamError,
    GraphError,
    IllegalTransition,
    NodeTimeout,
    DepthError,
    WorkerLost,
    NotRunning,
    AnswerError,
    QuestionClosed,
    QuestionTimeout,
):
    _cls.__module__ = "taskbeam"


class CacheWarning(UserWarning):
    """The cache could not read or store an entry (a damaged entry, a store that
    refuses a write): the node runs as if it were not cached. Said once a run."""
