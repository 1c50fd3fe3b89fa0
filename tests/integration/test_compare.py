"""Comparing two runs: equal, changed, added and removed children, failures; the HTML table
and ``taskbeam diff``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import taskbeam as tb
from taskbeam._cli import main


def planner(sections: list[str], value: int = 1) -> tb.Graph:
    def plan(sections: list[str]) -> tb.Expansion:
        sub = tb.Graph("sections")
        for s in sections:
            sub.add(s, lambda s=s: s.upper())
        return tb.expand(sub, aggregate=lambda r: ",".join(sorted(r.values())))

    def check(value: int) -> int:
        if value < 0:
            raise ValueError(f"negative: {value}")
        return value

    g = tb.Graph("plans")
    g.add("plan", plan, kwargs={"sections": sections})
    g.add("check", check, kwargs={"value": value})
    g.add("final", lambda text, n: f"{text}:{n}", deps={"text": "plan", "n": "check"})
    return g


def kinds(c: tb.Comparison) -> dict[str, str]:
    return {r.node: r.result for r in c.rows}


def test_equal_runs_compare_equal() -> None:
    a = tb.start(planner(["a", "b"])).wait(20)
    b = tb.start(planner(["a", "b"])).wait(20)
    c = tb.compare(a, b)
    assert set(kinds(c).values()) == {"equal"}
    assert c.totals["equal"] == 5 and c.totals["executed"] == 5 and c.totals["reused"] == 0
    assert c.changed() == []


def test_a_changed_result_and_added_or_removed_children() -> None:
    a = tb.start(planner(["a", "b"])).wait(20)
    b = a.rerun(graph=planner(["b", "c"], value=2)).wait(20)
    c = tb.compare(a.id, b.id)  # ids of runs in this process
    assert kinds(c) == {
        "check": "changed",
        "final": "changed",
        "plan": "changed",
        "plan/a": "removed",
        "plan/b": "equal",
        "plan/c": "added",
    }
    row = next(r for r in c.rows if r.node == "plan/b")
    assert row.cached_b and not row.executed_b
    assert c.totals["reused"] == 1 and c.totals["added"] == 1 and c.totals["removed"] == 1


def test_a_failed_node_against_a_done_one() -> None:
    a = tb.start(planner(["a"], value=1)).wait(20)
    b = tb.start(planner(["a"], value=-1)).wait(20)
    c = tb.compare(a, b)
    row = next(r for r in c.rows if r.node == "check")
    assert row.result == "failed"
    assert row.error_b == "ValueError: negative: -1"
    assert kinds(c)["final"] == "changed"  # done in a, skipped in b


def test_values_without_a_digest_are_unknown_not_equal() -> None:
    g = tb.Graph("opaque")
    g.add("x", object)
    a, b = tb.start(g).wait(20), tb.start(g).wait(20)
    assert kinds(tb.compare(a, b)) == {"x": "unknown"}


def test_the_html_table_escapes_what_runs_made() -> None:
    def markup() -> str:
        return "<script>alert(1)</script>"

    g = tb.Graph("<b>html</b>")
    g.add("<i>node<i>", markup)
    a = tb.start(g).wait(20)
    b = tb.start(g).wait(20)
    page = tb.compare(a, b)._repr_html_()
    assert "<script>" not in page and "<i>node" not in page
    assert "&lt;script&gt;" in page and "&lt;i&gt;node&lt;i&gt;" in page
    assert re.search(r"1 equal", page)


def test_compare_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="runs or run ids"):
        tb.compare(1, 2)  # type: ignore[arg-type]
    with tb.SQLiteStore(tmp_path / "runs.db") as store, pytest.raises(KeyError):
        tb.compare("nope-1", "nope-2", store=store)


def test_taskbeam_diff_prints_the_stored_runs_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        a = tb.start(planner(["a", "b"]), store=store).wait(20)
        b = tb.rerun(a.id, planner(["a", "c"]), store=store).wait(20)
    capsys.readouterr()
    assert main(["diff", a.id, b.id, "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert "plan/c" in out and "added" in out and "plan/b" in out and "removed" in out
    assert "plan/a " not in out  # equal rows only with --all
    assert main(["diff", a.id, b.id, "--store", str(db), "--all"]) == 0
    out = capsys.readouterr().out
    assert "plan/a" in out and "(reused)" in out
    assert "reused 2" in out.replace("\n", " ")  # plan/a and check, marked in the store
    assert main(["diff", a.id, "nope", "--store", str(db)]) == 4
    assert "no run 'nope'" in capsys.readouterr().err
