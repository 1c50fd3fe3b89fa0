"""Engine overhead benchmark: taskbeam against asyncio floors and Dask, on no-op tasks.

Every task does nothing, so what is timed is the cost of scheduling: building
the run, tracking dependencies, passing results, waking the loop. Two graph
shapes, three sizes, six contenders, all in one process and interleaved, the
order rotated by one each repeat (A B C ... F, B C ... F A, ...), ``gc.collect()``
before each timed run, medians over the repeats, every thread kept on one CPU
during the timed runs (see ``pinned_cpu``). Peak memory is measured separately,
one fresh subprocess per contender.

Run it through ``bench/run.py`` (``make bench``), which writes ``bench/RESULTS.md``.
``python bench/engine.py [--quick]`` prints the same report to stdout.
``python bench/engine.py --profile taskbeam-async --shape fan --n 10000`` prints
a cProfile of one taskbeam run, every thread it starts included.
``python bench/engine.py --contenders taskbeam-async,asyncio-floor [--shape S]
[--n N] [--repeats R]`` times only those contenders, measured as in a full run,
and prints their medians and the async ratio per cell. ``--cpu K`` keeps the
process (all its threads) on CPU K.

Contenders
----------
taskbeam-async   ``async def noop(**kw)`` on every node, ``tb.start(...).wait()``.
asyncio-floor    one new event loop, in-degree counters, one ``loop.create_task``
                 per node; the coroutine builds the node's keyword arguments from
                 its dependencies' results, awaits the no-op, stores the result,
                 then decrements its dependants' counters and creates the tasks of
                 those reaching zero. The least an asyncio engine can do.
taskbeam-sync    ``def noop(**kw)`` on every node (run in taskbeam's thread pool).
to_thread-floor  as asyncio-floor, but the coroutine awaits
                 ``asyncio.to_thread(noop, **kw)`` (the loop's default executor).
dask-threaded    ``dask.threaded.get`` on the same graph as a raw dask dict.
dask-sync        ``dask.get`` (the synchronous scheduler) on the same dict.

Timing covers, for taskbeam, ``tb.start`` (graph validation, run state, thread
and loop start) to the return of ``wait()``; for the floors, loop creation and
counter set-up to the completion of the last node; for Dask, the ``get`` call.
Building the ``Graph`` or the dask dict is not timed (it is in the memory figure).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import gc
import io
import json
import math
import os
import platform
import pstats
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dask
import dask.threaded

import taskbeam as tb

T = TypeVar("T")

SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
SHAPES = ("fan", "layered")
# Repeats per size. A run at 1,000 lasts a few ms, so one busy moment of a
# neighbour on a shared machine moves it by half; many repeats keep its median
# steady for little time (multiples of 6: each contender takes each place of the
# rotated order equally often). At 100,000 the three slowest contenders (about
# 10 s per run each) stop after SLOW_REPEATS_100K, to keep `make bench` near 11
# minutes on 2 cores.
REPEATS = {1_000: 42, 10_000: 18, 100_000: 5}
SLOW_REPEATS_100K = 3
SLOW = ("to_thread-floor", "dask-threaded", "dask-sync")
QUICK_REPEATS = 3
LAYER_FANIN = 4
SEED = 20_240_901
# RunState wants an int >= 1; this never limits. taskbeam's sync pool then has
# its default size, min(max_concurrency, 64) = 64 threads.
UNLIMITED = 10**9

CONTENDERS = (
    "taskbeam-async",
    "asyncio-floor",
    "taskbeam-sync",
    "to_thread-floor",
    "dask-threaded",
    "dask-sync",
)
RSS_CONTENDERS = ("taskbeam-async", "taskbeam-sync", "dask-threaded")

# Targets. Ratios are of medians.
ASYNC_TARGET = 1.5  # taskbeam-async / asyncio-floor, every shape and N
SYNC_TARGET = 1.25  # taskbeam-sync / to_thread-floor, every shape and N
DASK_TARGET = 1.0  # taskbeam-sync / dask-threaded must be below this (faster)
SCALING_TARGET = 1.25  # (taskbeam/floor at largest N) / (taskbeam/floor at 1k)
RSS_TARGET_KIB = 2.0  # taskbeam-async peak RSS growth per node, fan shape, largest N


# -- the no-op tasks -------------------------------------------------------------
async def async_noop(**kw: Any) -> None:
    return None


def sync_noop(**kw: Any) -> None:
    return None


def dask_noop(*args: Any) -> None:
    return None


# -- graph shapes ----------------------------------------------------------------
def fan(n: int) -> list[tuple[int, ...]]:
    """root -> n - 2 independent nodes -> sink. Node ``i`` depends on ``deps[i]``."""
    middle = tuple(range(1, n - 1))
    return [(), *[(0,)] * (n - 2), middle]


def layered(n: int, seed: int = SEED) -> list[tuple[int, ...]]:
    """Layers of width ~sqrt(n); each node depends on up to 4 random nodes of the layer before."""
    rng = random.Random(seed)
    width = max(1, round(math.sqrt(n)))
    deps: list[tuple[int, ...]] = []
    previous: list[int] = []
    for start in range(0, n, width):
        layer = list(range(start, min(start + width, n)))
        k = min(LAYER_FANIN, len(previous))
        for _ in layer:
            deps.append(tuple(sorted(rng.sample(previous, k))) if k else ())
        previous = layer
    return deps


def build_deps(shape: str, n: int) -> list[tuple[int, ...]]:
    if shape == "fan":
        return fan(n)
    if shape == "layered":
        return layered(n)
    raise ValueError(f"unknown shape {shape!r}")


def names_for(n: int) -> list[str]:
    # Valid identifiers, so taskbeam can pass each result under its id.
    return [f"t{i}" for i in range(n)]


def taskbeam_graph(deps: list[tuple[int, ...]], fn: Callable[..., Any]) -> tb.Graph:
    names = names_for(len(deps))
    g = tb.Graph("bench")
    for i, d in enumerate(deps):
        g.add(names[i], fn, deps=[names[j] for j in d])
    return g


def dask_graph(deps: list[tuple[int, ...]]) -> tuple[dict[str, tuple[Any, ...]], list[str]]:
    """The raw dask dict and the keys to ask for (every node nobody depends on)."""
    names = names_for(len(deps))
    dsk = {names[i]: (dask_noop, *(names[j] for j in d)) for i, d in enumerate(deps)}
    has_dependant = {j for d in deps for j in d}
    leaves = [names[i] for i in range(len(deps)) if i not in has_dependant]
    return dsk, leaves


@dataclass
class Case:
    """One shape at one size, built once and run by every contender."""

    shape: str
    n: int
    deps: list[tuple[int, ...]]
    names: list[str]
    tb_async: tb.Graph
    tb_sync: tb.Graph
    dsk: dict[str, tuple[Any, ...]]
    leaves: list[str]

    @classmethod
    def build(cls, shape: str, n: int) -> Case:
        deps = build_deps(shape, n)
        dsk, leaves = dask_graph(deps)
        return cls(
            shape,
            n,
            deps,
            names_for(n),
            taskbeam_graph(deps, async_noop),
            taskbeam_graph(deps, sync_noop),
            dsk,
            leaves,
        )


# -- contenders: each returns wall seconds -----------------------------------------
def run_taskbeam(graph: tb.Graph, n: int) -> float:
    t0 = time.perf_counter()
    run = tb.start(graph, max_concurrency=UNLIMITED)
    run.wait()
    elapsed = time.perf_counter() - t0
    counts = run.counts
    if counts.get("done") != n:
        raise RuntimeError(f"taskbeam run ended {run.status}: {counts}")
    return elapsed


def run_floor(case: Case, *, to_thread: bool) -> float:
    deps, names, n = case.deps, case.names, case.n
    t0 = time.perf_counter()
    loop = asyncio.new_event_loop()
    try:
        waiting = [len(d) for d in deps]
        dependants: list[list[int]] = [[] for _ in range(n)]
        for i, d in enumerate(deps):
            for j in d:
                dependants[j].append(i)
        results: list[Any] = [None] * n
        tasks: list[asyncio.Task[None] | None] = [None] * n  # strong refs while running
        left = n
        finished = loop.create_future()

        async def node(i: int) -> None:
            nonlocal left
            kwargs = {names[j]: results[j] for j in deps[i]}
            if to_thread:
                results[i] = await asyncio.to_thread(sync_noop, **kwargs)
            else:
                results[i] = await async_noop(**kwargs)
            tasks[i] = None
            for k in dependants[i]:
                waiting[k] -= 1
                if waiting[k] == 0:
                    tasks[k] = loop.create_task(node(k))
            left -= 1
            if left == 0:
                finished.set_result(None)

        async def main() -> None:
            for i in range(n):
                if waiting[i] == 0:
                    tasks[i] = loop.create_task(node(i))
            await finished

        loop.run_until_complete(main())
        elapsed = time.perf_counter() - t0
        if left != 0:
            raise RuntimeError(f"floor finished with {left} nodes left")
        return elapsed
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def run_dask(case: Case, get: Callable[..., Any]) -> float:
    t0 = time.perf_counter()
    out = get(case.dsk, case.leaves)
    elapsed = time.perf_counter() - t0
    if len(out) != len(case.leaves):
        raise RuntimeError("dask returned the wrong number of results")
    return elapsed


def run_contender(name: str, case: Case) -> float:
    if name == "taskbeam-async":
        return run_taskbeam(case.tb_async, case.n)
    if name == "taskbeam-sync":
        return run_taskbeam(case.tb_sync, case.n)
    if name == "asyncio-floor":
        return run_floor(case, to_thread=False)
    if name == "to_thread-floor":
        return run_floor(case, to_thread=True)
    if name == "dask-threaded":
        return run_dask(case, dask.threaded.get)
    if name == "dask-sync":
        return run_dask(case, dask.get)
    raise ValueError(f"unknown contender {name!r}")


def timed(name: str, case: Case) -> float:
    gc.collect()
    return run_contender(name, case)


# -- memory: one fresh process per contender -----------------------------------------
def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_child(name: str, n: int) -> dict[str, float]:
    """In a fresh process: RSS before building the graph vs peak RSS after the run."""
    gc.collect()
    before = _proc_status_kib("VmRSS")
    deps = fan(n)
    if name.startswith("taskbeam"):
        graph = taskbeam_graph(deps, async_noop if name == "taskbeam-async" else sync_noop)
        del deps
        run_taskbeam(graph, n)
    elif name == "dask-threaded":
        dsk, leaves = dask_graph(deps)
        del deps
        dask.threaded.get(dsk, leaves)
    else:
        raise ValueError(f"no memory measurement for {name!r}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    hwm = _proc_status_kib("VmHWM")  # this process's own peak, for a cross-check
    return {
        "before_kib": before,
        "peak_kib": peak,
        "hwm_kib": hwm,
        "kib_per_node": (peak - before) / n,
        "hwm_kib_per_node": (hwm - before) / n,
    }


def measure_rss(name: str, n: int) -> dict[str, float]:
    """Run :func:`rss_child` in a fresh interpreter.

    Call it while this process is still small: on Linux a child's ``ru_maxrss``
    starts at the peak of the process that spawned it (it survives ``exec``),
    so a parent holding big graphs would inflate it. ``VmHWM`` does not carry
    over and is reported next to it as a check.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--rss-child", name, "--n", str(n)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- profiling one taskbeam run ----------------------------------------------------
def profiled(fn: Callable[[], T]) -> tuple[T, pstats.Stats, int]:
    """``fn()`` under cProfile, with every thread it starts profiled too (``threading.
    setprofile`` hands each new thread a profiler of its own): its result, the merged
    stats, and how many threads besides the caller's were profiled."""
    profilers: list[cProfile.Profile] = []
    lock = threading.Lock()

    def bootstrap(frame: Any, event: str, arg: Any) -> None:
        prof = cProfile.Profile()
        with lock:
            profilers.append(prof)
        prof.enable()  # replaces this hook for the current thread

    main_prof = cProfile.Profile()
    gc.collect()
    threading.setprofile(bootstrap)
    main_prof.enable()
    try:
        result = fn()
    finally:
        main_prof.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
    time.sleep(0.5)  # let threads that were told to stop finish exiting
    stats = pstats.Stats(main_prof)
    for prof in profilers:
        stats.add(prof)
    return result, stats, len(profilers)


def profile_taskbeam(name: str, shape: str, n: int, top: int = 30) -> str:
    """cProfile of one taskbeam run, the run's thread and its worker threads merged.

    Profiles every thread started while the run is being set up and executed
    (``threading.setprofile`` hands each new thread a profiler of its own).
    """
    case = Case.build(shape, n)
    graph = case.tb_async if name == "taskbeam-async" else case.tb_sync
    elapsed, stats, threads = profiled(lambda: run_taskbeam(graph, n))
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    print(f"{name} {shape} N={n}: {elapsed * 1e6 / n:.2f} µs/task under cProfile", file=out)
    print(f"threads profiled: main + {threads}", file=out)
    print(
        "own time by source, waiting on locks left out (that is wait() and idle workers):", file=out
    )
    by_source: dict[str, float] = {}
    for (filename, _line, func), row in stats.stats.items():  # type: ignore[attr-defined]
        if "acquire" in func:
            continue
        if "/taskbeam/" in filename:
            key = "taskbeam/" + filename.rsplit("/taskbeam/", 1)[1]
        elif filename == "~":
            key = "built-ins"
        else:
            key = Path(filename).parent.name + "/" + Path(filename).name
        by_source[key] = by_source.get(key, 0.0) + row[2]
    total = sum(by_source.values())
    for key, secs in sorted(by_source.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {secs * 1e3:8.1f} ms {100 * secs / total:5.1f}%  {key}", file=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# -- the machine -------------------------------------------------------------------
def _taskbeam_version() -> str:
    """The package version, plus the git commit when run from a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return tb.__version__
    return f"{tb.__version__} (git {rev}{', src/ modified' if dirty else ''})"


def machine() -> dict[str, str]:
    cpu, mhz = "unknown", ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "model name" and cpu == "unknown":
                cpu = value.strip()
            elif key.strip() == "cpu MHz" and not mhz:
                mhz = f", {float(value):.0f} MHz"
    cpu += mhz
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    os_name = platform.platform()
    try:
        info = platform.freedesktop_os_release()
        os_name = f"{info.get('PRETTY_NAME', info.get('NAME', ''))}, kernel {platform.release()}"
    except OSError:
        pass
    logical = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0))
    return {
        "CPU": cpu,
        "Cores": f"{usable} usable ({logical} logical)",
        "RAM": f"{mem_kib / 1024**2:.1f} GiB",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": os_name,
        "dask": dask.__version__,
        "taskbeam": _taskbeam_version(),
        "Date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _cpu_seconds() -> tuple[float, float, float]:
    """(busy CPU s of the whole machine, of which steal, of this process and its children)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    busy = (user + nice + system + irq + softirq + steal) / hz
    own = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        own += r.ru_utime + r.ru_stime
    return busy, steal / hz, own


# -- the benchmark -----------------------------------------------------------------
@dataclass
class Results:
    quick: bool
    sizes: tuple[int, ...]
    machine: dict[str, str]
    # samples[shape][n][contender] = list of seconds
    samples: dict[str, dict[int, dict[str, list[float]]]] = field(default_factory=dict)
    rss: dict[str, dict[str, float]] = field(default_factory=dict)
    rss_n: int = 0
    seconds: float = 0.0
    other_load: float = 0.0  # mean cores busy with other processes during the run
    steal: float = 0.0  # mean cores stolen by the hypervisor
    cpu: int | None = None  # the one CPU the timed runs were kept on (None: not pinned)

    def median_us(self, shape: str, n: int, contender: str) -> float:
        return statistics.median(self.samples[shape][n][contender]) * 1e6 / n

    def ratio(self, shape: str, n: int, a: str, b: str) -> float:
        return self.median_us(shape, n, a) / self.median_us(shape, n, b)

    def scaling(self, shape: str, a: str, floor: str) -> float:
        lo, hi = self.sizes[0], self.sizes[-1]
        return self.ratio(shape, hi, a, floor) / self.ratio(shape, lo, a, floor)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def repeats_for(contender: str, n: int, quick: bool) -> int:
    if quick:
        return QUICK_REPEATS
    if n >= 100_000 and contender in SLOW:
        return min(SLOW_REPEATS_100K, REPEATS[n])
    return REPEATS[n]


def rotated(names: tuple[str, ...], rep: int) -> tuple[str, ...]:
    """``names`` starting at ``rep`` (mod its length): no contender always runs first,
    or always right after the same other one."""
    k = rep % len(names)
    return names[k:] + names[:k]


def time_cells(
    contenders: tuple[str, ...],
    shapes: tuple[str, ...],
    sizes: tuple[int, ...],
    repeats: Callable[[str, int], int],
) -> dict[str, dict[int, dict[str, list[float]]]]:
    """Timed runs: ``samples[shape][n][contender]``, seconds per run.

    One untimed warm-up run of each contender first (N = 1,000); then, per size
    and shape, the contenders interleaved in rotated order, ``repeats(contender, n)``
    runs each.
    """
    warm = Case.build("layered", 1_000)  # imports, dask's pool, first-call caches
    for name in contenders:
        run_contender(name, warm)
    del warm
    out: dict[str, dict[int, dict[str, list[float]]]] = {}
    for n in sizes:
        most = max(repeats(c, n) for c in contenders)
        for shape in shapes:
            t_case = time.perf_counter()
            case = Case.build(shape, n)
            samples: dict[str, list[float]] = {c: [] for c in contenders}
            for rep in range(most):
                for name in rotated(contenders, rep):
                    if rep < repeats(name, n):
                        samples[name].append(timed(name, case))
            out.setdefault(shape, {})[n] = samples
            del case
            line = ", ".join(
                f"{c} {statistics.median(s) * 1e6 / n:.1f}" for c, s in samples.items()
            )
            log(f"{shape} N={n} x{most} ({time.perf_counter() - t_case:.0f} s): {line} µs/task")
    return out


def summary(samples: dict[str, dict[int, dict[str, list[float]]]]) -> str:
    """Median (fastest–slowest) µs per task of each cell, and the async ratio if both ran."""
    lines = []
    for shape, by_n in samples.items():
        for n, per in by_n.items():
            cells = []
            for c, xs in per.items():
                us = [x * 1e6 / n for x in xs]
                cells.append(f"{c} {statistics.median(us):.2f} ({min(us):.2f}–{max(us):.2f})")
            line = f"{shape} N={n:,} x{max(len(xs) for xs in per.values())}: " + ", ".join(cells)
            if "taskbeam-async" in per and "asyncio-floor" in per:
                ratio = statistics.median(per["taskbeam-async"]) / statistics.median(
                    per["asyncio-floor"]
                )
                line += f"; taskbeam-async / asyncio-floor {ratio:.2f}"
            lines.append(line)
    return "\n".join(lines)


def pinned_cpu() -> int | None:
    """The CPU the timed runs stay on: the last one this process may use.

    On a small shared machine, a wake-up that crosses CPUs (the run's loop
    thread waking the waiting caller, a pool thread waking the loop) costs
    more or less depending on what the other CPU is doing, and that moved
    the ratio of two contenders by up to 2x from one full run to the next.
    On one CPU every contender pays the same for its thread switches.
    ``TASKBEAM_BENCH_PIN=0`` turns it off.
    """
    if os.environ.get("TASKBEAM_BENCH_PIN", "1") == "0" or not hasattr(os, "sched_setaffinity"):
        return None
    return max(os.sched_getaffinity(0))


def run_benchmark(quick: bool = False) -> Results:
    sizes = QUICK_SIZES if quick else SIZES
    res = Results(quick=quick, sizes=sizes, machine=machine())
    t_start = time.perf_counter()
    busy0, steal0, own0 = _cpu_seconds()
    res.rss_n = sizes[-1]
    for name in RSS_CONTENDERS:  # first, while this process is small (see measure_rss)
        res.rss[name] = measure_rss(name, res.rss_n)
        log(f"rss {name} fan N={res.rss_n}: {res.rss[name]['kib_per_node']:.2f} KiB/node")
    res.cpu = pinned_cpu()
    allowed = os.sched_getaffinity(0) if res.cpu is not None else set()
    if res.cpu is not None:  # the timed runs only: the other benchmarks use every CPU
        os.sched_setaffinity(0, {res.cpu})
    try:
        res.samples = time_cells(CONTENDERS, SHAPES, sizes, lambda c, n: repeats_for(c, n, quick))
    finally:
        if res.cpu is not None:
            os.sched_setaffinity(0, allowed)
    res.seconds = time.perf_counter() - t_start
    busy1, steal1, own1 = _cpu_seconds()
    res.other_load = max(0.0, (busy1 - busy0) - (own1 - own0)) / res.seconds
    res.steal = (steal1 - steal0) / res.seconds
    return res


# -- the report --------------------------------------------------------------------
def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _fmt_n(n: int) -> str:
    return f"{n:,}"


def _cell(res: Results, shape: str, n: int, contender: str) -> str:
    s = [x * 1e6 / n for x in res.samples[shape][n][contender]]
    return f"{statistics.median(s):.2f} ({min(s):.2f}–{max(s):.2f})"


def targets(res: Results) -> list[tuple[str, str, bool]]:
    """(target, measured, ok) rows."""
    rows: list[tuple[str, str, bool]] = []
    cells = [(shape, n) for n in res.sizes for shape in SHAPES]

    def worst(a: str, b: str) -> tuple[float, str, int]:
        return max((res.ratio(shape, n, a, b), shape, n) for shape, n in cells)

    r, shape, n = worst("taskbeam-async", "asyncio-floor")
    rows.append(
        (
            f"taskbeam-async ≤ {ASYNC_TARGET}× asyncio-floor, every shape and N",
            f"worst {r:.2f}× ({shape}, N={_fmt_n(n)})",
            r <= ASYNC_TARGET,
        )
    )
    r, shape, n = worst("taskbeam-sync", "to_thread-floor")
    rows.append(
        (
            f"taskbeam-sync ≤ {SYNC_TARGET}× to_thread-floor, every shape and N",
            f"worst {r:.2f}× ({shape}, N={_fmt_n(n)})",
            r <= SYNC_TARGET,
        )
    )
    r, shape, n = worst("taskbeam-sync", "dask-threaded")
    rows.append(
        (
            "taskbeam-sync faster than dask-threaded, every shape and N",
            f"worst {r:.2f}× dask's time ({shape}, N={_fmt_n(n)})",
            r < DASK_TARGET,
        )
    )
    lo, hi = _fmt_n(res.sizes[0]), _fmt_n(res.sizes[-1])
    for kind, floor in (("async", "asyncio-floor"), ("sync", "to_thread-floor")):
        vals = {shape: res.scaling(shape, f"taskbeam-{kind}", floor) for shape in SHAPES}
        shape = max(vals, key=lambda s: vals[s])
        rows.append(
            (
                f"scaling {kind}: (ratio at {hi}) / (ratio at {lo}) ≤ {SCALING_TARGET}",
                ", ".join(f"{s} {v:.2f}" for s, v in vals.items()),
                vals[shape] <= SCALING_TARGET,
            )
        )
    kib = res.rss["taskbeam-async"]["kib_per_node"]
    rows.append(
        (
            f"taskbeam-async peak RSS growth ≤ {RSS_TARGET_KIB:g} KiB/node, "
            f"fan N={_fmt_n(res.rss_n)}",
            f"{kib:.2f} KiB/node",
            kib <= RSS_TARGET_KIB,
        )
    )
    return rows


def render(res: Results) -> str:
    lines: list[str] = []
    add = lines.append
    mode = "quick (`--quick`)" if res.quick else "full"
    add("# Engine benchmark results")
    add("")
    add(
        f"Written by `make bench` (`bench/run.py`), {mode} run, "
        f"{res.seconds / 60:.1f} min. How to rerun and read this: [README.md](README.md)."
    )
    if res.quick:
        add("")
        add(
            "**Quick run:** N = 1,000 and 10,000 only, few repeats. The scaling and "
            "memory rows use N = 10,000, not the 100,000 the targets are defined at."
        )
    add("")
    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    for k, v in res.machine.items():
        add(f"| {k} | {v} |")
    add("")
    add(
        f"Other work on the machine during the run: {res.other_load:.2f} cores on average "
        f"(CPU steal {res.steal:.2f}). Anything well above 0 widens the spread between "
        "repeats; the interleaving keeps it from favouring one contender."
    )
    add("")
    add("## Targets")
    add("")
    add("| Target | Measured | |")
    add("|---|---|---|")
    for target, measured, ok in targets(res):
        add(f"| {target} | {measured} | **{_verdict(ok)}** |")
    add("")
    add("## Time per task")
    add("")
    add(
        "Median µs per task (wall time / N), with the fastest and slowest repeat in "
        "brackets. Lower is better."
    )
    if not res.quick and any(n >= 100_000 for n in res.sizes):
        add("")
        add(
            f"At N=100,000, {', '.join(SLOW)} ran {SLOW_REPEATS_100K} repeats and the others "
            f"{REPEATS[100_000]} (repeats column: most / fewest); the first "
            f"{SLOW_REPEATS_100K} repeats are interleaved across all six."
        )
    for shape in SHAPES:
        add("")
        add(f"### {shape}")
        add("")
        add("| N | repeats | " + " | ".join(CONTENDERS) + " |")
        add("|---:|---:|" + "---:|" * len(CONTENDERS))
        for n in res.sizes:
            per = res.samples[shape][n]
            counts = sorted({len(per[c]) for c in CONTENDERS}, reverse=True)
            reps = " / ".join(str(c) for c in counts)
            cells = " | ".join(_cell(res, shape, n, c) for c in CONTENDERS)
            add(f"| {_fmt_n(n)} | {reps} | {cells} |")
    add("")
    add("## Ratios")
    add("")
    add("Ratios of the medians above.")
    add("")
    add(
        "| shape | N | taskbeam-async / asyncio-floor | taskbeam-sync / to_thread-floor "
        "| taskbeam-sync / dask-threaded |"
    )
    add("|---|---:|---:|---:|---:|")
    for shape in SHAPES:
        for n in res.sizes:
            a = res.ratio(shape, n, "taskbeam-async", "asyncio-floor")
            s = res.ratio(shape, n, "taskbeam-sync", "to_thread-floor")
            d = res.ratio(shape, n, "taskbeam-sync", "dask-threaded")
            add(
                f"| {shape} | {_fmt_n(n)} "
                f"| {a:.2f} {_verdict(a <= ASYNC_TARGET)} "
                f"| {s:.2f} {_verdict(s <= SYNC_TARGET)} "
                f"| {d:.2f} {_verdict(d < DASK_TARGET)} |"
            )
    add("")
    lo, hi = _fmt_n(res.sizes[0]), _fmt_n(res.sizes[-1])
    add(f"Scaling: (taskbeam / floor at N={hi}) / (taskbeam / floor at N={lo}).")
    add("")
    add("| shape | async (vs asyncio-floor) | sync (vs to_thread-floor) |")
    add("|---|---:|---:|")
    for shape in SHAPES:
        a = res.scaling(shape, "taskbeam-async", "asyncio-floor")
        s = res.scaling(shape, "taskbeam-sync", "to_thread-floor")
        add(
            f"| {shape} | {a:.2f} {_verdict(a <= SCALING_TARGET)} "
            f"| {s:.2f} {_verdict(s <= SCALING_TARGET)} |"
        )
    add("")
    add("## Peak memory")
    add("")
    add(
        f"Fan shape, N={_fmt_n(res.rss_n)}, one fresh process each: resident set before "
        "building the graph vs peak resident set (`ru_maxrss`) after the run, graph "
        "construction included, divided by N."
    )
    add("")
    add(
        "| contender | RSS before (MiB) | peak RSS, `ru_maxrss` (MiB) | growth (KiB/node) "
        "| check: growth to `VmHWM` (KiB/node) |"
    )
    add("|---|---:|---:|---:|---:|")
    for name, r in res.rss.items():
        mark = ""
        if name == "taskbeam-async":
            mark = f" {_verdict(r['kib_per_node'] <= RSS_TARGET_KIB)}"
        add(
            f"| {name} | {r['before_kib'] / 1024:.1f} | {r['peak_kib'] / 1024:.1f} "
            f"| {r['kib_per_node']:.2f}{mark} | {r['hwm_kib_per_node']:.2f} |"
        )
    add("")
    add(
        "Only taskbeam-async has a target; the others are for reference. The two growth "
        "columns agree unless the child's `ru_maxrss` was inflated by its parent's peak."
    )
    add("")
    add("## Setup")
    add("")
    add(
        f"No-op tasks. **fan**: root → N−2 independent nodes → sink. **layered**: layers of "
        f"width ≈√N, each node depending on {LAYER_FANIN} random nodes of the layer before "
        f"(seed {SEED}). Contenders run interleaved, once per repeat, in the order "
        f"{', '.join(CONTENDERS)} rotated by one each repeat, with `gc.collect()` before each. "
        + (
            f"The timed runs keep every thread of every contender on CPU {res.cpu} "
            "(`sched_setaffinity`), so no wake-up crosses CPUs and each contender pays the "
            "same for its thread switches; memory is measured unpinned. "
            if res.cpu is not None
            else "The timed runs were not pinned to a CPU. "
        )
        + f"taskbeam runs with `max_concurrency={UNLIMITED:.0e}` (its sync pool then has its "
        "default 64 threads); to_thread-floor uses the loop's default executor "
        f"({min(32, (os.cpu_count() or 1) + 4)} threads here); dask-threaded its default "
        f"pool ({os.cpu_count()} threads). Raw samples: `bench/_out/results.json`."
    )
    add("")
    return "\n".join(lines)


def to_json(res: Results) -> dict[str, Any]:
    return {
        "quick": res.quick,
        "machine": res.machine,
        "seconds": res.seconds,
        "samples": {
            shape: {str(n): per for n, per in by_n.items()} for shape, by_n in res.samples.items()
        },
        "rss_n": res.rss_n,
        "rss": res.rss,
        "other_load": res.other_load,
        "steal": res.steal,
        "cpu": res.cpu,
    }


def main(argv: list[str] | None = None) -> Results:
    """Run the benchmark; print progress to stderr. Returns the results for rendering."""
    args = _parser().parse_args(argv)
    return run_benchmark(quick=args.quick)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--quick", action="store_true", help="N = 1,000 and 10,000, fewer repeats")
    p.add_argument("--rss-child", metavar="CONTENDER", help=argparse.SUPPRESS)
    p.add_argument("--profile", metavar="CONTENDER", choices=["taskbeam-async", "taskbeam-sync"])
    p.add_argument(
        "--contenders",
        metavar="A,B,...",
        help="time only these (comma-separated), print a summary instead of the report",
    )
    p.add_argument("--shape", choices=SHAPES, help="with --profile (default fan) or --contenders")
    p.add_argument("--n", type=int, help="with --profile (default 10000) or --contenders")
    p.add_argument("--repeats", type=int, help="with --contenders (default: as a full run)")
    p.add_argument(
        "--cpu",
        type=int,
        metavar="K",
        help="run on CPU K only (every thread of every contender): no wake-up crosses CPUs",
    )
    return p


if __name__ == "__main__":
    cli = _parser().parse_args()
    if cli.cpu is not None:
        os.sched_setaffinity(0, {cli.cpu})
    if cli.rss_child:
        print(json.dumps(rss_child(cli.rss_child, cli.n)))
    elif cli.profile:
        print(profile_taskbeam(cli.profile, cli.shape or "fan", cli.n or 10_000))
    elif cli.contenders:
        chosen = tuple(cli.contenders.split(","))
        unknown = set(chosen) - set(CONTENDERS)
        if unknown:
            sys.exit(f"unknown contenders: {', '.join(sorted(unknown))}")
        fixed = cli.repeats
        print(
            summary(
                time_cells(
                    chosen,
                    (cli.shape,) if cli.shape else SHAPES,
                    (cli.n,) if cli.n else SIZES,
                    lambda c, n: fixed or repeats_for(c, n, quick=False),
                )
            )
        )
    else:
        print(render(run_benchmark(quick=cli.quick)))
