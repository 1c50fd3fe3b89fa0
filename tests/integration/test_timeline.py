"""Timeline rows and trace files of live and stored runs: retries, waits, expansion."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import taskbeam as tb


def until(cond: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError("condition not met in time")


def flaky_graph() -> tb.Graph:
    g = tb.Graph("flaky")
    tries = {"n": 0}

    def flaky() -> int:
        tries["n"] += 1
        if tries["n"] < 3:
            raise ValueError(f"try {tries['n']}")
        return tries["n"]

    def solid(flaky: int) -> int:
        return flaky

    g.add("flaky", flaky, retries=3, backoff=0.01, tags=("io",))
    g.add("solid", solid, deps=["flaky"])
    return g


def test_retries_are_segments_and_plain_nodes_have_one() -> None:
    run = tb.start(flaky_graph()).wait(20)
    rows = {r["id"]: r for r in run.timeline()}
    flaky = rows["flaky"]
    assert [a["outcome"] for a in flaky["attempts"]] == ["failed", "failed", "done"]
    starts = [a["start"] for a in flaky["attempts"]]
    assert starts == sorted(starts) and flaky["start"] == starts[0]
    for a, b in zip(flaky["attempts"], flaky["attempts"][1:], strict=False):
        assert a["end"] <= b["start"]
    assert flaky["end"] == flaky["attempts"][-1]["end"] == run.snapshot()["nodes"]["flaky"]["ended"]
    assert flaky["function"].endswith("flaky") and flaky["tags"] == ["io"]
    assert flaky["parent"] is None and flaky["waits"] == []
    solid = rows["solid"]
    assert len(solid["attempts"]) == 1 and solid["start"] >= flaky["end"]
    summary = run.snapshot()["nodes"]
    assert len(summary["flaky"]["attempts"]) == 2 and "attempts" not in summary["solid"]


def test_waiting_is_its_own_segment_inside_the_attempt() -> None:
    g = tb.Graph("ask")

    @g.task
    async def plan() -> Any:
        return await tb.ask("Approve?", choices=["yes", "no"])

    run = tb.start(g)
    question = until(run.questions)[0]
    open_rows = until(lambda: [r for r in run.timeline() if r["waits"]])
    assert open_rows[0]["waits"][0]["end"] is None and open_rows[0]["status"] == "waiting"
    time.sleep(0.05)  # a measurable wait
    run.answer(question.id, "yes")
    run.wait(20)
    (row,) = run.timeline()
    (wait,) = row["waits"]
    (attempt,) = row["attempts"]
    assert attempt["start"] <= wait["start"] < wait["end"] <= attempt["end"]
    assert wait["end"] - wait["start"] >= 0.04


def test_expanded_children_name_their_parent() -> None:
    g = tb.Graph("tree")

    def leaf() -> int:
        return 1

    def root() -> Any:
        sub = tb.Graph("sub")
        sub.add("x", leaf)
        sub.add("y", leaf)
        return tb.expand(sub, aggregate=lambda r: sum(r.values()))

    g.add("root", root)
    run = tb.start(g).wait(20)
    rows = {r["id"]: r for r in run.timeline()}
    assert set(rows) == {"root", "root/x", "root/y"}
    assert rows["root/x"]["parent"] == "root" and rows["root"]["parent"] is None
    assert rows["root/x"]["function"].endswith("leaf")
    assert rows["root"]["start"] <= rows["root/x"]["start"] <= rows["root"]["end"]


def test_a_stored_run_has_the_same_rows(tmp_path: Path) -> None:
    store = tb.SQLiteStore(tmp_path / "runs.db")
    try:
        live = tb.start(flaky_graph(), store=store).wait(20)
        rows = live.timeline()
        stored = tb.open_run(live.id, store)
        again = stored.timeline()
        for row in rows + again:
            row.pop("function")
        assert again == rows
        with_graph = tb.open_run(live.id, store, graph=flaky_graph())
        functions = {r["id"]: r["function"] for r in with_graph.timeline()}
        assert functions["flaky"].endswith("flaky")
    finally:
        store.close()


def test_to_trace_writes_one_event_per_attempt_on_threads_that_never_overlap(
    tmp_path: Path,
) -> None:
    g = tb.Graph("wide")

    async def work(seconds: float) -> float:
        import asyncio

        await asyncio.sleep(seconds)
        return seconds

    for i in range(12):
        g.add(f"n{i}", work, kwargs={"seconds": 0.01 * (i % 4 + 1)})
    run = tb.start(g, max_concurrency=4).wait(20)
    path = run.to_trace(tmp_path / "trace.json")
    trace = json.loads(path.read_text())
    nodes = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert sorted(e["args"]["id"] for e in nodes) == sorted(f"n{i}" for i in range(12))
    by_tid: dict[int, list[dict[str, Any]]] = {}
    for e in nodes:
        by_tid.setdefault(e["tid"], []).append(e)
    assert len(by_tid) <= 4
    for events in by_tid.values():
        events.sort(key=lambda e: e["ts"])
        for a, b in itertools.pairwise(events):
            assert a["ts"] + a["dur"] <= b["ts"]
    names = {(e["name"], e["tid"]) for e in trace["traceEvents"] if e["ph"] == "M"}
    assert ("process_name", 0) in names and all(("thread_name", t) in names for t in by_tid)


def test_the_functions_request_names_every_node_of_a_live_or_stored_run(tmp_path: Path) -> None:
    from taskbeam.broadcast._requests import parse

    store = tb.SQLiteStore(tmp_path / "runs.db")
    b = tb.Broadcaster()
    try:
        run = tb.start(flaky_graph(), store=store).wait(20)
        entry, fields = parse("comm", {"type": "functions"})
        answer = b.answer(b.attach(run), entry, fields)
        assert answer["type"] == "functions"
        assert sorted(answer["functions"]) == ["flaky", "solid"]
        assert answer["functions"]["solid"].endswith("solid")
        stored = tb.open_run(run.id, store)
        assert b.answer(b.attach(stored), entry, fields) == {"type": "functions", "functions": {}}
    finally:
        b.close()
        store.close()
