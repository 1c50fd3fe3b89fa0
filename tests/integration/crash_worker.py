"""A run that a test kills with SIGKILL: each node execution appends a line to a file.

Usage: python crash_worker.py DB SIDE_EFFECTS RUN_ID (start|continue|plain) [RESULTS]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import taskbeam as tb

LAYERS, WIDTH = 12, 20  # 240 nodes, plus children of the expanding ones


def build(side_effects: Path) -> tb.Graph:
    def record(node: str) -> None:
        with open(side_effects, "a") as f:
            f.write(node + "\n")

    def step(node: str, **upstream: int) -> int:
        record(node)
        time.sleep(0.002)
        return (sum(upstream.values()) + len(node)) % 1_000_003

    def plan(node: str, **upstream: int) -> tb.Expansion:
        record(node)
        sub = tb.Graph()
        for i in range(4):
            sub.add(f"c{i}", step, kwargs={"node": f"{node}/c{i}"})
        sub.add("join", step, deps=["c0", "c1", "c2", "c3"], kwargs={"node": f"{node}/join"})
        return tb.expand(sub, aggregate=lambda r: r["join"] + sum(upstream.values()))

    g = tb.Graph("crash")
    for layer in range(LAYERS):
        for i in range(WIDTH):
            name = f"L{layer}_{i}"
            deps = [f"L{layer - 1}_{(i + k) % WIDTH}" for k in range(2)] if layer else []
            fn = plan if i % 7 == 3 else step
            g.add(name, fn, deps={f"u{k}": d for k, d in enumerate(deps)}, kwargs={"node": name})
    return g


def main() -> None:
    db, side_effects, run_id, mode = sys.argv[1:5]
    graph = build(Path(side_effects))
    began = time.monotonic()
    if mode == "plain":
        run = tb.start(graph, max_concurrency=4).wait()
    else:
        store = tb.SQLiteStore(db)
        policy = tb.SavePolicy(watched=0.02, unwatched=0.02)
        if mode == "start":
            run = tb.start(graph, store=store, run_id=run_id, max_concurrency=4, save_policy=policy)
        else:
            run = tb.continue_run(run_id, graph, store=store, save_policy=policy)
        print("started", flush=True)  # the test kills us from here on
        run.wait()
        store.close()
    seconds = time.monotonic() - began
    Path(sys.argv[5]).write_text(
        json.dumps({"status": run.status, "results": run.results, "seconds": seconds})
    )


if __name__ == "__main__":
    main()
