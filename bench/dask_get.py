"""``tb.dask.get`` against Dask's threaded and synchronous schedulers, on Dask's own graphs.

Three collections, each built so that its optimized graph has about N tasks
(N = 1,000, 10,000 and 100,000, the dataframe up to 10,000; ``--quick``:
1,000 and 10,000):

- **array**: ``(x + x.T).sum()`` of a ``da.ones`` square in 10 x 10 chunks
  (the transpose keeps Dask from fusing the chunks away);
- **dataframe**: ``groupby("k").v.agg(["sum", "mean"])`` of a frame from
  ``dd.from_pandas``, 40 rows a partition;
- **bag**: ``map(...).fold(add)`` of ``db.from_sequence``, 10 items a
  partition.

The graph is made once per collection and size, as ``dask.compute`` makes it
(``collections_to_expr``, ``FinalizeCompute``, ``optimize``), outside the
clock; each contender is then timed on the same graph, from the call of its
``get(dsk, keys)`` to its return (``tb.dask.get``: converting the graph,
starting the run, running it, reading the results back; no view, no store).
Contenders are interleaved (tb, threads, sync, tb, ...), the order rotated
each repeat, ``gc.collect()`` before each; every contender's value is checked
against the synchronous scheduler's. Threads: Dask's default pool
(CPU count); taskbeam: ``max_concurrency`` = CPU count, as Dask's.

Peak memory: each contender, collection and size once more in a fresh
process (``--memory``), after building the graph: the most resident memory
sampled every 2 ms during the call, minus the resident memory just before
it. taskbeam keeps every task's result until the run ends (the view and
the store show them); Dask releases what no task needs any more.
"""

from __future__ import annotations

import argparse
import gc
import json
import operator
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
COLLECTIONS = ("array", "dataframe", "bag")
CONTENDERS = ("taskbeam", "threads", "sync")
SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
REPEATS = {1_000: 7, 10_000: 5, 100_000: 3}
QUICK_REPEATS = {1_000: 3, 10_000: 2, 100_000: 1}
# A partition's groupby costs about a millisecond in pandas: at 100,000 tasks the
# dataframe alone would take a quarter of an hour, so it stops at 10,000.
LARGEST = {"dataframe": 10_000}


def collection(kind: str, n: int) -> Any:
    """A collection whose optimized graph has about ``n`` tasks."""
    if kind == "array":
        import dask.array as da

        side = max(2, round((n / 2.2) ** 0.5))
        x = da.ones((side * 10, side * 10), chunks=10)
        return (x + x.T).sum()
    if kind == "dataframe":
        import dask.dataframe as dd
        import numpy as np
        import pandas as pd

        parts = max(2, round(n / 4.8))
        rows = parts * 40
        frame = pd.DataFrame({"k": np.arange(rows) % 97, "v": np.arange(rows, dtype=float)})
        return dd.from_pandas(frame, npartitions=parts).groupby("k").v.agg(["sum", "mean"])
    if kind == "bag":
        import dask.bag as db

        parts = max(2, round(n / 2.1))
        return (
            db.from_sequence(range(parts * 10), npartitions=parts)
            .map(operator.mul, 3)
            .fold(operator.add, initial=0)
        )
    raise ValueError(kind)


def graph_of(coll: Any) -> tuple[Any, list[Any]]:
    """The graph and keys ``dask.compute`` hands its scheduler."""
    from dask._expr import FinalizeCompute
    from dask.base import collections_to_expr
    from dask.core import flatten

    expr = FinalizeCompute(collections_to_expr([coll], True)).optimize()
    dsk = dict(expr.__dask_graph__())
    return dsk, list(flatten(expr.__dask_keys__()))


def scheduler_of(name: str) -> Any:
    if name == "threads":
        from dask.threaded import get

        return get
    if name == "sync":
        from dask.local import get_sync

        return get_sync
    import taskbeam as tb

    return tb.dask.scheduler(view=False)


def same(a: Any, b: Any) -> bool:
    import numpy as np
    import pandas as pd

    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, pd.DataFrame | pd.Series):
        return bool(a.sort_index().equals(b.sort_index()))
    return bool(np.all(a == b))


@dataclass
class Case:
    collection: str
    n: int  # the size asked for
    tasks: int  # the optimized graph's
    seconds: dict[str, list[float]] = field(default_factory=dict)
    peak_mib: dict[str, float] = field(default_factory=dict)


def time_case(kind: str, n: int, repeats: int) -> Case:
    dsk, keys = graph_of(collection(kind, n))
    case = Case(kind, n, len(dsk), {c: [] for c in CONTENDERS})
    expected = scheduler_of("sync")(dsk, keys)
    for r in range(repeats):
        order = CONTENDERS[r % 3 :] + CONTENDERS[: r % 3]
        for name in order:
            get = scheduler_of(name)
            gc.collect()
            began = time.perf_counter()
            value = get(dsk, keys)
            case.seconds[name].append(time.perf_counter() - began)
            if not same(value, expected):
                raise SystemExit(f"{name} computed another value for {kind} at N={n}")
        print(
            f"  {kind} N={n} ({case.tasks} tasks) repeat {r + 1}/{repeats}: "
            + ", ".join(f"{c} {case.seconds[c][-1]:.3f} s" for c in CONTENDERS),
            file=sys.stderr,
        )
    return case


def memory_of(name: str, kind: str, n: int) -> float:
    """MiB of resident memory a contender's call adds at its peak (this process)."""
    import psutil

    dsk, keys = graph_of(collection(kind, n))
    get = scheduler_of(name)
    proc = psutil.Process()
    gc.collect()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    get(dsk, keys)
    done.set()
    sampler.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    return (peak[0] - base) / 2**20


def measure_memory(case: Case) -> None:
    for name in CONTENDERS:
        out = subprocess.run(
            [sys.executable, __file__, "--memory", name, case.collection, str(case.n)],
            capture_output=True,
            text=True,
            check=True,
            cwd=HERE,
        )
        case.peak_mib[name] = float(out.stdout.strip().splitlines()[-1])
    print(
        f"  {case.collection} N={case.n} peak MiB: "
        + ", ".join(f"{c} {case.peak_mib[c]:.1f}" for c in CONTENDERS),
        file=sys.stderr,
    )


def run_benchmark(quick: bool = False, sizes: tuple[int, ...] | None = None) -> list[Case]:
    sizes = sizes or (QUICK_SIZES if quick else SIZES)
    repeats = QUICK_REPEATS if quick else REPEATS
    print("dask_get: tb.dask.get against Dask's schedulers", file=sys.stderr)
    cases = []
    for n in sizes:
        for kind in COLLECTIONS:
            if n > LARGEST.get(kind, n):
                continue
            case = time_case(kind, n, repeats.get(n, 3))
            measure_memory(case)
            cases.append(case)
    return cases


def _med(xs: list[float]) -> float:
    return statistics.median(xs)


def render(cases: list[Case]) -> str:
    lines = [
        "## Dask collections: tb.dask.get",
        "",
        "`tb.dask.get` against Dask's threaded (`threads`) and synchronous (`sync`) "
        "schedulers on the same optimized graph of a Dask collection (see "
        "`bench/dask_get.py`): wall time of the `get(dsk, keys)` call, median of the "
        "interleaved repeats (fastest and slowest in brackets), and the peak resident "
        "memory the call added, in a fresh process. Ratios are taskbeam's over each "
        "scheduler's; lower is better.",
        "",
        "| collection | N | tasks | repeats | taskbeam (s) | threads (s) | sync (s) "
        "| taskbeam / threads | taskbeam / sync | peak MiB taskbeam | threads | sync "
        "| memory taskbeam / threads |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        t = {k: _med(v) for k, v in c.seconds.items()}

        def cell(k: str, t: dict[str, float] = t, c: Case = c) -> str:
            xs = c.seconds[k]
            return f"{t[k]:.3f} ({min(xs):.3f}–{max(xs):.3f})"

        mem = c.peak_mib
        mem_ratio = f"{mem['taskbeam'] / mem['threads']:.2f}" if mem.get("threads", 0) >= 1 else "—"
        lines.append(
            f"| {c.collection} | {c.n:,} | {c.tasks:,} | {len(c.seconds['taskbeam'])} "
            f"| {cell('taskbeam')} | {cell('threads')} | {cell('sync')} "
            f"| {t['taskbeam'] / t['threads']:.2f} | {t['taskbeam'] / t['sync']:.2f} "
            f"| {mem.get('taskbeam', 0):.1f} | {mem.get('threads', 0):.1f} "
            f"| {mem.get('sync', 0):.1f} | {mem_ratio} |"
        )
    per_task = [(c.collection, c.n, 1e6 * (_med(c.seconds["taskbeam"])) / c.tasks) for c in cases]
    lines += [
        "",
        "taskbeam's µs per task (its median wall time over the graph's tasks): "
        + ", ".join(f"{k} {n:,}: {us:.0f}" for k, n, us in per_task)
        + ".",
        "",
    ]
    return "\n".join(lines)


def to_json(cases: list[Case]) -> list[dict[str, Any]]:
    return [vars(c) for c in cases]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--quick", action="store_true", help="N = 1,000 and 10,000, fewer repeats")
    p.add_argument("--sizes", type=int, nargs="+", help="task counts to run (default: all)")
    p.add_argument(
        "--memory", nargs=3, metavar=("CONTENDER", "COLLECTION", "N"), help=argparse.SUPPRESS
    )
    args = p.parse_args(argv)
    if args.memory:
        name, kind, n = args.memory
        print(f"{memory_of(name, kind, int(n)):.3f}")
        return 0
    cases = run_benchmark(args.quick, tuple(args.sizes) if args.sizes else None)
    print(render(cases))
    out = HERE / "_out" / "dask_get.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(to_json(cases), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
