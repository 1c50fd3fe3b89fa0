"""Broadcaster benchmark: a burst of node transitions to one room.

A room over a 10,000-node run receives 100,000 transitions paced over about
one second (each sets a node's status and attempt), with 1, 10 and 100
subscribers that keep up. Measured in one script:

* frames per second per subscriber (the cap is ``max_fps``, 20 by default);
* bytes on the wire per transition;
* broadcaster CPU per transition (the broadcaster thread's CPU time, plus
  the event callbacks on the publishing thread);
* the same burst sent the seed's way (one message per transition carrying
  the whole graph) and as one message per transition carrying only the
  changed node: bytes and message ratios against the broadcaster.

The source is a stand-in for a run (``summaries`` and ``watch`` like
``tb.Run``) so that only the broadcaster's work is timed.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import taskbeam as tb
from taskbeam.broadcast import dumps

NODES = 10_000
TRANSITIONS = 100_000
SECONDS = 1.0
SUBSCRIBERS = (1, 10, 100)
REPEATS = 3
BYTES_TARGET = 100.0  # at least this many times fewer bytes than whole-graph messages
CPU_TARGET_US = 5.0  # broadcaster CPU per transition with one subscriber


class Source:
    """A run stand-in: a snapshot, a subscriber callback, summaries on demand."""

    id = "bench-room"

    def __init__(self, n: int) -> None:
        self.nodes = {f"n{i}": {"status": "pending"} for i in range(n)}
        self.run = {"id": self.id, "name": "bench", "status": "running", "counts": {"pending": n}}
        self.callback: Callable[[tb.Event], None] | None = None
        self.lock = threading.Lock()

    def watch(self, callback: Callable[[tb.Event], None]) -> tuple[dict[str, Any], Any]:
        self.callback = callback
        return self.snapshot(), lambda: None

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "run": dict(self.run, counts=dict(self.run["counts"])),
                "nodes": {k: dict(v) for k, v in self.nodes.items()},
                "edges": [],
            }

    def summaries(
        self, ids: list[str], edges: bool = False
    ) -> tuple[dict[str, Any], dict[str, Any], list[Any] | None]:
        with self.lock:
            run = dict(self.run, counts=dict(self.run["counts"]))
            return run, {i: dict(self.nodes[i]) for i in ids}, [] if edges else None

    def transition(self, i: int, seq: int) -> dict[str, Any]:
        node = f"n{i % NODES}"
        with self.lock:
            summary = self.nodes[node]
            summary["status"] = ("running", "done")[seq % 2]
            summary["attempt"] = 1 + seq // (2 * NODES)
            self.run["counts"]["done"] = seq
        assert self.callback is not None
        self.callback(tb.Event(self.id, seq, node, "x", summary["status"], 1, 0.0))
        return summary


@dataclass
class Counting:
    """A subscriber that keeps up: counts frames and bytes, nothing else."""

    frames: int = 0
    bytes: int = 0

    def send(self, message: dict[str, Any], buffers: list[bytes]) -> None:
        self.frames += 1
        self.bytes += len(buffers[0]) if buffers else len(dumps(message))


@dataclass
class BurstResult:
    subscribers: int
    seconds: float
    frames_per_second: float  # per subscriber
    bytes_per_transition: float  # what one subscriber received, per transition
    cpu_us_per_transition: float
    whole_graph_bytes: float
    per_node_bytes: float


def _thread_cpu(thread: threading.Thread) -> float:
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def _publish(source: Source) -> tuple[float, int]:
    """Publish the paced burst; return the publishing thread's CPU seconds and node bytes."""
    per_node = 0
    own0 = time.thread_time()
    start = time.perf_counter()
    step = SECONDS / TRANSITIONS
    for seq in range(1, TRANSITIONS + 1):
        summary = source.transition(seq, seq)
        if seq % 1000 == 0:
            per_node += 1000 * len(dumps({"node": f"n{seq % NODES}", "state": summary}))
            lag = start + seq * step - time.perf_counter()
            if lag > 0:
                time.sleep(lag)
    return time.thread_time() - own0, per_node


def _baseline() -> float:
    """CPU of the stand-in publishing alone (a callback that does nothing)."""
    source = Source(NODES)
    source.callback = lambda event: None
    return _publish(source)[0]


def burst(subscribers: int) -> BurstResult:
    baseline = _baseline()
    source = Source(NODES)
    whole = len(dumps(source.snapshot()))
    with tb.Broadcaster() as b:
        room = b.attach(source)  # type: ignore[arg-type]
        sinks = [Counting() for _ in range(subscribers)]
        for sink in sinks:
            b.subscribe(room, sink.send)
        for sink in sinks:  # the snapshot each one got first is not part of the burst
            sink.frames = sink.bytes = 0
        thread = b._thread
        cpu0 = _thread_cpu(thread)
        start = time.perf_counter()
        own, per_node = _publish(source)
        b.flush_all()
        seconds = time.perf_counter() - start
        cpu = _thread_cpu(thread) - cpu0
    # the publishing thread's extra CPU over the baseline is the event callbacks
    frames = statistics.mean(s.frames for s in sinks)
    sent = statistics.mean(s.bytes for s in sinks)
    return BurstResult(
        subscribers=subscribers,
        seconds=seconds,
        frames_per_second=frames / seconds,
        bytes_per_transition=sent / TRANSITIONS,
        cpu_us_per_transition=(cpu + max(0.0, own - baseline)) / TRANSITIONS * 1e6,
        whole_graph_bytes=float(whole),
        per_node_bytes=per_node / TRANSITIONS,
    )


def run_benchmark(quick: bool = False) -> list[BurstResult]:
    """Each subscriber count REPEATS times, interleaved; the median burst of each."""
    counts = SUBSCRIBERS[:2] if quick else SUBSCRIBERS
    runs: dict[int, list[BurstResult]] = {n: [] for n in counts}
    for _ in range(1 if quick else REPEATS):
        for n in counts:
            runs[n].append(burst(n))
    return [sorted(rs, key=lambda r: r.cpu_us_per_transition)[len(rs) // 2] for rs in runs.values()]


def render(results: list[BurstResult]) -> str:
    lines = [
        "## Broadcaster",
        "",
        f"A burst of {TRANSITIONS:,} node transitions paced over about {SECONDS:g} s into one "
        f"room of a {NODES:,}-node run; subscribers keep up. Defaults: 50 ms batches, "
        "20 frames/s per subscriber, gzip at 1 KiB when it saves 20 %. Each row is the "
        f"median burst (by CPU) of {REPEATS}, interleaved.",
        "",
        "| subscribers | burst (s) | frames/s per subscriber | bytes/transition | "
        "CPU µs/transition | whole-graph bytes/transition | per-node bytes/transition "
        "| bytes vs whole graph | bytes vs per node | messages vs per transition |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        frames = r.frames_per_second * r.seconds
        lines.append(
            f"| {r.subscribers} | {r.seconds:.2f} | {r.frames_per_second:.1f} "
            f"| {r.bytes_per_transition:.2f} | {r.cpu_us_per_transition:.2f} "
            f"| {r.whole_graph_bytes:,.0f} | {r.per_node_bytes:.1f} "
            f"| {r.whole_graph_bytes / r.bytes_per_transition:,.0f}× fewer "
            f"| {r.per_node_bytes / r.bytes_per_transition:,.1f}× fewer "
            f"| {TRANSITIONS / max(frames, 1):,.0f}× fewer |"
        )
    one = results[0]
    ratio = one.whole_graph_bytes / one.bytes_per_transition
    lines += [
        "",
        "CPU is the broadcaster thread's, plus what the event callbacks add to the "
        "publishing thread (its CPU over a baseline pass with a callback that does nothing).",
        "",
        "| Target | Measured | |",
        "|---|---|---|",
        f"| ≥ {BYTES_TARGET:.0f}× fewer bytes than whole-graph messages (10,000 nodes) "
        f"| {ratio:,.0f}× | {'**PASS**' if ratio >= BYTES_TARGET else '**MISS**'} |",
        f"| ≤ {CPU_TARGET_US:g} µs broadcaster CPU per transition, one subscriber "
        f"| {one.cpu_us_per_transition:.2f} µs "
        f"| {'**PASS**' if one.cpu_us_per_transition <= CPU_TARGET_US else '**MISS**'} |",
        f"| frames/s per subscriber within the 20/s cap | worst "
        f"{max(r.frames_per_second for r in results):.1f} "
        f"| {'**PASS**' if all(r.frames_per_second <= 21 for r in results) else '**MISS**'} |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(run_benchmark(quick=True)))
