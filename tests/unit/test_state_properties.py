"""Properties of the pure state machine, checked against a simulated shell.

``Shell`` below plays the part of :mod:`taskbeam.engine._run` without threads,
sleeps or a clock: it starts the run, launches what ``schedule`` returns,
drains ``to_abort``, ``to_aggregate`` and ``to_resume``, and lets a
``random.Random`` seeded by hypothesis decide which launched node finishes
next and how: success, failure (with retries), expansion into a random
sub-graph, a question (the node waits until an answer comes, then needs a
slot again), and now and then a pause, a resume, a ``cancel_node`` or a
``cancel``. ``Checker`` reads the
recorded events as they come and checks every step against the rules; the
tests then check the final state.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from taskbeam import ErrorInfo, Graph, RunStatus, Status
from taskbeam.engine._state import Node, RunState
from taskbeam.engine._status import LEGAL, TERMINAL

PENDING, READY, RUNNING = Status.PENDING, Status.READY, Status.RUNNING
RETRYING, EXPANDED, AGGREGATING = Status.RETRYING, Status.EXPANDED, Status.AGGREGATING
DONE, FAILED, CANCELLED, SKIPPED = Status.DONE, Status.FAILED, Status.CANCELLED, Status.SKIPPED
WAITING = Status.WAITING
ENDED = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED})

LIMITABLE = ("gpu", "io", "llm")  # tags that may get a limit
FREE_TAG = "misc"  # a tag that never has one


def work(**deps: Any) -> None:
    """Stands in for every task: takes any dependency results."""


# -- graphs ------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """How random graphs (and the sub-graphs of expansions) look."""

    max_deps: int = 3
    window: int = 8  # dependencies come from the last ``window`` nodes
    multi_tag: bool = True  # a node may carry several limitable tags
    shuffle: bool = False  # add tasks in random order (forward references)
    max_retries: int = 2


def chance(rnd: random.Random, p: float) -> bool:
    """True with probability ``p``."""
    return rnd.random() >= 1.0 - p


def random_graph(rnd: random.Random, n: int, shape: Shape, name: str = "g") -> Graph:
    """A validated DAG of ``n`` tasks ``n0 .. n{n-1}`` with random policies."""
    specs: list[tuple[str, list[str], dict[str, Any]]] = []
    for i in range(n):
        lo = max(0, i - shape.window)
        k = min(i - lo, rnd.randint(0, shape.max_deps))
        deps = [f"n{j}" for j in sorted(rnd.sample(range(lo, i), k))] if k else []
        if shape.multi_tag:
            tags = [t for t in (*LIMITABLE, FREE_TAG) if chance(rnd, 0.3)]
        else:
            tags = [rnd.choice(LIMITABLE)] if chance(rnd, 0.6) else []
            if chance(rnd, 0.3):
                tags.append(FREE_TAG)
        options = {
            "priority": rnd.randint(-2, 2),
            "tags": tags,
            "retries": rnd.randint(0, shape.max_retries),
            "backoff": rnd.choice((0.0, 0.5, 1.0)),
        }
        specs.append((f"n{i}", deps, options))
    if shape.shuffle:
        rnd.shuffle(specs)
    graph = Graph(name)
    for task_id, deps, options in specs:
        graph.add(task_id, work, deps, **options)
    return graph.validate()


# -- the event checker ---------------------------------------------------------
class Checker:
    """Consumes ``state.events`` after every call and checks each one.

    Keeps its own picture of the run, built from events only: node statuses,
    READY nodes with the seq they became ready at, RUNNING nodes (slot
    holders), attempts per node and the run status.
    """

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.limits = dict(state.limits)
        self.log: list[tuple[Any, ...]] = []
        self.status: dict[str, Status] = {nid: PENDING for nid in state.nodes}
        self.ready: dict[str, int] = {}
        self.running: set[str] = set()
        self.aggregating: set[str] = set()
        self.tag_running: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.run_status: RunStatus | None = None
        self.last_seq = 0
        self.last_now = float("-inf")
        self.first_failed: int | None = None
        self.finished_at: int | None = None
        self.peak = 0

    def limited(self, node: Node) -> set[str]:
        return {t for t in node.task.tags if t in self.limits}

    def consume(self) -> None:
        state = self.state
        events, state.events = state.events, []
        for one in events:
            self.check(one)
        self.log.extend(events)

    def check(self, event: tuple[Any, ...]) -> None:
        seq, nid, old, new, attempt, now = event
        assert seq == self.last_seq + 1, f"seq jumped from {self.last_seq} to {seq}"
        assert now >= self.last_now, "time went backwards"
        self.last_seq, self.last_now = seq, now
        if nid is None:  # the run's own status
            assert old == self.run_status, (old, self.run_status)
            assert new != old
            assert self.finished_at is None, "run event after the run ended"
            self.run_status = new
            if new in ENDED:
                self.finished_at = seq
            return
        assert self.finished_at is None, f"{nid}: event after the run ended"
        state = self.state
        node = state.nodes[nid]
        task = node.task
        if old is None:  # a child appears
            assert nid not in self.status and new is PENDING
            parent = node.parent
            assert parent is not None and self.status[parent.id] is EXPANDED
            assert nid == f"{parent.id}/{task.id}"
            self.status[nid] = PENDING
            return
        assert self.status[nid] is old, f"{nid}: event says {old}, was {self.status[nid]}"
        assert new in LEGAL[old], f"{nid}: illegal {old} -> {new}"
        if old is WAITING or new is WAITING:  # a question: the slot goes, then comes back
            assert attempt == self.attempts[nid], f"{nid}: attempt {attempt}"
            if new is WAITING:
                assert old is RUNNING
                self.running.remove(nid)
                for tag in self.limited(node):
                    self.tag_running[tag] -= 1
            elif new is RUNNING:  # answered: it resumes, paused or not, within the limits
                self.running.add(nid)
                assert len(self.running) <= state.max_concurrency, "max_concurrency exceeded"
                for tag in self.limited(node):
                    self.tag_running[tag] += 1
                    assert self.tag_running[tag] <= self.limits[tag], f"limit of {tag!r} exceeded"
            else:
                assert new is CANCELLED, event
            self.status[nid] = new
            return
        if new is not RUNNING:
            assert attempt == self.attempts[nid], f"{nid}: attempt {attempt}"
        if self.first_failed is not None and state.on_error == "fail_fast":
            # fail_fast: after the first failure only its fallout happens
            assert new in (SKIPPED, CANCELLED) or (old is EXPANDED and new is FAILED), event
        status = self.status
        if new is READY:
            assert all(status[u.id] is DONE for u in node.upstream), f"{nid} ready too early"
            self.ready[nid] = seq
        elif old is READY:
            del self.ready[nid]
        if new is RUNNING:
            assert self.run_status is RunStatus.RUNNING, f"{nid} started while {self.run_status}"
            assert all(status[u.id] is DONE for u in node.upstream), f"{nid} started too early"
            self.attempts[nid] += 1
            assert attempt == self.attempts[nid], f"{nid}: attempt {attempt} is not next"
            assert attempt <= task.retries + 1, f"{nid} ran more than retries + 1 times"
            self.running.add(nid)
            self.peak = max(self.peak, len(self.running))
            assert len(self.running) <= state.max_concurrency, "max_concurrency exceeded"
            for tag in self.limited(node):
                self.tag_running[tag] += 1
                assert self.tag_running[tag] <= self.limits[tag], f"limit of {tag!r} exceeded"
        elif old is RUNNING:
            self.running.remove(nid)
            for tag in self.limited(node):
                self.tag_running[tag] -= 1
        if new is RETRYING:
            assert attempt <= task.retries, f"{nid} retried with no retries left"
        if old is RUNNING and new is FAILED:
            assert attempt == task.retries + 1, f"{nid} failed with retries left"
        if new is SKIPPED:
            assert any(status[u.id] in (FAILED, CANCELLED, SKIPPED) for u in node.upstream)
        children = node.children or []
        if new is AGGREGATING:
            assert all(status[c.id] is DONE for c in children), f"{nid} aggregated too early"
            self.aggregating.add(nid)
        elif old is AGGREGATING:
            self.aggregating.remove(nid)
        if old is EXPANDED and new is FAILED:
            assert all(status[c.id] in TERMINAL for c in children)
            assert any(status[c.id] is FAILED for c in children)
        if new is FAILED and self.first_failed is None:
            self.first_failed = seq
        status[nid] = new

    # -- the model of schedule() ------------------------------------------------
    def expected_batch(self) -> list[str]:
        """What ``schedule`` must start: READY nodes by (priority desc, readiness),
        each taken while a slot is free and none of its limited tags is full."""
        state = self.state
        if state.paused or not self.ready:
            return []
        nodes = state.nodes
        order = sorted(self.ready, key=lambda i: (-nodes[i].task.priority, self.ready[i]))
        free = state.max_concurrency - len(self.running)
        held = Counter(self.tag_running)
        out: list[str] = []
        for nid in order:
            if free == 0:
                break
            tags = self.limited(nodes[nid])
            if any(held[t] >= self.limits[t] for t in tags):
                continue
            for t in tags:
                held[t] += 1
            free -= 1
            out.append(nid)
        return out


# -- the simulated shell -------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """How the simulated tasks and user behave."""

    p_fail: float = 0.2
    p_expand: float = 0.1
    p_agg_fail: float = 0.15
    max_expansions: int = 6
    child_shape: Shape = Shape(max_deps=2, window=3, max_retries=1)
    max_children: int = 4
    pauses: int = 4
    cancel_nodes: int = 2
    cancel: bool = True
    p_control: float = 0.03  # chance per step of a pause/resume/cancel if budget left
    # Never cancel a READY node holding a limited tag (kept to narrow down failures).
    safe_cancel: bool = False
    model_schedule: bool = False  # compare every schedule() with Checker.expected_batch
    deep: bool = True  # O(nodes) consistency checks after every call
    p_ask: float = 0.0  # chance that a task asks a question (and waits) instead of ending
    p_answer: float = 0.5  # chance per step that a waiting node gets its answer


class Shell:
    """The run's thread, simulated: one call into the state at a time, then effects."""

    def __init__(self, state: RunState, rnd: random.Random, policy: Policy) -> None:
        state.record = True
        self.state = state
        self.rnd = rnd
        self.policy = policy
        self.checker = Checker(state)
        self.inflight: dict[Node, None] = {}  # launched tasks and aggregators
        self.timers: dict[Node, float] = {}  # retry due times
        self.now = 0.0
        self.expansions = 0
        self.pauses = 0
        self.cancel_nodes = 0
        self.cancelled = False  # cancel() or cancel_node() was used
        self.waiting: dict[Node, bool] = {}  # WAITING nodes -> answered yet
        self.asked: set[Node] = set()  # nodes that asked in their current attempt
        self.resumed = 0

    # -- plumbing ------------------------------------------------------------
    def tick(self) -> None:
        self.now += self.rnd.choice((0.0, 0.0, 0.25, 1.0))

    def settle(self) -> None:
        """What the shell does after every call: carry out effects, read events."""
        state = self.state
        aborts, state.to_abort = state.to_abort, []
        for node in aborts:
            assert node.status is CANCELLED, node
            if node in self.waiting:
                del self.waiting[node]
            else:
                del self.inflight[node]
        resumed, state.to_resume = state.to_resume, []
        for node in resumed:  # answered: its task goes on, with a slot again
            assert node.status is RUNNING and self.waiting.pop(node) is True, node
            self.inflight[node] = None
            self.resumed += 1
        aggregates, state.to_aggregate = state.to_aggregate, []
        for node in aggregates:
            assert node.status is AGGREGATING, node
            assert node not in self.inflight
            self.inflight[node] = None
        self.checker.consume()
        self.check_bookkeeping()

    def check_bookkeeping(self) -> None:
        state, checker = self.state, self.checker
        assert state.running == len(checker.running)
        assert {t: n for t, n in state.tag_running.items() if n} == +checker.tag_running
        assert len(self.inflight) == len(checker.running) + len(checker.aggregating)
        if checker.finished_at is not None:
            assert state.finished
        if self.policy.deep:
            live = {n.id for n in self.inflight}
            assert live == checker.running | checker.aggregating
            assert all(n.status is WAITING and not n.slot for n in self.waiting)
            check_counts(state)
            assert {n.id: n.status for n in state.nodes.values()} == checker.status

    def pump(self) -> None:
        state, checker = self.state, self.checker
        expected = checker.expected_batch() if self.policy.model_schedule else None
        ready = dict(checker.ready) if self.policy.deep else None
        answered = [n for n, a in self.waiting.items() if a]
        running_before = state.running
        batch = state.schedule(self.now)
        resumed = list(state.to_resume)
        if batch:  # answered nodes that fit were given slots before any READY node
            for node in answered:
                fits = not any(state._tag_full(t) for t in node.task.tags)
                assert node in resumed or not fits or node.status is not WAITING, node
        assert state.running <= max(state.max_concurrency, running_before)
        for node in batch:
            assert node.status is RUNNING and node not in self.inflight
            self.inflight[node] = None
        self.settle()
        free = state.max_concurrency - state.running
        for node, answered in self.waiting.items():  # none left behind while a slot is free
            if answered and free > 0:
                assert any(state._tag_full(t) for t in node.task.tags), node
        ids = [n.id for n in batch]
        if ready is not None:  # with any tags: a batch starts in (priority desc, readiness) order
            keys = [(-n.task.priority, ready[n.id]) for n in batch]
            assert keys == sorted(keys), f"schedule() started {ids} out of order"
        if expected is not None:
            assert ids == expected, f"schedule() started {ids}, expected {expected}"
        assert state.schedule(self.now) == [], "a second schedule() started more"

    # -- the run -------------------------------------------------------------
    def run(self) -> Shell:
        state, rnd, policy = self.state, self.rnd, self.policy
        state.start(self.now)
        self.settle()
        self.pump()
        while True:
            unanswered = [n for n, a in self.waiting.items() if not a]
            if unanswered and (
                (not self.inflight and not self.timers) or chance(rnd, policy.p_answer)
            ):
                self.tick()
                node = rnd.choice(unanswered)
                self.waiting[node] = True
                state.answered(node)
                self.settle()
                self.pump()
                continue
            if not self.inflight and not self.timers:
                if state.paused:
                    self.tick()
                    state.resume(self.now)
                    self.settle()
                    self.pump()
                    continue
                break
            self.tick()
            controls = self.controls()
            if controls and chance(rnd, policy.p_control):
                self.control(rnd.choice(controls))
            elif self.timers and (not self.inflight or chance(rnd, 0.3)):
                self.fire_timer()
            elif self.inflight:
                self.complete(rnd.choice(list(self.inflight)))
            else:
                self.fire_timer()
            self.settle()
            self.pump()
        assert state.finished, f"stuck: {unfinished(state)}"
        return self

    def controls(self) -> list[str]:
        """The user actions still in the budget."""
        policy = self.policy
        if self.state.finished:
            return []
        out = ["pause"] * (self.pauses < policy.pauses)
        out += ["cancel_node"] * (self.cancel_nodes < policy.cancel_nodes)
        out += ["cancel"] * policy.cancel
        return out

    def control(self, action: str) -> None:
        state, rnd, policy = self.state, self.rnd, self.policy
        if action == "pause":
            self.pauses += 1
            if state.paused:
                state.resume(self.now)
            else:
                state.pause(self.now)
            assert state.status is (RunStatus.PAUSED if state.paused else RunStatus.RUNNING)
        elif action == "cancel_node":
            self.cancel_nodes += 1
            nodes = list(state.nodes.values())
            live = [n for n in nodes if n.status not in TERMINAL and n.status is not PENDING]
            node = rnd.choice(live if live and chance(rnd, 0.7) else nodes)
            if node.status is EXPANDED:
                event("cancel_node of an expanded node")
            if policy.safe_cancel and self.would_cancel_limited_ready(node):
                return
            self.cancel_node(node)
        else:
            self.cancelled = True
            state.cancel(self.now)
            assert state.finished
            assert all(n.status in TERMINAL for n in state.nodes.values())

    def would_cancel_limited_ready(self, node: Node) -> bool:
        if not self.state.limits:
            return False
        hit = [node, *descendants(self.state, node)]
        return any(n.status is READY and self.checker.limited(n) for n in hit)

    def cancel_node(self, node: Node) -> None:
        state = self.state
        was = node.status
        self.cancelled = True
        state.cancel_node(node, self.now)
        if was in TERMINAL:
            assert node.status is was
            assert not state.events and not state.to_abort, "cancel_node of an ended node acted"
            return
        assert node.status is CANCELLED
        for child in descendants(state, node):
            assert child.status in TERMINAL, child
        for down in downstream(node):
            assert down.status in TERMINAL, down

    def complete(self, node: Node) -> None:
        """The task (or aggregator) of ``node`` returns or raises."""
        state, rnd, policy = self.state, self.rnd, self.policy
        del self.inflight[node]
        if node.status is AGGREGATING:
            results = state.child_results(node)
            assert node.children is not None
            assert results == {c.task.id: c.result for c in node.children}
            if chance(rnd, policy.p_agg_fail):
                err = ErrorInfo("AggregateError", f"{node.id} aggregate")
                assert state.fail(node, err, self.now) is None
                assert node.status is FAILED
                self.after_failure()
            else:
                state.succeed(node, results, self.now)
                assert node.status is DONE and node.result == results
            return
        assert node.status is RUNNING, node
        if node not in self.asked and chance(rnd, policy.p_ask):
            self.asked.add(node)  # asks once per attempt: then it ends as below
            held = state.running
            state.wait(node, self.now)
            assert node.status is WAITING and not node.slot and state.running == held - 1
            self.waiting[node] = False
            return
        self.asked.discard(node)
        choice = 1.0 - rnd.random()  # in (0, 1]; a draw of 0 means plain success
        if choice <= policy.p_expand and self.expansions < policy.max_expansions:
            self.expansions += 1
            if not state.can_expand(node):  # the shell fails it with a DepthError
                assert node.depth >= state.max_depth
                self.fail(node, ErrorInfo("DepthError", f"{node.id} too deep"))
                return
            n = rnd.randint(0, policy.max_children)
            sub = random_graph(rnd, n, policy.child_shape, name=node.id)
            children = state.expand(node, sub, dict, self.now)
            assert [c.id for c in children] == [f"{node.id}/{t.id}" for t in sub]
            assert all(c.depth == node.depth + 1 and c.parent is node for c in children)
            assert node.status is (EXPANDED if children else AGGREGATING)
        elif choice <= policy.p_expand + policy.p_fail:
            self.fail(node, ErrorInfo("ValueError", f"{node.id} attempt {node.attempt}"))
        else:
            result = ("r", node.id, node.attempt)
            state.succeed(node, result, self.now)
            assert node.status is DONE and node.result == result

    def fail(self, node: Node, err: ErrorInfo) -> None:
        state = self.state
        attempt, task = node.attempt, node.task
        rand = self.rnd.random()
        delay = state.fail(node, err, self.now, rand)
        assert node.error is err
        if attempt <= task.retries:
            assert delay is not None and node.status is RETRYING
            assert delay == pytest.approx(task.backoff * 2 ** (attempt - 1) * (0.5 + rand))
            self.timers[node] = self.now + delay
        else:
            assert delay is None and node.status is FAILED
            self.after_failure()

    def after_failure(self) -> None:
        if self.state.on_error == "fail_fast":
            assert self.state.finished, "fail_fast left nodes open"
            assert all(n.status in TERMINAL for n in self.state.nodes.values())

    def fire_timer(self) -> None:
        node = self.rnd.choice(list(self.timers))
        self.now = max(self.now, self.timers.pop(node))
        was = node.status
        self.state.retry(node, self.now)
        if was is RETRYING:
            assert node.status is READY
        else:  # cancelled while waiting: the timer does nothing
            assert was is CANCELLED and node.status is CANCELLED


# -- helpers -------------------------------------------------------------------
def descendants(state: RunState, node: Node) -> list[Node]:
    prefix = node.id + "/"
    return [n for n in state.nodes.values() if n.id.startswith(prefix)]


def downstream(node: Node) -> set[Node]:
    """Every node reachable from ``node`` through dependants (not ``node``)."""
    seen: set[Node] = set()
    stack = list(node.dependants)
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(current.dependants)
    return seen


def unfinished(state: RunState) -> dict[str, str]:
    return {n.id: n.status.value for n in state.nodes.values() if n.status not in TERMINAL}


def check_counts(state: RunState) -> None:
    actual = Counter(n.status for n in state.nodes.values())
    assert all(v >= 0 for v in state.counts.values()), state.counts
    assert {s: v for s, v in state.counts.items() if v} == +actual
    assert state.open == sum(v for s, v in actual.items() if s not in TERMINAL)


def check_final(shell: Shell) -> None:
    """Everything that must hold once the simulated shell has nothing left to do."""
    state, checker = shell.state, shell.checker
    nodes = state.nodes
    # every node terminal, the run ended, counts agree
    assert state.finished and state.open == 0
    assert all(n.status in TERMINAL for n in nodes.values()), unfinished(state)
    check_counts(state)
    assert {n.id: n.status for n in nodes.values()} == checker.status
    assert not checker.ready and not checker.running and not checker.aggregating
    assert not shell.inflight
    assert state.schedule(shell.now) == []
    # the run's status, and its events
    status = state.status
    assert status in ENDED and checker.run_status is status
    assert checker.finished_at == checker.last_seq == state.seq
    failed = [n for n in nodes.values() if n.status is FAILED]
    assert (status is RunStatus.FAILED) == bool(failed)
    if status is RunStatus.DONE:
        assert all(n.status is DONE for n in nodes.values())
    if not shell.cancelled and state.on_error == "continue":
        assert not state.counts.get(CANCELLED)
    assert state.ended is not None
    assert state.ended == max((e[5] for e in checker.log if e[3] in TERMINAL), default=state.ended)
    # runs per node: one per attempt, never more than retries + 1
    for n in nodes.values():
        assert n.attempt == checker.attempts[n.id] <= n.task.retries + 1
    # what was skipped: exactly the nodes downstream of a failed or cancelled node
    bad = [n for n in nodes.values() if n.status in (FAILED, CANCELLED)]
    fallout: set[Node] = set()
    for n in bad:
        fallout |= downstream(n)
    skipped = {n for n in nodes.values() if n.status is SKIPPED}
    assert skipped <= fallout
    for n in fallout:
        assert n.status in (SKIPPED, CANCELLED) and n.attempt == 0, n
    if not shell.cancelled and state.on_error == "continue":
        started = {n for n in nodes.values() if n.attempt}
        from_failed: set[Node] = set()
        for n in failed:
            from_failed |= downstream(n)
        assert skipped == from_failed - started
    # results, errors, times
    last_time = {}
    for _, nid, old, new, _, now in checker.log:
        if nid is not None and not (old is WAITING and new is RUNNING):  # resuming: no restart
            last_time[nid, new] = now
    for n in nodes.values():
        assert n.ended == last_time[n.id, n.status]
        if n.attempt:
            assert n.started == last_time[n.id, RUNNING]
        if n.status is DONE:
            if n.children is None:
                assert n.result == ("r", n.id, n.attempt)
            else:
                assert n.result == {c.task.id: c.result for c in n.children}
        if n.status is FAILED:
            assert n.error is not None
            if n.error.type == "ChildFailed":
                assert n.children and any(c.status is FAILED for c in n.children)
    # expansions: children under their parent, parents end after their children
    for n in nodes.values():
        if n.parent is not None:
            assert n.parent.children is not None and n in n.parent.children
            assert n.depth == n.parent.depth + 1 <= state.max_depth
        if n.children:
            if n.status is DONE:
                assert all(c.status is DONE for c in n.children)
            assert all(c.status in TERMINAL for c in n.children)
    # the wire picture agrees
    snap = state.snapshot("r", 0.0, 0.0)
    assert snap["run"]["status"] == status.value
    assert snap["run"]["total"] == len(nodes) == sum(snap["run"]["counts"].values())
    assert {i: s["status"] for i, s in snap["nodes"].items()} == {
        n.id: n.status.value for n in nodes.values()
    }
    assert sorted(map(tuple, state.edges())) == sorted(
        (u.id, n.id) for n in nodes.values() for u in n.upstream
    )


def simulate(
    rnd: random.Random,
    n: int,
    *,
    shape: Shape = Shape(),
    policy: Policy = Policy(),
    max_concurrency: int = 4,
    limits: dict[str, int] | None = None,
    on_error: str = "continue",
    max_depth: int = 2,
) -> Shell:
    graph = random_graph(rnd, n, shape)
    state = RunState(
        graph,
        max_concurrency=max_concurrency,
        limits=limits,
        on_error=on_error,
        max_depth=max_depth,
    )
    shell = Shell(state, rnd, policy).run()
    check_final(shell)
    note_coverage(shell)
    return shell


def note_coverage(shell: Shell) -> None:
    """Label the example for ``--hypothesis-show-statistics``."""
    log = shell.checker.log
    event(f"run {shell.state.status.value}")
    seen = {(old, new) for _, nid, old, new, _, _ in log if nid is not None}
    for label, pair in (
        ("retried", (RUNNING, RETRYING)),
        ("expanded", (RUNNING, EXPANDED)),
        ("aggregated", (AGGREGATING, DONE)),
        ("child failed parent", (EXPANDED, FAILED)),
        ("skipped", (PENDING, SKIPPED)),
        ("cancelled while running", (RUNNING, CANCELLED)),
        ("cancelled while expanded", (EXPANDED, CANCELLED)),
    ):
        if pair in seen:
            event(label)
    if any(e[1] is None and e[3] is RunStatus.PAUSED for e in log):
        event("paused")
    if any(
        n.error is not None and n.error.type == "DepthError" for n in shell.state.nodes.values()
    ):
        event("hit max_depth")


# -- strategies ----------------------------------------------------------------
limits_st = st.dictionaries(st.sampled_from(LIMITABLE), st.integers(1, 3), max_size=3)
on_error_st = st.sampled_from(("continue", "fail_fast"))
shapes_st = st.builds(
    Shape,
    max_deps=st.integers(0, 4),
    window=st.integers(1, 10),
    multi_tag=st.booleans(),
    shuffle=st.booleans(),
    max_retries=st.integers(0, 2),
)
# the simulated shell's choices come from random.Random(seed): a failing seed replays
# exactly, and shrinking (which only shrinks sizes and options) stays fast
seeds_st = st.integers(0, 2**32 - 1)
SMALL = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    report_multiple_bugs=False,
)


# -- properties ----------------------------------------------------------------
@SMALL
@given(
    seed=seeds_st,
    n=st.integers(0, 25),
    shape=shapes_st,
    max_concurrency=st.integers(1, 5),
    limits=limits_st,
    on_error=on_error_st,
    max_depth=st.integers(0, 3),
    p_fail=st.sampled_from((0.0, 0.2, 0.5)),
    p_expand=st.sampled_from((0.0, 0.15, 0.4)),
)
def test_random_runs_keep_every_invariant(
    seed: int,
    n: int,
    shape: Shape,
    max_concurrency: int,
    limits: dict[str, int],
    on_error: str,
    max_depth: int,
    p_fail: float,
    p_expand: float,
) -> None:
    policy = Policy(p_fail=p_fail, p_expand=p_expand)
    simulate(
        random.Random(seed),
        n,
        shape=shape,
        policy=policy,
        max_concurrency=max_concurrency,
        limits=limits,
        on_error=on_error,
        max_depth=max_depth,
    )


@SMALL
@given(
    seed=seeds_st,
    n=st.integers(0, 25),
    shape=shapes_st,
    max_concurrency=st.integers(1, 5),
    limits=limits_st,
    on_error=on_error_st,
    p_ask=st.sampled_from((0.2, 0.5, 0.9)),
    p_answer=st.sampled_from((0.1, 0.5)),
)
def test_questions_keep_every_invariant(
    seed: int,
    n: int,
    shape: Shape,
    max_concurrency: int,
    limits: dict[str, int],
    on_error: str,
    p_ask: float,
    p_answer: float,
) -> None:
    """Nodes that ask wait without a slot, resume first when answered, cancel cleanly."""
    policy = Policy(p_ask=p_ask, p_answer=p_answer)
    shell = simulate(
        random.Random(seed),
        n,
        shape=shape,
        policy=policy,
        max_concurrency=max_concurrency,
        limits=limits,
        on_error=on_error,
    )
    assert not shell.waiting
    if shell.resumed:
        event("a node resumed after an answer")


@SMALL
@given(
    seed=seeds_st,
    n=st.integers(0, 25),
    shape=shapes_st,
    max_concurrency=st.integers(1, 5),
    limits=limits_st,
    p_fail=st.sampled_from((0.1, 0.3, 0.6)),
)
def test_continue_skips_exactly_what_is_downstream_of_failures(
    seed: int,
    n: int,
    shape: Shape,
    max_concurrency: int,
    limits: dict[str, int],
    p_fail: float,
) -> None:
    policy = Policy(p_fail=p_fail, p_expand=0.15, pauses=2, cancel_nodes=0, cancel=False)
    shell = simulate(
        random.Random(seed),
        n,
        shape=shape,
        policy=policy,
        max_concurrency=max_concurrency,
        limits=limits,
    )
    # check_final asserts the exact SKIPPED set for this configuration
    assert not shell.cancelled


@SMALL
@given(
    seed=seeds_st,
    n=st.integers(0, 25),
    shape=shapes_st,
    max_concurrency=st.integers(1, 5),
    limits=limits_st,
    on_error=on_error_st,
    p_expand=st.sampled_from((0.0, 0.2)),
)
def test_schedule_starts_by_priority_then_readiness_within_the_limits(
    seed: int,
    n: int,
    shape: Shape,
    max_concurrency: int,
    limits: dict[str, int],
    on_error: str,
    p_expand: float,
) -> None:
    """Every schedule() call starts exactly what a greedy pass over the READY
    nodes (priority desc, then the order they became ready) starts, skipping a
    node one of whose limited tags is full and stopping when max_concurrency is
    reached."""
    child_shape = Shape(max_deps=2, window=3, max_retries=1)
    policy = Policy(p_expand=p_expand, child_shape=child_shape, model_schedule=True)
    simulate(
        random.Random(seed),
        n,
        shape=shape,
        policy=policy,
        max_concurrency=max_concurrency,
        limits=limits,
        on_error=on_error,
    )


@SMALL
@given(
    seed=seeds_st,
    n=st.integers(0, 25),
    shape=shapes_st,
    max_concurrency=st.integers(1, 5),
    limits=limits_st,
    on_error=on_error_st,
)
def test_cancellations_end_what_they_should(
    seed: int,
    n: int,
    shape: Shape,
    max_concurrency: int,
    limits: dict[str, int],
    on_error: str,
) -> None:
    """cancel_node ends its node and children (the running ones go to to_abort), skips
    what depends on it; cancel ends everything; late retry timers do nothing."""
    policy = Policy(p_fail=0.3, p_expand=0.3, cancel_nodes=5, p_control=0.15, pauses=2)
    simulate(
        random.Random(seed),
        n,
        shape=shape,
        policy=policy,
        max_concurrency=max_concurrency,
        limits=limits,
        on_error=on_error,
    )


@settings(max_examples=50, deadline=None)
@given(seed=seeds_st, n=st.integers(1, 40), on_error=on_error_st)
def test_same_choices_give_the_same_run(seed: int, n: int, on_error: str) -> None:
    def events() -> list[tuple[Any, ...]]:
        shell = simulate(random.Random(seed), n, on_error=on_error, limits={"gpu": 1, "io": 2})
        return shell.checker.log

    assert events() == events()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=seeds_st,
    n=st.integers(1000, 3000),
    window=st.sampled_from((2, 10, 200, 3000)),
    max_deps=st.integers(1, 4),
    max_concurrency=st.sampled_from((1, 4, 32, 500)),
    limits=limits_st,
    on_error=on_error_st,
    multi_tag=st.booleans(),
    p_fail=st.sampled_from((0.0, 0.002, 0.02, 0.1)),
    user=st.sampled_from(("none", "pauses", "cancels")),
)
def test_large_random_graphs_run_to_the_end(
    seed: int,
    n: int,
    window: int,
    max_deps: int,
    max_concurrency: int,
    limits: dict[str, int],
    on_error: str,
    multi_tag: bool,
    p_fail: float,
    user: str,
) -> None:
    shape = Shape(max_deps=max_deps, window=window, multi_tag=multi_tag, shuffle=seed % 2 == 0)
    policy = Policy(
        p_fail=p_fail,
        p_expand=0.02,
        p_agg_fail=min(1.0, 2 * p_fail),
        max_expansions=20,
        child_shape=Shape(max_deps=2, window=3, multi_tag=multi_tag, max_retries=1),
        max_children=6,
        p_control=0.002,
        pauses=0 if user == "none" else 6,
        cancel_nodes=3 if user == "cancels" else 0,
        cancel=user == "cancels",
        model_schedule=not multi_tag,
        deep=False,
    )
    shell = simulate(
        random.Random(seed),
        n,
        shape=shape,
        policy=policy,
        max_concurrency=max_concurrency,
        limits=limits,
        on_error=on_error,
        max_depth=3,
    )
    assert len(shell.state.nodes) >= n


# -- regressions -------------------------------------------------------------
# Each test below is a small case of a defect the properties above once found.
def _tagged_graph() -> Graph:
    g = Graph()
    g.add("za", work, tags=["gpu"], priority=9)
    g.add("zb", work, tags=["io"], priority=9)
    g.add("x", work, tags=["gpu", "io"], priority=5)
    g.add("y", work, tags=["gpu"], priority=0)
    return g


def test_cancelling_a_parked_node_does_not_strand_the_others() -> None:
    s = RunState(_tagged_graph(), limits={"gpu": 1, "io": 1})
    n = s.nodes
    s.start(0.0)
    assert [x.id for x in s.schedule(0.0)] == ["za", "zb"]  # x, y parked on gpu
    s.cancel_node(n["x"], 0.5)  # x waits for gpu; cancelling it must not take the wake-up
    s.succeed(n["za"], None, 1.0)  # frees gpu
    assert [x.id for x in s.schedule(1.0)] == ["y"]
    s.succeed(n["zb"], None, 2.0)
    s.succeed(n["y"], None, 3.0)
    assert s.finished and s.status is RunStatus.CANCELLED


def test_a_free_tag_slot_is_not_left_idle() -> None:
    s = RunState(_tagged_graph(), limits={"gpu": 1, "io": 1})
    n = s.nodes
    s.start(0.0)
    s.schedule(0.0)
    s.succeed(n["za"], None, 1.0)
    assert s.tag_running == {"gpu": 0, "io": 1}
    assert [x.id for x in s.schedule(1.0)] == ["y"]  # gpu is free and y needs only gpu


@pytest.mark.parametrize("case", ["empty graph", "paused before start"])
def test_run_events_form_a_chain(case: str) -> None:
    g = Graph()
    if case != "empty graph":
        g.add("a", work)
    s = RunState(g)
    s.record = True
    if case == "paused before start":
        s.pause(0.0)
    s.start(0.0)
    run_events = [(old, new) for _, nid, old, new, _, _ in s.events if nid is None]
    # e.g. empty graph: [(None, DONE), (RUNNING, DONE)]
    for (_, new), (old, _) in itertools.pairwise(run_events):
        assert old == new, run_events


def test_cancel_after_the_end_keeps_the_status() -> None:
    g = Graph()
    g.add("a", work)
    s = RunState(g)
    s.record = True
    s.start(0.0)
    (a,) = s.schedule(0.0)
    s.succeed(a, 1, 1.0)
    assert s.status is RunStatus.DONE
    s.cancel(2.0)
    assert s.status is RunStatus.DONE, [e for e in s.events if e[1] is None]


def test_a_repeated_tag_counts_once() -> None:
    g = Graph()
    g.add("x", work, tags=["gpu", "gpu"])
    g.add("y", work, tags=["gpu"])
    s = RunState(g, limits={"gpu": 2})
    s.start(0.0)
    assert [n.id for n in s.schedule(0.0)] == ["x", "y"]
