"""Helpers of the hostile store tests: databases to attack, small filesystems, a crash worker.

Run as a script it is the crash worker of ``tests/integration/crash_worker.py``
(the same graph, so results compare with an uninterrupted run) with a choice
of save policy::

    python _hostile_store.py DB SIDE_EFFECTS RUN_ID (start|continue) POLICY RESULTS

POLICY is ``watched`` (a subscriber watches the run: saves stream) or
``unwatched`` (the default policy, nobody watching: few saves). The worker
prints ``started`` once the run is going.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve()


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)


def sql(db: Path, statement: str, *args: Any) -> list[Any]:
    """Run one statement on the file directly, as someone editing it outside taskbeam."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(statement, args).fetchall()
        conn.commit()
    return rows


def integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        result: str = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return result


def worker(tmp: Path, mode: str, policy: str, run_id: str = "crash-run") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            str(tmp / "runs.db"),
            str(tmp / f"effects-{run_id}.txt"),
            run_id,
            mode,
            policy,
            str(tmp / f"{run_id}-{mode}.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )


def finish(proc: subprocess.Popen[bytes], tmp: Path, run_id: str, mode: str) -> dict[str, Any]:
    _, err = proc.communicate(timeout=100)
    assert proc.returncode == 0, err.decode()
    data: dict[str, Any] = json.loads((tmp / f"{run_id}-{mode}.json").read_text())
    return data


def effects(tmp: Path, run_id: str = "crash-run") -> Counter[str]:
    path = tmp / f"effects-{run_id}.txt"
    return Counter(path.read_text().split()) if path.exists() else Counter()


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.integration.crash_worker import build

    import taskbeam as tb

    db, side_effects, run_id, mode, policy_name, out = sys.argv[1:7]
    graph = build(Path(side_effects))
    store = tb.SQLiteStore(db)
    policy = tb.SavePolicy() if policy_name == "unwatched" else tb.SavePolicy(watched=0.02)
    began = time.monotonic()
    if mode == "start":
        run = tb.start(graph, store=store, run_id=run_id, max_concurrency=4, save_policy=policy)
    else:
        run = tb.continue_run(run_id, graph, store=store, save_policy=policy)
    if policy_name == "watched":
        run.subscribe(lambda *frame: None)
    print("started", flush=True)  # the test kills us from here on
    run.wait()
    store.close()
    Path(out).write_text(
        json.dumps(
            {"status": run.status, "results": run.results, "seconds": time.monotonic() - began}
        )
    )


if __name__ == "__main__":
    main()
