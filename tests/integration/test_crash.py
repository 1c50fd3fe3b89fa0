"""Kill a persisted run with SIGKILL at random moments; continuing must finish it exactly."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import taskbeam as tb

WORKER = Path(__file__).with_name("crash_worker.py")
TRIALS = 20


def worker(tmp: Path, mode: str, run_id: str = "crash-run") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            str(tmp / "runs.db"),
            str(tmp / "effects.txt"),
            run_id,
            mode,
            str(tmp / f"{mode}.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes], tmp: Path, mode: str) -> dict[str, Any]:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    data: dict[str, Any] = json.loads((tmp / f"{mode}.json").read_text())
    return data


def effects(tmp: Path) -> Counter[str]:
    path = tmp / "effects.txt"
    return Counter(path.read_text().split()) if path.exists() else Counter()


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("plain")
    data = finish(worker(tmp, "plain"), tmp, "plain")
    assert data["status"] == "done"
    return data


@pytest.mark.parametrize("trial", range(TRIALS))
def test_kill_and_continue(trial: int, expected: dict[str, Any], tmp_path: Path) -> None:
    rng = random.Random(1000 + trial)
    proc = worker(tmp_path, "start")
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"started\n"
    # Kill after a random amount of progress (not time: the machine is noisy),
    # from before the first node to after the last.
    target = rng.randrange(0, len(expected["results"]) + 40)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if sum(effects(tmp_path).values()) >= target:
            break
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    db = tmp_path / "runs.db"
    stored_done: set[str] = set()
    started = False
    if db.exists():
        with contextlib.closing(sqlite3.connect(db)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        with tb.SQLiteStore(db) as store:
            started = bool(store.runs())
            rows = store.node_rows("crash-run")
        stored_done = {n for n, row in rows.items() if row["status"] == "done"}
    before = effects(tmp_path)
    mode = "continue" if started else "start"
    data = finish(worker(tmp_path, mode), tmp_path, mode)
    assert data["status"] == "done"
    assert data["results"] == expected["results"]
    after = effects(tmp_path)
    rerun = {n for n in stored_done if after[n] != before[n]}
    assert rerun == set(), f"nodes stored as done ran again: {sorted(rerun)}"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with tb.SQLiteStore(db) as store:
        statuses = Counter(row["status"] for row in store.node_rows("crash-run").values())
    assert set(statuses) == {"done"} and sum(statuses.values()) == len(expected["results"])
