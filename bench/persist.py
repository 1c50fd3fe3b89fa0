"""Persistence overhead: the same no-op run with and without a SQLite store.

N = 10,000 no-op async tasks, both shapes of ``engine.py``. The stored run is
watched (it has a subscriber, so the watched save policy applies: saves
stream to the writer while the run goes on, and the final save is verified
by reading it back before ``wait()`` returns). Both contenders have the same
subscriber, interleaved (plain, stored, plain, stored, ...), ``gc.collect()``
before each, medians over the repeats.

Reported: median wall time of each, their ratio (target: at most 1.25), node
states written per second (nodes saved / wall time of the stored run),
transactions per run, and database bytes per node after a WAL checkpoint.
"""

from __future__ import annotations

import gc
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import engine
import taskbeam as tb

N = 10_000
REPEATS = 9
QUICK_REPEATS = 3
TARGET = 1.25


@dataclass
class PersistResults:
    repeats: int
    plain: dict[str, list[float]] = field(default_factory=dict)
    stored: dict[str, list[float]] = field(default_factory=dict)
    commits: dict[str, float] = field(default_factory=dict)
    bytes_per_node: dict[str, float] = field(default_factory=dict)


def _run(graph: tb.Graph, store: tb.SQLiteStore | None) -> float:
    gc.collect()
    t0 = time.perf_counter()
    run = tb.start(graph, max_concurrency=engine.UNLIMITED, store=store)
    run.subscribe(lambda event: None)
    run.wait()
    elapsed = time.perf_counter() - t0
    if run.counts.get("done") != N or run.store_error:
        raise RuntimeError(f"run ended {run.status} {run.counts} {run.store_error}")
    return elapsed


def run_benchmark(quick: bool = False) -> PersistResults:
    res = PersistResults(QUICK_REPEATS if quick else REPEATS)
    for shape in engine.SHAPES:
        graph = engine.taskbeam_graph(engine.build_deps(shape, N), engine.async_noop)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "runs.db"
            store = tb.SQLiteStore(path)
            res.plain[shape], res.stored[shape] = [], []
            before = store.commits
            for _ in range(res.repeats):
                res.plain[shape].append(_run(graph, None))
                res.stored[shape].append(_run(graph, store))
            res.commits[shape] = (store.commits - before) / res.repeats
            store.close()
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            res.bytes_per_node[shape] = path.stat().st_size / (N * res.repeats)
        engine.log(f"persist {shape}: done")
    return res


def targets(res: PersistResults) -> list[tuple[str, str, bool]]:
    worst = max(res.stored, key=lambda s: _ratio(res, s))
    ratio = _ratio(res, worst)
    return [
        (
            f"stored run (watched policy) ≤ {TARGET}× the same run without a store, N=10,000",
            f"worst {ratio:.2f}× ({worst})",
            ratio <= TARGET,
        )
    ]


def _ratio(res: PersistResults, shape: str) -> float:
    return statistics.median(res.stored[shape]) / statistics.median(res.plain[shape])


def render(res: PersistResults) -> str:
    lines = [
        "## Persistence",
        "",
        f"N = 10,000 no-op async tasks, medians of {res.repeats} interleaved repeats; both "
        "runs have one subscriber, so the stored one saves under the watched policy and "
        "verifies its final save before `wait()` returns.",
        "",
        "| shape | without store (ms) | with store (ms) | ratio | node states written / s "
        "| transactions per run | DB bytes per node |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for shape in res.stored:
        plain = statistics.median(res.plain[shape])
        stored = statistics.median(res.stored[shape])
        lines.append(
            f"| {shape} | {plain * 1e3:.1f} | {stored * 1e3:.1f} | {stored / plain:.2f} "
            f"| {N / stored:,.0f} | {res.commits[shape]:.1f} | {res.bytes_per_node[shape]:.0f} |"
        )
    lines += ["", "| Target | Measured | |", "|---|---|---|"]
    for what, measured, ok in targets(res):
        lines.append(f"| {what} | {measured} | {'**PASS**' if ok else '**MISS**'} |")
    return "\n".join(lines) + "\n"


def to_json(res: PersistResults) -> dict[str, Any]:
    return {
        "repeats": res.repeats,
        "plain": res.plain,
        "stored": res.stored,
        "commits": res.commits,
        "bytes_per_node": res.bytes_per_node,
    }


if __name__ == "__main__":
    print(render(run_benchmark(quick=True)))
