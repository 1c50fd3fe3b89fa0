"""Metrics in the store: saved with each node, restored (and rolled up again) on continue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import taskbeam as tb

WORKER = Path(__file__).with_name("metrics_crash_worker.py")


def spend_a() -> None:
    tb.usage(cost=0.5, tokens_in=3)


def test_metrics_are_stored_and_come_back_on_resume(tmp_path: Path) -> None:
    store = tb.SQLiteStore(tmp_path / "runs.db")
    g = tb.Graph("stored")
    g.add("a", spend_a)
    g.add("b", lambda a: 1 / 0, deps=["a"])
    run = tb.start(g, store=store).wait()
    saved = store.load_for_resume(run.id)
    assert saved["metrics"]["a"] == {
        "tokens_in": [3.0, "sum", "tokens", 0.0],
        "cost": [0.5, "sum", None, 0.0],
    }
    g2 = tb.Graph("stored")
    g2.add("a", spend_a)
    g2.add("b", lambda a: tb.usage(cost=1.0), deps=["a"])
    again = tb.continue_run(run.id, g2, store=store).wait()
    assert again.status is tb.RunStatus.DONE
    # a was reused (not run again): its stored cost still counts, b's adds to it.
    assert again.snapshot()["run"]["metrics"] == {"tokens_in": 3, "cost": 1.5}
    assert store.load_for_resume(run.id)["metrics"]["b"]["cost"][0] == 1.0


def test_rollups_survive_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run_id = "metered-crash0001"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(db), run_id, "start"],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "METRICS_HANG": "1"},
        cwd=Path(__file__).parents[2],
    )
    try:
        deadline = time.monotonic() + 30
        metrics: dict[str, Any] = {}
        while True:  # the hanging leaf's own report is saved too (it reported, then hung)
            assert proc.poll() is None, "the worker ended before it was killed"
            assert time.monotonic() < deadline, metrics
            time.sleep(0.02)
            if not db.exists():
                continue
            try:
                metrics = tb.SQLiteStore(db).load_for_resume(run_id)["metrics"]
            except KeyError:
                continue
            if sum(v["cost"][0] for v in metrics.values()) == 8.0:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    done = subprocess.run(
        [sys.executable, str(WORKER), str(db), run_id, "resume"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["status"] == "done"
    # The hanging leaf ran again: its first attempt's cost counts, so 9, not 8.
    assert out["run"]["cost"] == 9
    assert out["run"]["peak"] == 13
    nodes = out["nodes"]
    assert nodes["top"]["cost"] == 9
    assert nodes["top/m1"]["cost"] == 5
    assert nodes["top/m0"] == {"cost": 4, "tokens_in": 40, "peak": 3}
    assert nodes["top/m1/l3"]["cost"] == 2
    assert nodes["top/m0/l0"] == {"cost": 1, "tokens_in": 10, "peak": 0}  # not run again


def test_a_stored_run_shows_its_rollups(tmp_path: Path) -> None:
    store = tb.SQLiteStore(tmp_path / "runs.db")

    def leaf(i: int) -> None:
        tb.usage(cost=0.25, tokens_out=i)
        tb.metric("peak", i, agg="max")

    def plan() -> tb.Expansion:
        sub = tb.Graph("sub")
        for i in range(3):
            sub.add(f"l{i}", leaf, kwargs={"i": i + 1})
        return tb.expand(sub)

    g = tb.Graph("shown")
    g.add("plan", plan)
    run = tb.start(g, store=store).wait()
    live = run.snapshot()
    stored = store.load(run.id)
    assert stored["run"]["metrics"] == live["run"]["metrics"] == {
        "cost": 0.75, "tokens_out": 6, "peak": 3
    }  # fmt: skip
    assert stored["run"]["units"] == {"tokens_out": "tokens"}
    for node_id in ("plan", "plan/l0", "plan/l2"):
        assert stored["nodes"][node_id]["metrics"] == live["nodes"][node_id]["metrics"]
    assert tb.open_run(run.id, store).snapshot()["run"]["metrics"]["cost"] == 0.75
