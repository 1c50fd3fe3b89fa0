"""``tb.GraphView(tb.compare(a, b))``: what the kernel sends a view of a comparison.

The front end here is the widget tests' ``FrontEnd`` (what would go to the
browser is recorded): the view's snapshot is the union of the two runs'
graphs, each node carrying its difference class; ``node_details`` answers
with both sides; the controls of a run are refused. The drawing itself is
covered by js/test/compare.test.js and tests/e2e/test_comparison_view.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_compare import planner
from tests.integration.test_widget import FrontEnd

import taskbeam as tb


@pytest.fixture
def broadcaster() -> Any:
    with tb.Broadcaster(max_delay_ms=10) as b:
        yield b


def shown(
    comparison: tb.Comparison, broadcaster: tb.Broadcaster
) -> tuple[FrontEnd, dict[str, Any]]:
    """A view of ``comparison`` and the state its front end holds once it asked for it."""
    view = tb.GraphView(comparison, broadcaster=broadcaster)
    front = FrontEnd(view)
    front.resync()
    return front, front.settle()


def classes(state: dict[str, Any]) -> dict[str, str]:
    return {i: n["compare"]["class"] for i, n in state["nodes"].items()}


def details(front: FrontEnd, node: str) -> dict[str, Any]:
    answer = front.answer(front.ask({"type": "node_details", "node_id": node}))
    assert answer["type"] == "node_details", answer
    found: dict[str, Any] = answer["details"]
    return found


def test_equal_runs_are_one_graph_of_equal_nodes(broadcaster: tb.Broadcaster) -> None:
    a = tb.start(planner(["a", "b"])).wait(20)
    b = tb.start(planner(["a", "b"])).wait(20)
    front, state = shown(tb.compare(a, b), broadcaster)
    assert set(classes(state).values()) == {"equal"}
    run = state["run"]
    assert run["id"] == f"compare:{a.id}:{b.id}" == front.view.run_id
    assert run["stored"] is True  # frozen: no controls, no clock
    assert run["compare"]["a"]["id"] == a.id and run["compare"]["b"]["id"] == b.id
    assert run["compare"]["classes"] == {
        "equal": 5, "changed": 0, "status": 0, "added": 0, "removed": 0, "unknown": 0,
    }  # fmt: skip
    # b's nodes as b's snapshot has them, each with its class beside.
    snap_b = b.snapshot()
    for node_id, node in state["nodes"].items():
        assert {k: v for k, v in node.items() if k != "compare"} == snap_b["nodes"][node_id]
        assert node["compare"]["status_a"] == node["compare"]["status_b"] == "done"
    assert sorted(map(tuple, state["edges"])) == sorted(map(tuple, snap_b["edges"]))
    assert front.view.mode == "compare"
    assert repr(front.view) == f"<GraphView of the comparison {a.id} → {b.id}>"
    front.view.close()


def test_a_changed_result_and_the_children_a_planner_added_or_removed(
    broadcaster: tb.Broadcaster,
) -> None:
    a = tb.start(planner(["a", "b"])).wait(20)
    b = a.rerun(graph=planner(["b", "c"], value=2)).wait(20)
    front, state = shown(tb.compare(a, b), broadcaster)
    assert classes(state) == {
        "plan": "changed",
        "check": "changed",
        "final": "changed",
        "plan/a": "removed",
        "plan/b": "equal",
        "plan/c": "added",
    }
    nodes = state["nodes"]
    # The removed child hangs in its box, as a had it; the added one as b has it.
    assert nodes["plan/a"]["parent"] == "plan" == nodes["plan/c"]["parent"]
    assert nodes["plan/a"]["compare"] == {"class": "removed", "kind": "removed", "status_a": "done"}
    assert nodes["plan/c"]["compare"] == {"class": "added", "kind": "added", "status_b": "done"}
    assert nodes["plan/a"]["preview"] == "'A'"  # a's summary
    # b reused plan/b from a: its reuse mark stays (drawn pale and dashed), and says so.
    assert nodes["plan/b"]["cached"] == {"run": a.id, "node": "plan/b"}
    assert nodes["plan/b"]["compare"]["reused_b"] is True
    assert state["run"]["compare"]["reused_b"] == 1
    assert state["run"]["total"] == 6 and state["run"]["counts"] == {"done": 6}
    for u, v in state["edges"]:
        assert u in nodes and v in nodes

    plan = details(front, "plan")
    assert plan["a"]["result"] == "'A,B'" and plan["b"]["result"] == "'B,C'"
    assert plan["a"]["children"] == ["plan/a", "plan/b"]
    assert plan["b"]["children"] == ["plan/b", "plan/c"]
    removed = details(front, "plan/a")
    assert "b" not in removed and removed["a"]["result"] == "'A'"
    added = details(front, "plan/c")
    assert "a" not in added and added["b"]["result"] == "'C'"
    reused = details(front, "plan/b")
    assert reused["b"]["cached"] == {"run": a.id, "node": "plan/b"} and "cached" not in reused["a"]
    front.view.close()


def test_a_failed_node_against_a_done_one(broadcaster: tb.Broadcaster) -> None:
    a = tb.start(planner(["a"], value=1)).wait(20)
    b = tb.start(planner(["a"], value=-1)).wait(20)
    front, state = shown(tb.compare(a, b), broadcaster)
    check = state["nodes"]["check"]
    assert check["status"] == "failed"  # b's, as drawn
    assert check["compare"] == {
        "class": "status", "kind": "failed", "status_a": "done", "status_b": "failed",
    }  # fmt: skip
    assert state["nodes"]["final"]["compare"]["class"] == "status"  # done, then skipped
    assert state["run"]["status"] == "failed"
    both = details(front, "check")
    assert both["a"]["status"] == "done" and both["a"]["result"] == "1"
    assert both["b"]["error"]["type"] == "ValueError"
    assert both["b"]["error"]["message"] == "negative: -1"
    assert "raise ValueError" in both["b"]["error"]["traceback"]
    assert "result" not in both["b"]
    front.view.close()


def test_a_comparison_is_not_a_run_its_controls_are_refused(broadcaster: tb.Broadcaster) -> None:
    a = tb.start(planner(["a"])).wait(20)
    b = tb.start(planner(["a"])).wait(20)
    front, _ = shown(tb.compare(a, b), broadcaster)
    for request in (
        {"type": "pause"},
        {"type": "cancel"},
        {"type": "cancel_node", "node_id": "plan"},
        {"type": "continue"},
        {"type": "rerun", "nodes": None},
    ):
        answer = front.answer(front.ask(request))
        assert answer["type"] == "error", (request, answer)
        assert "comparison" in answer["error"], answer
    answer = front.answer(front.ask({"type": "node_details", "node_id": "nope"}))
    assert answer["type"] == "error" and "no node 'nope'" in answer["error"]
    assert front.answer(front.ask({"type": "questions"}))["questions"] == []
    front.view.close()


def test_stored_runs_and_the_view_of_a_comparison(
    tmp_path: Path, broadcaster: tb.Broadcaster
) -> None:
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        a = tb.start(planner(["a", "b"]), store=store).wait(20)
        b = tb.rerun(a.id, planner(["a", "c"]), store=store).wait(20)
        store.flush()
        comparison = tb.compare(tb.open_run(a.id, store), tb.open_run(b.id, store))
        assert comparison.runs is not None
        assert all(isinstance(r, tb.StoredRun) for r in comparison.runs)
        front, state = shown(comparison, broadcaster)
        assert classes(state)["plan/b"] == "removed" and classes(state)["plan/c"] == "added"
        stored = details(front, "plan/b")
        assert stored["a"]["result"] == "'B'" and stored["a"]["status"] == "done"
        assert details(front, "plan/c")["b"]["result"] == "'C'"
        front.view.close()
        view = comparison.view()
        assert isinstance(view, tb.GraphView) and view.mode == "compare"
        view.close()
