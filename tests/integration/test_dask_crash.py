"""A Dask computation killed with SIGKILL continues from its store, chunks stored done reused."""

from __future__ import annotations

import contextlib
import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dask.array")

import taskbeam as tb

WORKER = Path(__file__).with_name("dask_crash_worker.py")
TRIALS = 4
CHUNKS = 144
CHUNK_NODE = re.compile(r"(?:array|step)[^\[]*\[(\d+,\d+)\]")


def worker(tmp: Path, mode: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            str(tmp / "runs.db"),
            str(tmp / "effects.txt"),
            mode,
            str(tmp / f"{mode}.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes], tmp: Path, mode: str) -> Any:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    return json.loads((tmp / f"{mode}.json").read_text())


def effects(tmp: Path) -> Counter[str]:
    path = tmp / "effects.txt"
    return Counter(path.read_text().split()) if path.exists() else Counter()


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("plain")
    return finish(worker(tmp, "plain"), tmp, "plain")


def stored_done_blocks(db: Path) -> tuple[str | None, set[str]]:
    """The run stored and the block indexes of its ``step`` chunks stored as done."""
    if not db.exists():
        return None, set()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with tb.SQLiteStore(db, serializer="pickle") as store:
        runs = store.runs()
        if not runs:
            return None, set()
        run_id = runs[0]["id"]
        rows = store.node_rows(run_id)
    done = set()
    for node_id, row in rows.items():
        # Dask fuses from_array, step and the first sum of a chunk into one task per
        # chunk (array-sum[i,j] in this Dask); its index is the chunk's.
        chunk = CHUNK_NODE.fullmatch(node_id)
        if row["status"] == "done" and chunk:
            done.add(chunk[1])
    return run_id, done


@pytest.mark.parametrize("trial", range(TRIALS))
def test_kill_and_compute_again(trial: int, expected: Any, tmp_path: Path) -> None:
    rng = random.Random(2000 + trial)
    proc = worker(tmp_path, "store")
    target = rng.randrange(30, CHUNKS - 10)  # chunks have been saved by then (every 20 ms)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if sum(effects(tmp_path).values()) >= target:
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    run_id, done = stored_done_blocks(tmp_path / "runs.db")
    before = effects(tmp_path)
    assert run_id is not None and 0 < len(done) < CHUNKS  # killed mid-way, with chunks stored
    value = finish(worker(tmp_path, "store"), tmp_path, "store")
    assert value == expected
    again = json.loads((tmp_path / "store.json.run").read_text())
    assert again == {"id": run_id, "status": "done"}  # the same run, continued
    after = effects(tmp_path)
    rerun = {b for b in done if after[b] != before[b]}
    assert rerun == set(), f"chunks stored as done ran again: {sorted(rerun)}"
    assert set(after) == {f"{i},{j}" for i in range(12) for j in range(12)}
