"""The legal transitions of node statuses.

The statuses and the event record are defined once, in
:mod:`taskbeam._schema`, and re-exported here.
"""

from __future__ import annotations

from taskbeam._schema import Event, RunStatus, Status

__all__ = ["LEGAL", "TERMINAL", "Event", "RunStatus", "Status"]


TERMINAL = frozenset({Status.DONE, Status.FAILED, Status.CANCELLED, Status.SKIPPED})

# Every edge of the node state machine. Anything else raises IllegalTransition.
LEGAL: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.READY, Status.SKIPPED, Status.CANCELLED}),
    Status.READY: frozenset({Status.RUNNING, Status.CANCELLED}),
    Status.RUNNING: frozenset(
        {
            Status.DONE,
            Status.FAILED,
            Status.RETRYING,
            Status.EXPANDED,
            Status.WAITING,
            Status.CANCELLED,
        }
    ),
    # A node waits while it has an open question, and holds no slot meanwhile.
    Status.WAITING: frozenset({Status.RUNNING, Status.CANCELLED}),
    Status.RETRYING: frozenset({Status.READY, Status.CANCELLED}),
    Status.EXPANDED: frozenset({Status.AGGREGATING, Status.FAILED, Status.CANCELLED}),
    Status.AGGREGATING: frozenset({Status.DONE, Status.FAILED, Status.CANCELLED}),
    Status.DONE: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.SKIPPED: frozenset(),
}
