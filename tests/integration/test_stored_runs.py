"""Stored runs, first-class: leases and interrupted runs, open_run, the history view.

Real SQLite files, a real subprocess killed with SIGKILL (crash_worker.py),
the broadcaster with in-memory subscribers and the widget driven as its
front end drives it (see test_widget.FrontEnd).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import wait_until
from tests.integration.crash_worker import build
from tests.integration.test_widget import FrontEnd

import taskbeam as tb
from taskbeam._cli import main as cli
from taskbeam.store import _lease
from taskbeam.testing import MemorySubscriber

ROOT = Path(__file__).parents[2]


def as_stored(snapshot: dict[str, Any]) -> dict[str, Any]:
    """``snapshot`` as a view of the stored run receives it: its run fields say ``stored``."""
    return {**snapshot, "run": {**snapshot["run"], "stored": True}}


def effects(path: Path) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


def killed_mid_run(tmp: Path, run_id: str = "crash-run") -> Path:
    """Start crash_worker in a subprocess, check it shows running, SIGKILL it mid-run."""
    db, side = tmp / "runs.db", tmp / "effects.txt"
    # Imported under its package name, as here: the tasks' fingerprints then
    # match those of build() in this process, so continuing here reuses them.
    args = [str(db), str(side), run_id, "start", str(tmp / "out.json")]
    code = (
        f"import sys; sys.argv = ['w', *{args!r}]; "
        "from tests.integration.crash_worker import main; main()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"started\n"
        wait_until(lambda: sum(effects(side).values()) >= 60, timeout=60)
        with tb.SQLiteStore(db) as store:  # alive: its lease holds
            wait_until(lambda: store.runs()[0]["counts"].get("done", 0) > 0, timeout=30)
            assert store.runs()[0]["status"] == "running"
            assert tb.open_run(run_id, store).status is tb.RunStatus.RUNNING
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    return db


def test_a_killed_run_reads_back_interrupted_and_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = killed_mid_run(tmp_path)
    with tb.SQLiteStore(db) as store:
        listed = store.runs()[0]
        assert listed["status"] == "interrupted" and listed["stored_status"] == "running"
        assert store.load("crash-run")["run"]["status"] == "interrupted"
        assert store.history(status="interrupted")["total"] == 1
        assert store.history(status="running")["total"] == 0
        stored = tb.open_run("crash-run", store)
        assert stored.status is tb.RunStatus.INTERRUPTED
        done_before = {n for n, s in stored.snapshot()["nodes"].items() if s["status"] == "done"}
        assert done_before
        before = effects(tmp_path / "effects.txt")
        with pytest.raises(ValueError, match="pass|graph"):
            stored.continue_run()
        run = stored.continue_run(build(tmp_path / "effects.txt"), max_concurrency=4)
        assert run.wait(120).status is tb.RunStatus.DONE
        after = effects(tmp_path / "effects.txt")
        assert {n for n in done_before if after[n] != before[n]} == set()  # not rerun
        assert store.runs()[0]["status"] == "done"
        again, live = tb.open_run("crash-run", store).snapshot(), run.snapshot()
        # (restored nodes keep their first timings in the store; the live run has none)
        assert {n: s["status"] for n, s in again["nodes"].items()} == {
            n: s["status"] for n, s in live["nodes"].items()
        }
        assert sorted(again["edges"]) == sorted(live["edges"])
        assert again["run"]["status"] == "done" and again["run"]["counts"] == live["run"]["counts"]
    assert cli(["runs", "--store", str(db)]) == 0
    assert "done" in capsys.readouterr().out


def test_the_command_line_shows_a_killed_run_interrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = killed_mid_run(tmp_path, "cli-run")
    assert cli(["runs", "--store", str(db)]) == 0
    assert "interrupted" in capsys.readouterr().out
    assert cli(["show", "cli-run", "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert "run interrupted" in out
    assert f"continue it: taskbeam run MODULE:GRAPH --store {db} --continue cli-run" in " ".join(
        out.split()
    )


def _lease_row(db: Path, **fields: Any) -> None:
    with sqlite3.connect(db) as conn:
        for key, value in fields.items():
            conn.execute(f"UPDATE runs SET lease_{key} = ?", (value,))


@pytest.fixture
def held(tmp_path: Path) -> Any:
    """A store with one run that a live task keeps running (its lease is this process's)."""
    gate = tb.Graph("held")
    release = __import__("threading").Event()
    gate.add("wait", lambda: release.wait(30))
    store = tb.SQLiteStore(tmp_path / "runs.db")
    run = tb.start(gate, store=store)
    yield store, run
    release.set()
    run.wait(30)
    store.close()


def test_a_lease_judges_owner_host_start_time_and_expiry(held: Any) -> None:
    store, run = held
    db = store.path
    assert store.runs()[0]["status"] == "running"
    me = _lease.owner()
    _lease_row(db, started="another-boot:1")  # a reused pid: same pid, other start time
    assert store.runs()[0]["status"] == "interrupted"
    _lease_row(db, started=me.started, renewed=time.time() - 2 * _lease.TTL)  # expired
    assert store.runs()[0]["status"] == "interrupted"
    _lease_row(db, renewed=time.time(), host="elsewhere.example", pid=1)  # another host, fresh
    assert store.runs()[0]["status"] == "running"
    _lease_row(db, host=socket.gethostname(), pid=_dead_pid())  # same host, no such process
    assert store.runs()[0]["status"] == "interrupted"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET lease_pid = NULL")  # stored by a version without leases
    assert store.load(run.id)["run"]["status"] == "interrupted"
    with pytest.raises(tb.NotRunning, match="in this process"):
        tb.open_run(run.id, store).continue_run(tb.Graph("held"))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_keeper_renews_leases_of_runs_that_make_no_saves(tmp_path: Path) -> None:
    release = __import__("threading").Event()
    g = tb.Graph("quiet")
    g.add("wait", lambda: release.wait(30))
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        store.leases.interval = 0.05
        run = tb.start(g, store=store)
        try:
            wait_until(lambda: store.leases.renewals >= 3)
            with sqlite3.connect(store.path) as conn:
                (renewed,) = conn.execute("SELECT lease_renewed FROM runs").fetchone()
            assert time.time() - renewed < 5
        finally:
            release.set()
            run.wait(30)
        store.flush()
        with sqlite3.connect(store.path) as conn:  # ended: the lease is gone
            assert conn.execute("SELECT count(lease_pid) FROM runs").fetchone()[0] == 0
        assert store.leases.held == set()


def _runs(store: tb.SQLiteStore) -> dict[str, tb.Run]:
    ok = tb.Graph("ok")
    ok.add("a", lambda: print("from a") or [1, 2])
    ok.add("b", lambda a: sum(a), deps=["a"])

    def boom() -> None:
        raise ValueError("no luck")

    bad = tb.Graph("bad")
    bad.add("x", lambda: 1)
    bad.add("boom", boom)
    bad.add("after", lambda boom: boom, deps=["boom"])
    return {
        "ok": tb.start(ok, store=store).wait(),
        "bad": tb.start(bad, store=store).wait(),
    }


def test_open_run_reads_a_done_and_a_failed_run_like_the_live_one(tmp_path: Path) -> None:
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        runs = _runs(store)
        for run in runs.values():
            stored = tb.open_run(run.id, store)
            assert stored.snapshot() == run.snapshot()
            assert stored.status is run.status
            assert stored.name == run.name and stored.counts == run.counts
            with_graph = tb.open_run(run.id, store, graph=run.graph)
            for node in run.snapshot()["nodes"]:
                assert with_graph.details(node) == run.details(node)
                # Without its graph a stored run does not know the task's function.
                live = {k: v for k, v in run.details(node).items() if k != "function"}
                assert stored.details(node) == live
        ok = tb.open_run(runs["ok"].id, store)
        assert ok._results == {}  # nothing read yet
        results = ok.results
        assert sorted(results) == ["a", "b"] and ok._results == {}
        assert ok.result("b") == 3 and list(ok._results) == ["b"]
        assert dict(results) == runs["ok"].results
        assert set(ok.timings()) == {"a", "b"} and ok.timings()["b"]["seconds"] >= 0
        bad = tb.open_run(runs["bad"].id, store)
        assert bad.status is tb.RunStatus.FAILED
        assert "no luck" in bad.details("boom")["error"]["traceback"]
        with pytest.raises(LookupError, match="failed"):
            bad.result("boom")
        with pytest.raises(KeyError):
            bad.result("nope")
        with pytest.raises(KeyError, match="no run"):
            tb.open_run("missing", store)


def test_a_stored_run_in_the_broadcaster_refuses_controls_and_continues(tmp_path: Path) -> None:
    with tb.SQLiteStore(tmp_path / "runs.db") as store, tb.Broadcaster(max_delay_ms=5) as b:
        run = _runs(store)["bad"]
        stored = tb.open_run(run.id, store)
        b.attach(stored)
        client = MemorySubscriber()
        client.subscription = b.subscribe(run.id, client.send)
        wait_until(lambda: client.receive() or client.state is not None)
        assert client.state == as_stored(run.snapshot())  # what a view reads to show it frozen
        for kind in ("pause", "resume", "cancel"):
            answer = b.request(run.id, {"type": kind, "id": 1})
            assert answer["type"] == "error" and "stored, not running" in answer["error"]
        answer = b.request(run.id, {"type": "cancel_node", "node_id": "x"})
        assert "stored, not running" in answer["error"]
        assert "graph" in b.request(run.id, {"type": "continue"})["error"]
        # With its graph (now fixed), continue: the room passes to the live run.
        fixed = tb.Graph("bad")
        fixed.add("x", lambda: 1)
        fixed.add("boom", lambda: 2)
        fixed.add("after", lambda boom: boom + 1, deps=["boom"])
        stored = tb.open_run(run.id, store, graph=fixed)
        assert stored.snapshot()["run"]["continuable"] is True
        b2_client = MemorySubscriber()
        with tb.Broadcaster(max_delay_ms=5) as b2:
            b2.attach(stored)
            b2_client.subscription = b2.subscribe(run.id, b2_client.send)
            answer = b2.request(run.id, {"type": "continue", "id": 7})
            assert answer == {"type": "continued", "run_id": run.id, "id": 7}
            live = tb.engine._run.live_run(run.id)
            live.wait(30)
            b2.flush_all()

            def converged() -> bool:
                b2_client.receive()
                state = b2_client.state
                return state is not None and state["run"]["status"] == "done"

            wait_until(converged)
            assert b2_client.state == live.snapshot()
            assert b2.request(run.id, {"type": "continue"})["type"] == "error"  # live now
        assert tb.open_run(run.id, store).results["after"] == 3


@pytest.fixture
def broadcaster() -> Any:
    with tb.Broadcaster(max_delay_ms=10) as b:
        yield b


def test_history_view_lists_filters_pages_and_opens_runs(
    tmp_path: Path, broadcaster: tb.Broadcaster
) -> None:
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        made = []
        for i in range(7):
            g = tb.Graph(f"alpha-{i}" if i % 2 else f"beta-{i}")
            g.add("a", (lambda: 1) if i != 3 else (lambda: 1 / 0))
            made.append(tb.start(g, store=store).wait())
        view = tb.GraphView(store, broadcaster=broadcaster)
        assert view.mode == "history" and view.run_id == ""
        front = FrontEnd(view)
        page = front.answer(front.ask({"type": "runs", "limit": 3}))
        newest = [r.id for r in reversed(made)]
        assert [r["id"] for r in page["runs"]] == newest[:3]
        assert page["total"] == 7 and page["next"]
        item = page["runs"][0]
        assert set(item) >= {"id", "name", "status", "created", "ended", "counts", "total"}
        seen = [r["id"] for r in page["runs"]]
        while page["next"]:
            page = front.answer(front.ask({"type": "runs", "limit": 3, "cursor": page["next"]}))
            seen += [r["id"] for r in page["runs"]]
        assert seen == newest
        alpha = front.answer(front.ask({"type": "runs", "name": "ALPHA"}))
        assert {r["name"] for r in alpha["runs"]} == {"alpha-1", "alpha-3", "alpha-5"}
        failed = front.answer(front.ask({"type": "runs", "status": "failed"}))
        assert [r["id"] for r in failed["runs"]] == [made[3].id]
        for bad in ({"limit": 0}, {"status": "sleeping"}, {"cursor": "x"}, {"name": 5}):
            answer = front.answer(front.ask({"type": "runs", **bad}))
            assert answer["type"] == "error" and answer["error"].startswith("runs:")
        # Selecting a run shows it (a live one while it runs, then as stored: the same).
        view.run_id = made[3].id
        wait_until(lambda: front.settle()["run"]["id"] == made[3].id)
        assert front.settle() == as_stored(made[3].snapshot())
        # A run that lives only in the store is shown frozen from the store.
        copy = tmp_path / "copy.db"
        with sqlite3.connect(store.path) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        other = tb.SQLiteStore(copy)
        view2 = tb.GraphView(other, broadcaster=tb.Broadcaster(max_delay_ms=10))
        front2 = FrontEnd(view2)
        view2.run_id = page["runs"][-1]["id"]
        front2.resync()
        wait_until(lambda: front2.client.receive() or front2.client.state is not None)
        state = front2.settle()
        assert state == as_stored(store.load(view2.run_id))
        answer = front2.answer(front2.ask({"type": "pause"}))
        assert "stored, not running" in answer["error"]
        details = front2.answer(front2.ask({"type": "node_details", "node_id": "a"}))
        assert details["details"]["status"] in ("done", "failed")
        view.close()
        view2.close()
        view2._broadcaster.close()
        other.close()


def test_lease_bookkeeping_costs_little(tmp_path: Path) -> None:
    """The lease adds one small statement per save: time it beside a save of 200 nodes."""
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        g = tb.Graph("cost")
        for i in range(200):
            g.add(f"n{i}", lambda i=i: i)
        run = tb.start(g, store=store).wait()
        record = tb.store.RunRecord(run.id, "cost", "running", {}, time.time())
        conn = sqlite3.connect(store.path, isolation_level=None)
        held: set[str] = set()
        times = []
        conn.execute("BEGIN IMMEDIATE")  # as inside the writer's transaction of a save
        for _ in range(200):
            began = time.perf_counter()
            _lease.touch(conn, record.id, "running", held)
            times.append(time.perf_counter() - began)
        conn.execute("ROLLBACK")
        conn.close()
        times.sort()
        median = times[len(times) // 2]
        print(f"lease touch: median {median * 1e6:.1f} us per save")
        assert median < 0.001, median  # a save of 200 nodes takes milliseconds
        assert os.getpid() == _lease.owner().pid


def test_a_stored_runs_view_continues_it_and_turns_live(
    tmp_path: Path, broadcaster: tb.Broadcaster
) -> None:
    def flaky(fail: bool) -> int:
        if fail:
            raise RuntimeError("down")
        return 1

    def graph(fail: bool) -> tb.Graph:
        g = tb.Graph("flaky")
        g.add("first", lambda: 1)
        g.add("call", flaky, kwargs={"fail": fail})
        g.add("sum", lambda first, call: first + call, deps=["first", "call"])
        return g

    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        run = tb.start(graph(True), store=store).wait()
        assert run.status is tb.RunStatus.FAILED
        rid = run.id
        del run
        frozen = FrontEnd(tb.GraphView(tb.open_run(rid, store), broadcaster=broadcaster))
        frozen.resync()
        assert frozen.settle() == as_stored(store.load(rid))
        answer = frozen.answer(frozen.ask({"type": "continue"}))
        assert answer["type"] == "error" and "graph" in answer["error"]

        stored = tb.open_run(rid, store, graph=graph(False))
        view = tb.GraphView(stored, broadcaster=broadcaster)
        front = FrontEnd(view)
        front.resync()
        wait_until(lambda: front.settle()["run"].get("continuable") is True)
        answer = front.answer(front.ask({"type": "continue"}))
        assert answer["type"] == "continued" and answer["run_id"] == rid
        live = tb.engine._run.live_run(rid)
        live.wait(30)
        wait_until(lambda: front.settle()["run"]["status"] == "done")
        assert front.settle() == live.snapshot()
        assert tb.open_run(rid, store).result("sum") == 2
        view.close()
        frozen.view.close()


def test_the_history_view_continues_a_run_of_a_graph_it_was_given(
    tmp_path: Path, broadcaster: tb.Broadcaster
) -> None:
    def step(fail: bool) -> int:
        if fail:
            raise RuntimeError("down")
        return 5

    def graph(fail: bool) -> tb.Graph:
        g = tb.Graph("again")
        g.add("only", step, kwargs={"fail": fail})
        return g

    first = tb.SQLiteStore(tmp_path / "runs.db")
    rid = tb.start(graph(True), store=first).wait().id
    first.close()
    with tb.SQLiteStore(tmp_path / "runs.db") as store:  # the run lives only in the store
        view = tb.GraphView(store, broadcaster=broadcaster, graphs={"again": graph(False)})
        front = FrontEnd(view)
        listed = front.answer(front.ask({"type": "runs", "status": "failed"}))["runs"]
        assert [r["id"] for r in listed] == [rid]
        view.run_id = rid
        wait_until(lambda: front.settle()["run"].get("continuable") is True)
        answer = front.answer(front.ask({"type": "continue"}))
        assert answer["type"] == "continued"
        wait_until(lambda: front.settle()["run"]["status"] == "done")
        tb.engine._run.live_run(rid).wait(30)
        details = front.answer(front.ask({"type": "node_details", "node_id": "only"}))
        assert details["details"]["status"] == "done"
        assert front.settle()["run"]["status"] == "done"  # never back to the old read
        assert store.runs()[0]["status"] == "done"
        assert tb.open_run(rid, store).result("only") == 5
        view.close()
