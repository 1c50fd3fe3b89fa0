"""The legal transitions of node statuses, and the event record.

The statuses themselves are defined once, in :mod:`taskbeam._schema`, and
re-exported here.
"""

from __future__ import annotations

from typing import NamedTuple

from taskbeam._schema import RunStatus, Status

__all__ = ["LEGAL", "TERMINAL", "Event", "RunStatus", "Status"]


TERMINAL = frozenset({Status.DONE, Status.FAILED, Status.CANCELLED, Status.SKIPPED})

# Every edge of the node state machine. Anything else raises IllegalTransition.
LEGAL: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.READY, Status.SKIPPED, Status.CANCELLED}),
    Status.READY: frozenset({Status.RUNNING, Status.CANCELLED}),
    Status.RUNNING: frozenset(
        {Status.DONE, Status.FAILED, Status.RETRYING, Status.EXPANDED, Status.CANCELLED}
    ),
    Status.RETRYING: frozenset({Status.READY, Status.CANCELLED}),
    Status.EXPANDED: frozenset({Status.AGGREGATING, Status.FAILED, Status.CANCELLED}),
    Status.AGGREGATING: frozenset({Status.DONE, Status.FAILED, Status.CANCELLED}),
    Status.DONE: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.SKIPPED: frozenset(),
}


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
