"""Persistence overhead: the same no-op run with and without a SQLite store.

N = 10,000 no-op async tasks, both shapes of ``engine.py``. The stored run is
watched (it has a subscriber, so the watched save policy applies: saves
stream to the writer while the run goes on, and the final save is verified
by reading it back before ``wait()`` returns). Both contenders have the same
subscriber, interleaved (plain, stored, plain, stored, ...), ``gc.collect()``
before each, medians over the repeats.

The subscriber is in place before the first no-op starts. ``tb.start``
starts the run at once, and such a run is one long pass of the loop, so a
subscription made after ``tb.start`` returns (it is queued on the run's
loop) lands either before every node or after the last one, by the luck of
thread scheduling, and a run nobody watched records and delivers no events
(about 30,000 fewer calls) and saves under the unwatched policy. So the
nodes without dependencies depend on one more task, ``gate``, which waits
until the script has subscribed; both contenders run it.

The store's writer copies its WAL into the database file when it is idle
(see docs/persistence.md), which here would land inside whichever run comes
next. So after every stored run, outside the clock, the script calls
``store.checkpoint()``, which waits until that is done: no contender is timed
while the store works on the disk. Its time is reported apart.

Reported: median wall time of each, their ratio (target: at most 1.25), node
states written per second (nodes saved / wall time of the stored run),
transactions per run, the untimed checkpoint after each stored run, and
database bytes per node after a WAL checkpoint.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
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
    checkpoint: dict[str, list[float]] = field(default_factory=dict)
    bytes_per_node: dict[str, float] = field(default_factory=dict)


# Opened by the script once the run it just started has its subscriber.
_opened: list[concurrent.futures.Future[None]] = [concurrent.futures.Future()]


async def gate() -> None:
    await asyncio.wrap_future(_opened[0])


def gated_graph(shape: str) -> tb.Graph:
    """The N no-op tasks of ``engine.py``'s shape; those without dependencies wait for ``gate``."""
    names = engine.names_for(N)
    g = tb.Graph("bench")
    g.add("gate", gate)
    for i, deps in enumerate(engine.build_deps(shape, N)):
        g.add(names[i], engine.async_noop, deps=[names[j] for j in deps] or ["gate"])
    return g


def timed_run(
    graph: tb.Graph, store: tb.SQLiteStore | None, cache: bool = False
) -> tuple[float, tb.Run]:
    """The timed run: subscribed before the first no-op starts; (seconds, the run)."""
    gc.collect()
    opened = _opened[0] = concurrent.futures.Future()
    t0 = time.perf_counter()
    run = tb.start(graph, max_concurrency=engine.UNLIMITED, store=store, cache=cache)
    run.subscribe(lambda event: None)
    opened.set_result(None)
    run.wait()
    elapsed = time.perf_counter() - t0
    if run.counts.get("done") != N + 1 or run.store_error:
        raise RuntimeError(f"run ended {run.status} {run.counts} {run.store_error}")
    return elapsed, run


def _run(graph: tb.Graph, store: tb.SQLiteStore | None) -> float:
    return timed_run(graph, store)[0]


def run_benchmark(quick: bool = False) -> PersistResults:
    res = PersistResults(QUICK_REPEATS if quick else REPEATS)
    for shape in engine.SHAPES:
        graph = gated_graph(shape)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "runs.db"
            store = tb.SQLiteStore(path)
            res.plain[shape], res.stored[shape], res.checkpoint[shape] = [], [], []
            before = store.commits
            for _ in range(res.repeats):
                res.plain[shape].append(_run(graph, None))
                res.stored[shape].append(_run(graph, store))
                t0 = time.perf_counter()
                store.checkpoint()  # the store's idle work, before the next contender
                res.checkpoint[shape].append(time.perf_counter() - t0)
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
        "| transactions per run | checkpoint after the run, untimed (ms) | DB bytes per node |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for shape in res.stored:
        plain = statistics.median(res.plain[shape])
        stored = statistics.median(res.stored[shape])
        checkpoint = statistics.median(res.checkpoint[shape])
        lines.append(
            f"| {shape} | {plain * 1e3:.1f} | {stored * 1e3:.1f} | {stored / plain:.2f} "
            f"| {N / stored:,.0f} | {res.commits[shape]:.1f} | {checkpoint * 1e3:.1f} "
            f"| {res.bytes_per_node[shape]:.0f} |"
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
        "checkpoint": res.checkpoint,
        "bytes_per_node": res.bytes_per_node,
    }


if __name__ == "__main__":
    print(render(run_benchmark(quick=True)))
