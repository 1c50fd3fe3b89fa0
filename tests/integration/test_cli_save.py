"""A CLI run saves as a watched run does: a kill loses at most the last moment's work."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import wait_until

from taskbeam.store._log import Log

TASKS = 20
COMMAND = [sys.executable, "-m", "taskbeam._cli"]
MODULE = textwrap.dedent(
    f"""
    import os
    import time

    import taskbeam as tb

    def work(i):
        with open("executions.log", "a") as log:
            log.write(f"{{os.getpid()}} n{{i}} {{time.time()}}\\n")
        time.sleep(0.3)
        return i

    g = tb.Graph("slow")
    for i in range({TASKS}):
        g.add(f"n{{i}}", work, kwargs={{"i": i}})
    """
)


def stored_done(db: Path) -> tuple[str | None, set[str]]:
    """The run id and its nodes stored as done, read without writing anything."""
    if not db.exists():
        return None, set()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT id FROM runs").fetchone()
        if row is None:
            return None, set()
        rows = Log.read(conn, row[0]).rows()
        return row[0], {node_id for node_id, r in rows.items() if r[1] == "done"}
    except sqlite3.OperationalError:  # the schema is not there yet
        return None, set()
    finally:
        conn.close()


def executions(path: Path) -> list[tuple[int, str, float]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        pid, node, when = line.split()
        out.append((int(pid), node, float(when)))
    return out


def test_a_killed_cli_run_resumes_without_rerunning_what_it_saved(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(MODULE)
    env = {"COLUMNS": "160", "PATH": "/usr/bin:/bin", "TERM": "dumb"}
    cmd = [sys.executable, "-m", "taskbeam._cli", "run", "slow:g", "--store", "runs.db"]
    errors = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(
        [*cmd, "--max-concurrency", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    db, log = tmp_path / "runs.db", tmp_path / "executions.log"
    try:
        wait_until(lambda: executions(log), timeout=30, interval=0.02)
        first = executions(log)[0][2]
        wait_until(lambda: len(stored_done(db)[1]) >= 3, timeout=30, interval=0.05)
        saved_after = time.time() - first
        print(f"3 nodes stored {saved_after:.2f} s after the first started")
        assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(30)
        errors.close()
    run_id, done = stored_done(db)
    assert run_id is not None
    ran_before = {node for pid, node, _ in executions(log) if pid == proc.pid}
    # Three 0.3 s nodes and a save within 0.5 s of their end: well under the
    # 5 s of a run nobody watches.
    assert saved_after < 2.5, saved_after
    assert done <= ran_before and len(ran_before) < TASKS
    resumed = subprocess.run(
        [*cmd, "--continue", run_id, "--all"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    again = [node for pid, node, _ in executions(log) if pid != proc.pid]
    assert not done & set(again), (sorted(done), again)
    assert set(again) | done == {f"n{i}" for i in range(TASKS)}
    assert resumed.stdout.count("done (reused)") == len(done)
    assert f"{len(done)} reused from the store" in resumed.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "taskbeam._cli", "show", run_id, "--store", "runs.db", "--all"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "run done" in listed.stdout
    # The store keeps which nodes the continued run took from it.
    assert listed.stdout.count("done (reused)") == len(done)
    assert f"{len(done)} reused from the store" in listed.stdout
    for node in done:
        assert re.search(rf"│ {node}\s+│ done \(reused\)", listed.stdout), node
    for node in set(again):
        assert re.search(rf"│ {node}\s+│ done\s+│", listed.stdout), node
    assert not os.path.exists(tmp_path / ".taskbeam")


def test_save_every_sets_how_often_a_cli_run_saves(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(MODULE)
    proc = subprocess.Popen(
        [
            *COMMAND,
            "run",
            "slow:g",
            "--store",
            "runs.db",
            "--max-concurrency",
            "4",
            "--save-every",
            "60",
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TERM": "dumb"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = tmp_path / "executions.log"
    try:
        # The last wave of four has started: twelve nodes are done, over 0.9 s
        # (0.5 s, the default, would have saved most of them), and the run's
        # own final save is 0.3 s away.
        wait_until(lambda: len(executions(log)) > TASKS - 4, timeout=30, interval=0.02)
        run_id, done = stored_done(tmp_path / "runs.db")
    finally:
        proc.kill()
        proc.wait(30)
    assert run_id is not None and done == set()
