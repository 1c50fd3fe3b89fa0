"""Progress, metrics and their roll-ups in live runs; tqdm; budgets."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import taskbeam as tb
from taskbeam.engine._metrics import rollup


def poll(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def three_levels(fail_first: set[str]) -> tb.Graph:
    """top -> m0, m1 (expanded) -> l0..l2 (leaves), every leaf reports usage; some fail once."""
    attempts: dict[str, int] = {}
    lock = threading.Lock()

    def leaf(name: str, i: int) -> int:
        tb.usage(tokens_in=10, tokens_out=4, cost=0.5)
        tb.metric("peak", i, agg="max")
        tb.metric("latest", i, agg="last")
        tb.progress(1, 1)
        with lock:
            attempts[name] = attempts.get(name, 0) + 1
            first = attempts[name] == 1
        if name in fail_first and first:
            raise RuntimeError("first attempt fails")
        return i

    def mid(j: int) -> tb.Expansion:
        tb.metric("cost", 0.25)  # a parent's own usage, before it expands
        sub = tb.Graph("mid")
        for i in range(3):
            sub.add(f"l{i}", leaf, kwargs={"name": f"m{j}/l{i}", "i": 3 * j + i}, retries=1)
        return tb.expand(sub)

    async def top() -> tb.Expansion:
        sub = tb.Graph("top")
        for j in range(2):
            sub.add(f"m{j}", mid, kwargs={"j": j})
        return tb.expand(sub)

    g = tb.Graph("levels")
    g.add("top", top)
    return g


def check_against_scratch(run: tb.Run) -> None:
    """Every node's rolled-up values equal rollup() over the nodes' own values."""
    table = run.metrics()
    aggs = {r["name"]: r["agg"] for r in table}
    own: dict[str, dict[str, tuple[float, float]]] = {}
    for r in table:
        if r["node"] is not None and r["own"] is not None:
            own.setdefault(r["node"], {})[r["name"]] = (r["own"], 0.0)
    snap = run.snapshot()
    nodes = {
        nid: (s.get("parent"), {k: v for k, v in own.get(nid, {}).items() if aggs[k] != "last"})
        for nid, s in snap["nodes"].items()
    }
    per_node, totals = rollup(nodes, aggs)
    for nid, summary in snap["nodes"].items():
        got = {k: v for k, v in summary.get("metrics", {}).items() if aggs[k] != "last"}
        assert got == pytest.approx(per_node.get(nid, {}))
    run_metrics = {k: v for k, v in snap["run"]["metrics"].items() if aggs[k] != "last"}
    assert run_metrics == pytest.approx(totals)


@pytest.mark.parametrize("watched", [False, True])
def test_rollups_through_three_levels_with_retries(watched: bool) -> None:
    g = three_levels(fail_first={"m0/l1", "m1/l2"})
    run = tb.start(g, max_concurrency=2)
    seen: list[tb.Event] = []
    if watched:
        run.subscribe(seen.append)
    run.wait()
    assert run.status is tb.RunStatus.DONE
    snap = run.snapshot()
    # A failed attempt's usage counts: 6 leaves + 2 failed attempts = 8 reports of 0.5.
    assert snap["run"]["metrics"]["cost"] == pytest.approx(8 * 0.5 + 2 * 0.25)
    assert snap["run"]["metrics"]["tokens_in"] == 80
    assert snap["run"]["metrics"]["peak"] == 5
    assert snap["run"]["units"] == {"tokens_in": "tokens", "tokens_out": "tokens"}
    assert snap["nodes"]["top/m0/l1"]["metrics"]["cost"] == 1.0  # two attempts
    assert snap["nodes"]["top/m0"]["metrics"]["cost"] == pytest.approx(0.25 + 4 * 0.5)
    assert snap["nodes"]["top/m1"]["metrics"]["peak"] == 5
    assert snap["nodes"]["top/m0/l0"]["progress"] == {"done": 1, "total": 1}
    check_against_scratch(run)
    details = run.details("top/m1")
    assert details["metrics"]["tokens_out"] == 16  # 3 leaves, one of them twice
    rows = [r for r in run.metrics() if r["node"] is None]
    assert {r["name"] for r in rows} == {"tokens_in", "tokens_out", "cost", "peak", "latest"}
    if watched:
        touches = [e for e in seen if e.old == e.new and e.node_id is not None]
        assert touches, "metric changes reach subscribers as events from a status to itself"


def test_metrics_as_frame() -> None:
    import pandas as pd

    g = tb.Graph("frame")
    g.add("a", lambda: tb.usage(cost=1.5))
    run = tb.start(g).wait()
    frame = run.metrics(as_frame=True)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["node", "name", "value", "own", "unit", "agg"]
    assert frame[frame["node"].isna()]["value"].tolist() == [1.5]


def test_progress_is_seen_while_the_node_runs() -> None:
    gate = threading.Event()

    def work() -> str:
        for i in range(5):
            tb.progress(i + 1, 10, note=f"item {i}")
        gate.wait(10)
        return "ok"

    g = tb.Graph("live")
    g.add("w", work)
    run = tb.start(g)
    events: list[tb.Event] = []
    run.subscribe(events.append)
    try:
        summary = poll(
            lambda: (p := run.snapshot()["nodes"]["w"].get("progress")) and p["done"] == 5 and p
        )
        assert summary == {"done": 5, "total": 10, "note": "item 4"}
        assert run.snapshot()["nodes"]["w"]["status"] == "running"
    finally:
        gate.set()
    run.wait()


def test_progress_reaches_a_raw_subscriber_before_the_node_ends() -> None:
    gate = threading.Event()
    step = threading.Event()

    def work() -> None:
        tb.progress(1, 3)
        step.wait(10)
        tb.progress(2, 3)
        gate.wait(10)

    g = tb.Graph("frames")
    g.add("w", work)
    frames: list[dict[str, Any]] = []
    with tb.Broadcaster() as broadcaster:
        run = tb.start(g)
        broadcaster.attach(run)
        broadcaster.subscribe(run.id, lambda m, b: frames.append(m))

        def seen(done: int) -> bool:
            for f in frames:
                patch = f.get("patch") or {}
                nodes = f.get("nodes") or (f.get("state") or {}).get("nodes") or {}
                for source in (patch.get("nodes") or {}, nodes):
                    if source.get("w", {}).get("progress", {}).get("done") == done:
                        return True
            return False

        poll(lambda: seen(1))
        step.set()
        poll(lambda: seen(2))
        assert run.snapshot()["nodes"]["w"]["status"] == "running"
        gate.set()
        run.wait()


def test_async_tasks_report_too() -> None:
    async def work() -> None:
        for i in range(3):
            tb.progress(i + 1, 3)
            tb.metric("calls", 1)
            await asyncio.sleep(0)

    g = tb.Graph("async")
    g.add("a", work)
    run = tb.start(g).wait()
    assert run.snapshot()["nodes"]["a"]["progress"] == {"done": 3, "total": 3}
    assert run.snapshot()["run"]["metrics"] == {"calls": 3}


def test_bad_calls_are_clear_errors() -> None:
    errors: dict[str, str] = {}

    def work() -> None:
        for label, call in [
            ("agg", lambda: tb.metric("x", 1, agg="mean")),
            ("nan", lambda: tb.metric("x", float("nan"))),
            ("str", lambda: tb.metric("x", "1")),
            ("name", lambda: tb.metric("", 1)),
            ("type", lambda: tb.metric(["x"], 1)),  # type: ignore[arg-type]
            ("progress", lambda: tb.progress("half")),  # type: ignore[arg-type]
            ("note", lambda: tb.progress(1, note=3)),  # type: ignore[arg-type]
            ("conflict", lambda: (tb.metric("y", 1), tb.metric("y", 1, agg="max"))),
            ("unit", lambda: (tb.metric("z", 1, unit="s"), tb.metric("z", 1, unit="ms"))),
        ]:
            try:
                call()
            except (TypeError, ValueError) as exc:
                errors[label] = str(exc)

    g = tb.Graph("bad")
    g.add("w", work)
    tb.start(g).wait()
    assert "agg must be one of" in errors["agg"]
    assert "finite" in errors["nan"]
    assert "takes a number" in errors["str"]
    assert "1 to 100" in errors["name"]
    assert "a metric name is a str" in errors["type"]
    assert "takes a number" in errors["progress"]
    assert "note is a str" in errors["note"]
    assert "rolled up by 'sum'" in errors["conflict"]
    assert "unit 's'" in errors["unit"]


def test_outside_a_task() -> None:
    for call in (lambda: tb.progress(1), lambda: tb.metric("x", 1), lambda: tb.usage(cost=1)):
        with pytest.raises(RuntimeError, match="only inside a task"):
            call()


def test_tqdm_feeds_progress() -> None:
    import tqdm

    gate = threading.Event()

    def work() -> int:
        total = 0
        for i in tqdm.tqdm(range(40), desc="items", mininterval=0, miniters=1):
            if i == 20:
                gate.wait(10)
            total += i
        return total

    g = tb.Graph("bars")
    g.add("w", work)
    run = tb.start(g)
    progress = poll(lambda: run.snapshot()["nodes"]["w"].get("progress"))
    assert progress["total"] == 40 and progress["note"] == "items"
    assert 1 <= progress["done"] <= 20
    gate.set()
    run.wait()
    assert run.snapshot()["nodes"]["w"]["progress"] == {"done": 40, "total": 40, "note": "items"}


# -- budgets -----------------------------------------------------------------


def spenders(n: int, cost: float) -> tb.Graph:
    g = tb.Graph("spend")
    for i in range(n):
        g.add(f"n{i}", lambda: tb.usage(cost=cost))
    return g


def budget_question(run: tb.Run) -> tb.Question:
    return poll(lambda: next((q for q in run.questions() if q.key.startswith("budget:")), None))


def test_run_budget_holds_and_raise_goes_on() -> None:
    run = tb.start(spenders(5, 2.0), max_concurrency=1, budgets={"cost": 5.0})
    q = budget_question(run)
    assert q.choices == ("continue", "raise", "stop")
    assert q.prompt.startswith("budget exceeded: cost 6 of 5")
    assert q.data["raise_to"] == 10
    snap = run.snapshot()
    statuses = {n: s["status"] for n, s in snap["nodes"].items()}
    assert statuses == {"n0": "done", "n1": "done", "n2": "done", "n3": "ready", "n4": "ready"}
    assert snap["run"]["status"] == "running"
    assert snap["run"]["budgets"] == {"cost": 5}
    assert snap["run"]["questions"] == 1  # a view that joins now reads the question
    run.answer(q.id, "raise")
    run.wait(10)
    assert run.status is tb.RunStatus.DONE
    assert "questions" not in run.snapshot()["run"]
    assert run.snapshot()["run"]["metrics"]["cost"] == 10
    assert run.snapshot()["run"]["budgets"] == {"cost": 10}
    assert run.questions() == []


def test_run_budget_stop_cancels_what_has_not_started() -> None:
    run = tb.start(spenders(5, 2.0), max_concurrency=1, budgets={"cost": 3.0})
    q = budget_question(run)
    run.answer(q.id, "stop")
    run.wait(10)
    statuses = {n: s["status"] for n, s in run.snapshot()["nodes"].items()}
    assert statuses == {"n0": "done", "n1": "done", "n2": "cancelled", "n3": "cancelled",
                        "n4": "cancelled"}  # fmt: skip
    assert run.status is tb.RunStatus.CANCELLED


def test_subgraph_budget_holds_only_its_subgraph() -> None:
    release = threading.Event()

    def child() -> None:
        tb.usage(cost=1.0)

    def slow_child(c3: None) -> None:
        release.wait(10)

    def guarded() -> tb.Expansion:
        sub = tb.Graph("g")
        for i in range(4):
            sub.add(f"c{i}", child)
        return tb.expand(sub, budgets={"cost": 1.5})

    def free() -> tb.Expansion:
        sub = tb.Graph("f")
        for i in range(4):
            sub.add(f"c{i}", child)
        sub.add("slow", slow_child, deps=["c3"])
        return tb.expand(sub)

    g = tb.Graph("scopes")
    g.add("guarded", guarded)
    g.add("free", free)
    run = tb.start(g, max_concurrency=1)
    q = budget_question(run)
    assert q.node_id == "guarded"
    assert "the sub-graph of 'guarded'" in q.prompt
    # The other sub-graph goes on while the question is open.
    poll(lambda: run.snapshot()["nodes"].get("free/slow", {}).get("status") == "running")
    snap = run.snapshot()
    guarded_children = [snap["nodes"][f"guarded/c{i}"]["status"] for i in range(4)]
    assert guarded_children.count("done") == 2 and guarded_children.count("ready") == 2
    assert snap["nodes"]["guarded"]["metrics"]["cost"] == 2
    release.set()
    poll(lambda: run.snapshot()["nodes"]["free"]["status"] == "done")
    assert run.snapshot()["nodes"]["guarded/c2"]["status"] == "ready"  # still held
    run.answer(q.id, "continue")
    run.wait(10)
    assert run.status is tb.RunStatus.DONE
    assert run.snapshot()["run"]["metrics"]["cost"] == 8


def test_subgraph_budget_stop() -> None:
    def child() -> None:
        tb.usage(cost=1.0)

    def guarded() -> tb.Expansion:
        sub = tb.Graph("g")
        for i in range(4):
            sub.add(f"c{i}", child)
        sub.add("after", lambda c3: child(), deps=["c3"])
        return tb.expand(sub, budgets={"cost": 0.5})

    g = tb.Graph("stop")
    g.add("guarded", guarded)
    g.add("other", child)
    run = tb.start(g, max_concurrency=1)
    q = budget_question(run)
    run.answer(q.id, "stop")
    run.wait(10)
    snap = run.snapshot()
    assert snap["nodes"]["guarded"]["status"] == "cancelled"
    assert snap["nodes"]["guarded/after"]["status"] in ("cancelled", "skipped")
    assert snap["nodes"]["other"]["status"] == "done"


def test_budget_question_is_withdrawn_when_the_run_ends() -> None:
    def spend() -> None:
        tb.usage(cost=2.0)

    g = tb.Graph("ends")
    g.add("a", spend)
    run = tb.start(g, budgets={"cost": 1.0}).wait(10)  # nothing left to hold
    assert run.status is tb.RunStatus.DONE
    assert run.questions() == []


def test_bad_budgets() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        tb.start(spenders(1, 1.0), budgets={"cost": -1})
    with pytest.raises(TypeError, match="mapping"):
        tb.expand(tb.Graph(), budgets=[1])  # type: ignore[arg-type]
