"""The records of a run's state: :class:`Node` (one per task), :class:`ErrorInfo`,
and the helpers that read them as plain data (see :mod:`taskbeam.engine._state`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from taskbeam.engine._capture import OUTPUT_LIMIT, OutputBuffer
from taskbeam.engine._status import Status
from taskbeam.graph import Task
from taskbeam.graph._expand import Aggregator

__all__ = ["ID_CHARS", "MESSAGE_CHARS", "ErrorInfo", "Node", "short_id", "structure", "topological"]

PENDING = Status.PENDING
MESSAGE_CHARS = 2000  # longest error message a node keeps (as in _failure)
ID_CHARS = 200  # longest node id an error message quotes


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failure as data: exception type, message and formatted traceback."""

    type: str
    message: str
    traceback: str = ""


_UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()


class Node:
    """Mutable run-time record of one task. Only the run's thread touches it.

    Fields every node uses are slots; the rest are class-level defaults that a
    node overrides in its own ``__dict__``, made only when one is first set, so
    a graph of 100,000 plain nodes carries no per-node storage for them.

    A node finds its neighbours by position: ``group`` is the list of the
    nodes made from the same graph (the run's top level, or the children of
    one expansion), ``up`` and ``down`` the positions in it of the nodes it
    depends on and of those that depend on it, shared with every other run
    of that graph (see :meth:`Graph.links`).
    """

    __slots__ = (
        "__dict__",
        "attempt",
        "cached",
        "depth",
        "digest",
        "down",
        "ended",
        "fingerprint",
        "group",
        "id",
        "key",
        "parent",
        "result",
        "slot",
        "started",
        "status",
        "task",
        "up",
        "waiting",
    )

    children: list[Node] | None = None
    children_left = 0
    aggregate: Aggregator | None = None
    preview: str | None = None
    detail: str | None = None  # the longer preview of details(), when made with the result
    error: ErrorInfo | None = None
    # For a parent failed by a child: the deepest node of the chain of
    # failures below it, and how many levels down that node is.
    cause: Node | None = None
    levels = 0
    output: OutputBuffer | None = None  # made on the first write
    output_limit = OUTPUT_LIMIT
    meter: Any = None  # progress and metrics, made at the first report (see _metrics.Meter)
    # Earlier attempts and waiting intervals, ``[kind, start, end]`` in monotonic
    # time (``end`` None while open): made only for a node that was retried or
    # waited for an answer (see :mod:`taskbeam.engine._timeline`).
    spans: list[list[Any]] | None = None
    output_feed: Any = None  # the run's OutputFeed, set at launch while output is watched
    expansion: Any = None  # what an expanded node's task returned (a rerun expands it again)

    def __init__(
        self,
        node_id: str,
        task: Task,
        group: list[Node],
        up: tuple[int, ...],
        down: tuple[int, ...],
    ) -> None:
        self.id = node_id
        self.task = task
        self.group = group
        self.up = up
        self.down = down
        self.waiting = len(up)
        self.parent: Node | None = None
        self.depth = 0
        self.status = PENDING
        self.attempt = 0
        self.slot = False
        self.started: float | None = None
        self.ended: float | None = None
        self.result: Any = None
        self.fingerprint: str | None = None
        # The cache (engine/_cache.py), slots of their own (a cached run sets them on
        # every node): the node's key once looked up (None: not looked up; "": looked up,
        # uncacheable), its result's digest once made (UNSET before; None: no stable
        # digest), and where a hit's result was made.
        self.key: str | None = None
        self.digest: Any = _UNSET
        self.cached: dict[str, str] | None = None

    @property
    def upstream(self) -> list[Node]:
        """The nodes this one depends on, in the order of its task's ``deps``."""
        group = self.group
        return [group[i] for i in self.up]

    @property
    def dependants(self) -> list[Node]:
        """The nodes that depend on this one."""
        group = self.group
        return [group[i] for i in self.down]

    def __repr__(self) -> str:
        return f"<Node {self.id!r} {self.status.value} attempt={self.attempt}>"


def structure(nodes: Iterable[Node]) -> list[tuple[Any, ...]]:
    """``[(node_id, [dependency ids], (tags)[, label]), ...]``: a graph as plain data.

    The label is there only for a node that has one (so a stored graph
    without labels reads as it always did), and restored children keep it.
    """
    out: list[tuple[Any, ...]] = []
    for n in nodes:
        task = n.task
        deps = task.deps if n.parent is None else [u.id for u in n.upstream]
        if task.label is None:
            out.append((n.id, deps, task.tags))
        else:
            out.append((n.id, deps, task.tags, task.label))
    return out


def topological(nodes: list[Node]) -> Iterator[Node]:
    """``nodes`` (a closed set: their dependencies are among them) in dependency order."""
    members = set(nodes)
    waiting = {n: sum(1 for u in n.upstream if u in members) for n in nodes}
    stack = [n for n in reversed(nodes) if waiting[n] == 0]
    while stack:
        node = stack.pop()
        yield node
        for d in node.dependants:
            if d in waiting:
                waiting[d] -= 1
                if waiting[d] == 0:
                    stack.append(d)


def short_id(node_id: str) -> str:
    """A node id cut to its last :data:`ID_CHARS` characters (ids grow with nesting)."""
    return node_id if len(node_id) <= ID_CHARS else "…" + node_id[-ID_CHARS:]
