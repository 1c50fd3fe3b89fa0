"""A run with metrics that a test kills with SIGKILL, then continues.

Usage: python metrics_crash_worker.py DB RUN_ID (start|resume)

Three levels: ``top`` expands into ``m0``, ``m1``; each expands into four
leaves that report ``cost`` 1.0 (and ``peak``, a max). With ``METRICS_HANG``
set the last leaf of ``m1`` hangs, so the run is killed with everything else done; on
``resume`` it returns.
"""

from __future__ import annotations

import json
import os
import sys
import time

import taskbeam as tb


def leaf(j: int, i: int) -> int:
    tb.usage(cost=1.0, tokens_in=10)
    tb.metric("peak", 10 * j + i, agg="max")
    if os.environ.get("METRICS_HANG") and (j, i) == (1, 3):
        time.sleep(600)
    return i


def build() -> tb.Graph:

    def mid(j: int) -> tb.Expansion:
        sub = tb.Graph("mid")
        for i in range(4):
            sub.add(f"l{i}", leaf, kwargs={"j": j, "i": i})
        return tb.expand(sub, aggregate=lambda r: sum(r.values()))

    def top() -> tb.Expansion:
        sub = tb.Graph("top")
        for j in range(2):
            sub.add(f"m{j}", mid, kwargs={"j": j})
        return tb.expand(sub, aggregate=lambda r: sum(r.values()))

    g = tb.Graph("metered")
    g.add("top", top)
    return g


def main() -> None:
    db, run_id, mode = sys.argv[1:4]
    store = tb.SQLiteStore(db)
    policy = tb.SavePolicy(watched=0.02, unwatched=0.02)
    if mode == "start":
        run = tb.start(build(), store=store, run_id=run_id, max_concurrency=1, save_policy=policy)
    else:
        run = tb.continue_run(run_id, build(), store=store, save_policy=policy)
    run.wait()
    snap = run.snapshot()
    metrics = {n: s["metrics"] for n, s in snap["nodes"].items() if "metrics" in s}
    out = {"status": run.status.value, "run": snap["run"]["metrics"], "nodes": metrics}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
