"""Files the store makes or opens: backups in shared folders, missing folders, read-only
stores, the command line, SQLite's variable limit."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from tests.adversarial._hostile_store import remount_read_only
from tests.conftest import tmpfs

import taskbeam as tb
from taskbeam.engine._persist import columns
from taskbeam.store._backup import write_backup
from taskbeam.store._base import RunRecord

FAST = tb.SavePolicy(watched=0.01, unwatched=0.01, attempts=2, backoff=0.01)


def record(run_id: str = "r1", pad: int = 0) -> RunRecord:
    return RunRecord(run_id, "g", "done", {"pad": "x" * pad}, 0.0)


def test_the_backup_in_a_shared_temp_folder_follows_no_planted_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    import time

    now = time.time()
    planted = 0
    for second in range(10):  # every name the backup could take in the next 10 s
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now + second))
        for suffix in (".json", ".json.tmp"):
            (shared / f"runs.db.backup-victim-run-{stamp}{suffix}").symlink_to(victim)
            planted += 1
    assert planted == 20
    with tmpfs(tmp_path / "tiny", "384k") as folder:
        store = tb.SQLiteStore(folder / "runs.db")
        g = tb.Graph("full")
        for i in range(20):
            g.add(f"n{i}", lambda i=i: "y" * 30_000 + str(i))
        run = tb.start(g, store=store, run_id="victim-run", save_policy=FAST).wait(20)
        store.close()
        assert run.store_error is not None and "emergency backup" in run.store_error
        assert not [p for p in folder.iterdir() if ".tmp" in p.name]  # no partial file left
    assert victim.read_text() == "precious\n"
    backup = Path(run.store_error.split("emergency backup ")[1])
    assert backup.parent.parent == shared and backup.parent.name.startswith("taskbeam-backup-")
    assert stat.S_IMODE(backup.parent.lstat().st_mode) == 0o700
    assert backup.is_file() and not backup.is_symlink()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert sum(1 for p in shared.iterdir() if p.is_symlink()) == 20


def test_a_backup_next_to_the_database_is_private_and_replaces_nothing(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    first = write_backup(db, record(), [("", [])], columns([], 0.0))
    assert first.parent == tmp_path and stat.S_IMODE(first.stat().st_mode) == 0o600
    first.unlink()
    first.symlink_to(victim)  # someone plants a link at the name the next backup takes
    second = write_backup(db, record(), [("", [])], columns([], 0.0))
    third = write_backup(db, record(), [("", [])], columns([], 0.0))
    assert victim.read_text() == "precious\n" and first.is_symlink()
    assert len({first, second, third}) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_failed_backup_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "elsewhere"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    with tmpfs(tmp_path / "tiny", "128k") as folder:
        db = folder / "runs.db"
        path = write_backup(db, record(pad=400_000), [("", [])], columns([], 0.0))
        assert sorted(folder.iterdir()) == []  # the partial temporary file was removed
    assert path.parent.parent == private and path.stat().st_size > 400_000


def test_a_missing_folder_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "dir" / "runs.db"
    with pytest.raises(tb.StoreError, match=r"the folder .*nonexistent/dir does not exist"):
        tb.SQLiteStore(target)
    assert not (tmp_path / "nonexistent").exists()


def test_the_default_store_makes_its_own_folder_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with tb.SQLiteStore() as store:
        assert store.path == Path(".taskbeam/runs.db")
    assert (tmp_path / ".taskbeam" / "runs.db").is_file()


def test_a_read_only_store_creates_nothing_and_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(tb.StoreError, match="no store at"):
        tb.SQLiteStore(tmp_path / "missing.db", readonly=True)
    assert list(tmp_path.iterdir()) == []
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        g = tb.Graph("ro")
        g.add("a", lambda: 1)
        run = tb.start(g, store=store).wait(10)
    store = tb.SQLiteStore(db, readonly=True)
    assert [r["id"] for r in store.runs()] == [run.id]
    with pytest.raises(tb.StoreError, match="opened read-only"):
        tb.start(g, store=store)
    with pytest.raises(tb.StoreError, match="opened read-only"):
        store.accept(run.id)
    store.close()


def test_a_database_on_read_only_media_can_be_listed_and_shown(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "media", "4m") as folder:
        db = folder / "runs.db"
        with tb.SQLiteStore(db) as store:
            g = tb.Graph("archived")
            g.add("a", lambda: 41)
            g.add("b", lambda a: a + 1, deps=["a"])
            run = tb.start(g, store=store).wait(10)
        remount_read_only(folder)
        with tb.SQLiteStore(db, readonly=True) as store:
            assert store.runs()[0]["id"] == run.id
            assert store.load(run.id)["nodes"]["b"]["preview"] == "42"
        for args in (["runs"], ["show", run.id]):
            done = cli(*args, "--store", str(db))
            assert done.returncode == 0, done.stderr
            assert run.id in done.stdout
        with pytest.raises(tb.StoreError, match="cannot open the run store"):
            tb.SQLiteStore(db)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "taskbeam._cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_read_only_commands_create_nothing_and_say_there_is_no_store(tmp_path: Path) -> None:
    for target in (tmp_path / "runs.db", tmp_path / "nonexistent" / "dir" / "runs.db"):
        for args in (["runs"], ["show", "some-run"]):
            done = cli(*args, "--store", str(target))
            assert done.returncode != 0
            assert f"taskbeam: no store at {target}" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_typo_naming_a_text_file_leaves_it_alone(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n")
    for args in (["runs"], ["show", "x"], ["import", str(notes)]):
        done = cli(*args, "--store", str(notes))
        assert done.returncode != 0
        assert "is not a taskbeam store: it is not an SQLite database" in done.stderr
    assert notes.read_text() == "shopping list\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_resume_with_more_expanded_nodes_than_the_variable_limit(tmp_path: Path) -> None:
    def plan(i: int) -> tb.Expansion:
        sub = tb.Graph()
        sub.add("leaf", lambda: i)
        return tb.expand(sub, aggregate=lambda r: r["leaf"])

    g = tb.Graph("wide")
    for i in range(60):
        g.add(f"p{i}", plan, kwargs={"i": i})
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        limit = 20  # as if SQLite allowed only 20 variables per statement (60 parents here)
        store._conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
        assert store._conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) == limit
        run = tb.start(g, store=store).wait(20)
        assert run.store_error is None
        again = tb.continue_run(run.id, g, store=store, on_error="continue").wait(20)
        assert again.store_error is None, again.store_error
        assert again.results == run.results
        assert store.load(run.id)["run"]["status"] == "done"


def test_a_new_database_and_its_wal_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        g = tb.Graph("private")
        g.add("a", lambda: "secret")
        tb.start(g, store=store).wait(10)
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"runs.db": 0o600, "runs.db-wal": 0o600, "runs.db-shm": 0o600}
    monkeypatch.chdir(tmp_path)
    tb.SQLiteStore().close()
    assert stat.S_IMODE((tmp_path / ".taskbeam").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / ".taskbeam" / "runs.db").stat().st_mode) == 0o600
