"""Questions: how long an answer takes to reach its task, and what open questions cost.

Answer latency: one async task asks ``M`` questions in turn; the script
answers each with ``run.answer`` as soon as it is open. Measured from just
before ``run.answer`` is called (on the script's thread) to the moment the
task's ``await tb.ask(...)`` returns (on the run's loop), with
``time.perf_counter``. Without a store, and with a SQLite store (the answer
is committed before the task sees it).

Open questions at scale: N = 10,000 async nodes of which 1,000 ask (and are
left open) against the same graph whose 1,000 nodes return at once instead.
Measured: the wall time until the run is still (every other node done, every
asking node waiting) against the time the baseline takes to finish, as a
ratio (engine overhead of asking); the snapshot's JSON bytes and the time to
encode it as a frame (``broadcast._codec.encode``, what a view gets when it
joins), each with and without the open questions. Medians of the repeats,
contenders interleaved.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import taskbeam as tb
from taskbeam.broadcast._codec import dumps, encode

M = 200
QUICK_M = 50
N = 10_000
ASKING = 1_000
REPEATS = 5
QUICK_REPEATS = 3


@dataclass
class QuestionResults:
    answers: int
    repeats: int
    latency: dict[str, list[float]] = field(default_factory=dict)  # seconds, per answer
    still: list[float] = field(default_factory=list)  # with 1,000 open questions
    plain: list[float] = field(default_factory=list)  # the same run without them
    snapshot_bytes: dict[str, int] = field(default_factory=dict)
    encode: dict[str, list[float]] = field(default_factory=dict)


def _wait(predicate: Any, timeout: float = 60, every: float = 0.0005) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's run did not get there in time")
        time.sleep(every)


def answer_latency(m: int, store: tb.SQLiteStore | None) -> list[float]:
    resumed: list[float] = []
    back = threading.Event()

    async def asker() -> int:
        for i in range(m):
            await tb.ask(f"Question {i}?", key=f"k{i}")
            resumed.append(time.perf_counter())
            back.set()
        return m

    g = tb.Graph("answer-latency")
    g.add("asker", asker)
    run = tb.start(g, store=store)
    out = []
    for i in range(m):
        _wait(lambda: bool(run.questions()))
        question = run.questions()[0]
        back.clear()
        t0 = time.perf_counter()
        run.answer(question.id, "yes")
        if not back.wait(30):
            raise TimeoutError("the task did not resume")
        out.append(resumed[i] - t0)
    run.wait(30)
    return out


def wide_graph(asking: bool) -> tb.Graph:
    async def noop() -> None:
        return None

    async def ask(i: int) -> Any:
        return await tb.ask(f"Keep item {i}?", choices=["yes", "no"], data={"item": i})

    g = tb.Graph("open-questions")
    step = N // ASKING
    for i in range(N):
        if asking and i % step == 0:
            g.add(f"n{i:05d}", ask, kwargs={"i": i})
        else:
            g.add(f"n{i:05d}", noop)
    return g


def _still(run: tb.Run) -> bool:
    counts = run.counts
    return counts.get("done", 0) == N - ASKING and counts.get("waiting", 0) == ASKING


def _encode_time(snapshot: dict[str, Any], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        encode({"type": "snapshot", "room": "r", "seq": 1, "state": snapshot})
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_benchmark(quick: bool = False) -> QuestionResults:
    res = QuestionResults(QUICK_M if quick else M, QUICK_REPEATS if quick else REPEATS)
    res.latency["no store"] = answer_latency(res.answers, None)
    with tempfile.TemporaryDirectory() as folder:
        store = tb.SQLiteStore(Path(folder) / "runs.db")
        res.latency["SQLite store"] = answer_latency(res.answers, store)
        store.close()
    res.encode = {"with questions": [], "without": []}
    unlimited = {"max_concurrency": N + 1}
    for _ in range(res.repeats):
        gc.collect()
        graph = wide_graph(True)
        t0 = time.perf_counter()
        run = tb.start(graph, **unlimited)
        _wait(lambda run=run: _still(run), every=0.002)  # light on the GIL
        res.still.append(time.perf_counter() - t0)
        snapshot = run.snapshot()
        res.snapshot_bytes["with questions"] = len(dumps(snapshot))
        res.encode["with questions"].append(_encode_time(snapshot))
        run.cancel()
        run.wait(60)

        gc.collect()
        graph = wide_graph(False)
        t0 = time.perf_counter()
        run = tb.start(graph, **unlimited)
        run.wait(60)
        res.plain.append(time.perf_counter() - t0)
        snapshot = run.snapshot()
        res.snapshot_bytes["without"] = len(dumps(snapshot))
        res.encode["without"].append(_encode_time(snapshot))
    return res


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def render(res: QuestionResults) -> str:
    lines = [
        "## Questions",
        "",
        f"From `run.answer()` to the task's `await tb.ask(...)` returning, {res.answers} "
        "answers in turn:",
        "",
        "| store | p50 (ms) | p99 (ms) |",
        "|---|---:|---:|",
    ]
    for name, values in res.latency.items():
        lines.append(f"| {name} | {_pct(values, 0.5) * 1e3:.2f} | {_pct(values, 0.99) * 1e3:.2f} |")
    still, plain = statistics.median(res.still), statistics.median(res.plain)
    asked_ms = statistics.median(res.encode["with questions"])
    plain_ms = statistics.median(res.encode["without"])
    lines += [
        "",
        f"N = {N:,} async nodes, {ASKING:,} of which ask and stay open, against the same graph "
        f"whose {ASKING:,} nodes return at once; medians of {res.repeats} interleaved repeats:",
        "",
        "| | wall time (ms) | snapshot JSON (bytes) | snapshot frame encode (ms) |",
        "|---|---:|---:|---:|",
        f"| {ASKING:,} open questions (until still) | {still * 1e3:.0f} "
        f"| {res.snapshot_bytes['with questions']:,} "
        f"| {asked_ms * 1e3:.1f} |",
        f"| no questions (until done) | {plain * 1e3:.0f} | {res.snapshot_bytes['without']:,} "
        f"| {plain_ms * 1e3:.1f} |",
        f"| ratio | {still / plain:.2f} | "
        f"{res.snapshot_bytes['with questions'] / res.snapshot_bytes['without']:.2f} | "
        f"{asked_ms / plain_ms:.2f} |",
    ]
    return "\n".join(lines) + "\n"


def to_json(res: QuestionResults) -> dict[str, Any]:
    return {
        "answers": res.answers,
        "repeats": res.repeats,
        "latency": res.latency,
        "still": res.still,
        "plain": res.plain,
        "snapshot_bytes": res.snapshot_bytes,
        "encode": res.encode,
    }


if __name__ == "__main__":
    print(render(run_benchmark(quick=True)))
