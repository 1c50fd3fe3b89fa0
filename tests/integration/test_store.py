"""Persistence on a real SQLite file: saves, continuing, and every bad condition."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import tmpfs, wait_until

import taskbeam as tb

FAST = tb.SavePolicy(watched=0.05, unwatched=0.05, backoff=0.01)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with tb.SQLiteStore(tmp_path / "runs.db") as s:
        yield s


def counted_graph(calls: Counter[str], name: str = "counted", version: int = 1) -> tb.Graph:
    def step(tag: str, **upstream: int) -> int:
        calls[tag] += 1
        return len(tag) + sum(upstream.values())

    g = tb.Graph(name)
    g.add("a", step, kwargs={"tag": "a"})
    g.add("b", step, deps=["a"], kwargs={"tag": "b"})
    g.add("c", step, deps=["b"], kwargs={"tag": "c" * version})  # changes with version
    g.add("d", step, deps=["c"], kwargs={"tag": "d"})
    g.add("e", step, deps=["a"], kwargs={"tag": "e"})
    return g


def test_a_run_is_stored_and_loads_back_as_its_snapshot(store: Any) -> None:
    run = tb.start(counted_graph(Counter()), store=store).wait(5)
    assert run.store_error is None
    saved = store.load(run.id)
    live = run.snapshot()
    assert saved["nodes"] == live["nodes"]
    assert sorted(saved["edges"]) == sorted(live["edges"])
    assert saved["run"]["status"] == "done" and saved["run"]["counts"]["done"] == 5
    [listed] = store.runs()
    assert listed["id"] == run.id and listed["status"] == "done" and listed["total"] == 5


def test_creation_is_stored_before_the_first_node_starts(store: Any) -> None:
    seen: list[dict[str, Any]] = []

    def first() -> None:
        seen.append(store.load(run_id))

    run_id = "early-run"
    g = tb.Graph("early")
    g.add("first", first)
    g.add("second", lambda first: None, deps=["first"])
    tb.start(g, store=store, run_id=run_id).wait(5)
    assert set(seen[0]["nodes"]) == {"first", "second"}
    assert seen[0]["run"]["status"] == "running"


def test_continuing_after_a_change_reruns_exactly_the_changed_nodes_and_downstream(
    store: Any,
) -> None:
    calls: Counter[str] = Counter()
    first = tb.start(counted_graph(calls), store=store).wait(5)
    assert calls == Counter("abcde")
    calls.clear()
    same = tb.continue_run(first.id, counted_graph(calls), store=store).wait(5)
    assert calls == Counter() and same.results == first.results
    changed = tb.continue_run(first.id, counted_graph(calls, version=2), store=store).wait(5)
    assert calls == Counter({"cc": 1, "d": 1})
    assert changed.result("d") == first.result("d") + 1
    assert changed.id == first.id
    assert store.load(first.id)["run"]["status"] == "done"


def test_failed_nodes_run_again_on_continue(store: Any) -> None:
    flaky = {"fail": True}

    def sometimes() -> str:
        if flaky["fail"]:
            raise RuntimeError("not yet")
        return "ok"

    g = tb.Graph("again")
    g.add("ok", lambda: 1)
    g.add("sometimes", sometimes)
    g.add("after", lambda sometimes, ok: f"{sometimes}{ok}", deps=["sometimes", "ok"])
    run = tb.start(g, store=store).wait(5)
    assert run.status == "failed"
    assert store.load(run.id)["nodes"]["sometimes"]["error"]["message"] == "not yet"
    flaky["fail"] = False
    again = tb.continue_run(run.id, g, store=store).wait(5)
    assert again.status == "done" and again.result("after") == "ok1"
    assert again.snapshot()["nodes"]["ok"] == {"status": "done", "preview": "1"}  # reused


def test_expanded_children_stored_done_are_reused_when_the_parent_runs_again(
    store: Any,
) -> None:
    calls: Counter[str] = Counter()
    gate = {"open": False}

    def leaf(i: int) -> int:
        calls[f"leaf{i}"] += 1
        return i

    def last() -> int:
        calls["last"] += 1
        if not gate["open"]:
            raise RuntimeError("crash stand-in")
        return 100

    def plan() -> tb.Expansion:
        calls["plan"] += 1
        sub = tb.Graph()
        for i in range(3):
            sub.add(f"l{i}", leaf, kwargs={"i": i})
        sub.add("last", last)
        return tb.expand(sub, aggregate=lambda r: sum(r.values()))

    g = tb.Graph("children")
    g.add("plan", plan)
    run = tb.start(g, store=store).wait(5)
    assert run.status == "failed"
    gate["open"] = True
    calls.clear()
    again = tb.continue_run(run.id, g, store=store).wait(5)
    assert again.result("plan") == 103
    assert calls == Counter({"plan": 1, "last": 1})  # leaves were reused
    assert set(store.load(run.id)["nodes"]) == {
        "plan",
        "plan/l0",
        "plan/l1",
        "plan/l2",
        "plan/last",
    }


def test_an_unserializable_result_is_stored_as_its_preview_and_the_run_goes_on(
    store: Any,
) -> None:
    calls: Counter[str] = Counter()

    def lock() -> threading.Lock:
        calls["lock"] += 1
        return threading.Lock()

    g = tb.Graph("locks")
    g.add("lock", lock)
    g.add("uses", lambda lock: "used", deps=["lock"])
    run = tb.start(g, store=store).wait(5)
    assert run.status == "done" and run.store_error is None
    row = store.node_rows(run.id)["lock"]
    assert (row["result_format"], row["result"]) == ("preview", None)
    assert "lock" in row["preview"]
    tb.continue_run(run.id, g, store=store).wait(5)
    assert calls["lock"] == 2  # its result could not be stored, so it runs again


def test_json_changes_tuples_to_lists_pickle_keeps_them(tmp_path: Path) -> None:
    g = tb.Graph("types")
    g.add("t", lambda: (1, 2))
    g.add("u", lambda t: t, deps=["t"])
    for serializer, expected in (("json", [1, 2]), ("pickle", (1, 2))):
        with tb.SQLiteStore(tmp_path / f"{serializer}.db", serializer=serializer) as s:
            run = tb.start(g, store=s).wait(5)
            again = tb.continue_run(run.id, g, store=s).wait(5)
            assert again.result("t") == expected


def test_a_corrupt_database_is_kept_aside_and_a_new_one_made(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    db.write_bytes(b"SQLite format 3\x00" + b"this is not a database" * 100)
    with pytest.warns(tb.StoreRecoveryWarning, match="kept it aside"):
        s = tb.SQLiteStore(db)
    assert s.quarantined is not None and b"this is not" in s.quarantined.read_bytes()
    run = tb.start(counted_graph(Counter()), store=s).wait(5)
    assert s.load(run.id)["run"]["status"] == "done"
    s.close()


def test_a_database_damaged_inside_is_detected_at_open(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as s:
        tb.start(counted_graph(Counter()), store=s).wait(5)
    data = bytearray(db.read_bytes())
    for page in range(4096, len(data), 4096):  # break every page header but the first
        data[page : page + 8] = b"\xff" * 8
    db.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    with pytest.warns(tb.StoreRecoveryWarning):
        s = tb.SQLiteStore(db)
    assert s.runs() == []
    s.close()


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    tb.SQLiteStore(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(tb.StoreError, match="schema version 99"):
        tb.SQLiteStore(db)


def test_a_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as folder:
        with pytest.raises(tb.StoreError, match="cannot open the run store at") as info:
            tb.SQLiteStore(folder / "runs.db")
        assert "Choose a writable location" in str(info.value)


def test_a_full_filesystem_falls_back_to_a_backup_elsewhere(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "tiny", "384k") as folder:
        s = tb.SQLiteStore(folder / "runs.db")
        g = tb.Graph("full")
        for i in range(20):
            g.add(f"n{i}", lambda i=i: "y" * 30_000 + str(i))
        run = tb.start(g, store=s, save_policy=FAST).wait(10)
        assert run.status == "done" and run.result("n7").endswith("7")
        assert run.store_error is not None and "full" in run.store_error
        backup = Path(run.store_error.split("emergency backup ")[1])
        assert backup.parent.parent == Path(tempfile.gettempdir())
        assert len(json.loads(backup.read_text())["nodes"]["id"]) == 20
        backup.unlink()
        backup.parent.rmdir()
        s.close()


def test_a_database_at_its_size_limit_falls_back_to_a_backup_that_imports_back(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    s = tb.SQLiteStore(db)
    s.submit(lambda conn: conn.execute("PRAGMA max_page_count = 12")).result()
    g = tb.Graph("big")
    for i in range(20):
        g.add(f"n{i}", lambda i=i: "x" * 20_000 + str(i))
    run = tb.start(g, store=s, save_policy=FAST).wait(10)
    assert run.status == "done"
    assert run.store_error is not None and "full" in run.store_error
    assert "emergency backup" in run.store_error
    assert run.result("n3").endswith("3")  # nothing lost in memory
    [backup] = tmp_path.glob("runs.db.backup-*.json")
    assert json.loads(backup.read_text())["run"]["id"] == run.id
    assert run.snapshot()["run"]["error"] == run.store_error
    s.close()
    with tb.SQLiteStore(db) as fresh:  # a new connection has no size limit
        proc = subprocess.run(
            [sys.executable, "-m", "taskbeam._cli", "import", str(backup), "--store", str(db)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        loaded = fresh.load(run.id)
    assert loaded["run"]["status"] == "done" and len(loaded["nodes"]) == 20
    again = tb.continue_run(run.id, g, store=tb.SQLiteStore(db)).wait(5)
    assert again.result("n3").endswith("3")


def test_a_failed_verification_is_an_error_on_the_run(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "verify", lambda run_id, batches, total: ["node count 0"])
    run = tb.start(counted_graph(Counter()), store=store, save_policy=FAST).wait(5)
    assert run.store_error is not None and "verification of run" in run.store_error
    assert list(store.path.parent.glob("runs.db.backup-*.json"))


def test_watched_runs_save_within_the_policy_delay(store: Any) -> None:
    gate = threading.Event()
    g = tb.Graph("watched")
    g.add("quick", lambda: 1)
    g.add("slow", lambda: gate.wait(10))
    policy = tb.SavePolicy(watched=0.1, unwatched=30)
    watched = tb.start(g, store=store, save_policy=policy)
    watched.subscribe(lambda e: None)
    wait_until(lambda: store.load(watched.id)["nodes"]["quick"]["status"] == "done", 2)
    unwatched = tb.start(g, store=store, save_policy=policy)
    wait_until(lambda: unwatched.counts.get("done") == 1)
    assert store.load(unwatched.id)["nodes"]["quick"]["status"] == "pending"
    unwatched.pause()  # a change of the run's own status is saved at once
    wait_until(lambda: store.load(unwatched.id)["run"]["status"] == "paused", 2)
    unwatched.resume()
    gate.set()
    for run in (watched, unwatched):
        run.wait(5)
        assert store.load(run.id)["run"]["status"] == "done"


def test_two_processes_share_one_database(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    script = textwrap.dedent(
        f"""
        import sys, taskbeam as tb
        g = tb.Graph(sys.argv[1])
        for i in range(150):
            g.add(f"n{{i}}", lambda i=i: i)
        s = tb.SQLiteStore({str(db)!r})
        run = tb.start(g, store=s, save_policy=tb.SavePolicy(watched=0, unwatched=0))
        print(run.wait().status, run.store_error)
        s.close()
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, name], stdout=subprocess.PIPE, text=True)
        for name in ("left", "right")
    ]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert outs == ["done None\n", "done None\n"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with tb.SQLiteStore(db) as s:
        runs = s.runs()
        assert sorted(r["name"] for r in runs) == ["left", "right"]
        assert all(r["counts"]["done"] == 150 for r in runs)


def runs_in_main_file(db: Path, tmp_path: Path) -> int:
    """Runs in the database file alone, as if its WAL were lost: what checkpoints copied."""
    copy = tmp_path / "main-only.db"
    copy.write_bytes(db.read_bytes())
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])


def test_the_writer_checkpoints_when_idle_and_on_request_not_in_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskbeam.store import _sqlite

    monkeypatch.setattr(_sqlite, "CHECKPOINT_IDLE", 60.0)
    with tb.SQLiteStore(tmp_path / "runs.db") as s:
        s.checkpoint(5)  # the schema, into the database file
        first = tb.start(counted_graph(Counter()), store=s).wait(5)
        assert first.store_error is None
        assert runs_in_main_file(s.path, tmp_path) == 0  # committed to the WAL only
        s.checkpoint(5)
        assert runs_in_main_file(s.path, tmp_path) == 1
        monkeypatch.setattr(_sqlite, "CHECKPOINT_IDLE", 0.05)
        tb.start(counted_graph(Counter()), store=s).wait(5)
        wait_until(lambda: runs_in_main_file(s.path, tmp_path) == 2, 5)


def test_the_wal_stays_bounded_without_idle_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskbeam.store import _sqlite

    monkeypatch.setattr(_sqlite, "CHECKPOINT_IDLE", 60.0)
    monkeypatch.setattr(_sqlite, "WAL_LIMIT", 256 * 1024)
    g = tb.Graph("wide")
    for i in range(100):
        g.add(f"n{i}", lambda i=i: f"{i}" * 2000)
    with tb.SQLiteStore(tmp_path / "runs.db") as s:
        for _ in range(12):  # about 300 KB each
            assert tb.start(g, store=s).wait(5).store_error is None
        wal = Path(str(s.path) + "-wal").stat().st_size
        assert wal < 1024 * 1024, wal
        assert runs_in_main_file(s.path, tmp_path) >= 10


def test_new_work_is_never_hurt_by_interrupting_a_checkpoint(store: Any) -> None:
    # submit() interrupts the writer's connection while an idle checkpoint runs;
    # an interrupt that arrives just after the checkpoint ended must not touch
    # the next transaction.
    with store._lock:
        store._checkpointing = True
    try:
        assert (
            store.submit(lambda conn: conn.execute("SELECT 41 + 1").fetchone()[0]).result(5) == 42
        )
    finally:
        with store._lock:
            store._checkpointing = False
    run = tb.start(counted_graph(Counter()), store=store).wait(5)
    assert run.store_error is None and store.load(run.id)["run"]["status"] == "done"


def test_new_databases_get_large_pages_old_ones_keep_theirs(tmp_path: Path) -> None:
    from taskbeam.store import _sqlite

    old = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(old)) as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("CREATE TABLE unrelated (x)")
        conn.commit()
    for path, size in ((tmp_path / "new.db", _sqlite.PAGE_SIZE), (old, 4096)):
        with tb.SQLiteStore(path) as s:
            assert tb.start(counted_graph(Counter()), store=s).wait(5).store_error is None
        with contextlib.closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA page_size").fetchone()[0] == size
            assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_the_run_row_checksum_covers_the_whole_log(store: Any) -> None:
    import zlib

    from taskbeam.store._base import log_digest

    g = tb.Graph("streamed")
    previous = None
    for i in range(6):
        g.add(f"s{i}", lambda **_: time.sleep(0.03), deps=[previous] if previous else [])
        previous = f"s{i}"
    run = tb.start(g, store=store, save_policy=FAST)
    run.subscribe(lambda e: None)
    assert run.wait(5).store_error is None
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        log = {
            seq: zlib.crc32(blob)
            for seq, blob in conn.execute(
                "SELECT seq, nodes FROM batches WHERE run_id = ?", (run.id,)
            )
        }
        (checksum,) = conn.execute("SELECT checksum FROM runs WHERE id = ?", (run.id,)).fetchone()
    assert len(log) > 2  # streamed: several saves
    assert checksum == log_digest(log)


def test_a_save_without_changed_nodes_adds_no_batch(store: Any) -> None:
    from taskbeam.engine._persist import columns
    from taskbeam.store._base import RunRecord

    record = RunRecord(id="r", name="n", status="running", options={}, created=0.0, total=0)
    store.create_run(record, []).result(5)
    record.status = "done"
    saved = store.save(record, columns([], 0.0)).result(5)
    assert saved.batches == {} and not saved.replace
    assert store.load("r")["run"]["status"] == "done"
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        assert conn.execute("SELECT count(*) FROM batches").fetchone()[0] == 0


def test_service_continues_a_project_from_its_store(store: Any) -> None:
    calls: Counter[str] = Counter()
    with tb.ExecutionService(store=store) as svc:
        svc.start("proj", counted_graph(calls)).wait(5)
    calls.clear()
    with tb.ExecutionService(store=store) as svc:
        run = svc.continue_run("proj", counted_graph(calls, version=3))
        assert run.wait(5).status == "done"
    assert calls == Counter({"ccc": 1, "d": 1})
    with pytest.raises(KeyError, match="no stored run of project 'other'"):
        tb.ExecutionService(store=store).continue_run("other", counted_graph(calls))


def test_cli_lists_and_shows_runs(store: Any, tmp_path: Path) -> None:
    run = tb.start(counted_graph(Counter(), name="listed"), store=store).wait(5)
    env = {"COLUMNS": "150", "PATH": "/usr/bin:/bin", "TERM": "dumb"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "taskbeam._cli", *args, "--store", str(store.path)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    listed = cli("runs")
    assert listed.returncode == 0 and run.id in listed.stdout and "listed" in listed.stdout
    shown = cli("show", run.id)
    assert shown.returncode == 0 and "run done" in shown.stdout and "│ e " in shown.stdout
    missing = cli("show", "nope")
    assert missing.returncode != 0 and "no run 'nope'" in missing.stderr
