"""Slots and queues of :class:`~taskbeam.engine._state.RunState` (a mixin): which
READY or answered WAITING node takes the next free slot, within
``max_concurrency`` and the tag limits.

State
-----
ready : heap of (-priority, ready_tick, node)
    Nodes whose dependencies are all done, highest priority first, then in
    the order they became ready. Entries of nodes cancelled while queued stay
    in the heap and are skipped when popped.
blocked : dict[tag, heap]
    Ready nodes that were popped while one of their tags was at its limit.
    Releasing a slot of that tag moves one of them back to ``ready``.
running, tag_running : int, dict[tag, int]
    Slots held. A node holds one slot from READY -> RUNNING until it leaves
    RUNNING; an EXPANDED node releases it, so deep recursion with a small
    ``max_concurrency`` cannot deadlock. A WAITING node (blocked on an open
    question) releases it too.
resuming : dict[Node, None]
    WAITING nodes whose questions are all closed, in the order they closed:
    each takes the next free slot (and tag slots) before any READY node, so
    an answered node is never starved and the limits are never exceeded.
    :meth:`schedule` moves them to RUNNING and lists them in ``to_resume``.
fifo : deque of Node, or None
    The ready queue while no task has a priority and no tag a limit (plain
    arrival order, cheaper than the heap); ``None`` once the run uses ``ready``.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import TYPE_CHECKING

from taskbeam.engine._node import Node
from taskbeam.engine._status import Status

READY, RUNNING, WAITING = Status.READY, Status.RUNNING, Status.WAITING


class Slots:
    """Scheduling: the queues of ready nodes and the slots they take."""

    limits: dict[str, int]
    max_concurrency: int
    ready: list[tuple[int, int, Node]]
    fifo: deque[Node] | None
    blocked: dict[str, list[tuple[int, int, Node]]]
    running: int
    tag_running: dict[str, int]
    counts: dict[Status, int]
    open: int
    seq: int
    tick: int
    paused: bool
    record: bool
    events: list[tuple[int, str | None, str | None, str, int, float]]
    dirty: set[Node] | None
    resuming: dict[Node, None]
    to_resume: list[Node]
    holds: dict[str, bool]

    if TYPE_CHECKING:

        def _move(self, node: Node, new: Status, now: float, restored: bool = False) -> None: ...
        def held_by(self, node: Node) -> str | None: ...
        def _park(self, node: Node, scope: str, now: float, stopped: list[Node]) -> None: ...
        def _stop_parked(self, stopped: list[Node], now: float) -> None: ...

    def _queue(self, node: Node) -> None:
        if self.fifo is not None:
            self.fifo.append(node)
        else:
            self.tick += 1
            heapq.heappush(self.ready, (-node.task.priority, self.tick, node))

    def _use_heap(self) -> None:
        """Leave the FIFO fast path for good: move queued nodes to the heap, in order."""
        if self.fifo is None:
            return
        queued, self.fifo = self.fifo, None
        for node in queued:
            self._queue(node)

    def _take(self, node: Node) -> None:
        node.slot = True
        self.running += 1
        limits = self.limits
        if limits:
            for t in node.task.tags:
                if t in limits:
                    self.tag_running[t] += 1

    def _resume_answered(self, now: float) -> None:
        for node in list(self.resuming):
            if self.running >= self.max_concurrency:
                return
            if node.status is not WAITING:
                del self.resuming[node]
                continue
            if self.limits and any(self._tag_full(t) for t in node.task.tags):
                continue  # its tag is busy: later ones may still fit
            del self.resuming[node]
            self._take(node)
            self._move(node, RUNNING, now)
            self.to_resume.append(node)

    def schedule(self, now: float) -> list[Node]:
        """Move ready nodes to RUNNING while slots allow; return them to launch.

        Answered WAITING nodes get slots first (even while paused: pause only
        stops new launches); they go to ``to_resume``, not to the list returned.
        """
        if self.resuming:
            self._resume_answered(now)
        if self.paused or self.open == 0:
            return []
        if self.fifo is not None:
            return self._schedule_fifo(now)
        out: list[Node] = []
        ready = self.ready
        limits = self.limits
        blocked = self.blocked
        holds = self.holds  # scopes where no node starts (budgets; see _holds)
        stopped: list[Node] = []
        # A greedy pass in (priority, readiness) order over every READY node that
        # could start: the head of the ready heap, and the head of the waiting
        # queue of each tag that has a free slot. Nodes waiting for a full tag
        # are skipped without being looked at, so a long queue of tagged nodes
        # costs nothing while its tag is busy.
        while self.running < self.max_concurrency:
            source = ready if ready else None
            best = ready[0] if ready else None
            if limits:
                for tag, waiting in blocked.items():
                    free = waiting and self.tag_running[tag] < limits[tag]
                    if free and (best is None or waiting[0] < best):
                        best, source = waiting[0], waiting
            if source is None:
                break
            entry = heapq.heappop(source)
            node = entry[2]
            if node.status is not READY:
                continue  # cancelled while it waited
            if holds:
                scope = self.held_by(node)
                if scope is not None:
                    self._park(node, scope, now, stopped)
                    continue
            if limits:
                full = next((t for t in node.task.tags if self._tag_full(t)), None)
                if full is not None:
                    heapq.heappush(blocked[full], entry)
                    continue
            self._take(node)
            node.attempt += 1
            node.started = now
            self._move(node, RUNNING, now)
            out.append(node)
        if stopped:
            self._stop_parked(stopped, now)
        return out

    def _schedule_fifo(self, now: float) -> list[Node]:
        # The hot path of big graphs: READY -> RUNNING is always legal here, so
        # the transition is written out instead of going through _move.
        queue = self.fifo
        assert queue is not None
        room = self.max_concurrency - self.running
        if not queue or room <= 0:
            return []
        if len(queue) <= room:  # everything queued starts: take it in one go
            out = [node for node in queue if node.status is READY]
            queue.clear()
        else:
            out = []
            while queue and len(out) < room:
                node = queue.popleft()
                if node.status is READY:
                    out.append(node)
        if not out:
            return out
        seq = self.seq
        record, dirty = self.record, self.dirty
        if record or dirty is not None:
            events = self.events
            for node in out:
                node.slot = True
                node.attempt += 1
                node.started = now
                node.status = RUNNING
                seq += 1
                if record:
                    events.append((seq, node.id, READY, RUNNING, node.attempt, now))
                if dirty is not None:
                    dirty.add(node)
        else:  # nobody listens and nothing is saved: no event to make
            for node in out:
                node.slot = True
                node.attempt += 1
                node.started = now
                node.status = RUNNING
            seq += len(out)
        self.seq = seq
        n = len(out)
        self.running += n
        counts = self.counts
        counts[READY] -= n
        counts[RUNNING] = counts.get(RUNNING, 0) + n
        return out

    def _tag_full(self, tag: str) -> bool:
        limit = self.limits.get(tag)
        return limit is not None and self.tag_running[tag] >= limit

    def _release(self, node: Node) -> None:
        if not node.slot:
            return
        node.slot = False
        self.running -= 1
        limits = self.limits
        if limits:
            for t in node.task.tags:
                if t in limits:
                    self.tag_running[t] -= 1  # its waiters are woken by schedule()
