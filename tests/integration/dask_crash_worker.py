"""A Dask computation through tb.dask.scheduler that a test kills with SIGKILL.

Each chunk the ``step`` layer computes appends its block index to a file.

Usage: python dask_crash_worker.py DB SIDE_EFFECTS (store|plain) RESULT
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

import taskbeam as tb

GRID = 12  # 144 chunks of 10 x 10


def build(side_effects: Path) -> da.Array:
    def step(block: np.ndarray, block_id: Any = None) -> np.ndarray:
        if not isinstance(block_id, tuple):  # Dask tries it once as it builds the graph
            return block
        with open(side_effects, "a") as f:
            f.write(f"{block_id[0]},{block_id[1]}\n")
        time.sleep(0.01)
        return np.sqrt(block) * (block_id[0] + 1)

    data = np.arange(GRID * GRID * 100, dtype=float).reshape(GRID * 10, GRID * 10)
    x = da.from_array(data, chunks=10)
    return x.map_blocks(step, dtype=float).sum(axis=0)


def main() -> None:
    db, side_effects, mode, out = sys.argv[1:5]
    x = build(Path(side_effects))
    if mode == "plain":
        value = x.compute(scheduler="threads")
    else:
        store = tb.SQLiteStore(db, serializer="pickle")
        policy = tb.SavePolicy(watched=0.02, unwatched=0.02)
        scheduler = tb.dask.scheduler(
            name="etl", store=store, view=False, save_policy=policy, max_concurrency=2
        )
        value = x.compute(scheduler=scheduler)
        run = scheduler.last_run
        assert run is not None
        Path(out + ".run").write_text(json.dumps({"id": run.id, "status": run.status}))
        store.close()
    Path(out).write_text(json.dumps(value.tolist()))


if __name__ == "__main__":
    main()
