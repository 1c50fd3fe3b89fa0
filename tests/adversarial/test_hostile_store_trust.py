"""What a store trusts in its file: formats, checksums, values that do not survive it."""

from __future__ import annotations

import math
import pickle
import sys
import threading
import time
import types
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.adversarial._hostile_store import sql

import taskbeam as tb
from taskbeam.store._base import log_digest


def graph(calls: Counter[str], name: str = "trust") -> tb.Graph:
    def leaf(tag: str) -> Any:
        calls[tag] += 1
        return {"tag": tag, "n": len(tag)}

    g = tb.Graph(name)
    for tag in ("a", "b", "c"):
        g.add(tag, leaf, kwargs={"tag": tag})
    g.add("total", lambda a, b, c: a["n"] + b["n"] + c["n"], deps=["a", "b", "c"])
    return g


def reseal(db: Path, run_id: str) -> None:
    """Recompute the run row's checksum, as an attacker who knows the format would."""
    crcs = {seq: zlib.crc32(blob) for seq, blob in sql(db, "SELECT seq, nodes FROM batches")}
    sql(db, "UPDATE runs SET checksum = ? WHERE id = ?", log_digest(crcs), run_id)


def edit_batch(db: Path, change: Any) -> None:
    [(seq, blob)] = sql(db, "SELECT seq, nodes FROM batches")
    batch = orjson.loads(blob)
    change(batch)
    sql(db, "UPDATE batches SET nodes = ? WHERE seq = ?", orjson.dumps(batch), seq)


class Planted:
    """Unpickling this creates a file: the proof that code from the database ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.write_text, (self.marker, "code from the database ran"))


def test_a_json_store_never_unpickles_rows_that_say_pickle(tmp_path: Path) -> None:
    db, marker = tmp_path / "runs.db", tmp_path / "pwned"
    calls: Counter[str] = Counter()
    with tb.SQLiteStore(db) as store:
        run = tb.start(graph(calls), store=store).wait(10)

    def plant(batch: dict[str, Any]) -> None:
        i = batch["id"].index("a")
        batch["format"][i], batch["result"][i] = "pickle", None

    edit_batch(db, plant)
    sql(
        db,
        "INSERT INTO results (run_id, node_id, format, data) VALUES (?, 'a', 'pickle', ?)",
        run.id,
        pickle.dumps(Planted(marker)),
    )
    reseal(db, run.id)  # the checksum agrees: only the format gives it away
    with tb.SQLiteStore(db) as store:
        with pytest.raises(tb.StoreError, match=r"another format than this store's 'json'") as info:
            tb.continue_run(run.id, graph(calls), store=store)
        assert "'a'" in str(info.value) and "'pickle'" in str(info.value)
        with pytest.raises(tb.StoreError, match="another format"):
            store.load_for_resume(run.id)
    assert not marker.exists()


def test_a_pickle_store_refuses_results_of_a_third_format(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    calls: Counter[str] = Counter()
    with tb.SQLiteStore(db, serializer="pickle") as store:
        run = tb.start(graph(calls), store=store).wait(10)
        assert store.load_for_resume(run.id)["done"]["a"][2] == {"tag": "a", "n": 1}
    sql(db, "UPDATE results SET format = 'marshal' WHERE node_id = 'b'")
    store = tb.SQLiteStore(db, serializer="pickle")
    with store, pytest.raises(tb.StoreError, match=r"1 in format 'marshal' \('b'\)"):
        store.load_for_resume(run.id)


def test_a_result_changed_inside_the_database_is_refused_until_accepted(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    calls: Counter[str] = Counter()
    with tb.SQLiteStore(db) as store:
        run = tb.start(graph(calls), store=store).wait(10)
    assert run.result("total") == 3

    def change(batch: dict[str, Any]) -> None:
        batch["result"][batch["id"].index("a")] = {"tag": "a", "n": 1000}

    edit_batch(db, change)
    with tb.SQLiteStore(db) as store:
        for read in (store.load, store.load_for_resume):
            with pytest.raises(tb.StoreError) as info:
                read(run.id)
            text = str(info.value)
            assert repr(run.id) in text and "table batches, seq 1 changed" in text
            assert "table runs" in text
        with pytest.raises(tb.StoreError, match="does not match the checksum"):
            tb.continue_run(run.id, graph(calls), store=store)
        assert calls == Counter(a=1, b=1, c=1)  # nothing ran
        # The explicit opt-in: the log as it is now is accepted.
        assert store.accept(run.id) is not None
        again = tb.continue_run(run.id, graph(calls), store=store).wait(10)
    assert again.result("a")["n"] == 1000 and calls == Counter(a=1, b=1, c=1)


def test_a_pickled_result_changed_in_the_results_table_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db, serializer="pickle") as store:
        run = tb.start(graph(Counter()), store=store).wait(10)
    sql(db, "UPDATE results SET data = ? WHERE node_id = 'c'", pickle.dumps({"n": 99}))
    store = tb.SQLiteStore(db, serializer="pickle")
    with store, pytest.raises(tb.StoreError, match=r"stored results of 'c' \(table results\)"):
        store.load_for_resume(run.id)


def test_a_missing_or_cleared_checksum_is_a_mismatch(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        run = tb.start(graph(Counter()), store=store).wait(10)
    sql(db, "UPDATE runs SET checksum = NULL")
    with tb.SQLiteStore(db) as store, pytest.raises(tb.StoreError, match="not in the checksum"):
        store.load(run.id)


def test_the_checksum_is_kept_through_resume_import_and_compaction(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    calls: Counter[str] = Counter()
    with tb.SQLiteStore(db) as store:
        run = tb.start(graph(calls), store=store).wait(10)
        for _ in range(3):
            tb.continue_run(run.id, graph(calls), store=store).wait(10)
            assert store.load(run.id)["run"]["status"] == "done"
    assert calls == Counter(a=1, b=1, c=1)


def test_non_finite_floats_and_huge_integers_are_refused_at_save(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()

    def value(tag: str, v: Any) -> Any:
        calls[tag] += 1
        return v

    g = tb.Graph("lossy")
    cases = {
        "nan": math.nan,
        "inf": [1.0, {"x": -math.inf}],
        "huge": 2**70,
        "keys": {1: "one", 2: "two"},
        "fine": [1.5, {"y": 2}],
    }
    for tag, v in cases.items():
        g.add(tag, value, kwargs={"tag": tag, "v": v})
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        run = tb.start(g, store=store).wait(10)
        assert run.result("nan") is not run.result("inf")  # the run itself keeps them
        rows = store.node_rows(run.id)
        assert rows["nan"]["result_format"] == "preview"
        assert "nan does not survive JSON" in rows["nan"]["refused"]
        assert "-inf does not survive JSON" in rows["inf"]["refused"]
        assert "64-bit" in rows["huge"]["refused"]
        assert "dict key of type int" in rows["keys"]["refused"]
        assert rows["fine"]["refused"] is None and rows["fine"]["result"] == [1.5, {"y": 2}]
        again = tb.continue_run(run.id, g, store=store).wait(10)
    assert calls == Counter(nan=2, inf=2, huge=2, keys=2, fine=1)
    assert math.isnan(again.result("nan")) and again.result("huge") == 2**70
    assert again.result("keys") == {1: "one", 2: "two"}


def test_a_pickled_result_that_no_longer_loads_reruns_only_its_node(tmp_path: Path) -> None:
    module = types.ModuleType("hostile_store_shapes")
    exec("class Shape:\n    def __init__(self, n):\n        self.n = n\n", module.__dict__)
    sys.modules[module.__name__] = module
    calls: Counter[str] = Counter()

    def shape() -> Any:
        calls["shape"] += 1
        return (getattr(module, "Renamed", None) or module.Shape)(3)

    def plain() -> int:
        calls["plain"] += 1
        return 4

    g = tb.Graph("renamed")
    g.add("shape", shape)
    g.add("plain", plain)
    g.add("sum", lambda shape, plain: shape.n + plain, deps=["shape", "plain"])
    try:
        with tb.SQLiteStore(tmp_path / "runs.db", serializer="pickle") as store:
            run = tb.start(g, store=store).wait(10)
            module.Renamed = module.Shape  # the class was renamed since
            del module.Shape
            with pytest.warns(tb.StoreRecoveryWarning, match=r"1 stored result\(s\) no longer"):
                saved = store.load_for_resume(run.id)
            assert set(saved["done"]) == {"plain", "sum"}
            with pytest.warns(tb.StoreRecoveryWarning, match="'shape'"):
                again = tb.continue_run(run.id, g, store=store)
            again.wait(10)
        assert again.status == "done" and again.result("sum") == 7
        assert calls == Counter(shape=2, plain=1)
    finally:
        del sys.modules[module.__name__]


def test_loads_beside_a_saving_run_always_agree_with_the_checksum(tmp_path: Path) -> None:
    gate = threading.Event()
    g = tb.Graph("busy")
    for i in range(400):
        g.add(f"n{i}", lambda i=i: gate.wait(0.0005) or i)
    policy = tb.SavePolicy(watched=0.001, unwatched=0.001)
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        run = tb.start(g, store=store, save_policy=policy, max_concurrency=2)
        run.subscribe(lambda e: None)
        loads = 0
        deadline = time.monotonic() + 20
        while run.status not in ("done", "failed") and time.monotonic() < deadline:
            store.load(run.id)  # the run row and the log come from one commit
            loads += 1
        run.wait(10)
        assert store.load(run.id)["run"]["status"] == "done" and loads > 0


def test_the_checksum_names_the_batches_that_disagree(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    g = tb.Graph("streamed")
    previous = None
    for i in range(8):
        g.add(f"s{i}", lambda **_: time.sleep(0.02), deps=[previous] if previous else [])
        previous = f"s{i}"
    with tb.SQLiteStore(db) as store:
        run = tb.start(g, store=store, save_policy=tb.SavePolicy(watched=0.001))
        run.subscribe(lambda e: None)
        run.wait(10)
    seqs = [seq for (seq,) in sql(db, "SELECT seq FROM batches ORDER BY seq")]
    assert len(seqs) >= 3  # streamed: several saves
    sql(db, "UPDATE batches SET nodes = CAST(nodes || ' ' AS BLOB) WHERE seq = ?", seqs[1])
    sql(db, "DELETE FROM batches WHERE seq = ?", seqs[-1])
    with tb.SQLiteStore(db) as store, pytest.raises(tb.StoreError) as info:
        store.load(run.id)
    text = str(info.value)
    assert f"seq {seqs[1]} changed" in text and f"seq {seqs[-1]} missing" in text


def test_a_checksum_written_before_per_batch_checksums_still_matches(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with tb.SQLiteStore(db) as store:
        run = tb.start(graph(Counter()), store=store).wait(10)
    [(checksum,)] = sql(db, "SELECT checksum FROM runs")
    sql(db, "UPDATE runs SET checksum = ?", checksum.split(" ")[0])  # the older form
    with tb.SQLiteStore(db) as store:
        assert store.load(run.id)["run"]["status"] == "done"
