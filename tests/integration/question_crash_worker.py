"""A stored run with questions that a test kills with SIGKILL.

Usage: python question_crash_worker.py DB LOG RUN_ID (start|continue) ANSWER_KEYS

Five async nodes ask one question each; ``ANSWER_KEYS`` (comma separated)
are answered from a thread of this process as soon as they are asked. Every
ask is appended to LOG as ``asked <key>`` and every answer a task got as
``got <key> <value>``, so the test can tell what was asked again. Prints
``ready`` once the chosen answers are in and the others are open.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import taskbeam as tb

NODES = ("n0", "n1", "n2", "n3", "n4")


def build(log: Path) -> tb.Graph:
    g = tb.Graph("asks")

    def write(line: str) -> None:
        with open(log, "a") as f:
            f.write(line + "\n")

    for name in NODES:

        async def ask(name: str = name) -> Any:
            write(f"asked {name}:0")
            value = await tb.ask(f"{name}?")
            write(f"got {name}:0 {value}")
            return value

        g.add(name, ask)
    return g


def main() -> None:
    db, log, run_id, mode, keys = sys.argv[1:6]
    to_answer = set(filter(None, keys.split(",")))
    store = tb.SQLiteStore(db)
    graph = build(Path(log))
    if mode == "start":
        run = tb.start(graph, store=store, run_id=run_id)
    else:
        run = tb.continue_run(run_id, graph, store=store)
    answered: set[str] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        questions = run.questions()
        for q in questions:
            if q.key in to_answer and q.key not in answered:
                run.answer(q.id, f"v-{q.key}")
                answered.add(q.key)
        open_keys = {q.key for q in questions} - to_answer
        if answered == to_answer and len(open_keys) == len(NODES) - len(to_answer):
            break
        if run.done:
            break
        time.sleep(0.005)
    print("ready", flush=True)
    threading.Event().wait(120)  # killed from here on


if __name__ == "__main__":
    main()
