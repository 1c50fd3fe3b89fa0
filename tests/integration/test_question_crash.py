"""SIGKILL a process whose stored run has questions open and some answered; continue it.

What a person answered is never asked again (the re-run node gets the stored
answer by its key at once); what was open is asked again, with the same id.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from tests.conftest import wait_until
from tests.integration.question_crash_worker import NODES, build

import taskbeam as tb

WORKER = Path(__file__).with_name("question_crash_worker.py")


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("answered", [("n0:0", "n3:0"), (), ("n0:0", "n1:0", "n2:0", "n3:0")])
def test_killed_with_questions_open_then_continued(
    tmp_path: Path, answered: tuple[str, ...]
) -> None:
    db, log = tmp_path / "runs.db", tmp_path / "log.txt"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(db), str(log), "kq", "start", ",".join(answered)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n", proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    with tb.SQLiteStore(db) as store:
        stored = {q["key"]: q for q in store.questions("kq")}
    assert set(stored) == {f"{n}:0" for n in NODES}  # every question was stored as asked
    assert {k for k, q in stored.items() if "answer" in q} == set(answered)
    log.unlink()

    with tb.SQLiteStore(db) as store:
        run = tb.continue_run("kq", build(log), store=store)
        open_keys = {f"{n}:0" for n in NODES} - set(answered)
        wait_until(lambda: {q.key for q in run.questions()} == open_keys, timeout=20)
        for q in run.questions():
            assert q.id == stored[q.key]["id"]  # the same question, the same id
            run.answer(q.id, f"later-{q.key}")
        run.wait(20)
        assert run.status is tb.RunStatus.DONE
        results = run.results
    for key in answered:  # stored answers: returned at once, never shown again
        assert results[key.split(":")[0]] == f"v-{key}"
    for key in open_keys:
        assert results[key.split(":")[0]] == f"later-{key}"
    after = Counter(lines(log))
    assert all(after[f"asked {n}:0"] == 1 for n in NODES)  # each node re-ran up to its ask
    assert all(after[f"got {k} v-{k}"] == 1 for k in answered)
