"""Attacks on the result cache: damaged and planted rows, a vanished table, a full disk,
hostile cache keys and values that digest badly. Each ends with the right results: a miss
at worst, never a wrong value, never a stopped run."""

from __future__ import annotations

import pickle
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import tmpfs

import taskbeam as tb
from taskbeam.engine._digest import digest


def chain(calls: list[str]) -> tb.Graph:
    def source() -> list[int]:
        calls.append("source")
        return [1, 2, 3]

    def total(xs: list[int]) -> int:
        calls.append("total")
        return sum(xs)

    g = tb.Graph("chain")
    g.add("source", source)
    g.add("total", total, deps={"xs": "source"})
    return g


def filled(db: Path) -> None:
    with tb.SQLiteStore(db) as store:
        tb.start(chain([]), store=store, cache=True).wait(20)


@pytest.mark.parametrize(
    ("what", "sql"),
    [
        ("data as text", "UPDATE cache SET data = '6' WHERE node_id = 'total'"),
        ("an empty blob", "UPDATE cache SET data = x'' WHERE node_id = 'total'"),
        ("a changed byte", "UPDATE cache SET data = CAST('7' AS BLOB) WHERE node_id = 'total'"),
        ("garbage", "UPDATE cache SET data = randomblob(100000) WHERE node_id = 'total'"),
        ("a digest of another type", "UPDATE cache SET digest = 12 WHERE node_id = 'total'"),
        ("a crc of another type", "UPDATE cache SET crc = 'x' WHERE node_id = 'total'"),
        ("a planted value with its crc recomputed", None),
    ],
)
def test_a_damaged_row_is_a_miss_never_a_wrong_value(
    tmp_path: Path, what: str, sql: str | None
) -> None:
    db = tmp_path / "runs.db"
    filled(db)
    with sqlite3.connect(db) as conn:
        if sql is not None:
            conn.execute(sql)
        else:  # changed by someone who also knows the checksum: the value's digest differs
            import zlib

            row = conn.execute("SELECT digest FROM cache WHERE node_id = 'total'").fetchone()
            data = b"999"
            crc = zlib.crc32(row[0] or b"", zlib.crc32(data))
            conn.execute("UPDATE cache SET data = ?, crc = ? WHERE node_id = 'total'", (data, crc))
    calls: list[str] = []
    with tb.SQLiteStore(db) as store, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        run = tb.start(chain(calls), store=store, cache=True).wait(20)
    assert run.result("total") == 6, what
    assert calls == ["total"], what
    assert any(issubclass(w.category, tb.CacheWarning) for w in seen), what


def test_a_planted_pickle_in_a_json_store_is_never_loaded(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    filled(db)

    class Boom:
        def __reduce__(self) -> Any:
            return (Path(tmp_path / "pwned").touch, ())

    payload = pickle.dumps(Boom())
    import zlib

    with sqlite3.connect(db) as conn:
        digest_row = conn.execute("SELECT digest FROM cache WHERE node_id = 'total'").fetchone()
        crc = zlib.crc32(digest_row[0] or b"", zlib.crc32(payload))
        conn.execute(
            "UPDATE cache SET format = 'pickle', data = ?, crc = ? WHERE node_id = 'total'",
            (payload, crc),
        )
    calls: list[str] = []
    with tb.SQLiteStore(db) as store:
        run = tb.start(chain(calls), store=store, cache=True).wait(20)
    assert run.result("total") == 6 and calls == ["total"]
    assert not (tmp_path / "pwned").exists()


def test_a_cache_table_dropped_under_a_running_store_is_a_miss(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    filled(db)
    with tb.SQLiteStore(db) as store:
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TABLE cache")
        calls: list[str] = []
        with pytest.warns(tb.CacheWarning, match="could not read"):
            run = tb.start(chain(calls), store=store, cache=True).wait(20)
        assert run.status == "done" and run.result("total") == 6
        assert sorted(calls) == ["source", "total"]


def test_a_full_disk_costs_the_cache_its_entries_not_the_run_its_results(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "tiny", "384k") as folder:
        store = tb.SQLiteStore(folder / "runs.db")
        g = tb.Graph("full")
        for i in range(20):
            g.add(f"n{i}", lambda i=i: "z" * 30_000 + str(i))
        run = tb.start(g, store=store, cache=True).wait(20)
        assert run.status == "done" and run.result("n9").endswith("9")
        store.flush()
        assert store.cache.errors > 0
        assert run.store_error is not None
        backup = Path(run.store_error.split("emergency backup ")[1])
        backup.unlink()
        backup.parent.rmdir()
        store.close()


class Sneaky(str):
    pass


@pytest.mark.parametrize(
    ("key", "says"),
    [
        (lambda xs: Sneaky("k"), "cache_key returned Sneaky, not a str"),
        (lambda xs: None, "cache_key returned NoneType"),
        (lambda xs: (_ for _ in ()).throw(KeyboardInterrupt()), "KeyboardInterrupt"),
    ],
)
def test_hostile_cache_keys_fail_their_node_only(key: Any, says: str) -> None:
    g = tb.Graph("keys")
    g.add("xs", lambda: [1])
    g.add("bad", lambda xs: xs, deps={"xs": "xs"}, cache_key=key)
    g.add("fine", lambda xs: len(xs), deps={"xs": "xs"})
    run = tb.start(g, cache=tb.MemoryCache()).wait(20)
    nodes = run.snapshot()["nodes"]
    assert nodes["bad"]["status"] == "failed"
    error = nodes["bad"]["error"]
    assert says in f"{error['type']}: {error['message']}"
    assert nodes["fine"]["status"] == "done"


def test_a_huge_cache_key_and_surrogates_are_hashed_not_refused() -> None:
    g = tb.Graph("big-key")
    g.add("xs", lambda: [1])
    g.add("a", lambda xs: 1, deps={"xs": "xs"}, cache_key=lambda xs: "k" * 5_000_000)
    g.add("b", lambda xs: 2, deps={"xs": "xs"}, cache_key=lambda xs: "\ud800 lone")
    cache = tb.MemoryCache()
    tb.start(g, cache=cache).wait(20)
    run = tb.start(g, cache=cache).wait(20)
    assert run.snapshot()["run"]["cache"]["hits"] == 3


def test_values_that_digest_badly_have_no_digest() -> None:
    loop: list[Any] = []
    loop.append(loop)
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle

    class Evil:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("never compared")

        __hash__ = object.__hash__

        def __repr__(self) -> str:
            raise RuntimeError("never printed")

    weird = np.array([1, 2, 3]).view(type("Sub", (np.ndarray,), {}))
    masked = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    assert digest(loop) is None and digest(cycle) is None
    assert digest({Evil()}) is None and digest([Evil()]) is None
    # Subclasses carry more than their data (a masked array's mask): no digest, no wrong hit.
    assert digest(weird) is None and digest(masked) is None
    g = tb.Graph("bad-values")
    g.add("loop", lambda: loop)
    g.add("use", lambda v: len(v), deps={"v": "loop"})
    cache = tb.MemoryCache()
    tb.start(g, cache=cache).wait(20)
    run = tb.start(g, cache=cache).wait(20)
    assert run.snapshot()["run"]["cache"] == {"hits": 1, "misses": 0, "uncacheable": 1}
