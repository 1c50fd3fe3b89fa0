"""The union graph a view of a comparison draws, from plain snapshots (no runs, no threads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_schema import _js_set

from taskbeam._compare import Comparison, NodeDiff
from taskbeam._compare_view import CLASSES, ComparisonSource, diff_class, union_snapshot


@pytest.mark.parametrize(
    ("kind", "status_a", "status_b", "expected"),
    [
        ("equal", "done", "done", "equal"),
        ("equal", "failed", "failed", "equal"),
        ("changed", "done", "done", "changed"),
        ("failed", "failed", "failed", "changed"),  # both failed, not alike
        ("failed", "done", "failed", "status"),
        ("changed", "done", "skipped", "status"),
        ("added", None, "done", "added"),
        ("only_b", None, "done", "added"),
        ("removed", "done", None, "removed"),
        ("only_a", "failed", None, "removed"),
        ("unknown", "done", "done", "unknown"),
    ],
)
def test_each_row_kind_has_one_class(
    kind: str, status_a: str | None, status_b: str | None, expected: str
) -> None:
    row = NodeDiff("n", kind, status_a=status_a, status_b=status_b)
    assert diff_class(row) == expected
    assert expected in CLASSES


def snapshot(run_id: str, nodes: dict[str, Any], edges: list[list[str]]) -> dict[str, Any]:
    run = {"id": run_id, "name": "g", "status": "done", "counts": {}, "total": len(nodes)}
    return {"run": run, "nodes": nodes, "edges": edges}


def test_the_union_keeps_b_s_graph_and_hangs_a_s_extra_nodes_where_they_were() -> None:
    done = {"status": "done"}
    snap_a = snapshot(
        "g-a",
        {
            "x": done,
            "y": done,
            "p": {"status": "done"},
            "p/old": {"status": "done", "parent": "p", "cached": {"run": "g-0", "node": "p/old"}},
            "z": done,
        },
        [["x", "y"], ["p/old", "z"], ["x", "z"]],
    )
    snap_b = snapshot(
        "g-b",
        {"x": done, "y": done, "p": done, "p/new": {"status": "done", "parent": "p"}},
        [["y", "x"], ["p", "y"]],
    )
    rows = [
        NodeDiff("p", "changed", "done", "done"),
        NodeDiff("p/new", "added", None, "done"),
        NodeDiff("p/old", "removed", "done", None, cached_a=True),
        NodeDiff("x", "equal", "done", "done"),
        NodeDiff("y", "equal", "done", "done"),
        NodeDiff("z", "only_a", "done", None),
    ]
    union = union_snapshot(Comparison("g-a", "g-b", rows, (snap_a, snap_b)))
    assert list(union["nodes"]) == ["x", "y", "p", "p/new", "p/old", "z"]
    # b's edges; of a's, only those that touch a node only a has (not x -> y: b has y -> x).
    assert union["edges"] == [["y", "x"], ["p", "y"], ["p/old", "z"], ["x", "z"]]
    old = union["nodes"]["p/old"]
    assert "cached" not in old  # the reuse mark is b's (the run drawn)
    assert old["compare"] == {
        "class": "removed",
        "kind": "removed",
        "status_a": "done",
        "reused_a": True,
    }
    assert union["run"]["compare"]["classes"] == {
        "equal": 2, "changed": 1, "status": 0, "added": 1, "removed": 2, "unknown": 0,
    }  # fmt: skip
    assert union["run"]["id"] == "compare:g-a:g-b" and union["run"]["name"] == "g"


def test_a_comparison_made_by_hand_without_snapshots_is_a_clear_error() -> None:
    bare = Comparison("a-1", "b-2", [NodeDiff("x", "equal", "done", "done")])
    with pytest.raises(ValueError, match=r"no snapshots.*tb\.compare\(a, b\)"):
        ComparisonSource(bare)
    with pytest.raises(TypeError, match="expected a Comparison"):
        ComparisonSource("a-1")  # type: ignore[arg-type]


def test_without_its_runs_the_details_are_what_the_snapshots_say() -> None:
    snap_a = snapshot("g-a", {"x": {"status": "done", "preview": "1"}}, [])
    snap_b = snapshot("g-b", {"x": {"status": "done", "preview": "2"}}, [])
    rows = [NodeDiff("x", "changed", "done", "done")]
    source = ComparisonSource(Comparison("g-a", "g-b", rows, (snap_a, snap_b)))
    got = source.details("x")
    assert got["a"]["result"] == "1" and got["b"]["result"] == "2"
    with pytest.raises(KeyError, match="no node 'y'"):
        source.details("y")


def test_the_front_end_knows_the_same_classes_in_the_same_order() -> None:
    js = Path(__file__).resolve().parents[2] / "js" / "src" / "compare.js"
    assert _js_set("CLASSES", js.read_text(encoding="utf-8")) == list(CLASSES)
