"""The pure state machine of one run.

One module for one class: the transitions of ``RunState`` check and change
the same queues and counts, so they stay side by side (about 600 lines);
its nodes, queues and restoring from a store are modules of their own.

No threads, no clock, no I/O: every method that changes state takes ``now``
(a monotonic timestamp) and, where chance matters, ``rand`` (a float in
[0, 1)). The shell (:mod:`taskbeam.engine._run`) owns the only thread that
calls these methods, executes what they ask for, and reports back.

State of a run
--------------
nodes : dict[str, Node]
    Every node, in creation order (children of an expanded node are appended
    when it expands, so a parent always comes before its children).
ready, fifo, blocked, running, tag_running, resuming
    The queues and slots: see :mod:`taskbeam.engine._slots`.
counts : dict[Status, int]
    Nodes per status, kept up to date by every transition.
open : int
    Nodes not yet terminal. The run is finished when it reaches 0.
to_abort, to_aggregate : list[Node]
    Effects for the shell: tasks to cancel, aggregators to call. The shell
    drains them after every call.
events : list[tuple]
    ``(seq, node_id, old, new, attempt, now)`` per transition while
    ``record`` is true; the shell turns them into :class:`Event` and delivers
    them after the call returns, so a subscriber never sees a half-made step.

Readiness
---------
Each node counts the dependencies it still waits for (``waiting``). When a
node becomes DONE each dependant's counter drops by one and a dependant that
reaches zero becomes READY: O(1) work per edge, never a scan of the graph.
A node that ends FAILED, CANCELLED or SKIPPED makes every PENDING node
downstream of it SKIPPED.

A worked example: ``a -> b``, ``a -> c``, ``max_concurrency=1``::

    start()        a READY; schedule() -> [a] RUNNING
    succeed(a)     a DONE; b, c READY (same priority: b first, added first)
    schedule()     -> [b]; c waits for the slot
    fail(b)        b FAILED (no retries left); nothing downstream
    schedule()     -> [c] ... succeed(c); open == 0, run status FAILED

Expansion
---------
``expand(node, graph)`` moves a RUNNING node to EXPANDED and adds the nodes
of ``graph`` as children with ids ``parent/child``. When its last child
becomes terminal the parent moves to AGGREGATING (all children done; the
shell calls the aggregator) or to FAILED / CANCELLED (some child was not).

Modules
-------
The transitions are here; the nodes themselves are in :mod:`._node`, the
queues and slots in :mod:`._slots`, restoring from a store in :mod:`._graft`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

from taskbeam._errors import IllegalTransition
from taskbeam.engine._capture import OUTPUT_LIMIT
from taskbeam.engine._graft import Restoring
from taskbeam.engine._holds import Holds
from taskbeam.engine._node import MESSAGE_CHARS as MESSAGE_CHARS
from taskbeam.engine._node import ErrorInfo as ErrorInfo
from taskbeam.engine._node import Node as Node
from taskbeam.engine._node import short_id as short_id
from taskbeam.engine._node import structure as structure
from taskbeam.engine._preview import preview
from taskbeam.engine._slots import Slots
from taskbeam.engine._status import LEGAL, TERMINAL, RunStatus, Status
from taskbeam.engine._timeline import note_span, span_fields
from taskbeam.graph import Graph
from taskbeam.graph._expand import Aggregator

__all__ = ["MESSAGE_CHARS", "ErrorInfo", "Node", "RunState", "short_id", "structure"]

PENDING, READY, RUNNING = Status.PENDING, Status.READY, Status.RUNNING
RETRYING, EXPANDED, AGGREGATING = Status.RETRYING, Status.EXPANDED, Status.AGGREGATING
WAITING = Status.WAITING
DONE, FAILED, CANCELLED, SKIPPED = Status.DONE, Status.FAILED, Status.CANCELLED, Status.SKIPPED
ON_ERROR = ("continue", "fail_fast")


class RunState(Slots, Restoring, Holds):
    """All state of one run, and every legal way to change it.

    Parameters
    ----------
    graph : Graph
        A validated graph.
    max_concurrency : int
        Most nodes RUNNING at once.
    limits : mapping of tag to int
        Most RUNNING nodes carrying that tag at once.
    on_error : {"continue", "fail_fast"}
    max_depth : int
        Most levels of nested ``expand``; the shell enforces it with
        :meth:`can_expand`.
    fingerprint : callable, optional
        ``fingerprint(graph)``: the fingerprints of the graph's tasks, in task
        order (given when a store is attached).
    """

    def __init__(
        self,
        graph: Graph,
        *,
        max_concurrency: int = 8,
        limits: Mapping[str, int] | None = None,
        on_error: str = "continue",
        max_depth: int = 8,
        output_limit: int = OUTPUT_LIMIT,
        fingerprint: Callable[[Graph], Sequence[str]] | None = None,
        restore: Mapping[str, tuple[str | None, Any]] | None = None,
        restore_tree: Mapping[str, list[list[Any]]] | None = None,
    ) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, not {on_error!r}")
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be an int >= 1, not {max_concurrency!r}")
        if not isinstance(max_depth, int) or max_depth < 0:
            raise ValueError(f"max_depth must be an int >= 0, not {max_depth!r}")
        self.limits = dict(limits or {})
        for tag, n in self.limits.items():
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"limits[{tag!r}] must be an int >= 1, not {n!r}")
        self.name = graph.name
        self.max_concurrency = max_concurrency
        self.on_error = on_error
        self.max_depth = max_depth
        self.output_limit = output_limit
        self.nodes: dict[str, Node] = {}
        self.ready: list[tuple[int, int, Node]] = []
        # Without priorities or tag limits the heap's order is plain arrival
        # order, so a deque does the same job for less; the first task with a
        # priority (an expansion may bring one) switches the run to the heap.
        self.fifo: deque[Node] | None = deque()
        self.blocked: dict[str, list[tuple[int, int, Node]]] = {t: [] for t in self.limits}
        self.running = 0
        self.tag_running = dict.fromkeys(self.limits, 0)
        self.counts: dict[Status, int] = {PENDING: 0}
        self.open = 0
        self.seq = 0
        self.tick = 0
        self.paused = False
        self.cancelled = False
        self.started: float | None = None
        self.ended: float | None = None
        self.record = False
        self.events: list[tuple[int, str | None, str | None, str, int, float]] = []
        self.to_abort: list[Node] = []
        self.to_aggregate: list[Node] = []
        self.resuming: dict[Node, None] = {}
        self.to_resume: list[Node] = []
        # The summary fields of a waiting node's questions (set by the shell).
        self.question_fields: Callable[[Node], dict[str, Any]] | None = None
        # The run's metric totals and budgets in its fields (set by the shell; see _meters).
        self.metric_fields: Callable[[dict[str, Any]], None] | None = None
        # The cache's (set by the driver when the run caches): the nodes done
        # after a miss, to store; the run's cache counts for its fields.
        self.cache_done: list[Node] | None = None
        self.cache_fields: Callable[[dict[str, Any]], None] | None = None
        self.parent_run: str | None = None  # a rerun: the run whose results it reuses
        # Budgets: scopes where no new node starts, and the nodes they parked (see _holds).
        self.holds: dict[str, bool] = {}
        self.parked: list[Node] = []
        # Persistence (all None/empty unless a store is attached): a fingerprint
        # per node, results restored from an earlier run, and what changed since
        # the shell last saved.
        self.fingerprint = fingerprint
        self.restore = restore or {}
        self.restore_tree = restore_tree or {}
        self.restored: list[Node] = []
        self.dirty: set[Node] | None = None
        self.structures: list[tuple[str, list[tuple[Any, ...]]]] = []
        if self.limits:
            self._use_heap()
        self._add_nodes(graph, None, 0, None)

    # -- structure -----------------------------------------------------------
    def _add_nodes(
        self, graph: Graph, parent: Node | None, depth: int, now: float | None
    ) -> list[Node]:
        links = graph.links()
        added: list[Node] = []
        ids: Iterable[str] = graph.tasks
        if parent is not None:
            prefix = parent.id + "/"
            ids = [prefix + i for i in ids]
        added.extend(
            map(Node, ids, graph.tasks.values(), repeat(added), links.upstream, links.dependants)
        )
        if parent is not None:
            for node in added:
                node.parent = parent
                node.depth = depth
        if self.output_limit != OUTPUT_LIMIT:
            for node in added:
                node.output_limit = self.output_limit
        if self.fifo is not None and links.prioritized:
            self._use_heap()
        self.nodes.update(zip(ids, added, strict=True))
        if self.fingerprint is not None:
            for node, fp in zip(added, self.fingerprint(graph), strict=True):
                node.fingerprint = fp
        if parent is not None and self.dirty is not None:
            self.structures.append((parent.id, structure(added)))
        self.counts[PENDING] += len(added)
        self.open += len(added)
        if now is not None:  # children of an expansion: each appears as an event
            for node in added:
                self.seq += 1
                if self.record:
                    self.events.append((self.seq, node.id, None, PENDING, 0, now))
        if self.restore:
            self._restore(added, now)
        return added

    def edges(self) -> list[list[str]]:
        """``[dependency, dependant]`` pairs over all nodes, children included."""
        return [[n.id, n.group[i].id] for n in self.nodes.values() for i in n.down]

    # -- transitions ---------------------------------------------------------
    def _move(self, node: Node, new: Status, now: float, restored: bool = False) -> None:
        old = node.status
        if new not in LEGAL[old] and not (restored and old is PENDING and new is DONE):
            raise IllegalTransition(f"node {node.id!r}: {old.value} -> {new.value} is not legal")
        node.status = new
        if new is RETRYING or new is WAITING or old is WAITING:
            note_span(node, old, new, now)
        counts = self.counts
        counts[old] -= 1
        counts[new] = counts.get(new, 0) + 1
        if new in TERMINAL:
            self.open -= 1
            if not restored:
                node.ended = now
        self.seq += 1
        if self.record:
            self.events.append((self.seq, node.id, old, new, node.attempt, now))
        if self.dirty is not None and not restored:
            self.dirty.add(node)

    def _run_event(self, old: RunStatus, now: float) -> None:
        if self.started is None:
            return  # before start() the run has no status yet; start() reports it
        new = self.status
        if new is not old:
            self.seq += 1
            if self.record:
                self.events.append((self.seq, None, old, new, 0, now))

    def _make_ready(self, node: Node, now: float) -> None:
        self._move(node, READY, now)
        self._queue(node)

    def start(self, now: float) -> None:
        """Make every node without dependencies READY."""
        self.started = now
        initial = RunStatus.PAUSED if self.paused else RunStatus.RUNNING
        self.seq += 1
        if self.record:
            self.events.append((self.seq, None, None, initial, 0, now))
        for node in list(self.nodes.values()):
            if node.waiting == 0 and node.status is PENDING:
                self._make_ready(node, now)
        self._check_finished(initial, now)

    def wait(self, node: Node, now: float) -> None:
        """RUNNING -> WAITING: ``node`` asked a question; its slots are free meanwhile."""
        self._release(node)
        self._move(node, WAITING, now)

    def answered(self, node: Node) -> None:
        """A WAITING node's questions are all closed: it queues for a slot (see ``resuming``)."""
        if node.status is WAITING:
            self.resuming[node] = None

    def wake(self, node: Node, now: float) -> None:
        """WAITING -> RUNNING at once, holding a slot even over the limit.

        Only for a task that went on without its question (it cancelled its
        own ask, or returned): it runs, so it counts; no new node starts
        until the count is back under the limit.
        """
        self.resuming.pop(node, None)
        self._take(node)
        self._move(node, RUNNING, now)

    def touch(self, node: Node, now: float) -> None:
        """``node``'s summary changed, not its status: an event from its status to itself."""
        self.seq += 1
        if self.record:
            self.events.append((self.seq, node.id, node.status, node.status, node.attempt, now))
        if self.dirty is not None:
            self.dirty.add(node)

    def succeed(self, node: Node, result: Any, now: float) -> None:
        """RUNNING or AGGREGATING -> DONE with ``result``; unlock dependants."""
        node.result = result
        counts, record, dirty = self.counts, self.record, self.dirty
        if node.status is RUNNING and not self.limits:
            # The hot path: RUNNING -> DONE is always legal; written out like _move.
            if node.slot:
                node.slot = False
                self.running -= 1
            node.status = DONE
            node.ended = now
            counts[RUNNING] -= 1
            try:  # cheaper than counts.get() once the first node is done
                counts[DONE] += 1
            except KeyError:
                counts[DONE] = 1
            self.open -= 1
            seq = self.seq + 1
            if record:
                self.events.append((seq, node.id, RUNNING, DONE, node.attempt, now))
            if dirty is not None:
                dirty.add(node)
        else:
            self._release(node)
            self._move(node, DONE, now)
            seq = self.seq
        if self.cache_done is not None and node.key is not None:
            self.cache_done.append(node)  # ran after a cache miss: the driver stores it
        down = node.down
        if down:
            fifo = self.fifo
            group = node.group
            made = 0  # PENDING -> READY transitions written out below, counted once
            if fifo is None:
                for i in down:
                    dependant = group[i]
                    waiting = dependant.waiting = dependant.waiting - 1
                    if waiting == 0 and dependant.status is PENDING:
                        self.seq = seq
                        self._make_ready(dependant, now)
                        seq = self.seq
            elif record or dirty is not None:
                for i in down:
                    dependant = group[i]
                    waiting = dependant.waiting = dependant.waiting - 1
                    if waiting == 0 and dependant.status is PENDING:
                        # PENDING -> READY, always legal here: written out like _move.
                        dependant.status = READY
                        made += 1
                        seq += 1
                        if record:
                            self.events.append((seq, dependant.id, PENDING, READY, 0, now))
                        if dirty is not None:
                            dirty.add(dependant)
                        fifo.append(dependant)
            else:  # as above, with no event to make
                for i in down:
                    dependant = group[i]
                    waiting = dependant.waiting = dependant.waiting - 1
                    if waiting == 0 and dependant.status is PENDING:
                        dependant.status = READY
                        made += 1
                        fifo.append(dependant)
                seq += made
            if made:
                counts[PENDING] -= made
                try:
                    counts[READY] += made
                except KeyError:
                    counts[READY] = made
        self.seq = seq
        parent = node.parent
        if parent is not None and self._child_ended(parent, now):
            self._ended_badly(parent, now)
        if self.open == 0:
            self._check_finished(RunStatus.PAUSED if self.paused else RunStatus.RUNNING, now)

    def fail(self, node: Node, error: ErrorInfo, now: float, rand: float = 0.5) -> float | None:
        """A run of ``node`` raised.

        Returns the delay before the next attempt when retries remain (the node
        is RETRYING; call :meth:`retry` after it), else ``None`` (the node is
        FAILED, its downstream SKIPPED, and under ``fail_fast`` the rest
        CANCELLED). ``rand`` in [0, 1) jitters the delay by 0.5x to 1.5x.
        """
        self._release(node)
        node.error = error
        if node.status is RUNNING and node.attempt <= node.task.retries:
            self._move(node, RETRYING, now)
            return float(node.task.backoff * 2 ** (node.attempt - 1) * (0.5 + rand))
        before = self.status
        self._move(node, FAILED, now)
        self._ended_badly(node, now)
        if self.on_error == "fail_fast":
            self._cancel_open(now)
        self._check_finished(before, now)
        return None

    def retry(self, node: Node, now: float) -> None:
        """RETRYING -> READY once the backoff has passed; ignored if cancelled meanwhile."""
        if node.status is RETRYING:
            self._make_ready(node, now)

    def can_expand(self, node: Node) -> bool:
        """Whether ``node`` may add another level of children."""
        return node.depth < self.max_depth

    def expand(self, node: Node, graph: Graph, aggregate: Aggregator, now: float) -> list[Node]:
        """RUNNING -> EXPANDED: add ``graph`` (validated) as children of ``node``."""
        self._release(node)
        self._move(node, EXPANDED, now)
        node.aggregate = aggregate
        children = self._add_nodes(graph, node, node.depth + 1, now)
        node.children = children
        node.children_left = sum(1 for c in children if c.status is not DONE)
        if not node.children_left:  # no children, or all restored from the store
            self._move(node, AGGREGATING, now)
            self.to_aggregate.append(node)
        for child in children:
            if child.waiting == 0 and child.status is PENDING:
                self._make_ready(child, now)
        return children

    def _child_ended(self, parent: Node, now: float) -> bool:
        """One more child of ``parent`` is terminal; end ``parent`` if it was the last.

        Returns whether ``parent`` ended badly (FAILED or CANCELLED): the
        caller carries that on (:meth:`_ended_badly`) with its own stack, so
        a chain of nested expansions ends without recursion however deep.
        """
        parent.children_left -= 1
        if parent.children_left or parent.status is not EXPANDED:
            return False
        children = parent.children or []
        failed = next((c for c in children if c.status is FAILED), None)
        if failed is not None:
            assert failed.error is not None
            self._move(parent, FAILED, now)
            parent.error = _child_failed(parent, failed)
            return True
        if any(c.status is not DONE for c in children):
            self._move(parent, CANCELLED, now)
            return True
        self._move(parent, AGGREGATING, now)
        self.to_aggregate.append(parent)
        return False

    def child_results(self, parent: Node) -> dict[str, Any]:
        """``{local child id: result}`` for the aggregator of ``parent``."""
        return {c.task.id: c.result for c in parent.children or ()}

    def _ended_badly(self, node: Node, now: float) -> None:
        """``node`` became FAILED, CANCELLED or SKIPPED: skip what depends on it.

        One stack carries both directions, dependants that are skipped and
        parents that end with their last child, so neither a long chain nor
        deep nesting grows the Python stack.
        """
        stack = [node]
        while stack:
            current = stack.pop()
            for dependant in current.dependants:
                if dependant.status is PENDING:
                    self._move(dependant, SKIPPED, now)
                    stack.append(dependant)
            parent = current.parent
            if parent is not None and self._child_ended(parent, now):
                stack.append(parent)

    # -- control -------------------------------------------------------------
    def pause(self, now: float) -> None:
        """No node starts until :meth:`resume`; running nodes go on."""
        before = self.status
        self.paused = True
        self._run_event(before, now)

    def resume(self, now: float) -> None:
        before = self.status
        self.paused = False
        self._run_event(before, now)

    def cancel_node(self, node: Node, now: float) -> None:
        """End ``node`` (and its children) CANCELLED; its downstream is SKIPPED."""
        if node.status in TERMINAL:
            return
        before = self.status
        self._cancel(node, now)
        if node.children:
            self._cancel_open(now, under=node.id + "/")
        self._ended_badly(node, now)
        self._check_finished(before, now)

    def cancel(self, now: float) -> None:
        """End every open node CANCELLED; the run ends ``cancelled`` (no-op once ended)."""
        if self.open == 0:
            return
        before = self.status
        self.cancelled = True
        self._cancel_open(now)
        self._check_finished(before, now)

    def _cancel(self, node: Node, now: float) -> None:
        if node.status is RUNNING or node.status is AGGREGATING or node.status is WAITING:
            self.to_abort.append(node)
            self.resuming.pop(node, None)
        self._release(node)
        self._move(node, CANCELLED, now)

    def _cancel_open(self, now: float, under: str = "") -> None:
        # Parents come before their children in ``nodes``, so a parent is
        # already terminal when its children end and _child_ended does nothing.
        for node in self.nodes.values():
            if node.status not in TERMINAL and node.id.startswith(under):
                self._cancel(node, now)

    def _check_finished(self, before: RunStatus, now: float) -> None:
        if self.open == 0 and self.ended is None:
            self.ended = now
        self._run_event(before, now)

    # -- reading -------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.open == 0

    @property
    def status(self) -> RunStatus:
        if self.open:
            return RunStatus.PAUSED if self.paused else RunStatus.RUNNING
        if self.counts.get(FAILED):
            return RunStatus.FAILED
        if self.cancelled or self.counts.get(CANCELLED):
            return RunStatus.CANCELLED
        if self.counts.get(SKIPPED):  # only possible via a failed or cancelled node
            return RunStatus.FAILED
        return RunStatus.DONE

    def node_summary(self, node: Node, t0: float) -> dict[str, Any]:
        """The JSON summary of one node used in snapshots (no null fields)."""
        out: dict[str, Any] = {"status": node.status.value}
        if node.attempt:
            out["attempt"] = node.attempt
        if node.started is not None:
            out["started"] = round(node.started - t0, 3)
        if node.ended is not None and node.status in TERMINAL:
            out["ended"] = round(node.ended - t0, 3)
        if node.status is DONE:
            if node.preview is None:
                node.preview = preview(node.result)
            out["preview"] = node.preview
        if node.error is not None and node.status in (FAILED, RETRYING):
            out["error"] = {"type": node.error.type, "message": node.error.message}
        if node.parent is not None:
            out["parent"] = node.parent.id
        if node.task.tags:
            out["tags"] = list(node.task.tags)
        if node.task.label is not None:
            out["label"] = node.task.label
        if node.status is WAITING and self.question_fields is not None:
            out.update(self.question_fields(node))
        if node.meter is not None:  # progress and metrics (see _metrics)
            node.meter.fields(out)
        if node.spans is not None:
            out.update(span_fields(node.spans, t0))
        if node.output is not None and node.output.written:
            out["output_chars"] = node.output.written  # what it printed so far (monotonic)
        if node.cached is not None:
            out["cached"] = node.cached  # {"run", "node"}: where its result was made
        return out

    def run_fields(self, run_id: str, t0: float, created: float) -> dict[str, Any]:
        """The ``run`` part of a snapshot."""
        run: dict[str, Any] = {
            "id": run_id,
            "name": self.name,
            "status": self.status.value,
            "counts": {s.value: n for s, n in self.counts.items()},
            "total": len(self.nodes),
            "created": created,
        }
        if self.ended is not None:
            run["ended"] = round(self.ended - t0, 3)
        if self.metric_fields is not None:
            self.metric_fields(run)
        if self.cache_fields is not None:
            self.cache_fields(run)
        if self.parent_run is not None:
            run["parent_run"] = self.parent_run
        return run

    def snapshot(self, run_id: str, t0: float, created: float) -> dict[str, Any]:
        """The one picture of the run: ``run``, ``nodes`` keyed by id, ``edges``."""
        return {
            "run": self.run_fields(run_id, t0, created),
            "nodes": {n.id: self.node_summary(n, t0) for n in self.nodes.values()},
            "edges": self.edges(),
        }

    def structure(self) -> list[tuple[Any, ...]]:
        """The top-level graph as ``[(node_id, [dependency ids], (tags)), ...]``."""
        return structure(n for n in self.nodes.values() if n.parent is None)


def _child_failed(parent: Node, failed: Node) -> ErrorInfo:
    """The error of ``parent`` failed by its child ``failed``: bounded however deep the chain.

    It names the child and, when the child failed because of its own child
    (and so on), the deepest failure of that chain and how far down it is,
    never the whole chain: its message is the same size at any depth.
    """
    deepest = failed.cause or failed
    parent.cause = deepest
    parent.levels = failed.levels + 1
    error = deepest.error
    assert error is not None
    if parent.levels == 1:
        message = f"child {short_id(failed.id)!r} failed: {error.type}: {error.message}"
    else:
        message = (
            f"child {short_id(failed.id)!r} failed; the deepest failure is "
            f"{short_id(deepest.id)!r}, {parent.levels} levels down: "
            f"{error.type}: {error.message}"
        )
    return ErrorInfo("ChildFailed", message[:MESSAGE_CHARS])
