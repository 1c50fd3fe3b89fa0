"""The pure state machine on tiny graphs: whole states after each step."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from taskbeam import ErrorInfo, Graph, IllegalTransition, RunStatus, Status
from taskbeam.engine._state import Node, RunState

BOOM = ErrorInfo("ValueError", "boom", "Traceback ...")


def work(**deps: Any) -> None:
    """Stands in for every task: takes any dependency results."""


def statuses(state: RunState) -> dict[str, str]:
    return {n.id: n.status.value for n in state.nodes.values()}


def ids(nodes: Iterable[Node]) -> list[str]:
    return [n.id for n in nodes]


def events(state: RunState) -> list[tuple[str | None, str | None, str, int, float]]:
    """Recorded events without their seq (checked here to count 1, 2, 3, ...)."""
    assert [e[0] for e in state.events] == list(range(1, len(state.events) + 1))
    return [(nid, old and str(old), str(new), a, t) for _, nid, old, new, a, t in state.events]


def test_worked_example_of_the_docstring() -> None:
    # a -> b, a -> c with max_concurrency=1, b fails
    g = Graph("ex")
    g.add("a", work)
    g.add("b", work, ["a"])
    g.add("c", work, ["a"])
    s = RunState(g, max_concurrency=1)
    s.record = True
    n = s.nodes
    s.start(0.0)
    assert statuses(s) == {"a": "ready", "b": "pending", "c": "pending"}
    assert ids(s.schedule(0.0)) == ["a"]
    s.succeed(n["a"], 1, 1.0)
    assert statuses(s) == {"a": "done", "b": "ready", "c": "ready"}
    assert ids(s.schedule(1.0)) == ["b"]  # same priority: b was added first
    assert s.schedule(1.0) == []  # c waits for the slot
    assert s.fail(n["b"], BOOM, 2.0, 0.5) is None
    assert statuses(s) == {"a": "done", "b": "failed", "c": "ready"}
    assert ids(s.schedule(2.0)) == ["c"]
    s.succeed(n["c"], 3, 3.0)
    assert s.finished and s.open == 0 and s.status is RunStatus.FAILED
    assert events(s) == [
        (None, None, "running", 0, 0.0),
        ("a", "pending", "ready", 0, 0.0),
        ("a", "ready", "running", 1, 0.0),
        ("a", "running", "done", 1, 1.0),
        ("b", "pending", "ready", 0, 1.0),
        ("c", "pending", "ready", 0, 1.0),
        ("b", "ready", "running", 1, 1.0),
        ("b", "running", "failed", 1, 2.0),
        ("c", "ready", "running", 1, 2.0),
        ("c", "running", "done", 1, 3.0),
        (None, "running", "failed", 0, 3.0),
    ]
    assert s.snapshot("r1", 0.0, 100.0) == {
        "run": {
            "id": "r1",
            "name": "ex",
            "status": "failed",
            "counts": {"pending": 0, "ready": 0, "running": 0, "done": 2, "failed": 1},
            "total": 3,
            "created": 100.0,
            "ended": 3.0,
        },
        "nodes": {
            "a": {"status": "done", "attempt": 1, "started": 0.0, "ended": 1.0, "preview": "1"},
            "b": {
                "status": "failed",
                "attempt": 1,
                "started": 1.0,
                "ended": 2.0,
                "error": {"type": "ValueError", "message": "boom"},
            },
            "c": {"status": "done", "attempt": 1, "started": 2.0, "ended": 3.0, "preview": "3"},
        },
        "edges": [["a", "b"], ["a", "c"]],
    }


def test_priority_then_readiness_decides_the_order() -> None:
    g = Graph()
    for name, priority in (("low", -1), ("mid1", 0), ("high", 5), ("mid2", 0)):
        g.add(name, work, priority=priority)
    s = RunState(g, max_concurrency=1)
    s.start(0.0)
    order = []
    while not s.finished:
        (node,) = s.schedule(0.0)
        order.append(node.id)
        s.succeed(node, None, 0.0)
    assert order == ["high", "mid1", "mid2", "low"]


def test_tag_limit_holds_back_only_the_tagged() -> None:
    g = Graph()
    g.add("g1", work, tags=["gpu"], priority=2)
    g.add("g2", work, tags=["gpu", "misc"], priority=1)
    g.add("free", work)
    s = RunState(g, limits={"gpu": 1})
    n = s.nodes
    s.start(0.0)
    assert ids(s.schedule(0.0)) == ["g1", "free"]
    assert (s.running, s.tag_running) == (2, {"gpu": 1})
    assert statuses(s) == {"g1": "running", "g2": "ready", "free": "running"}
    s.succeed(n["free"], None, 1.0)
    assert s.schedule(1.0) == []  # a free slot, but gpu is full
    s.succeed(n["g1"], None, 2.0)
    assert ids(s.schedule(2.0)) == ["g2"]
    assert (s.running, s.tag_running) == (1, {"gpu": 1})
    s.succeed(n["g2"], None, 3.0)
    assert (s.running, s.tag_running, s.status) == (0, {"gpu": 0}, RunStatus.DONE)


def test_failure_with_retries_backs_off_and_then_fails() -> None:
    g = Graph()
    g.add("a", work, retries=2, backoff=1.0)
    g.add("b", work, ["a"])
    s = RunState(g)
    s.record = True
    a = s.nodes["a"]
    s.start(0.0)
    s.schedule(0.0)
    assert s.fail(a, BOOM, 1.0, 0.0) == 0.5  # 1.0 * 2**0 * (0.5 + 0.0)
    assert (a.status, a.attempt, s.running) == (Status.RETRYING, 1, 0)
    assert s.node_summary(a, 0.0) == {
        "status": "retrying",
        "attempt": 1,
        "started": 0.0,
        "error": {"type": "ValueError", "message": "boom"},
        "attempts": [[0.0, 1.0, "failed"]],  # the attempt that failed, for the timeline
    }
    assert s.schedule(1.0) == []  # not before the retry
    s.retry(a, 1.5)
    assert ids(s.schedule(1.5)) == ["a"]
    assert s.fail(a, BOOM, 2.0, 0.5) == 2.0  # 1.0 * 2**1 * (0.5 + 0.5)
    s.retry(a, 4.0)
    s.schedule(4.0)
    assert s.fail(a, BOOM, 5.0, 0.9) is None  # third run: no retries left
    assert statuses(s) == {"a": "failed", "b": "skipped"}
    assert s.status is RunStatus.FAILED
    assert [e for e in events(s) if e[0] == "a"] == [
        ("a", "pending", "ready", 0, 0.0),
        ("a", "ready", "running", 1, 0.0),
        ("a", "running", "retrying", 1, 1.0),
        ("a", "retrying", "ready", 1, 1.5),
        ("a", "ready", "running", 2, 1.5),
        ("a", "running", "retrying", 2, 2.0),
        ("a", "retrying", "ready", 2, 4.0),
        ("a", "ready", "running", 3, 4.0),
        ("a", "running", "failed", 3, 5.0),
    ]
    assert s.node_summary(a, 0.0) == {
        "status": "failed",
        "attempt": 3,
        "started": 4.0,
        "ended": 5.0,
        "error": {"type": "ValueError", "message": "boom"},
        "attempts": [[0.0, 1.0, "failed"], [1.5, 2.0, "failed"]],
    }


def test_a_retry_that_succeeds_ends_done() -> None:
    g = Graph()
    g.add("a", work, retries=1, backoff=0.0)
    s = RunState(g)
    a = s.nodes["a"]
    s.start(0.0)
    s.schedule(0.0)
    assert s.fail(a, BOOM, 1.0, 0.3) == 0.0
    s.retry(a, 1.0)
    s.schedule(1.0)
    s.succeed(a, "ok", 2.0)
    assert s.node_summary(a, 0.0) == {
        "status": "done",
        "attempt": 2,
        "started": 1.0,
        "ended": 2.0,
        "preview": "'ok'",
        "attempts": [[0.0, 1.0, "failed"]],
    }
    assert s.status is RunStatus.DONE


def test_fail_fast_cancels_everything_open() -> None:
    g = Graph()
    g.add("a", work, priority=2)
    g.add("b", work, priority=1)
    g.add("c", work, ["a"])
    g.add("d", work)
    s = RunState(g, max_concurrency=2, on_error="fail_fast")
    n = s.nodes
    s.start(0.0)
    assert ids(s.schedule(0.0)) == ["a", "b"]
    assert s.fail(n["a"], BOOM, 1.0) is None
    assert statuses(s) == {"a": "failed", "b": "cancelled", "c": "skipped", "d": "cancelled"}
    assert ids(s.to_abort) == ["b"]  # the running one; d was only READY
    assert (s.finished, s.status, s.running, s.ended) == (True, RunStatus.FAILED, 0, 1.0)
    assert s.schedule(1.0) == []


def test_continue_skips_only_what_depends_on_the_failure() -> None:
    g = Graph()
    g.add("a", work)
    g.add("b", work, ["a"])
    g.add("c", work, ["b"])
    g.add("d", work)
    g.add("e", work, ["c", "d"])
    s = RunState(g)
    n = s.nodes
    s.start(0.0)
    assert ids(s.schedule(0.0)) == ["a", "d"]
    s.fail(n["a"], BOOM, 1.0)
    assert statuses(s) == {
        "a": "failed",
        "b": "skipped",
        "c": "skipped",
        "d": "running",
        "e": "skipped",
    }
    assert not s.finished and s.status is RunStatus.RUNNING
    s.succeed(n["d"], 4, 2.0)
    assert s.finished and s.status is RunStatus.FAILED
    assert {s.value: c for s, c in s.counts.items() if c} == {"done": 1, "failed": 1, "skipped": 3}


def test_expand_runs_children_then_aggregates() -> None:
    g = Graph()
    g.add("p", work)
    g.add("q", work, ["p"])
    sub = Graph()
    sub.add("x", work)
    sub.add("y", work, ["x"])
    s = RunState(g, max_concurrency=1)
    s.record = True
    n = s.nodes
    s.start(0.0)
    s.schedule(0.0)
    children = s.expand(n["p"], sub, dict, 1.0)
    assert ids(children) == ["p/x", "p/y"]
    assert [(c.depth, c.parent) for c in children] == [(1, n["p"]), (1, n["p"])]
    assert s.running == 0  # an expanded node gives its slot back
    assert statuses(s) == {"p": "expanded", "q": "pending", "p/x": "ready", "p/y": "pending"}
    assert ids(s.schedule(1.0)) == ["p/x"]
    s.succeed(n["p/x"], 10, 2.0)
    assert ids(s.schedule(2.0)) == ["p/y"]
    s.succeed(n["p/y"], 20, 3.0)
    assert statuses(s)["p"] == "aggregating"
    assert ids(s.to_aggregate) == ["p"]
    assert s.child_results(n["p"]) == {"x": 10, "y": 20}
    assert s.schedule(3.0) == []  # q waits for the aggregate
    s.succeed(n["p"], {"x": 10, "y": 20}, 4.0)
    assert ids(s.schedule(4.0)) == ["q"]
    s.succeed(n["q"], None, 5.0)
    assert s.status is RunStatus.DONE
    assert s.edges() == [["p", "q"], ["p/x", "p/y"]]
    assert [e for e in events(s) if e[0] and e[0].startswith("p")] == [
        ("p", "pending", "ready", 0, 0.0),
        ("p", "ready", "running", 1, 0.0),
        ("p", "running", "expanded", 1, 1.0),
        ("p/x", None, "pending", 0, 1.0),
        ("p/y", None, "pending", 0, 1.0),
        ("p/x", "pending", "ready", 0, 1.0),
        ("p/x", "ready", "running", 1, 1.0),
        ("p/x", "running", "done", 1, 2.0),
        ("p/y", "pending", "ready", 0, 2.0),
        ("p/y", "ready", "running", 1, 2.0),
        ("p/y", "running", "done", 1, 3.0),
        ("p", "expanded", "aggregating", 1, 3.0),
        ("p", "aggregating", "done", 1, 4.0),
    ]


def test_an_empty_expansion_aggregates_at_once() -> None:
    g = Graph()
    g.add("p", work)
    s = RunState(g)
    p = s.nodes["p"]
    s.start(0.0)
    s.schedule(0.0)
    assert s.expand(p, Graph(), dict, 1.0) == []
    assert (p.status, ids(s.to_aggregate), s.child_results(p)) == (Status.AGGREGATING, ["p"], {})
    s.succeed(p, {}, 2.0)
    assert s.status is RunStatus.DONE


def test_a_failed_child_fails_its_parent_once_all_children_ended() -> None:
    g = Graph()
    g.add("p", work, retries=3)  # retries are for runs, not for children
    g.add("q", work, ["p"])
    sub = Graph()
    sub.add("x", work)
    sub.add("y", work)
    sub.add("z", work, ["x"])
    s = RunState(g)
    n = s.nodes
    s.start(0.0)
    s.schedule(0.0)
    s.expand(n["p"], sub, dict, 1.0)
    assert ids(s.schedule(1.0)) == ["p/x", "p/y"]
    assert s.fail(n["p/x"], BOOM, 2.0) is None
    assert statuses(s) == {
        "p": "expanded",  # p/y still runs
        "q": "pending",
        "p/x": "failed",
        "p/y": "running",
        "p/z": "skipped",
    }
    s.succeed(n["p/y"], 1, 3.0)
    assert statuses(s) == {
        "p": "failed",
        "q": "skipped",
        "p/x": "failed",
        "p/y": "done",
        "p/z": "skipped",
    }
    assert n["p"].error == ErrorInfo("ChildFailed", "child 'p/x' failed: ValueError: boom")
    assert s.status is RunStatus.FAILED and s.finished


def test_a_failing_aggregator_fails_the_parent_without_retry() -> None:
    g = Graph()
    g.add("p", work, retries=2)
    s = RunState(g)
    p = s.nodes["p"]
    s.start(0.0)
    s.schedule(0.0)
    sub = Graph()
    sub.add("x", work)
    s.expand(p, sub, dict, 1.0)
    s.schedule(1.0)
    s.succeed(s.nodes["p/x"], 1, 2.0)
    assert p.status is Status.AGGREGATING
    assert s.fail(p, BOOM, 3.0) is None
    assert statuses(s) == {"p": "failed", "p/x": "done"}
    assert s.status is RunStatus.FAILED


def test_cancel_node_of_an_expanded_parent() -> None:
    g = Graph()
    g.add("p", work)
    g.add("q", work, ["p"])
    g.add("r", work)
    sub = Graph()
    sub.add("x", work)
    sub.add("y", work, ["x"])
    sub.add("w", work)
    s = RunState(g, max_concurrency=2)
    n = s.nodes
    s.start(0.0)
    assert ids(s.schedule(0.0)) == ["p", "r"]
    s.expand(n["p"], sub, dict, 1.0)
    assert ids(s.schedule(1.0)) == ["p/x"]  # p/w waits for a slot
    s.cancel_node(n["p"], 2.0)
    assert statuses(s) == {
        "p": "cancelled",
        "q": "skipped",
        "r": "running",
        "p/x": "cancelled",
        "p/y": "cancelled",
        "p/w": "cancelled",
    }
    assert ids(s.to_abort) == ["p/x"]
    assert (s.running, s.open, s.status) == (1, 1, RunStatus.RUNNING)
    assert s.schedule(2.0) == []
    s.succeed(n["r"], None, 3.0)
    assert s.finished and s.status is RunStatus.CANCELLED


def test_cancel_node_of_a_child_cancels_the_parent_when_it_was_the_last() -> None:
    g = Graph()
    g.add("p", work)
    s = RunState(g)
    n = s.nodes
    s.start(0.0)
    s.schedule(0.0)
    sub = Graph()
    sub.add("x", work)
    sub.add("y", work)
    s.expand(n["p"], sub, dict, 1.0)
    s.schedule(1.0)
    s.succeed(n["p/x"], 1, 2.0)
    s.cancel_node(n["p/y"], 3.0)
    assert statuses(s) == {"p": "cancelled", "p/x": "done", "p/y": "cancelled"}
    assert ids(s.to_abort) == ["p/y"]
    assert s.status is RunStatus.CANCELLED


def test_cancel_node_of_an_ended_node_does_nothing() -> None:
    g = Graph()
    g.add("a", work)
    g.add("b", work)
    s = RunState(g)
    s.record = True
    s.start(0.0)
    s.schedule(0.0)
    s.succeed(s.nodes["a"], 1, 1.0)
    before = list(s.events)
    s.cancel_node(s.nodes["a"], 2.0)
    assert s.events == before and s.to_abort == []
    assert statuses(s) == {"a": "done", "b": "running"}


def test_cancel_ends_every_open_node() -> None:
    g = Graph()
    g.add("a", work, retries=1)
    g.add("b", work)
    g.add("c", work, ["b"])
    g.add("d", work)
    s = RunState(g, max_concurrency=2)
    n = s.nodes
    s.start(0.0)
    assert ids(s.schedule(0.0)) == ["a", "b"]
    assert s.fail(n["a"], BOOM, 1.0, 0.5) is not None  # a RETRYING
    s.cancel(2.0)
    assert statuses(s) == {"a": "cancelled", "b": "cancelled", "c": "cancelled", "d": "cancelled"}
    assert ids(s.to_abort) == ["b"]
    assert (s.finished, s.status, s.cancelled, s.running) == (True, RunStatus.CANCELLED, True, 0)
    s.retry(n["a"], 3.0)  # the backoff timer fires late: nothing happens
    assert n["a"].status is Status.CANCELLED and s.schedule(3.0) == []


def test_pause_prevents_scheduling_until_resume() -> None:
    g = Graph()
    g.add("a", work)
    g.add("b", work, ["a"])
    s = RunState(g)
    s.record = True
    n = s.nodes
    s.start(0.0)
    s.pause(0.5)
    assert s.status is RunStatus.PAUSED
    assert s.schedule(0.5) == []
    s.resume(1.0)
    assert ids(s.schedule(1.0)) == ["a"]
    s.pause(1.5)
    s.succeed(n["a"], 1, 2.0)  # running nodes finish while paused
    assert statuses(s) == {"a": "done", "b": "ready"}
    assert s.schedule(2.0) == []
    s.pause(2.5)  # pausing twice: no new event
    s.resume(3.0)
    assert ids(s.schedule(3.0)) == ["b"]
    s.pause(3.5)
    s.succeed(n["b"], 2, 4.0)  # the last node ends while paused: the run is done
    assert s.status is RunStatus.DONE
    assert [e for e in events(s) if e[0] is None] == [
        (None, None, "running", 0, 0.0),
        (None, "running", "paused", 0, 0.5),
        (None, "paused", "running", 0, 1.0),
        (None, "running", "paused", 0, 1.5),
        (None, "paused", "running", 0, 3.0),
        (None, "running", "paused", 0, 3.5),
        (None, "paused", "done", 0, 4.0),
    ]


@pytest.mark.parametrize(("max_depth", "expected"), [(0, []), (1, [True]), (2, [True, True])])
def test_max_depth_bounds_nested_expansion(max_depth: int, expected: list[bool]) -> None:
    g = Graph()
    g.add("p", work)
    s = RunState(g, max_depth=max_depth)
    node = s.nodes["p"]
    s.start(0.0)
    s.schedule(0.0)
    allowed = []
    while s.can_expand(node):
        allowed.append(True)
        sub = Graph()
        sub.add("c", work)
        (node,) = s.expand(node, sub, dict, 1.0)
        assert ids(s.schedule(1.0)) == [node.id]
    assert allowed == expected
    assert node.depth == max_depth
    assert node.id == "/".join(["p", *["c"] * max_depth])


def test_constructor_rejects_bad_options() -> None:
    g = Graph()
    with pytest.raises(ValueError, match="on_error"):
        RunState(g, on_error="ignore")
    with pytest.raises(ValueError, match="max_concurrency"):
        RunState(g, max_concurrency=0)
    with pytest.raises(ValueError, match="max_depth"):
        RunState(g, max_depth=-1)
    with pytest.raises(ValueError, match="gpu"):
        RunState(g, limits={"gpu": 0})


def test_an_illegal_transition_raises() -> None:
    g = Graph()
    g.add("a", work)
    s = RunState(g)
    with pytest.raises(IllegalTransition, match="'a': pending -> done"):
        s.succeed(s.nodes["a"], 1, 0.0)
    s.start(0.0)
    with pytest.raises(IllegalTransition, match="'a': ready -> expanded"):
        s.expand(s.nodes["a"], Graph(), dict, 0.0)
