"""Questions and answers in the store: written at once, migrated into old stores, read back."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import wait_until

import taskbeam as tb
from taskbeam.store._sqlite import MIGRATIONS, SCHEMA_VERSION


def asking_graph(seen: list[str], keys: tuple[str, ...] = ("a", "b", "c")) -> tb.Graph:
    g = tb.Graph("asks")
    for key in keys:

        async def ask(key: str = key) -> Any:
            seen.append(key)
            return await tb.ask(f"{key}?")

        g.add(key, ask)
    return g


def test_questions_and_answers_are_stored_as_they_happen(tmp_path: Path) -> None:
    seen: list[str] = []
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        run = tb.start(asking_graph(seen), store=store, run_id="asks-1")
        wait_until(lambda: len(run.questions()) == 3)
        first = next(q for q in run.questions() if q.node_id == "a")
        run.answer(first.id, "yes")
        # answered: stored before answer() returned, not on the save schedule
        stored = {q["key"]: q for q in store.questions("asks-1")}
        assert stored["a:0"]["answer"] == "yes" and stored["a:0"]["by"] == "person"
        assert stored["a:0"]["id"] == first.id and stored["a:0"]["prompt"] == "a?"
        wait_until(lambda: len(store.questions("asks-1")) == 3)
        assert "answer" not in {q["key"]: q for q in store.questions("asks-1")}["b:0"]
        run.cancel()
        run.wait(20)


def test_an_answer_may_arrive_before_its_question_and_both_are_kept(tmp_path: Path) -> None:
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        g = tb.Graph("one")
        g.add("x", lambda: 1)
        tb.start(g, store=store, run_id="r1").wait(20)
        store.save_answer("r1", "x:0", {"a": [1, 2]}, "default", 5.0)
        store.save_question("r1", {"id": "q-1", "key": "x:0", "prompt": "?", "asked": 4.0})
        [row] = store.questions("r1")
        assert row["answer"] == {"a": [1, 2]} and row["by"] == "default"
        assert row["answered"] == 5.0 and row["prompt"] == "?"
        with pytest.raises(ValueError, match="by must be one of"):
            store.save_answer("r1", "x:0", 1, "robot", 5.0)
        assert store.questions("no-such-run") == []


def test_an_old_store_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    conn = sqlite3.connect(db)
    for script in MIGRATIONS[:2]:  # a store as version 2 made it
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with tb.SQLiteStore(db) as store:
        assert store.questions("any") == []
        g = tb.Graph("after")
        g.add("x", lambda: 1)
        tb.start(g, store=store, run_id="r2").wait(20)
        store.save_answer("r2", "x:0", "ok", "person", 1.0)
        assert store.questions("r2")[0]["answer"] == "ok"
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_read_only_store_reads_questions_and_refuses_to_write(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        g = tb.Graph("ro")
        g.add("x", lambda: 1)
        tb.start(g, store=store, run_id="r3").wait(20)
        store.save_answer("r3", "x:0", "kept", "person", 1.0)
    with tb.SQLiteStore(db, readonly=True) as ro:
        assert ro.questions("r3")[0]["answer"] == "kept"
        with pytest.raises(tb.StoreError, match="read-only"):
            ro.save_answer("r3", "x:1", "lost?", "person", 2.0)
        with pytest.raises(tb.StoreError, match="read-only"):
            ro.save_question("r3", {"key": "x:1", "prompt": "?", "asked": 1.0})


def test_a_full_database_is_a_clear_error_and_the_live_run_still_gets_its_answer(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    store = tb.SQLiteStore(tmp_path / "runs.db")
    run = tb.start(asking_graph(seen, ("a",)), store=store, run_id="full-1")
    wait_until(lambda: len(run.questions()) == 1)
    pages = store.submit(lambda c: c.execute("PRAGMA page_count").fetchone()[0]).result()
    store.submit(lambda c: c.execute(f"PRAGMA max_page_count = {pages}")).result()
    with pytest.raises(tb.StoreError, match="full"):
        store.save_answer("full-1", "big", "x" * 200_000, "person", 1.0)
    q = run.questions()[0]
    run.answer(q.id, "y" * 100_000)  # cannot be stored: logged, the run goes on
    run.wait(20)
    assert run.result("a") == "y" * 100_000
    store.close()


def test_continuing_a_run_returns_stored_answers_and_asks_the_rest_again(tmp_path: Path) -> None:
    seen: list[str] = []
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        run = tb.start(asking_graph(seen), store=store, run_id="again")
        wait_until(lambda: len(run.questions()) == 3)
        by_node = {q.node_id: q for q in run.questions()}
        run.answer(by_node["a"].id, "A")
        run.cancel()  # b and c are withdrawn: not answered
        run.wait(20)
    seen.clear()
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        again = tb.continue_run("again", asking_graph(seen), store=store)
        wait_until(lambda: len(again.questions()) == 2)
        reasked = {q.node_id: q for q in again.questions()}
        assert set(reasked) == {"b", "c"}
        assert reasked["b"].id == by_node["b"].id  # the same id across the continue
        for q in reasked.values():
            again.answer(q.id, q.node_id.upper())
        again.wait(20)
        assert again.results == {"a": "A", "b": "B", "c": "C"}
