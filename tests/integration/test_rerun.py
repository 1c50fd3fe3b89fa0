"""Rerun: execute what was asked or what changed, reuse the rest, counted by side effects."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_cache import Log, log, pipeline, results

import taskbeam as tb

__all__ = ["log"]  # the fixture, shared with the cache's tests


def test_rerun_from_a_node_runs_it_and_the_dependants_whose_inputs_changed(log: Log) -> None:
    first = tb.start(pipeline(log)).wait(20)
    log.take()
    again = first.rerun(["load"]).wait(20)
    # load runs again and makes the same list: everything below it is reused.
    assert log.take() == ["load"]
    snap = again.snapshot()
    assert snap["run"]["parent_run"] == first.id
    assert snap["run"]["cache"] == {"hits": 4, "misses": 1, "uncacheable": 0}
    assert snap["nodes"]["report"]["cached"] == {"run": first.id, "node": "report"}
    assert "cached" not in snap["nodes"]["load"]
    assert results(again) == results(first)


def test_rerun_of_a_flaky_node_runs_what_its_new_value_changes(log: Log) -> None:
    answers = iter([3, 5])

    def guess() -> int:
        log.add("guess")
        return next(answers)

    def double(x: int) -> int:
        log.add("double")
        return 2 * x

    def unrelated() -> str:
        log.add("unrelated")
        return "same"

    g = tb.Graph("flaky")
    g.add("guess", guess)
    g.add("double", double, deps={"x": "guess"})
    g.add("unrelated", unrelated)
    first = tb.start(g).wait(20)
    log.take()
    again = first.rerun("guess").wait(20)
    assert log.take() == ["double", "guess"]
    assert (first.result("double"), again.result("double")) == (6, 10)


def test_rerun_of_only_what_changed(log: Log) -> None:
    first = tb.start(pipeline(log)).wait(20)
    log.take()
    assert first.rerun().wait(20).snapshot()["run"]["cache"]["hits"] == 5
    assert log.take() == []
    edited = first.rerun(graph=pipeline(log, scale=10)).wait(20)
    assert log.take() == ["report", "scaled", "total"]
    assert edited.result("report") == "4 items, total 100.0"


def test_rerun_refuses_what_it_cannot_do(log: Log) -> None:
    gate = threading.Event()
    g = tb.Graph("slow")
    g.add("wait", lambda: gate.wait(20))
    running = tb.start(g)
    with pytest.raises(RuntimeError, match="has not ended"):
        running.rerun()
    gate.set()
    running.wait(20)
    first = tb.start(pipeline(log)).wait(20)
    with pytest.raises(KeyError, match="no node 'nope'"):
        first.rerun(["nope"])
    with pytest.raises(TypeError, match="node ids"):
        first.rerun([1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="needs its graph"):
        tb.rerun("pipeline-00000000", store=None)
    with pytest.raises(TypeError, match="unexpected keyword|got an unexpected"):
        first.rerun(colour="blue")


def test_tb_rerun_takes_a_run_or_the_id_of_one_in_memory(log: Log) -> None:
    first = tb.start(pipeline(log)).wait(20)
    log.take()
    assert tb.rerun(first, nodes=["count"]).wait(20).result("report") == "4 items, total 20.0"
    assert log.take() == ["count"]
    assert tb.rerun(first.id, nodes="count").wait(20).snapshot()["run"]["parent_run"] == first.id
    assert log.take() == ["count"]


def _plan_graph(log: Log) -> tb.Graph:
    def plan(topics: list[str]) -> tb.Expansion:
        log.add("plan")
        sub = tb.Graph("sections")
        for t in topics:
            sub.add(t, section, kwargs={"topic": t})
        return tb.expand(sub, aggregate=lambda results: " ".join(sorted(results.values())))

    def section(topic: str) -> str:
        log.add(f"section:{topic}")
        return topic.upper()

    g = tb.Graph("research")
    g.add("plan", plan, kwargs={"topics": ["a", "b", "c"]})
    g.add("final", lambda text: text + ".", deps={"text": "plan"})
    return g


def test_an_expanded_parent_expands_again_without_its_task_being_called(log: Log) -> None:
    first = tb.start(_plan_graph(log)).wait(20)
    log.take()
    again = first.rerun(["plan/b"]).wait(20)
    assert log.take() == ["section:b"]  # not the planner: its plan is the one it made
    nodes = again.snapshot()["nodes"]
    assert nodes["plan"]["cached"] == {"run": first.id, "node": "plan"}
    assert {n for n in nodes if n.startswith("plan/")} == {"plan/a", "plan/b", "plan/c"}
    assert "cached" not in nodes["plan/b"]
    assert again.result("final") == "A B C."
    whole = first.rerun(["plan"]).wait(20)  # forcing the parent: its task plans again
    assert log.take() == ["plan", "section:a", "section:b", "section:c"]
    assert whole.result("final") == "A B C."


SCRIPT = """
import os, sys
import taskbeam as tb

LOG = os.environ["TB_CACHE_LOG"]


def mark(name):
    with open(LOG, "a") as f:
        f.write(name + "\\n")


def plan(topics):
    mark("plan")
    sub = tb.Graph("sections")
    for t in topics:
        sub.add(t, section, kwargs={"topic": t})
    return tb.expand(sub, aggregate=lambda results: " ".join(sorted(results.values())))


def section(topic):
    mark("section:" + topic)
    return topic.upper()


def step(text):
    mark("step")
    return text + "!"


g = tb.Graph("stored")
g.add("plan", plan, kwargs={"topics": ["x", "y"]})
g.add("step", step, deps={"text": "plan"})
g.add("side", lambda: mark("side") or 7)

with tb.SQLiteStore(sys.argv[1]) as store:
    if sys.argv[2] == "first":
        run = tb.start(g, store=store).wait(60)
    else:
        nodes = sys.argv[3].split(",") if len(sys.argv) > 3 else None
        run = tb.rerun(sys.argv[2], g, nodes=nodes, store=store).wait(60)
    snap = run.snapshot()
    print(run.id, snap["run"].get("parent_run", "-"), run.result("step"), sep="|")
"""


def _process(tmp_path: Path, log: Log, *args: str) -> list[str]:
    script = tmp_path / "stored_graph.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runs.db"), *args],
        env={"TB_CACHE_LOG": str(log.path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split("|")


@pytest.mark.timeout(240)
def test_a_stored_run_is_rerun_from_a_fresh_process(tmp_path: Path, log: Log) -> None:
    first, _, result = _process(tmp_path, log, "first")
    assert result == "X Y!"
    log.take()
    second, parent, result = _process(tmp_path, log, first, "side")
    assert (parent, result) == (first, "X Y!")
    assert log.take() == ["side"]  # the parent is taken whole with its aggregate
    _, _, result = _process(tmp_path, log, first, "plan/y")
    # A forced child: its stored parent plans again; the other child is reused.
    assert log.take() == ["plan", "section:y"]
    assert result == "X Y!"
    _, parent, _ = _process(tmp_path, log, second)  # a rerun of the rerun: nothing runs
    assert parent == second
    assert log.take() == []


def test_the_service_reruns_a_project(log: Log) -> None:
    service = tb.ExecutionService()
    try:
        first = service.start("p", pipeline(log)).wait(20)
        log.take()
        run = service.rerun("p", ["total"]).wait(20)
        assert service.get("p") is run
        assert run.snapshot()["run"]["parent_run"] == first.id
        assert log.take() == ["total"]
        with pytest.raises(KeyError, match="no project 'q'"):
            service.rerun("q")
    finally:
        service.shutdown()


def _counts(run: tb.Run) -> dict[str, Any]:
    counts: dict[str, Any] = run.snapshot()["run"]["cache"]
    return counts


def test_a_rerun_with_the_cache_stores_what_it_forced(log: Log) -> None:
    cache = tb.MemoryCache()
    first = tb.start(pipeline(log), cache=cache).wait(20)
    log.take()
    forced = first.rerun(["load"]).wait(20)  # the cache holds load, yet it runs: it was asked
    assert log.take() == ["load"]
    assert _counts(forced)["misses"] == 1
    later = tb.start(pipeline(log), cache=cache).wait(20)
    assert log.take() == []
    assert later.snapshot()["nodes"]["load"]["cached"]["run"] == forced.id


def test_a_stored_rerun_names_its_parent_and_what_it_reused(tmp_path: Path, log: Log) -> None:
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        first = tb.start(pipeline(log), store=store).wait(20)
        again = first.rerun(["load"]).wait(20)
        stored = tb.open_run(again.id, store)
        run = stored.snapshot()["run"]
        assert run["parent_run"] == first.id  # from the stored options
        assert run["cache"] == {"hits": 4}  # counted from the nodes' stored marks
        nodes = stored.snapshot()["nodes"]
        assert nodes["report"]["cached"] == {"run": first.id, "node": "report"}
        assert "cached" not in nodes["load"]
        assert "parent_run" not in tb.open_run(first.id, store).snapshot()["run"]
