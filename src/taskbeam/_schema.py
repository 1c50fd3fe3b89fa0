"""The statuses, the change record and the snapshot's shape: one definition
each, shared by every floor.

A leaf module: it imports nothing of taskbeam, so the store, the engine, the
broadcaster, the server's OpenAPI document and the tests all read the same
statuses and the same shape of ``run.snapshot()`` and of the frames built
from it. The front end keeps its own list (``js/src/status.js``); a unit
test fails when the two disagree.

Fields with no value are left out rather than set to ``null`` (a merge patch
uses ``null`` to delete), so every optional field is ``NotRequired``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, NamedTuple, NotRequired, TypedDict

__all__ = [
    "BatchFrame",
    "ErrorSummary",
    "Event",
    "NodeSummary",
    "QuestionDict",
    "QuestionSummary",
    "RunFields",
    "RunStatus",
    "Snapshot",
    "SnapshotFrame",
    "Status",
    "StoredRunItem",
]


class Status(StrEnum):
    """The status of one node. ``str`` values are what the wire carries."""

    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    WAITING = "waiting"  # running, but blocked on an open question (holds no slot)
    RETRYING = "retrying"
    EXPANDED = "expanded"
    AGGREGATING = "aggregating"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    """The status of a whole run.

    ``interrupted`` is never the status of a live run: a stored run shows it
    when the process that ran it is gone (see ``taskbeam.store._lease``).
    """

    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class Event(NamedTuple):
    """One state change, as subscribers receive it.

    ``node_id`` is ``None`` for a change of the run's own status; ``old`` is
    ``None`` when a node first appears (children of an expanded node).
    ``time`` is ``time.monotonic()``; ``seq`` increases by one per event of a run.
    """

    run_id: str
    seq: int
    node_id: str | None
    old: str | None
    new: str
    attempt: int
    time: float


class ErrorSummary(TypedDict):
    """A failed (or retrying) node's error in its summary; the traceback is a detail."""

    type: str
    message: str


class NodeSummary(TypedDict):
    """One node in a snapshot: small; results, tracebacks and output are details."""

    status: str
    attempt: NotRequired[int]
    started: NotRequired[float]  # seconds since the run started
    ended: NotRequired[float]
    preview: NotRequired[str]
    error: NotRequired[ErrorSummary]
    parent: NotRequired[str]  # the expanded node a child belongs to
    tags: NotRequired[list[str]]
    label: NotRequired[str]
    reused: NotRequired[bool]  # restored from an earlier run when it was continued
    question: NotRequired[QuestionSummary]  # while waiting: its oldest open question
    questions: NotRequired[int]  # while waiting with more than one open question
    progress: NotRequired[dict[str, Any]]  # {"done", "total"?, "note"?} (tb.progress)
    metrics: NotRequired[dict[str, float]]  # rolled-up metrics: its own and its children's
    attempts: NotRequired[list[list[Any]]]  # earlier attempts: [start, end, "failed"|"timeout"]
    waits: NotRequired[
        list[list[float]]
    ]  # waits for an answer: [start, end] ([start] while waiting)
    output_chars: NotRequired[int]  # characters it printed so far (monotonic); the text is a detail
    cached: NotRequired[dict[str, str]]  # its result was reused: {"run", "node"} that made it


class QuestionSummary(TypedDict):
    """A waiting node's oldest open question in its summary; the full question is a detail."""

    id: str
    prompt: str
    choices: NotRequired[list[Any]]
    form: NotRequired[bool]  # the answer has a schema
    preview: NotRequired[str]  # a short repr of its data (at most 120 characters)


class QuestionDict(TypedDict):
    """One question in full (``Question.to_dict()``, the ``questions`` request, details)."""

    id: str
    node_id: str
    key: str
    prompt: str
    data: NotRequired[Any]
    choices: NotRequired[list[Any]]
    schema: NotRequired[dict[str, Any]]
    default: NotRequired[Any]
    asked: float  # wall-clock time (``time.time()``)
    deadline: NotRequired[float]  # wall-clock time


class RunFields(TypedDict):
    """The ``run`` part of a snapshot."""

    id: str
    name: str
    status: str
    counts: dict[str, int]
    total: int
    created: float  # wall-clock time (``time.time()``)
    ended: NotRequired[float]  # seconds since the run started
    error: NotRequired[str]  # the store's error, when saving failed
    stored_status: NotRequired[str]  # a stored, interrupted run: the status its row was left with
    metrics: NotRequired[dict[str, float]]  # the run's metric totals
    units: NotRequired[dict[str, str]]  # units of the metrics that have one
    budgets: NotRequired[dict[str, float]]  # the run's own budgets
    questions: NotRequired[int]  # open questions the run asks itself (budgets passed)
    parent_run: NotRequired[str]  # a rerun: the run whose results it reuses
    cache: NotRequired[dict[str, int]]  # nodes reused (hits), run (misses), uncacheable


class Snapshot(TypedDict):
    """``run.snapshot()``: ``run``, ``nodes`` keyed by id, ``edges`` as ``[from, to]``."""

    run: RunFields
    nodes: dict[str, NodeSummary]
    edges: list[list[str]]


class StoredRunItem(TypedDict):
    """One stored run as ``SQLiteStore.runs()`` lists it."""

    id: str
    name: str
    status: str
    counts: dict[str, int]
    total: int
    created: float
    ended: NotRequired[float]
    error: NotRequired[str]
    project: NotRequired[str]
    damaged: NotRequired[str]  # what is wrong with its row, if anything
    stored_status: NotRequired[str]  # an interrupted run: the status its row was left with


class SnapshotFrame(TypedDict):
    """A ``snapshot`` frame: the whole state of one room at ``seq``."""

    type: Literal["snapshot"]
    room: str
    seq: int
    state: Snapshot


class BatchFrame(TypedDict):
    """A ``batch`` frame: a JSON merge patch (RFC 7386) over the state at ``base_seq``."""

    type: Literal["batch"]
    room: str
    seq: int
    base_seq: int
    patch: dict[str, Any]
    events: list[dict[str, Any]]
