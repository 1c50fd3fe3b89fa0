"""Holds: sub-graphs in which no new node starts (a mixin of RunState; pure).

A budget that is passed holds its scope: the sub-graph of one expanded node
(its children, theirs, and so on) or, for the run's own budget, the whole
run. While a scope is held, :meth:`Slots.schedule` parks the READY nodes
inside it instead of starting them; nodes already running go on, and so
does the rest of the run. :meth:`Holds.unhold` queues the parked nodes
again; :meth:`Holds.stop` cancels every node of the scope that has not
started (PENDING, READY, RETRYING) and keeps the hold, so nodes added to it
later (children of a node still running there) end cancelled too.

Scopes are keyed by node id; the run's own is ``""`` (no node has that id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskbeam.engine._node import Node
from taskbeam.engine._status import RunStatus, Status

__all__ = ["RUN_SCOPE", "Holds"]

RUN_SCOPE = ""
READY = Status.READY
_UNSTARTED = frozenset({Status.PENDING, Status.READY, Status.RETRYING})


class Holds:
    """Which scopes are held, and the READY nodes parked by them."""

    nodes: dict[str, Node]
    holds: dict[str, bool]  # scope -> stopped
    parked: list[Node]

    if TYPE_CHECKING:

        def _queue(self, node: Node) -> None: ...
        def _use_heap(self) -> None: ...
        def _cancel(self, node: Node, now: float) -> None: ...
        def _ended_badly(self, node: Node, now: float) -> None: ...
        def _check_finished(self, before: RunStatus, now: float) -> None: ...

        @property
        def status(self) -> RunStatus: ...

    def hold(self, scope: str) -> None:
        """No new node starts in ``scope`` until :meth:`unhold`."""
        self._use_heap()  # the FIFO fast path does not look at holds
        self.holds.setdefault(scope, False)

    def unhold(self, scope: str) -> None:
        """``scope`` may start nodes again: its parked nodes queue up (in the order parked)."""
        if self.holds.pop(scope, None) is None:
            return
        parked, self.parked = self.parked, []
        for node in parked:
            if node.status is not READY:
                continue
            if self.held_by(node) is None:
                self._queue(node)
            else:
                self.parked.append(node)

    def stop(self, scope: str, now: float) -> None:
        """Cancel every node of ``scope`` that has not started; the scope stays held."""
        self.holds[scope] = True
        before = self.status
        prefix = scope + "/"
        for node in list(self.nodes.values()):
            if node.status in _UNSTARTED and (not scope or node.id.startswith(prefix)):
                self._cancel(node, now)
                self._ended_badly(node, now)
        self._check_finished(before, now)

    def held_by(self, node: Node) -> str | None:
        """The held scope ``node`` is in (``None``: none)."""
        holds = self.holds
        if RUN_SCOPE in holds:
            return RUN_SCOPE
        parent = node.parent
        while parent is not None:
            if parent.id in holds:
                return parent.id
            parent = parent.parent
        return None

    def _park(self, node: Node, scope: str, now: float, stopped: list[Node]) -> None:
        """A READY node of a held scope, popped by the scheduler: parked, or (stopped) cancelled."""
        if self.holds.get(scope):
            stopped.append(node)
        else:
            self.parked.append(node)

    def _stop_parked(self, stopped: list[Node], now: float) -> None:
        if not stopped:
            return
        before = self.status
        for node in stopped:
            if node.status is READY:
                self._cancel(node, now)
                self._ended_badly(node, now)
        self._check_finished(before, now)
