"""Scale-out: taskbeam's executors against their plain counterparts, on one LocalCluster.

Two parts, each a ratio measured in this script:

1. **Overhead on Dask.** The no-op graphs of ``engine.py`` (fan and layered,
   N = 1,000) on a ``LocalCluster`` of 2 worker processes × 1 thread:
   taskbeam with ``DaskExecutor`` (sync no-op tasks, results kept on the
   cluster, ``max_concurrency`` unlimited) against ``client.compute`` of
   the same raw Dask graph on the same cluster. Interleaved, ``gc.collect()``
   and an empty scheduler before each, medians.
2. **CPU-bound speed-up.** 1,000 tasks of ~10 ms of pure Python (a loop
   calibrated on this machine), independent, all feeding a sink: run
   serially in one thread, then by taskbeam with the local thread pool
   (held back by the GIL), ``ProcessExecutor(2)`` and ``DaskExecutor`` on
   the cluster above, and plain ``client.compute`` of the same graph on
   that cluster as the yardstick for the DaskExecutor. Speed-up = serial
   time / contender time; per core = speed-up / usable cores.

    python bench/scale.py            # full: about 6 minutes on 2 cores
    python bench/scale.py --quick    # N = 200, 1 repeat of the CPU part (under a minute)
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import dask
from dask.delayed import Delayed
from distributed import Client, LocalCluster

import engine
import taskbeam as tb

N = 1_000
QUICK_N = 200
REPEATS = 7
QUICK_REPEATS = 3
CPU_TASKS = 1_000
QUICK_CPU_TASKS = 200
CPU_REPEATS = 3
QUICK_CPU_REPEATS = 1
TASK_MS = 10.0
WORKERS = 2

_LOOPS_PER_MS = 0


def burn(loops: int) -> int:
    """Pure-Python work that holds the GIL: ``loops`` rounds of integer arithmetic."""
    acc = 0
    for i in range(loops):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def calibrate(ms: float) -> int:
    """Loop count of :func:`burn` that takes about ``ms`` on this machine.

    A first guess from a short probe, then corrected twice by timing the
    guess itself (median of 5), since a short probe runs faster per loop.
    """
    loops = 20_000
    for _ in range(3):
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            burn(loops)
            samples.append(time.perf_counter() - t0)
        loops = max(1, round(loops * (ms / 1e3) / statistics.median(samples)))
    return loops


def cpu_graph(tasks: int, loops: int) -> tb.Graph:
    g = tb.Graph("cpu")
    for i in range(tasks):
        g.add(f"b{i}", burn, kwargs={"loops": loops})
    g.add("sink", add_all, deps=[f"b{i}" for i in range(tasks)])
    return g


def add_all(**parts: int) -> int:
    return sum(parts.values())


@dataclass
class ScaleResults:
    n: int
    repeats: int
    cpu_tasks: int
    cpu_repeats: int
    task_ms: float = 0.0
    taskbeam: dict[str, list[float]] = field(default_factory=dict)
    compute: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    cores: int = 1


def _settle(client: Client) -> None:
    """Drop what earlier runs kept, wait until the scheduler holds no task."""
    gc.collect()
    deadline = time.monotonic() + 60
    while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
        if time.monotonic() > deadline:
            raise RuntimeError("the scheduler still holds tasks after 60 s")
        time.sleep(0.02)
        gc.collect()


def _timed_run(graph: tb.Graph, executor: tb.Executor | None) -> float:
    """Wall time of one taskbeam run of ``graph`` on ``executor``, which must end with all done."""
    t0 = time.perf_counter()
    run = tb.start(graph, executor=executor, max_concurrency=engine.UNLIMITED).wait()
    elapsed = time.perf_counter() - t0
    if run.counts.get("done") != len(graph.tasks):
        raise RuntimeError(f"run of {graph.name!r} ended {run.status} {run.counts}")
    return elapsed


def _compute(client: Client, dsk: dict[str, Any], leaves: list[str]) -> float:
    t0 = time.perf_counter()
    futures = client.compute([Delayed(key, dsk) for key in leaves])
    out = client.gather(futures)
    elapsed = time.perf_counter() - t0
    if len(out) != len(leaves):
        raise RuntimeError("client.compute returned the wrong number of results")
    del futures
    return elapsed


def _dask_compute_cpu(client: Client, tasks: int, loops: int) -> float:
    """The same CPU-bound graph as raw Dask, given to the scheduler at once."""
    dsk: dict[str, Any] = {f"b{i}": (burn, loops) for i in range(tasks)}
    dsk["sink"] = (_sum_args, *[f"b{i}" for i in range(tasks)])
    t0 = time.perf_counter()
    out = client.gather(client.compute(Delayed("sink", dsk)))
    elapsed = time.perf_counter() - t0
    if not isinstance(out, int):
        raise RuntimeError("client.compute returned no total")
    return elapsed


def _sum_args(*parts: int) -> int:
    return sum(parts)


def _serial(tasks: int, loops: int) -> float:
    t0 = time.perf_counter()
    total = sum(burn(loops) for _ in range(tasks))
    elapsed = time.perf_counter() - t0
    if total < 0:
        raise RuntimeError("unreachable")
    return elapsed


def run_benchmark(quick: bool = False) -> ScaleResults:
    res = ScaleResults(
        n=QUICK_N if quick else N,
        repeats=QUICK_REPEATS if quick else REPEATS,
        cpu_tasks=QUICK_CPU_TASKS if quick else CPU_TASKS,
        cpu_repeats=QUICK_CPU_REPEATS if quick else CPU_REPEATS,
        cores=len(os.sched_getaffinity(0)),
    )
    loops = calibrate(TASK_MS)
    res.task_ms = _serial(20, loops) / 20 * 1e3
    with (
        LocalCluster(
            n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
        tb.ProcessExecutor(WORKERS) as processes,
    ):
        ex = tb.DaskExecutor(client)
        for shape in engine.SHAPES:
            deps = engine.build_deps(shape, res.n)
            graph = engine.taskbeam_graph(deps, engine.sync_noop)
            dsk, leaves = engine.dask_graph(deps)
            _timed_run(graph, ex)  # warm both paths once, untimed
            _settle(client)
            _compute(client, dsk, leaves)
            res.taskbeam[shape], res.compute[shape] = [], []
            for _ in range(res.repeats):
                _settle(client)
                res.taskbeam[shape].append(_timed_run(graph, ex))
                _settle(client)
                res.compute[shape].append(_compute(client, dsk, leaves))
            engine.log(f"scale {shape}: done")

        graph = cpu_graph(res.cpu_tasks, loops)
        contenders: dict[str, Any] = {
            "serial": None,
            "threads": tb.LocalExecutor(WORKERS),
            "ProcessExecutor": processes,
            "DaskExecutor": ex,
            "client.compute": client,
        }
        warm = cpu_graph(WORKERS * 2, loops)
        for name in ("ProcessExecutor", "DaskExecutor"):  # start the worker processes
            _timed_run(warm, contenders[name])
        res.cpu = {name: [] for name in contenders}
        for _ in range(res.cpu_repeats):
            for name, executor in contenders.items():
                _settle(client)
                if executor is None:
                    res.cpu[name].append(_serial(res.cpu_tasks, loops))
                elif executor is client:
                    res.cpu[name].append(_dask_compute_cpu(client, res.cpu_tasks, loops))
                else:
                    res.cpu[name].append(_timed_run(graph, executor))
            engine.log("scale cpu: one round done")
        ex.close()
    return res


def _median(values: list[float]) -> float:
    return statistics.median(values)


def render(res: ScaleResults) -> str:
    lines = [
        "## Scale-out",
        "",
        f"A `LocalCluster` of {WORKERS} worker processes × 1 thread on this machine "
        f"({res.cores} usable cores, shared by the scheduler, the workers and the client).",
        "",
        f"### taskbeam on DaskExecutor vs `client.compute`, N = {res.n:,}",
        "",
        f"Sync no-op tasks, medians of {res.repeats} interleaved repeats. taskbeam keeps "
        "its whole state machine and hands each node to the cluster when it is ready "
        "(results stay there; previews come home as events); `client.compute` gives the "
        "scheduler the whole graph at once.",
        "",
        "| shape | taskbeam on Dask (ms) | client.compute (ms) | ratio | taskbeam µs/task |",
        "|---|---:|---:|---:|---:|",
    ]
    for shape in res.taskbeam:
        ours, theirs = _median(res.taskbeam[shape]), _median(res.compute[shape])
        lines.append(
            f"| {shape} | {ours * 1e3:,.0f} | {theirs * 1e3:,.0f} | {ours / theirs:.2f} "
            f"| {ours / res.n * 1e6:,.0f} |"
        )
    serial = _median(res.cpu["serial"])
    lines += [
        "",
        f"### CPU-bound: {res.cpu_tasks:,} tasks of ~{res.task_ms:.1f} ms of pure Python",
        "",
        f"Independent tasks feeding one sink; medians of {res.cpu_repeats} interleaved repeats; "
        f"speed-up = serial time / contender time, per core = speed-up / {res.cores}. "
        "Plain Dask on the same cluster is the yardstick for the DaskExecutor: on 2 cores "
        "the scheduler, the client and the workers share the CPUs, and Dask's own cost per "
        "task (a few ms of CPU here, see the no-op table above) is of the size of the task.",
        "",
        "| contender | wall time (s) | speed-up | per core |",
        "|---|---:|---:|---:|",
    ]
    labels = {
        "serial": "serial, one thread",
        "threads": f"taskbeam, LocalExecutor({WORKERS}) threads",
        "ProcessExecutor": f"taskbeam, ProcessExecutor({WORKERS})",
        "DaskExecutor": f"taskbeam, DaskExecutor ({WORKERS} workers)",
        "client.compute": f"plain Dask, client.compute on the same cluster ({WORKERS} workers)",
    }
    for name, samples in res.cpu.items():
        t = _median(samples)
        per_core = "—" if name == "serial" else f"{serial / t / res.cores:.2f}"
        lines.append(f"| {labels[name]} | {t:.2f} | {serial / t:.2f}× | {per_core} |")
    return "\n".join(lines) + "\n"


def to_json(res: ScaleResults) -> dict[str, Any]:
    return {
        "n": res.n,
        "repeats": res.repeats,
        "cpu_tasks": res.cpu_tasks,
        "task_ms": res.task_ms,
        "taskbeam_on_dask": res.taskbeam,
        "client_compute": res.compute,
        "cpu": res.cpu,
        "dask": dask.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="taskbeam's executors against plain Dask and serial.")
    p.add_argument("--quick", action="store_true", help="N = 200, one CPU round")
    args = p.parse_args(argv)
    print(render(run_benchmark(quick=args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
