"""The result cache: a run served from the cache, what caching adds to a stored run, digests.

Cached runs: N = 10,000 async no-op tasks, both shapes of ``engine.py``,
``max_concurrency`` unlimited as there, no subscriber; the clock runs from
``tb.start`` to the return of ``wait()``. Per shape and repeat, six runs:

- **plain**: no cache, no store (``engine.py``'s taskbeam-async run);
- **memory, first**: ``cache=tb.MemoryCache()``, a new cache each repeat, so
  every node is a miss: keys are made, results digested and kept;
- **memory, hit**: the same cache again right after: every node is a hit and
  none runs;
- **stored**: ``store=tb.SQLiteStore(path)``, no cache;
- **store, first**: ``cache=True`` with that store: a miss per node. No function
  has an entry yet, so no node is keyed or looked up while the run goes on; the
  store's writer makes the keys and digests and writes the rows (one per key)
  once the run's final save has landed, which ``store.checkpoint()`` after the
  run, outside the clock, waits for;
- **store, hit**: the same again, on the same ``SQLiteStore``: every node a hit,
  served by the store cache's memory copy of the rows this process wrote (no
  query but the one at the run's start);
- **store, hit, new store**: the same once more on a new ``SQLiteStore`` of the
  file, whose memory copy is empty: every node read back from the cache table
  (reported, not a target).

Each repeat has a new store file (made outside the clock), used by its four
stored runs. The runs of a repeat go in four blocks (plain; memory first and
hit; stored; store first and hit), the order of the blocks rotated by one
each repeat; ``gc.collect()`` before each run; after each stored run,
outside the clock, ``store.checkpoint()`` waits until the writer is idle (as
``persist.py`` does). Every first run must miss N times and every hit run hit
N times, or the script stops. Target: memory hit / plain at most 1.5; the
store's hit run is held to the same 1.5 against the stored run without a
cache.

Keys are content-addressed, so the two shapes differ in what the cache
holds: the fan's 9,998 middle nodes call one function on one input (the
root's result) under one keyword, so they share one key (3 entries in
all, and the store's first run replaces one row 9,998 times); the layered
nodes depend on other nodes under other keywords (9,901 entries).

Persistence with the cache: ``persist.py``'s measurement (the gated graph,
one subscriber, so the watched save policy applies and the final save is
read back before ``wait()`` returns) with a third contender: the stored run
with ``cache=True``, a first run (the cache table is empty: every node's key
and digest are made and its row written, by the store's writer once the final
save has landed; the checkpoint after the run, reported, includes that). A new
store file each repeat for both stored contenders, the three contenders
rotated. Target, as ``persist.py``'s: at most 1.25 times the run without a
store.

Digests: ``digest()`` of 100 MB (10**8 bytes) of float64 and of a
1,000,000-row DataFrame (an int64, a float64 and a string column, its MB
``memory_usage(deep=True).sum()``), against
``hashlib.blake2b(pickle.dumps(value)).hexdigest()`` and
``hashlib.sha256(pickle.dumps(value)).hexdigest()`` (pickle's default
protocol), and ``pickle.dumps`` alone; MB/s of the value's bytes, medians of
interleaved repeats.

    python bench/cache.py [--quick]
    python bench/cache.py --profile memory-hit --shape layered
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import io
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import engine
import persist
import taskbeam as tb
from taskbeam.engine._digest import digest

N = 10_000
REPEATS = 9
QUICK_REPEATS = 3
DIGEST_REPEATS = 5
QUICK_DIGEST_REPEATS = 3
ARRAY_BYTES = 100 * 10**6
ROWS = 1_000_000
MB = 10**6
SEED = 20_240_901
CACHED_TARGET = 1.5  # a run served wholly from the cache / the same run without one
PERSIST_TARGET = persist.TARGET  # stored run with cache=True / the run without a store

BLOCKS: tuple[tuple[str, ...], ...] = (
    ("plain",),
    ("memory-first", "memory-hit"),
    ("stored",),
    ("store-first", "store-hit", "store-hit-new"),
)
RUNS = tuple(name for block in BLOCKS for name in block)
PERSIST_CONTENDERS = ("plain", "stored", "stored+cache")
DIGESTERS = ("digest", "blake2b(pickle)", "sha256(pickle)", "pickle.dumps")


@dataclass
class CacheResults:
    quick: bool
    repeats: int
    digest_repeats: int
    runs: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # shape -> run -> s
    persist: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    persist_checkpoint: dict[str, list[float]] = field(default_factory=dict)  # after +cache
    digests: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # value -> fn -> s
    value_mb: dict[str, float] = field(default_factory=dict)
    value_kind: dict[str, str] = field(default_factory=dict)
    entries: dict[str, int] = field(default_factory=dict)  # shape -> cache entries a run makes
    seconds: float = 0.0
    other_load: float = 0.0


# -- cached runs -------------------------------------------------------------------
def _timed_run(graph: tb.Graph, n: int, want: tuple[int, int] | None, **options: Any) -> float:
    """Wall time of one run; ``want`` is (hits, misses) the run must have had."""
    gc.collect()
    t0 = time.perf_counter()
    run = tb.start(graph, max_concurrency=engine.UNLIMITED, **options)
    run.wait()
    elapsed = time.perf_counter() - t0
    if run.counts.get("done") != n or run.store_error:
        raise RuntimeError(f"run ended {run.status}: {run.counts} {run.store_error}")
    if want is not None:
        made = run.snapshot()["run"]["cache"]
        if (made["hits"], made["misses"]) != want:
            raise RuntimeError(f"expected (hits, misses) = {want}, the run had {made}")
    return elapsed


def _block(name: str, graph: tb.Graph, store: tb.SQLiteStore) -> dict[str, float]:
    if name == "plain":
        return {"plain": _timed_run(graph, N, None)}
    if name == "stored":
        took = _timed_run(graph, N, None, store=store)
        store.checkpoint()
        return {"stored": took}
    if name == "memory-first":
        memory = tb.MemoryCache()
        first = _timed_run(graph, N, (0, N), cache=memory)
        hit = _timed_run(graph, N, (N, 0), cache=memory)
        return {"memory-first": first, "memory-hit": hit, "entries": float(len(memory))}
    first = _timed_run(graph, N, (0, N), store=store, cache=True)
    store.checkpoint()
    hit = _timed_run(graph, N, (N, 0), store=store, cache=True)
    store.checkpoint()
    other = tb.SQLiteStore(store.path)  # opened outside the clock: nothing in memory
    try:
        new = _timed_run(graph, N, (N, 0), store=other, cache=True)
        other.checkpoint()
    finally:
        other.close()
    return {"store-first": first, "store-hit": hit, "store-hit-new": new}


def cached_runs(res: CacheResults) -> None:
    for shape in engine.SHAPES:
        graph = engine.taskbeam_graph(engine.build_deps(shape, N), engine.async_noop)
        samples: dict[str, list[float]] = {name: [] for name in RUNS}
        for rep in range(res.repeats):
            with tempfile.TemporaryDirectory() as folder:
                store = tb.SQLiteStore(Path(folder) / "runs.db")
                try:
                    for block in engine.rotated(tuple(b[0] for b in BLOCKS), rep):
                        for name, took in _block(block, graph, store).items():
                            if name == "entries":
                                res.entries[shape] = int(took)
                            else:
                                samples[name].append(took)
                finally:
                    store.close()
        res.runs[shape] = samples
        line = ", ".join(f"{k} {statistics.median(v) * 1e3:.0f}" for k, v in samples.items())
        engine.log(f"cache {shape}: {line} ms")


# -- persistence with the cache -------------------------------------------------------
def _gated_run(graph: tb.Graph, store: tb.SQLiteStore | None, cache: bool) -> float:
    """``persist.py``'s timed run, with or without the cache."""
    elapsed, run = persist.timed_run(graph, store, cache)
    if cache and run.snapshot()["run"]["cache"]["misses"] != N + 1:
        raise RuntimeError(f"not a first run: {run.snapshot()['run']['cache']}")
    return elapsed


def persist_runs(res: CacheResults) -> None:
    for shape in engine.SHAPES:
        graph = persist.gated_graph(shape)
        samples: dict[str, list[float]] = {name: [] for name in PERSIST_CONTENDERS}
        checkpoints: list[float] = []
        for rep in range(res.repeats):
            with tempfile.TemporaryDirectory() as folder:
                store = tb.SQLiteStore(Path(folder) / "runs.db")
                try:
                    for name in engine.rotated(PERSIST_CONTENDERS, rep):
                        if name == "plain":
                            samples[name].append(_gated_run(graph, None, False))
                            continue
                        samples[name].append(_gated_run(graph, store, name == "stored+cache"))
                        t0 = time.perf_counter()
                        store.checkpoint()  # the writer's idle work, outside the clock
                        if name == "stored+cache":
                            checkpoints.append(time.perf_counter() - t0)
                finally:
                    store.close()
        res.persist[shape] = samples
        res.persist_checkpoint[shape] = checkpoints
        line = ", ".join(f"{k} {statistics.median(v) * 1e3:.0f}" for k, v in samples.items())
        engine.log(f"cache persist {shape}: {line} ms")


# -- digests -----------------------------------------------------------------------
def values() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    array = rng.random(ARRAY_BYTES // 8)
    frame = pd.DataFrame(
        {
            "id": np.arange(ROWS, dtype=np.int64),
            "x": rng.random(ROWS),
            "name": [f"city-{i % 997}-{i}" for i in range(ROWS)],
        }
    )
    return {"float64 array": array, "DataFrame": frame}


def _digester(name: str) -> Callable[[Any], Any]:
    if name == "digest":
        return digest
    if name == "blake2b(pickle)":
        return lambda v: hashlib.blake2b(pickle.dumps(v)).hexdigest()
    if name == "sha256(pickle)":
        return lambda v: hashlib.sha256(pickle.dumps(v)).hexdigest()
    return pickle.dumps


def digest_runs(res: CacheResults) -> None:
    for label, value in values().items():
        if digest(value) is None:
            raise RuntimeError(f"{label} has no digest")
        if isinstance(value, pd.DataFrame):
            res.value_mb[label] = int(value.memory_usage(deep=True).sum()) / MB
            res.value_kind[label] = ", ".join(f"{c} {t}" for c, t in value.dtypes.items())
        else:
            res.value_mb[label] = value.nbytes / MB
            res.value_kind[label] = f"{value.dtype}, shape {value.shape}"
        samples: dict[str, list[float]] = {name: [] for name in DIGESTERS}
        for rep in range(res.digest_repeats):
            for name in engine.rotated(DIGESTERS, rep):
                fn = _digester(name)
                gc.collect()
                t0 = time.perf_counter()
                fn(value)
                samples[name].append(time.perf_counter() - t0)
        res.digests[label] = samples
        mb = res.value_mb[label]
        line = ", ".join(f"{k} {mb / statistics.median(v):,.0f}" for k, v in samples.items())
        engine.log(f"cache digest {label} ({mb:.0f} MB): {line} MB/s")
        del value


def run_benchmark(quick: bool = False) -> CacheResults:
    res = CacheResults(
        quick,
        QUICK_REPEATS if quick else REPEATS,
        QUICK_DIGEST_REPEATS if quick else DIGEST_REPEATS,
    )
    t_start = time.perf_counter()
    busy0, _, own0 = engine._cpu_seconds()
    warm = engine.taskbeam_graph(engine.build_deps("layered", 1_000), engine.async_noop)
    memory = tb.MemoryCache()
    for _ in range(2):  # imports and first calls of the cache's code
        tb.start(warm, cache=memory).wait()
    cached_runs(res)
    persist_runs(res)
    digest_runs(res)
    res.seconds = time.perf_counter() - t_start
    busy1, _, own1 = engine._cpu_seconds()
    res.other_load = max(0.0, (busy1 - busy0) - (own1 - own0)) / res.seconds
    return res


# -- the report --------------------------------------------------------------------
def _med(xs: list[float]) -> float:
    return statistics.median(xs)


def _verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**MISS**"


def targets(res: CacheResults) -> list[tuple[str, str, bool]]:
    def worst(fn: Callable[[str], float], shapes: Any) -> tuple[float, str]:
        return max((fn(shape), shape) for shape in shapes)

    runs = res.runs
    mem, mem_shape = worst(lambda s: _med(runs[s]["memory-hit"]) / _med(runs[s]["plain"]), runs)
    sto, sto_shape = worst(lambda s: _med(runs[s]["store-hit"]) / _med(runs[s]["stored"]), runs)
    per = res.persist
    pc, pc_shape = worst(lambda s: _med(per[s]["stored+cache"]) / _med(per[s]["plain"]), per)
    return [
        (
            f"memory cache: every node a hit ≤ {CACHED_TARGET}× the plain no-op run, N=10,000",
            f"worst {mem:.2f}× ({mem_shape})",
            mem <= CACHED_TARGET,
        ),
        (
            f"store's cache: every node a hit ≤ {CACHED_TARGET}× the same stored run "
            "without a cache, N=10,000",
            f"worst {sto:.2f}× ({sto_shape})",
            sto <= CACHED_TARGET,
        ),
        (
            f"stored run with `cache=True` (first run, watched policy) ≤ {PERSIST_TARGET}× "
            "the run without a store, N=10,000",
            f"worst {pc:.2f}× ({pc_shape})",
            pc <= PERSIST_TARGET,
        ),
    ]


def render(res: CacheResults) -> str:
    lines: list[str] = []
    add = lines.append
    add("## Result cache")
    add("")
    add(
        f"On the machine described at the top; {res.seconds:.0f} s, other work on the machine "
        f"{res.other_load:.2f} cores on average."
        + (" **Quick run**: fewer repeats." if res.quick else "")
    )
    add("")
    add("| Target | Measured | |")
    add("|---|---|---|")
    for what, measured, ok in targets(res):
        add(f"| {what} | {measured} | {_verdict(ok)} |")
    add("")
    add("### A run served from the cache")
    add("")
    add(
        f"N = {N:,} async no-op tasks, no subscriber, `tb.start` to `wait()`; medians of "
        f"{res.repeats} interleaved repeats, in ms. *first*: a new cache, every node a miss "
        "(keys made, results digested and kept); *hit*: the same cache again, every node a "
        "hit. Ratios to the plain run (no cache, no store) and, for the store, to the "
        "stored run without a cache. *store hit* runs on the store that made the entries "
        "(its memory copy serves them); *new store* on a new `SQLiteStore` of the file "
        "(read from the table). Keys are content-addressed: the fan's middle nodes "
        "(one function, one input, one keyword) share one key, the layered nodes do not "
        "(entries column)."
    )
    add("")
    add(
        "| shape | entries | plain | memory first | memory hit | first / plain | hit / plain "
        "| stored | store first | store hit | first / stored | hit / stored | hit / plain "
        "| new store hit | new / stored |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for shape, s in res.runs.items():
        m = {k: _med(v) for k, v in s.items()}
        hit = m["memory-hit"] / m["plain"]
        store_hit = m["store-hit"] / m["stored"]
        add(
            f"| {shape} | {res.entries.get(shape, 0):,} | {m['plain'] * 1e3:.1f} "
            f"| {m['memory-first'] * 1e3:.1f} "
            f"| {m['memory-hit'] * 1e3:.1f} | {m['memory-first'] / m['plain']:.2f} "
            f"| {hit:.2f} {_verdict(hit <= CACHED_TARGET)} "
            f"| {m['stored'] * 1e3:.1f} | {m['store-first'] * 1e3:.1f} "
            f"| {m['store-hit'] * 1e3:.1f} | {m['store-first'] / m['stored']:.2f} "
            f"| {store_hit:.2f} {_verdict(store_hit <= CACHED_TARGET)} "
            f"| {m['store-hit'] / m['plain']:.2f} "
            f"| {m['store-hit-new'] * 1e3:.1f} | {m['store-hit-new'] / m['stored']:.2f} |"
        )
    add("")
    add("### Persistence with the cache")
    add("")
    add(
        f"`persist.py`'s runs (N = {N:,} behind a gate, one subscriber, watched save policy), "
        "with a third contender: the stored run with `cache=True`, a first run (every node's "
        "key and digest made, its cache row written: by the store's writer, once the final "
        "save has landed). A new store file each repeat; medians "
        f"of {res.repeats} interleaved repeats, in ms. The checkpoint after the cached run "
        "(outside the clock) is the store's work left when `wait()` returned: the entries' "
        "keys, digests and rows, and the WAL checkpoint."
    )
    add("")
    add(
        "| shape | without store | stored | stored, `cache=True` | stored / without "
        "| cached / without | cached / stored | checkpoint after, untimed |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|")
    for shape, s in res.persist.items():
        plain, stored, cached = (_med(s[k]) for k in PERSIST_CONTENDERS)
        ratio = cached / plain
        add(
            f"| {shape} | {plain * 1e3:.1f} | {stored * 1e3:.1f} | {cached * 1e3:.1f} "
            f"| {stored / plain:.2f} | {ratio:.2f} {_verdict(ratio <= PERSIST_TARGET)} "
            f"| {cached / stored:.2f} | {_med(res.persist_checkpoint[shape]) * 1e3:.1f} |"
        )
    add("")
    add("### Digests")
    add("")
    add(
        "MB/s (10^6 bytes of the value a second: an array's `nbytes`, a DataFrame's "
        f"`memory_usage(deep=True).sum()`), medians of {res.digest_repeats} interleaved "
        "repeats. `digest` is `taskbeam.engine._digest.digest` (XXH3-128); the others hash "
        f"`pickle.dumps(value)` (protocol {pickle.DEFAULT_PROTOCOL}) and return "
        "`.hexdigest()`; `pickle.dumps` alone is their first step."
    )
    add("")
    add("| value | MB | " + " | ".join(f"`{d}`" for d in DIGESTERS) + " | digest speed-up |")
    add("|---|---:|" + "---:|" * len(DIGESTERS) + "---:|")
    for label, s in res.digests.items():
        mb = res.value_mb[label]
        speeds = [mb / _med(s[d]) for d in DIGESTERS]
        best_other = max(speeds[1:3])
        add(
            f"| {label} ({res.value_kind[label]}) | {mb:.0f} | "
            + " | ".join(f"{v:,.0f}" for v in speeds)
            + f" | {speeds[0] / best_other:.1f}× the faster pickle hash |"
        )
    add("")
    return "\n".join(lines)


def to_json(res: CacheResults) -> dict[str, Any]:
    return {
        "quick": res.quick,
        "repeats": res.repeats,
        "digest_repeats": res.digest_repeats,
        "seconds": res.seconds,
        "other_load": res.other_load,
        "runs": res.runs,
        "persist": res.persist,
        "persist_checkpoint": res.persist_checkpoint,
        "digests": res.digests,
        "value_mb": res.value_mb,
        "value_kind": res.value_kind,
        "entries": res.entries,
    }


# -- profiling one cached run ---------------------------------------------------------
def profile(name: str, shape: str, top: int = 30) -> str:
    """cProfile of one run of ``name``, every thread it uses merged (the run's, the store's
    writer). For a hit run, the run that fills the cache goes first, not profiled: for
    ``store-hit`` on the same ``SQLiteStore`` (its memory copy serves the hits), for
    ``store-hit-new`` on another one of the same file (so the profiled store's writer
    starts inside the profile, and the hits are read from the table)."""
    graph = engine.taskbeam_graph(engine.build_deps(shape, N), engine.async_noop)
    folder = tempfile.TemporaryDirectory()
    path = Path(folder.name) / "runs.db"
    memory = tb.MemoryCache()
    stored = name.startswith("store")
    want: tuple[int, int] | None = (0, N) if name.endswith("-first") else None
    kept: tb.SQLiteStore | None = None
    if name.endswith("-hit") or name.endswith("-hit-new"):
        want = (N, 0)
        filler = tb.SQLiteStore(path) if stored else None
        _timed_run(graph, N, (0, N), store=filler, cache=filler is not None or memory)
        if filler is not None:
            filler.checkpoint()
            if name == "store-hit":
                kept = filler
            else:
                filler.close()

    def one_run() -> float:
        store = kept or (tb.SQLiteStore(path) if stored or name == "stored" else None)
        cache: Any = False
        if name.startswith("memory"):
            cache = memory
        elif stored:
            cache = True
        elapsed = _timed_run(graph, N, want, store=store, cache=cache)
        if store is not None:
            store.checkpoint()
            store.close()
        return elapsed

    elapsed, stats, threads = engine.profiled(one_run)
    folder.cleanup()
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    print(f"{name} {shape} N={N}: {elapsed * 1e6 / N:.2f} µs/node under cProfile", file=out)
    print(f"threads profiled: main + {threads}; waiting on locks is wait()", file=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--profile", choices=RUNS, help="print a cProfile of one such run instead")
    p.add_argument("--shape", choices=engine.SHAPES, default="fan")
    args = p.parse_args(argv)
    if args.profile:
        print(profile(args.profile, args.shape))
        return 0
    print(render(run_benchmark(quick=args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
