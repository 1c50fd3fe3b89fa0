"""Live output: what printing costs a task, and what an output flood sends.

Printing: one sync task prints ``P`` short lines in a loop, timed inside
the task with ``time.perf_counter``, as microseconds per ``print``:

- baseline: the same loop in the same process with ``sys.stdout`` redirected
  to an ``io.StringIO`` (``contextlib.redirect_stdout``), no taskbeam;
- in a node, nobody watching (no broadcaster room): the capture alone;
- in a node, watched: a broadcaster room with one in-memory subscriber (each
  write also marks the node for the next frame).

Flood: N_NODES nodes print N_LINES lines each (11 characters a line) on 16
sync workers, with one subscriber of kind ``"comm"`` (the Jupyter view's:
under the per-subscriber frame cap, 20 a second, and the process-wide comm
budget). Measured: frames a second and bytes a second sent to it (after
compression), output events and characters carried, what the frame caps left
out; and the run's wall time watched against the same run unwatched (ratio).
Medians of the repeats, contenders interleaved.
"""

from __future__ import annotations

import contextlib
import gc
import io
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import taskbeam as tb
from taskbeam.testing import Follower

P = 100_000
QUICK_P = 20_000
N_NODES = 100
N_LINES = 10_000
QUICK_LINES = 2_000
REPEATS = 5
QUICK_REPEATS = 3
LINE = "x" * 10


@dataclass
class OutputResults:
    prints: int
    lines: int
    repeats: int
    per_print: dict[str, list[float]] = field(default_factory=dict)  # seconds per print
    flood: dict[str, list[float]] = field(default_factory=dict)  # wall time, watched or not
    frames_s: list[float] = field(default_factory=list)
    bytes_s: list[float] = field(default_factory=list)
    chars_s: list[float] = field(default_factory=list)  # output characters carried a second
    events: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # characters the caps left out


def _loop(p: int) -> float:
    t0 = time.perf_counter()
    for _ in range(p):
        print(LINE)
    return (time.perf_counter() - t0) / p


def baseline(p: int) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        return _loop(p)


def in_node(p: int, watched: bool) -> float:
    g = tb.Graph("print")
    g.add("talk", _loop, kwargs={"p": p})
    if not watched:
        return float(tb.start(g).wait(120).result("talk"))
    with tb.Broadcaster() as b:
        gate = threading.Event()
        g = tb.Graph("print-watched")

        def talk() -> float:
            gate.wait(30)
            return _loop(p)

        g.add("talk", talk)
        run = tb.start(g)
        b.subscribe(b.attach(run), lambda m, bufs: None)
        gate.set()
        return float(run.wait(120).result("talk"))


def flood_graph(lines: int) -> tb.Graph:
    def flood() -> None:
        for _ in range(lines):
            print(LINE)

    g = tb.Graph("flood")
    for i in range(N_NODES):
        g.add(f"p{i:03d}", flood)
    return g


def flood(lines: int, watched: bool) -> dict[str, Any]:
    if not watched:
        t0 = time.perf_counter()
        tb.start(flood_graph(lines), max_concurrency=16).wait(300)
        return {"wall": time.perf_counter() - t0}
    follower = Follower()
    counted = {"events": 0, "chars": 0, "skipped": 0}
    lock = threading.Lock()

    def send(message: dict[str, Any], buffers: list[bytes]) -> None:
        with lock:
            step = follower.feed(message, buffers)
            for e in step.frame.get("events", ()):
                if e["kind"] == "output":
                    counted["events"] += 1
                    counted["chars"] += len(e["text"])
                    counted["skipped"] += e.get("skipped", 0)

    with tb.Broadcaster() as b:
        gate = threading.Event()
        g = flood_graph(lines)
        g.add("gate", lambda: gate.wait(30))  # the subscriber is in before the first line
        run = tb.start(g, max_concurrency=17)
        b.subscribe(b.attach(run), send, kind="comm")
        before = b.stats()
        t0 = time.perf_counter()
        gate.set()
        run.wait(300)
        wall = time.perf_counter() - t0
        b.flush_all()
        after = b.stats()
    frames = after.frames_out - before.frames_out
    sent = after.bytes_sent - before.bytes_sent
    return {"wall": wall, "frames_s": frames / wall, "bytes_s": sent / wall, **counted}


def run_benchmark(quick: bool = False) -> OutputResults:
    res = OutputResults(
        QUICK_P if quick else P,
        QUICK_LINES if quick else N_LINES,
        QUICK_REPEATS if quick else REPEATS,
    )
    res.per_print = {"baseline": [], "unwatched": [], "watched": []}
    res.flood = {"unwatched": [], "watched": []}
    for _ in range(res.repeats):
        gc.collect()
        res.per_print["baseline"].append(baseline(res.prints))
        res.per_print["unwatched"].append(in_node(res.prints, False))
        res.per_print["watched"].append(in_node(res.prints, True))
        gc.collect()
        res.flood["unwatched"].append(flood(res.lines, False)["wall"])
        watched = flood(res.lines, True)
        res.flood["watched"].append(watched["wall"])
        res.frames_s.append(watched["frames_s"])
        res.bytes_s.append(watched["bytes_s"])
        res.chars_s.append(watched["chars"] / watched["wall"])
        res.events.append(watched["events"])
        res.skipped.append(watched["skipped"])
    return res


def render(res: OutputResults) -> str:
    med = statistics.median
    base = med(res.per_print["baseline"])
    lines = [
        "## Live output",
        "",
        f"One sync task prints {res.prints:,} lines of 10 characters; microseconds per `print`, "
        f"timed in the task, medians of {res.repeats} interleaved repeats:",
        "",
        "| where | µs per print | ratio to baseline |",
        "|---|---:|---:|",
    ]
    names = {
        "baseline": "`redirect_stdout(StringIO())`, no taskbeam",
        "unwatched": "in a node, nobody watching",
        "watched": "in a node, one subscriber",
    }
    for key, name in names.items():
        value = med(res.per_print[key])
        lines.append(f"| {name} | {value * 1e6:.2f} | {value / base:.2f} |")
    total = N_NODES * res.lines
    unwatched, watched = med(res.flood["unwatched"]), med(res.flood["watched"])
    lines += [
        "",
        f"Flood: {N_NODES} nodes print {res.lines:,} lines each ({total:,} lines, "
        f"{total * 11 / 1e6:.0f} MB), 16 at a time, one subscriber of kind `comm` "
        "(frame cap 20 a second); medians:",
        "",
        "| | value |",
        "|---|---:|",
        f"| wall time unwatched (ms) | {unwatched * 1e3:.0f} |",
        f"| wall time watched (ms) | {watched * 1e3:.0f} |",
        f"| ratio watched / unwatched | {watched / unwatched:.2f} |",
        f"| frames a second to the subscriber | {med(res.frames_s):.1f} |",
        f"| bytes a second to it (after compression) | {med(res.bytes_s):,.0f} |",
        f"| output characters a second carried | {med(res.chars_s):,.0f} |",
        f"| output events | {med(res.events):,.0f} |",
        f"| characters left out by the frame caps (fetched on demand) | {med(res.skipped):,.0f} |",
    ]
    return "\n".join(lines) + "\n"


def to_json(res: OutputResults) -> dict[str, Any]:
    return {
        "prints": res.prints,
        "lines": res.lines,
        "repeats": res.repeats,
        "per_print": res.per_print,
        "flood": res.flood,
        "frames_s": res.frames_s,
        "bytes_s": res.bytes_s,
        "chars_s": res.chars_s,
        "events": res.events,
        "skipped": res.skipped,
    }


if __name__ == "__main__":
    import sys

    print(render(run_benchmark(quick="--quick" in sys.argv)))
