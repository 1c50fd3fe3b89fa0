"""Shared helpers of the hostile engine tests: scripts in a fresh interpreter, hostile graphs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import taskbeam as tb

ROOT = Path(__file__).resolve().parents[2]


def python(
    code: str, tmp_path: Path, timeout: float = 60, args: tuple[str, ...] = ()
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``code`` as ``python script.py`` in ``tmp_path``; return the process and its seconds."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=timeout,
        env=child_env(),
    )
    return proc, time.monotonic() - t0


def child_env() -> dict[str, str]:
    """The environment of a child interpreter that imports this checkout's taskbeam."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return env


def always_expand(kind: str = "sync") -> tb.Graph:
    """One node whose task always expands into one more node of itself."""

    def sync_level() -> tb.Expansion:
        sub = tb.Graph("level")
        sub.add("a", sync_level)
        return tb.expand(sub, aggregate=lambda results: results)

    async def async_level() -> tb.Expansion:
        sub = tb.Graph("level")
        sub.add("a", async_level)
        return tb.expand(sub, aggregate=lambda results: results)

    g = tb.Graph("always-expands")
    g.add("a", sync_level if kind == "sync" else async_level)
    return g


def chain(n: int, fn: Callable[..., Any] | None = None) -> tb.Graph:
    """``n0 -> n1 -> ... -> n{n-1}``; each node returns its input plus one."""
    g = tb.Graph(f"chain-{n}")
    g.add("n0", fn or (lambda: 0))
    for i in range(1, n):
        g.add(f"n{i}", lambda prev: prev + 1, deps={"prev": f"n{i - 1}"})
    return g


def all_terminal(run: tb.Run) -> bool:
    """Whether every node of the (ended) run is done, failed, cancelled or skipped."""
    terminal = {"done", "failed", "cancelled", "skipped"}
    counts = run.counts
    return all(n == 0 for status, n in counts.items() if status not in terminal)
