"""SIGKILL at random points, in the final save, twice in a row, and beside a second writer.

Every trial resumes the killed run to the end and checks that the results
equal an uninterrupted run's, that no node stored as done ran again, that
the file passes ``PRAGMA integrity_check`` and that every run still loads
(its log agrees with its checksum).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.adversarial._hostile_store import effects, finish, integrity, worker

import taskbeam as tb

CRASH_WORKER = Path(__file__).resolve().parents[1] / "integration" / "crash_worker.py"


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An uninterrupted run of the same graph, and how many node executions it takes."""
    tmp = tmp_path_factory.mktemp("plain")
    out, side = tmp / "plain.json", tmp / "effects.txt"
    subprocess.run(
        [sys.executable, str(CRASH_WORKER), str(tmp / "x.db"), str(side), "p", "plain", str(out)],
        check=True,
        timeout=100,
    )
    data: dict[str, Any] = json.loads(out.read_text())
    data["executions"] = len(side.read_text().split())
    return data


def kill_after(proc: subprocess.Popen[bytes], tmp: Path, run_id: str, target: int) -> None:
    """SIGKILL once ``target`` node executions happened (or the worker ended)."""
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"started\n"
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if sum(effects(tmp, run_id).values()) >= target:
            break
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def stored_done(db: Path, run_id: str) -> set[str]:
    """The nodes stored as done after a kill; the store must read the run cleanly."""
    if not db.exists():
        return set()
    assert integrity(db) == "ok"
    with tb.SQLiteStore(db, readonly=True) as store:
        if run_id not in {r["id"] for r in store.runs()}:
            return set()
        store.load(run_id)  # the log agrees with the checksum after any kill
        rows = store.node_rows(run_id)
    return {n for n, row in rows.items() if row["status"] == "done"}


def resume_to_the_end(
    tmp: Path, run_id: str, policy: str, expected: dict[str, Any], done: set[str]
) -> None:
    before = effects(tmp, run_id)
    started = (tmp / "runs.db").exists() and _has_run(tmp / "runs.db", run_id)
    mode = "continue" if started else "start"
    data = finish(worker(tmp, mode, policy, run_id), tmp, run_id, mode)
    assert data["status"] == "done"
    assert data["results"] == expected["results"]
    after = effects(tmp, run_id)
    rerun = {n for n in done if after[n] != before[n]}
    assert rerun == set(), f"nodes stored as done ran again: {sorted(rerun)}"
    assert integrity(tmp / "runs.db") == "ok"
    with tb.SQLiteStore(tmp / "runs.db", readonly=True) as store:
        assert store.load(run_id)["run"]["status"] == "done"
        statuses = Counter(r["status"] for r in store.node_rows(run_id).values())
    assert set(statuses) == {"done"} and sum(statuses.values()) == len(expected["results"])


def _has_run(db: Path, run_id: str) -> bool:
    with tb.SQLiteStore(db, readonly=True) as store:
        return run_id in {r["id"] for r in store.runs()}


@pytest.mark.parametrize("policy", ["watched", "unwatched"])
@pytest.mark.parametrize("trial", range(3))
def test_sigkill_at_a_random_point(
    policy: str, trial: int, expected: dict[str, Any], tmp_path: Path
) -> None:
    rng = random.Random(f"{policy}-{trial}")
    target = rng.randrange(0, expected["executions"] + 20)
    kill_after(worker(tmp_path, "start", policy), tmp_path, "crash-run", target)
    done = stored_done(tmp_path / "runs.db", "crash-run")
    resume_to_the_end(tmp_path, "crash-run", policy, expected, done)


@pytest.mark.parametrize("policy", ["watched", "unwatched"])
def test_sigkill_in_the_final_save(policy: str, expected: dict[str, Any], tmp_path: Path) -> None:
    # Every node has executed: what is left is the end of the run and its final save.
    kill_after(worker(tmp_path, "start", policy), tmp_path, "crash-run", expected["executions"])
    done = stored_done(tmp_path / "runs.db", "crash-run")
    resume_to_the_end(tmp_path, "crash-run", policy, expected, done)


@pytest.mark.parametrize("trial", range(2))
def test_sigkill_twice_in_a_row(trial: int, expected: dict[str, Any], tmp_path: Path) -> None:
    rng = random.Random(f"twice-{trial}")
    first = rng.randrange(10, expected["executions"] // 2)
    kill_after(worker(tmp_path, "start", "watched"), tmp_path, "crash-run", first)
    assert _has_run(tmp_path / "runs.db", "crash-run")
    done_first = stored_done(tmp_path / "runs.db", "crash-run")
    # The resumed run is killed too, somewhere in what was left.
    second = sum(effects(tmp_path).values()) + rng.randrange(0, expected["executions"] // 2)
    before = effects(tmp_path)
    kill_after(worker(tmp_path, "continue", "watched"), tmp_path, "crash-run", second)
    rerun = {n for n in done_first if effects(tmp_path)[n] != before[n]}
    assert rerun == set(), f"nodes stored as done ran again: {sorted(rerun)}"
    done = stored_done(tmp_path / "runs.db", "crash-run")
    resume_to_the_end(tmp_path, "crash-run", "watched", expected, done)


def test_two_writers_on_one_file_and_one_is_killed(
    expected: dict[str, Any], tmp_path: Path
) -> None:
    steady = worker(tmp_path, "start", "watched", run_id="steady")
    doomed = worker(tmp_path, "start", "watched", run_id="doomed")
    kill_after(doomed, tmp_path, "doomed", expected["executions"] // 3)
    data = finish(steady, tmp_path, "steady", "start")
    assert data["status"] == "done" and data["results"] == expected["results"]
    done = stored_done(tmp_path / "runs.db", "doomed")
    resume_to_the_end(tmp_path, "doomed", "watched", expected, done)
    with tb.SQLiteStore(tmp_path / "runs.db", readonly=True) as store:
        assert {r["id"]: r["status"] for r in store.runs()} == {"steady": "done", "doomed": "done"}
