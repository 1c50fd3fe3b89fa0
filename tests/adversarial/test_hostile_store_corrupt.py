"""Damaged files: random corruption of a real database, and what is never quarantined."""

from __future__ import annotations

import random
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tests.adversarial._hostile_store import sql

import taskbeam as tb

T = TypeVar("T")
TRIALS = 90
KINDS = ("bits", "truncate", "zero-page", "bytes-in-blob")


def build(db: Path) -> list[str]:
    """A store of a few runs: several batches, sub-graphs, errors, a resumed one."""
    ids = []
    with tb.SQLiteStore(db) as store:
        for k in range(3):
            g = tb.Graph(f"g{k}")
            for i in range(30):
                g.add(f"n{i}", lambda i=i: {"i": i, "text": "x" * (i * 20)})
            g.add("bad", lambda: 1 / 0)

            def plan() -> tb.Expansion:
                sub = tb.Graph()
                sub.add("c", lambda: [1, 2, 3])
                return tb.expand(sub)

            g.add("plan", plan)
            run = tb.start(g, store=store, on_error="continue").wait(10)
            ids.append(run.id)
        tb.continue_run(ids[0], g, store=store, on_error="continue").wait(10)
    return ids


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    db = tmp_path_factory.mktemp("pristine") / "runs.db"
    return db, build(db)


def corrupt(data: bytearray, kind: str, rng: random.Random, page: int) -> bytearray:
    if kind == "bits":
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(data))
            data[at] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del data[rng.randrange(len(data)) :]
    elif kind == "zero-page":
        start = rng.randrange(len(data) // page) * page
        data[start : start + page] = bytes(len(data[start : start + page]))
    else:  # a run of random bytes somewhere past the first page
        at = rng.randrange(page, len(data))
        data[at : at + 32] = rng.randbytes(32)
    return data


def attempt(fn: Callable[..., T], *args: Any) -> tuple[T | None, str]:
    """``fn(*args)``, or None and what it raised: a StoreError's text, or "KeyError".

    Anything else propagates and fails the test.
    """
    try:
        return fn(*args), ""
    except KeyError:
        return None, "KeyError"
    except tb.StoreError as exc:
        return None, str(exc)


@pytest.mark.parametrize("kind", KINDS)
def test_random_corruption_is_always_a_store_error_naming_the_run(
    kind: str, pristine: tuple[Path, list[str]], tmp_path: Path
) -> None:
    source, ids = pristine
    rng = random.Random(f"corrupt-{kind}")
    page = sql(source, "PRAGMA page_size")[0][0]
    outcomes: Counter[str] = Counter()
    for trial in range(TRIALS // len(KINDS)):
        db = tmp_path / f"t{trial}.db"
        db.write_bytes(corrupt(bytearray(source.read_bytes()), kind, rng, page))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            store, error = attempt(tb.SQLiteStore, db)
        if store is None:  # the header itself was destroyed: the file is left untouched
            assert str(db) in error and "not an SQLite database" in error
            outcomes["refused at open"] += 1
            continue
        if caught:
            assert all(issubclass(w.category, tb.StoreRecoveryWarning) for w in caught)
            outcomes["quarantined"] += 1
        with store:
            listed = {r["id"] for r in store.runs()}
            for run_id in ids:
                for read in (store.load, store.load_for_resume, store.node_rows):
                    loaded, error = attempt(read, run_id)
                    if loaded == {}:  # node_rows of a run that is not there
                        assert run_id not in listed
                        outcomes["no such run"] += 1
                    elif loaded is not None:
                        outcomes["loaded"] += 1
                    elif error == "KeyError":
                        assert run_id not in listed  # only a run that is not there at all
                        outcomes["no such run"] += 1
                    else:
                        assert repr(run_id) in error, error
                        outcomes["store error"] += 1
            # The rest of the store stays usable: a new run is stored and read back.
            g = tb.Graph("after")
            g.add("x", lambda: 42)
            run = tb.start(g, store=store).wait(10)
            assert run.store_error is None, run.store_error
            assert store.load(run.id)["nodes"]["x"]["preview"] == "42"
        db.unlink()
        for extra in tmp_path.iterdir():  # quarantined copies
            extra.unlink()
    # Seeded: each kind damaged some run in a way only a StoreError could report.
    assert outcomes["store error"] > 0, dict(outcomes)


def test_a_text_file_is_never_renamed_or_replaced(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n" * 100)
    before = notes.read_bytes()
    for readonly in (False, True):
        with pytest.raises(tb.StoreError, match="not an SQLite database. It was left as it is"):
            tb.SQLiteStore(notes, readonly=readonly)
    assert notes.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_quarantines_in_the_same_second_keep_every_copy(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    kept = []
    for n in range(3):
        db.write_bytes(b"SQLite format 3\x00" + bytes([n]) * 5000)
        with pytest.warns(tb.StoreRecoveryWarning, match="kept it aside"):
            store = tb.SQLiteStore(db)
        store.close()
        assert store.quarantined is not None
        kept.append(store.quarantined)
        db.unlink()
    assert len(set(kept)) == 3
    assert [p.read_bytes()[16] for p in kept] == [0, 1, 2]
