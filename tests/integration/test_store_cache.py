"""The store's cache as it works now: rows written after a run's final save, in one go;
functions with no entry not looked up; a memory copy in front of the table; schema 5.

Each task appends its name to a file when it executes (see test_cache.Log), so the
tests count executions, not what the engine says about them.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_cache import Log, pipeline, results

import taskbeam as tb
from taskbeam.engine._cache import fn_name
from taskbeam.store._cache import StoreCache
from taskbeam.store._sqlite import SCHEMA_VERSION


@pytest.fixture
def log(tmp_path: Path) -> Log:
    return Log(tmp_path / "executions.txt")


class Spy:
    """Counts what a store's cache is asked while runs go on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, int] = {"prefetch": 0, "get": 0, "write_later": 0, "queries": 0}
        for name in ("prefetch", "get", "write_later"):
            original = getattr(StoreCache, name)

            def wrapped(
                cache: StoreCache, *args: Any, _o: Any = original, _n: str = name, **kw: Any
            ) -> Any:
                self.calls[_n] += 1
                return _o(cache, *args, **kw)

            monkeypatch.setattr(StoreCache, name, wrapped)
        reader = StoreCache._reader

        def counted(cache: StoreCache) -> Any:
            self.calls["queries"] += 1
            return reader(cache)

        monkeypatch.setattr(StoreCache, "_reader", counted)

    def take(self) -> dict[str, int]:
        made, self.calls = self.calls, dict.fromkeys(self.calls, 0)
        return made


def rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        query = "SELECT key, run_id, node_id, fn FROM cache ORDER BY node_id"
        return conn.execute(query).fetchall()


def test_a_first_run_looks_nothing_up_and_writes_its_rows_once_stored(
    tmp_path: Path, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "runs.db"
    spy = Spy(monkeypatch)
    with tb.SQLiteStore(db) as store:
        first = tb.start(pipeline(log), store=store, cache=True).wait(20)
        assert first.snapshot()["run"]["cache"] == {"hits": 0, "misses": 5, "uncacheable": 0}
        made = spy.take()
        # No function had an entry: no node was keyed or looked up while the run went on,
        # and its five entries went to the writer in one piece, after its final save.
        assert made["prefetch"] == made["get"] == 0
        assert made["write_later"] == 1
        again = tb.start(pipeline(log), store=store, cache=True).wait(20)
        assert again.snapshot()["run"]["cache"] == {"hits": 5, "misses": 0, "uncacheable": 0}
        assert results(again) == results(first)
        made = spy.take()
        assert made["write_later"] == 0  # nothing missed, nothing new to write
        assert made["queries"] == 1  # begin(); the hits came from the memory copy
    log.take()
    stored = rows(db)
    assert [r[2] for r in stored] == ["count", "load", "report", "scaled", "total"]
    assert {r[1] for r in stored} == {first.id}
    graph = pipeline(log)
    assert {r[2]: r[3] for r in stored} == {t.id: fn_name(t.fn) for t in graph.tasks.values()}
    with tb.SQLiteStore(db) as store:  # the stored run those rows name, whole
        assert tb.open_run(first.id, store).status == "done"


def test_the_memory_copy_serves_the_process_that_wrote_it_and_a_prune_empties_it(
    tmp_path: Path, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = tb.Graph("wide")
    for i in range(6):
        g.add(f"n{i}", lambda i=i: [i, i * i])
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        first = tb.start(g, store=store, cache=True).wait(20)
        spy = Spy(monkeypatch)
        again = tb.start(g, store=store, cache=True).wait(20)
        assert again.snapshot()["run"]["cache"]["hits"] == 6
        assert spy.take()["queries"] == 1  # begin() only: the six came from memory
        for i in range(6):  # a value of a mutable type: a copy of its own every time
            assert again.result(f"n{i}") == first.result(f"n{i}")
            assert again.result(f"n{i}") is not first.result(f"n{i}")
        assert store.prune(max_bytes=0)["removed"] == 6
        after = tb.start(g, store=store, cache=True).wait(20)
        assert after.snapshot()["run"]["cache"] == {"hits": 0, "misses": 6, "uncacheable": 0}


def test_nodes_sharing_a_key_get_values_of_their_own(tmp_path: Path) -> None:
    def source() -> int:
        return 3

    def fill(n: int) -> list[int]:
        return list(range(n))

    g = tb.Graph("shared")
    g.add("n", source)
    for i in range(4):  # one function, one input, one keyword: one key for the four
        g.add(f"f{i}", fill, deps=["n"])
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        tb.start(g, store=store, cache=True).wait(20)
        assert store.cache_stats()["entries"] == 2  # one row for the shared key
        for store_ in (store, tb.SQLiteStore(db)):  # from memory, then from the table
            run = tb.start(g, store=store_, cache=True).wait(20)
            values = [run.result(f"f{i}") for i in range(4)]
            assert values == [[0, 1, 2]] * 4
            assert len({id(v) for v in values}) == 4
            if store_ is not store:
                store_.close()


def test_early_cutoff_expansions_and_task_options_with_the_store(tmp_path: Path, log: Log) -> None:
    def plan(sections: list[str]) -> tb.Expansion:
        log.add("plan")
        sub = tb.Graph()
        for s in sections:
            sub.add(s, section, kwargs={"name": s})
        return tb.expand(sub, aggregate=lambda r: sorted(r.values()))

    def section(name: str) -> str:
        log.add(name)
        return name.upper()

    def build(planner: Any, rounding: int) -> tb.Graph:
        g = pipeline(log, rounding=rounding)
        g.add("plan", planner, kwargs={"sections": ["intro", "end"]})
        g.add("title", lambda titles: " / ".join(titles), deps={"titles": "plan"})
        g.add("always", lambda t: log.add("always") or t, deps={"t": "total"}, cache=False)
        return g

    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        tb.start(build(plan, 0), store=store, cache=True).wait(20)
    first = log.take()
    ran = ["load", "scaled", "total", "count", "report", "plan", "intro", "end", "always"]
    assert first == sorted(ran)
    with tb.SQLiteStore(db) as store:
        # total changes its kwargs and yields the same value: only it (and the node that
        # never caches) runs; the parent expands again, its children are hits.
        run = tb.start(build(plan, 1), store=store, cache=True).wait(20)
        assert log.take() == ["always", "plan", "total"]
        assert run.result("title") == "END / INTRO"

    def other_plan(sections: list[str]) -> tb.Expansion:  # a planner no entry was made by
        log.add("plan")
        sub = tb.Graph()
        for s in sections:
            sub.add(s, section, kwargs={"name": s})
        return tb.expand(sub, aggregate=lambda r: sorted(r.values()))

    only = tb.Graph("only-a-planner")
    only.add("plan", other_plan, kwargs={"sections": ["intro", "end"]})
    with tb.SQLiteStore(db) as store:
        # No task of the graph can hit, so the run looks nothing up, until the expansion
        # brings tasks it had not seen: those are looked up, and hit.
        run = tb.start(only, store=store, cache=True).wait(20)
        assert log.take() == ["plan"]
        assert run.snapshot()["run"]["cache"] == {"hits": 2, "misses": 1, "uncacheable": 0}


def test_cache_ttl_and_cache_key_with_the_store(tmp_path: Path, log: Log) -> None:
    class Conn:
        dsn = "db://prices"

    def fetch(conn: Conn) -> int:
        log.add("fetch")
        return 7

    g = tb.Graph("opts")
    g.add("conn", Conn, cache=False)
    g.add("fetch", fetch, deps=["conn"], cache_key=lambda conn: conn.dsn)
    g.add("stale", lambda: log.add("stale") or 1, cache_ttl=0)
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        tb.start(g, store=store, cache=True).wait(20)
        assert log.take() == ["fetch", "stale"]
        run = tb.start(g, store=store, cache=True).wait(20)
        assert log.take() == ["stale"]  # fetch is keyed by its dsn; stale has expired
        assert run.snapshot()["run"]["cache"] == {"hits": 1, "misses": 1, "uncacheable": 0}


def test_a_value_changed_in_place_by_a_dependant_is_never_a_wrong_hit(
    tmp_path: Path, log: Log
) -> None:
    def load() -> list[int]:
        log.add("load")
        return [1, 2, 3]

    def grab(xs: list[int]) -> int:
        log.add("grab")
        n = len(xs)
        xs.append(99)  # changes its input in place, after reading it
        return n

    g = tb.Graph("in-place")
    g.add("load", load)
    g.add("grab", grab, deps={"xs": "load"})
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        tb.start(g, store=store, cache=True).wait(20)
        log.take()
    with tb.SQLiteStore(tmp_path / "runs.db") as store, pytest.warns(tb.CacheWarning):
        # load's stored value is not what it returned (its digest says so): it runs; its
        # value has the digest grab was keyed with, so grab is a hit, with its own result.
        run = tb.start(g, store=store, cache=True).wait(20)
    assert log.take() == ["load"]
    assert run.result("grab") == 3


def test_a_run_whose_final_save_failed_leaves_no_row(tmp_path: Path) -> None:
    g = tb.Graph("g")
    g.add("a", lambda: 1)
    g.add("b", lambda a: a + 1, deps=["a"])
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        run = tb.start(g, store=store, cache=True, run_id="never-ended")
        run.wait(20)
        store.flush()

        def stored_running(conn: sqlite3.Connection) -> None:  # as if the final save was lost
            conn.execute("UPDATE runs SET status = 'running' WHERE id = 'never-ended'")
            conn.execute("DELETE FROM cache")

        store.submit(stored_running).result()
        store.cache.write_later(
            lambda: [("k", 1, None, "never-ended", "a", 0.0, "f")], run_id="never-ended"
        )
        assert store.cache.errors == 1
        assert store.cache_stats()["entries"] == 0


CRASH = """
import os, sys
import taskbeam as tb
from taskbeam.store._cache import StoreCache

def quit_now(cache, make, run_id=None):  # killed between the final save and the rows
    os._exit(0)

if sys.argv[2] == "crash":
    StoreCache.write_later = quit_now

def load():
    with open(sys.argv[3], "a") as f:
        f.write("load\\n")
    return [1, 2, 3]

g = tb.Graph("crash")
g.add("load", load)
g.add("total", lambda xs: sum(xs), deps={"xs": "load"})
store = tb.SQLiteStore(sys.argv[1])            # never closed: the interpreter exits
run = tb.start(g, store=store, cache=True).wait(30)
print(run.id, run.snapshot()["run"]["cache"]["hits"], run.result("total"))
"""


def test_a_crash_between_the_results_and_the_rows_costs_only_a_miss(tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(CRASH))
    db, marks = tmp_path / "runs.db", tmp_path / "marks.txt"

    def go(mode: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, str(script), str(db), mode, str(marks)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert go("crash") == []  # it ended before printing: in write_later, after the save
    with tb.SQLiteStore(db, readonly=True) as store:
        (item,) = store.runs()
        assert item["status"] == "done"  # the results are stored...
    assert rows(db) == []  # ...and no row names them
    run_id, hits, total = go("whole")  # the next run misses, gives the right result, and
    assert (hits, total) == ("0", "6")  # its rows land before its interpreter exits
    assert {r[1] for r in rows(db)} == {run_id}
    assert go("whole")[1:] == ["2", "6"]
    assert marks.read_text().split() == ["load", "load"]


def _schema_4(db: Path) -> None:
    """Turn a schema-5 file back into what taskbeam wrote at schema 4."""
    with sqlite3.connect(db) as conn:
        conn.execute("DROP INDEX cache_fn")
        conn.execute("ALTER TABLE cache DROP COLUMN fn")
        conn.execute("CREATE INDEX cache_used ON cache (used)")
        conn.execute("PRAGMA user_version = 4")


def test_a_schema_4_file_with_entries_is_migrated_and_its_entries_hit(
    tmp_path: Path, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        first = tb.start(pipeline(log), store=store, cache=True).wait(20)
    log.take()
    _schema_4(db)
    spy = Spy(monkeypatch)
    with tb.SQLiteStore(db) as store:
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
            indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            assert "cache_fn" in indexes and "cache_used" not in indexes
        assert {r[3] for r in rows(db)} == {None}  # which function made them is not known
        run = tb.start(pipeline(log), store=store, cache=True).wait(20)
        assert log.take() == []  # every node looked up: each a hit, as before
        assert results(run) == results(first)
        made = spy.take()
        assert made["prefetch"] + made["get"] >= 3  # the table could not rule any out
        store.cache.flush(wait=True)
    graph = pipeline(log)
    named = {r[2]: r[3] for r in rows(db)}
    assert named == {t.id: fn_name(t.fn) for t in graph.tasks.values()}  # named by the hits
    with tb.SQLiteStore(db) as store:
        assert store.cache.begin() == {fn_name(t.fn) for t in graph.tasks.values()}


def test_a_store_closed_by_nobody_still_keeps_its_entries(tmp_path: Path) -> None:
    script = tmp_path / "unclosed.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import taskbeam as tb
            g = tb.Graph("unclosed")
            for i in range(200):
                g.add(f"n{i}", lambda i=i: i * 2)
            run = tb.start(g, store=tb.SQLiteStore(sys.argv[1]), cache=True).wait(30)
            print(run.snapshot()["run"]["cache"]["hits"])
            """
        )
    )
    outs = [
        subprocess.run(
            [sys.executable, str(script), str(tmp_path / "runs.db")],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert outs == ["0", "200"]


def test_nodes_looked_up_alone_miss_without_a_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def chain(start: int) -> tb.Graph:
        g = tb.Graph("chain")
        g.add("n0", lambda: start)
        for i in range(1, 8):  # one node at a time: no batch to read ahead
            g.add(f"n{i}", lambda x: x + 1, deps={"x": f"n{i - 1}"})
        return g

    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        tb.start(chain(0), store=store, cache=True).wait(20)
    with tb.SQLiteStore(db) as store:  # nothing in memory: the table is read
        spy = Spy(monkeypatch)
        run = tb.start(chain(100), store=store, cache=True).wait(20)
        assert run.snapshot()["run"]["cache"] == {"hits": 0, "misses": 8, "uncacheable": 0}
        assert run.result("n7") == 107
        # begin(), then the table's keys once (n0's function, which closes over another
        # start, has no entry: not looked up); no miss asked SQLite for its row
        assert spy.take()["queries"] == 2
        again = tb.start(chain(100), store=store, cache=True).wait(20)
        assert again.snapshot()["run"]["cache"]["hits"] == 8
