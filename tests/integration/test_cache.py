"""The result cache: what runs again and what does not, counted by side effects.

Each task appends its name to a file when it executes, so a test counts the
executions themselves, not what the engine says about them.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import taskbeam as tb


class Log:
    """A file each execution appends a line to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")

    def add(self, name: str) -> None:
        with self.path.open("a") as f:
            f.write(name + "\n")

    def take(self) -> list[str]:
        names = self.path.read_text().split()
        self.path.write_text("")
        return sorted(names)


@pytest.fixture
def log(tmp_path: Path) -> Log:
    return Log(tmp_path / "executions.txt")


def pipeline(log: Log, scale: int = 2, rounding: int = 0) -> tb.Graph:
    """load -> scaled -> total -> report, and a side branch load -> count."""

    def load() -> list[int]:
        log.add("load")
        return [1, 2, 3, 4]

    def scaled(xs: list[int], factor: int) -> list[int]:
        log.add("scaled")
        return [x * factor for x in xs]

    def total(ys: list[int], digits: int) -> float:
        log.add("total")
        return round(sum(ys) / 1, digits)

    def count(xs: list[int]) -> int:
        log.add("count")
        return len(xs)

    def report(t: float, n: int) -> str:
        log.add("report")
        return f"{n} items, total {t}"

    g = tb.Graph("pipeline")
    g.add("load", load)
    g.add("scaled", scaled, deps={"xs": "load"}, kwargs={"factor": scale})
    g.add("total", total, deps={"ys": "scaled"}, kwargs={"digits": rounding})
    g.add("count", count, deps={"xs": "load"})
    g.add("report", report, deps={"t": "total", "n": "count"})
    return g


def results(run: tb.Run) -> dict[str, Any]:
    return {n: run.result(n) for n in run.snapshot()["nodes"]}


def test_a_second_identical_run_executes_nothing_and_gives_equal_results(log: Log) -> None:
    cache = tb.MemoryCache()
    first = tb.start(pipeline(log), cache=cache).wait(20)
    assert log.take() == ["count", "load", "report", "scaled", "total"]
    assert first.snapshot()["run"]["cache"] == {"hits": 0, "misses": 5, "uncacheable": 0}

    second = tb.start(pipeline(log), cache=cache).wait(20)
    assert log.take() == []
    assert results(second) == results(first)
    snap = second.snapshot()
    assert snap["run"]["cache"] == {"hits": 5, "misses": 0, "uncacheable": 0}
    assert snap["run"]["status"] == "done"
    for node_id, node in snap["nodes"].items():
        assert node["status"] == "done"
        assert node["cached"] == {"run": first.id, "node": node_id}
    assert "cached" not in first.snapshot()["nodes"]["load"]


def test_a_changed_task_runs_with_exactly_the_dependants_whose_inputs_changed(log: Log) -> None:
    cache = tb.MemoryCache()
    tb.start(pipeline(log), cache=cache).wait(20)
    log.take()
    # scaled's kwargs change: scaled, total and report see new inputs; load and count do not.
    run = tb.start(pipeline(log, scale=3), cache=cache).wait(20)
    assert log.take() == ["report", "scaled", "total"]
    assert run.result("report") == "4 items, total 30.0"
    assert run.snapshot()["run"]["cache"]["hits"] == 2


def test_a_change_that_yields_the_same_value_runs_only_itself(log: Log) -> None:
    """Early cutoff: total's new rounding gives the same number, so report is a hit."""
    cache = tb.MemoryCache()
    tb.start(pipeline(log), cache=cache).wait(20)
    log.take()
    run = tb.start(pipeline(log, rounding=1), cache=cache).wait(20)
    assert log.take() == ["total"]
    assert run.result("report") == "4 items, total 20.0"
    assert run.snapshot()["nodes"]["report"]["cached"]["node"] == "report"


def test_an_edited_function_runs_again(log: Log) -> None:
    cache = tb.MemoryCache()
    g = pipeline(log)
    tb.start(g, cache=cache).wait(20)
    log.take()

    def count(xs: list[int]) -> int:  # a new body: a new fingerprint
        log.add("count")
        return len(xs) + 0

    g2 = pipeline(log)
    g2.tasks["count"]  # the same graph shape, another function for one task
    edited = tb.Graph("pipeline")
    for task in g2:
        fn = count if task.id == "count" else task.fn
        edited.add(
            task.id, fn, deps=dict(zip(task.args, task.deps, strict=True)), kwargs=task.kwargs
        )
    run = tb.start(edited, cache=cache).wait(20)
    assert log.take() == ["count"]  # and report is a hit: count's value is the same
    assert run.snapshot()["run"]["cache"]["hits"] == 4


def test_cache_false_always_runs_and_is_never_stored(log: Log) -> None:
    cache = tb.MemoryCache()

    def send() -> str:
        log.add("send")
        return "sent"

    def after(s: str) -> str:
        log.add("after")
        return s + "!"

    g = tb.Graph("effects")
    g.add("send", send, cache=False)
    g.add("after", after, deps={"s": "send"})
    for _ in range(3):
        run = tb.start(g, cache=cache).wait(20)
        assert run.result("after") == "sent!"
    # send runs every time; after's input is equal each time, so it runs once.
    assert log.take() == ["after", "send", "send", "send"]
    assert "cached" not in run.snapshot()["nodes"]["send"]


def test_cache_key_stands_for_inputs_taskbeam_cannot_digest(log: Log) -> None:
    class Conn:  # no stable digest: a live object
        def __init__(self, dsn: str) -> None:
            self.dsn = dsn

    def connect() -> Conn:
        log.add("connect")
        return Conn("db://one")

    def query(conn: Conn) -> int:
        log.add("query")
        return len(conn.dsn)

    def plain(conn: Conn) -> int:
        log.add("plain")
        return 1

    g = tb.Graph("keyed")
    g.add("connect", connect)
    g.add("query", query, deps={"conn": "connect"}, cache_key=lambda conn: conn.dsn)
    g.add("plain", plain, deps={"conn": "connect"})
    cache = tb.MemoryCache()
    tb.start(g, cache=cache).wait(20)
    log.take()
    run = tb.start(g, cache=cache).wait(20)
    # connect is a hit (no inputs), query by its key; plain cannot be keyed: it runs.
    assert log.take() == ["plain"]
    assert run.snapshot()["run"]["cache"] == {"hits": 2, "misses": 0, "uncacheable": 1}


def test_a_cache_key_that_fails_fails_its_node_with_a_clear_error() -> None:
    g = tb.Graph("bad-key")
    g.add("a", lambda: 1)
    g.add("b", lambda x: x, deps={"x": "a"}, cache_key=lambda x: x)  # an int, not a str
    g.add("c", lambda x: x, deps={"x": "a"}, cache_key=lambda x: 1 / 0)
    run = tb.start(g, cache=tb.MemoryCache()).wait(20)
    nodes = run.snapshot()["nodes"]
    assert nodes["a"]["status"] == "done"
    assert nodes["b"]["status"] == "failed"
    assert "cache_key returned int, not a str" in nodes["b"]["error"]["message"]
    assert nodes["c"]["error"]["type"] == "ZeroDivisionError"


def test_cache_ttl_lets_a_result_be_reused_for_so_long(log: Log) -> None:
    def fetch() -> int:
        log.add("fetch")
        return 7

    g = tb.Graph("ttl")
    g.add("fetch", fetch, cache_ttl=0.3)
    cache = tb.MemoryCache()
    tb.start(g, cache=cache).wait(20)
    tb.start(g, cache=cache).wait(20)
    assert log.take() == ["fetch"]
    time.sleep(0.4)
    tb.start(g, cache=cache).wait(20)
    assert log.take() == ["fetch"]  # stale: it ran, and its new result replaced the old


def test_a_value_with_no_stable_digest_never_yields_a_hit(log: Log) -> None:
    class Box:
        def __init__(self, n: int) -> None:
            self.n = n

    calls = {"n": 0}

    def make() -> Box:
        calls["n"] += 1
        log.add("make")
        return Box(calls["n"])  # a different box each time, same repr shape

    def read(box: Box) -> int:
        log.add("read")
        return box.n

    g = tb.Graph("opaque")
    g.add("make", make, cache=False)
    g.add("read", read, deps={"box": "make"})
    cache = tb.MemoryCache()
    first = tb.start(g, cache=cache).wait(20)
    second = tb.start(g, cache=cache).wait(20)
    assert (first.result("read"), second.result("read")) == (1, 2)
    assert log.take() == ["make", "make", "read", "read"]
    assert second.snapshot()["run"]["cache"]["uncacheable"] == 1


def test_expanded_nodes_have_their_children_looked_up_one_by_one(log: Log) -> None:
    def plan(topics: list[str]) -> tb.Expansion:
        log.add("plan")
        sub = tb.Graph("sections")
        for t in topics:
            sub.add(t, section, kwargs={"topic": t})
        return tb.expand(sub, aggregate=lambda results: sorted(results.values()))

    def section(topic: str) -> str:
        log.add(f"section:{topic}")
        return topic.upper()

    def build(topics: list[str]) -> tb.Graph:
        g = tb.Graph("research")
        g.add("plan", plan, kwargs={"topics": topics})
        g.add("final", lambda parts: " ".join(parts), deps={"parts": "plan"})
        return g

    cache = tb.MemoryCache()
    tb.start(build(["a", "b"]), cache=cache).wait(20)
    assert log.take() == ["plan", "section:a", "section:b"]
    run = tb.start(build(["a", "b", "c"]), cache=cache).wait(20)
    # The planner runs again (its kwargs changed); of its children only the new one runs.
    assert log.take() == ["plan", "section:c"]
    assert run.result("final") == "A B C"
    nodes = run.snapshot()["nodes"]
    assert nodes["plan/a"]["cached"]["node"] == "plan/a"
    assert "cached" not in nodes["plan/c"]
    # The same plan again: the parent runs (expanded parents are not stored), every
    # child and the dependant are hits.
    run = tb.start(build(["a", "b", "c"]), cache=cache).wait(20)
    assert log.take() == ["plan"]
    assert run.snapshot()["nodes"]["final"]["cached"]["run"] != run.id


def test_the_memory_cache_is_bounded_by_bytes() -> None:
    cache = tb.MemoryCache(max_bytes=50_000)
    g = tb.Graph("big")
    for i in range(20):
        g.add(f"n{i}", lambda i=i: "x" * 10_000 + str(i))
    tb.start(g, cache=cache).wait(20)
    stats = cache.stats()
    assert stats["bytes"] <= 50_000
    assert 0 < stats["entries"] < 20
    with pytest.raises(ValueError, match="max_bytes"):
        tb.MemoryCache(max_bytes=-1)


def test_bad_cache_options_are_refused_where_they_are_given() -> None:
    g = tb.Graph("opts")
    with pytest.raises(tb.GraphError, match="cache must be True or False"):
        g.add("a", lambda: 1, cache="yes")  # type: ignore[arg-type]
    with pytest.raises(tb.GraphError, match="cache_key must be a callable"):
        g.add("a", lambda: 1, cache_key="k")  # type: ignore[arg-type]
    with pytest.raises(tb.GraphError, match="cache_ttl must be a number >= 0"):
        g.add("a", lambda: 1, cache_ttl=-1)
    g.add("a", lambda: 1)
    with pytest.raises(TypeError, match="cache must be True, False or a cache"):
        tb.start(g, cache="memory")


# -- the store's cache ------------------------------------------------------------------


def test_the_store_cache_spans_store_instances_and_counts_use(tmp_path: Path, log: Log) -> None:
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        first = tb.start(pipeline(log), store=store, cache=True).wait(20)
    log.take()
    with tb.SQLiteStore(db) as store:
        run = tb.start(pipeline(log), store=store, cache=True).wait(20)
        assert log.take() == []
        assert run.snapshot()["nodes"]["report"]["cached"] == {"run": first.id, "node": "report"}
        assert results(run) == results(first)
        stats = store.cache_stats()
        assert stats["entries"] == 5
        assert stats["hits"] == 5
        assert stats["bytes"] > 0
    with tb.SQLiteStore(db) as store:
        assert store.prune(older_than=3600) == {"removed": 0, "freed": 0}
        removed = store.prune(max_bytes=0)
        assert removed["removed"] == 5
        assert store.cache_stats()["entries"] == 0
        with pytest.raises(ValueError, match="older_than"):
            store.prune(older_than=-1)


def test_a_value_json_would_change_is_not_stored_yet_its_dependants_hit(
    tmp_path: Path, log: Log
) -> None:
    def pair() -> tuple[int, int]:
        log.add("pair")
        return (1, 2)  # JSON gives a list back: never stored with the JSON serializer

    def use(p: tuple[int, int]) -> str:
        log.add("use")
        return type(p).__name__

    g = tb.Graph("exact")
    g.add("pair", pair)
    g.add("use", use, deps={"p": "pair"})
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        tb.start(g, store=store, cache=True).wait(20)
        log.take()
        run = tb.start(g, store=store, cache=True).wait(20)
        assert log.take() == ["pair"]  # pair runs; use sees an equal tuple: a hit
        assert run.result("use") == "tuple"
        assert store.cache.unstored == 2


def test_a_corrupt_cache_entry_is_a_miss_with_a_warning(tmp_path: Path, log: Log) -> None:
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        tb.start(pipeline(log), store=store, cache=True).wait(20)
    log.take()
    with sqlite3.connect(db) as conn:  # flip the stored value of total
        conn.execute("UPDATE cache SET data = CAST('99.0' AS BLOB) WHERE node_id = 'total'")
    with tb.SQLiteStore(db) as store:
        with pytest.warns(tb.CacheWarning, match="checksum"):
            run = tb.start(pipeline(log), store=store, cache=True).wait(20)
        assert log.take() == ["total"]
        assert run.result("total") == 20
        assert run.result("report") == "4 items, total 20.0"
    with tb.SQLiteStore(db) as store:  # the entry was written anew: a hit again
        tb.start(pipeline(log), store=store, cache=True).wait(20)
        assert log.take() == []


MODULE = """
import os
import numpy as np
import pandas as pd
import taskbeam as tb

LOG = os.environ["TB_CACHE_LOG"]


def mark(name):
    with open(LOG, "a") as f:
        f.write(name + "\\n")


def frame():
    mark("frame")
    return pd.DataFrame({"x": np.arange(1000), "s": [f"row {i}" for i in range(1000)]})


def array():
    mark("array")
    return np.linspace(0.0, 1.0, 10_000)


def summary(df, arr):
    mark("summary")
    return {"rows": int(len(df)), "mean": float(arr.mean()), "last": str(df["s"].iloc[-1])}


def build():
    g = tb.Graph("numeric")
    g.add("frame", frame)
    g.add("array", array)
    g.add("summary", summary, deps={"df": "frame", "arr": "array"})
    return g


if __name__ == "__main__":
    import sys
    with tb.SQLiteStore(sys.argv[1]) as store:
        run = tb.start(build(), store=store, cache=True).wait(60)
        print(run.snapshot()["run"]["cache"]["hits"], run.result("summary")["rows"])
"""


def _interpreters(tmp_path: Path, log: Log, n: int, *, together: bool) -> list[str]:
    script = tmp_path / "numeric_graph.py"
    script.write_text(textwrap.dedent(MODULE))
    env = {"TB_CACHE_LOG": str(log.path), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, str(script), str(tmp_path / "shared.db")]
    if together:
        procs = [
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(n)
        ]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs)
        return outs
    outs = []
    for _ in range(n):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outs.append(done.stdout)
    return outs


@pytest.mark.timeout(240)
def test_numpy_and_pandas_inputs_hit_across_fresh_interpreters(tmp_path: Path, log: Log) -> None:
    outs = _interpreters(tmp_path, log, 2, together=False)
    # frame and array are not kept by the JSON store (a DataFrame and an array come
    # back as other types), so they run again; their digests are equal, so summary hits.
    assert log.take() == ["array", "array", "frame", "frame", "summary"]
    assert [o.split() for o in outs] == [["0", "1000"], ["1", "1000"]]


@pytest.mark.timeout(240)
def test_a_store_shared_by_two_processes_at_once(tmp_path: Path, log: Log) -> None:
    outs = _interpreters(tmp_path, log, 2, together=True)
    assert all(o.split()[1] == "1000" for o in outs)
    first = log.take()
    assert first.count("summary") in (1, 2)  # both may miss at once; neither fails
    _interpreters(tmp_path, log, 1, together=False)
    assert log.take() == ["array", "frame"]  # and afterwards the entry is there for all
    with tb.SQLiteStore(tmp_path / "shared.db", readonly=True) as store:
        assert store.runs()  # runs of both processes were stored beside the cache
