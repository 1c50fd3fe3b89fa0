"""Progress and metrics: what a ``tb.progress`` or ``tb.metric`` call costs a task.

One sync task makes ``K`` calls in a loop; the same task makes the same loop
with a plain function call of the same arguments instead (the baseline: a
loop that calls something). Measured inside the task with
``time.perf_counter``, per call: unwatched (no subscriber, no store),
watched (a subscriber that takes every event, so the run's loop settles
the changes every 0.1 s beside the task), and for ``tb.usage`` (three
metrics a call). The cost of a call is the time per call minus the
baseline's; the ratio is the two times. Medians of the repeats, contenders
interleaved.

    python bench/metrics.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import taskbeam as tb

K = 200_000
QUICK_K = 50_000
REPEATS = 7
QUICK_REPEATS = 3


def _baseline(done: float, total: float | None = None, note: str | None = None) -> None:
    return None


def _loop(kind: str, k: int) -> float:
    if kind == "baseline":
        fn: Any = _baseline
    elif kind == "progress":
        fn = tb.progress
    elif kind == "metric":
        return _metric_loop(k)
    else:
        return _usage_loop(k)
    t0 = time.perf_counter()
    for i in range(k):
        fn(i, k)
    return (time.perf_counter() - t0) / k


def _metric_loop(k: int) -> float:
    metric = tb.metric
    t0 = time.perf_counter()
    for _ in range(k):
        metric("tokens", 3)
    return (time.perf_counter() - t0) / k


def _usage_loop(k: int) -> float:
    usage = tb.usage
    t0 = time.perf_counter()
    for _ in range(k):
        usage(tokens_in=3, tokens_out=1, cost=0.001)
    return (time.perf_counter() - t0) / k


def one(kind: str, k: int, watched: bool) -> float:
    out: list[float] = []
    g = tb.Graph("metrics-bench")
    g.add("loop", lambda: out.append(_loop(kind, k)))
    run = tb.start(g)
    if watched:
        run.subscribe(lambda event: None)
    run.wait()
    return out[0]


KINDS = ("baseline", "progress", "metric", "usage")


@dataclass
class MetricResults:
    calls: int
    repeats: int
    per_call: dict[str, list[float]] = field(default_factory=dict)  # "kind/watched" -> seconds


def run_benchmark(quick: bool = False) -> MetricResults:
    k = QUICK_K if quick else K
    repeats = QUICK_REPEATS if quick else REPEATS
    res = MetricResults(k, repeats)
    for _ in range(repeats):
        for watched in (False, True):
            for kind in KINDS:
                key = f"{kind}/{'watched' if watched else 'unwatched'}"
                res.per_call.setdefault(key, []).append(one(kind, k, watched))
    return res


def render(res: MetricResults) -> str:
    lines = [
        "## Progress and metrics",
        "",
        f"A sync task making {res.calls:,} calls in a loop; the baseline makes the same loop "
        "with a plain function call of the same arguments. Per call, medians of "
        f"{res.repeats} interleaved repeats (`tb.usage` reports three metrics a call):",
        "",
        "| call | watched | per call (ns) | beyond the baseline (ns) | ratio to the baseline |",
        "|---|---|---:|---:|---:|",
    ]
    for watched in ("unwatched", "watched"):
        base = statistics.median(res.per_call[f"baseline/{watched}"])
        for kind in KINDS:
            value = statistics.median(res.per_call[f"{kind}/{watched}"])
            name = "plain call" if kind == "baseline" else f"`tb.{kind}`"
            lines.append(
                f"| {name} | {watched} | {value * 1e9:.0f} | {(value - base) * 1e9:.0f} "
                f"| {value / base:.1f} |"
            )
    return "\n".join(lines) + "\n"


def to_json(res: MetricResults) -> dict[str, Any]:
    return {"calls": res.calls, "repeats": res.repeats, "per_call": res.per_call}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    print(render(run_benchmark(quick=args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
