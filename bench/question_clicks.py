"""The questions panel in a real JupyterLab and headless Chromium: click latency, frame time.

A notebook runs a chain of nodes, each asking for a choice (``tb.ask``);
the page answers them one by one with a click on the choice in the view's
questions panel. Each task records ``time.time()`` as its ask returns (the
node leaves ``waiting``), and a capture-phase listener on the page records
each click's time (``performance.timeOrigin + event.timeStamp``): same
machine, same wall clock. Latency = the task's time - the click's; the
median (p50) and the largest are printed.

View frame time with open questions: a run of N = 10,000 async nodes of
which 1,000 ask (and stay open) is shown in the view, against the same
graph whose 1,000 nodes return at once. While each runs and until the view
shows it still, the page records the canvas's frame times (``frameTimes``
of the view's test hook: drawing only) and the gaps between animation
frames (``requestAnimationFrame``: everything the main thread did, the
questions panel's DOM work included). Reported: the median and p95 of
each, and the panel's entries at the end. Contenders alternate.

The JupyterLab server and the page driver are the end-to-end tests'
(``tests/e2e/_lab.py``), as in ``widget.py``. ``python bench/question_clicks.py
[--clicks N] [--quick]`` (a few minutes; ``make bench`` runs it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import _lab  # noqa: E402

NOTEBOOK = "questions-bench"

SOURCE = """\
import time
import taskbeam as tb

resumed = {}


async def step(i: int, **_) -> str:
    choice = await tb.ask(f"Go on with step {i}?", choices=["yes", "no"])
    resumed[i] = time.time()
    return choice


g = tb.Graph("clicks")
for i in range(CLICKS):
    g.add(f"step{i}", step, kwargs={"i": i}, deps=[f"step{i - 1}"] if i else [])
run = tb.start(g)
run"""

# N nodes; with ASK, every tenth asks (and its question stays open), else it returns.
OPEN_SOURCE = """\
import asyncio
import taskbeam as tb


async def quick(i: int, **_) -> int:
    await asyncio.sleep(0.0005 * (i % 40))
    return i


async def asker(i: int, **_) -> str:
    return await tb.ask(f"Keep item {i}?", choices=["yes", "no"], data={"item": i})


g = tb.Graph("open-questions")
for i in range(N):
    g.add(f"n{i}", asker if ASK and i % 10 == 0 else quick, kwargs={"i": i})
run = tb.start(g, max_concurrency=64)
run"""

# Gaps between animation frames, from now on (the previous recorder stops).
FRAME_GAPS = """() => {
  const mine = (window.__tbGapsToken = (window.__tbGapsToken || 0) + 1);
  window.__tbGaps = [];
  let last = performance.now();
  const tick = (t) => {
    if (window.__tbGapsToken !== mine) return;
    window.__tbGaps.push(t - last);
    last = t;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

CLICK_CLOCK = """() => {
  window.__tbClicks = [];
  document.addEventListener('click', (e) => {
    if (e.target.closest && e.target.closest('.tb-q-choice')) {
      window.__tbClicks.push(performance.timeOrigin + e.timeStamp);
    }
  }, true);
}"""


def write_notebook(root: Path, name: str, source: str) -> None:
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "cell-0",
        "metadata": {},
        "outputs": [],
        "source": source,
    }
    notebook = {
        "cells": [cell],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / f"{name}.ipynb").write_text(json.dumps(notebook))


@dataclass
class Frames:
    """One showing of the N-node run: frame times and animation-frame gaps (ms)."""

    asking: bool
    frames: list[float]
    gaps: list[float]
    entries: int


@dataclass
class Result:
    clicks: list[float] = field(default_factory=list)  # ms, one per click
    shown: list[Frames] = field(default_factory=list)
    nodes: int = 0
    asking: int = 0


def _p95(xs: list[float]) -> float:
    return sorted(xs)[min(len(xs) - 1, int(0.95 * len(xs)))] if xs else float("nan")


def measure(clicks: int, repeats: int = 2, nodes: int = 10_000) -> Result:
    """Click latencies, then ``repeats`` showings of the N-node run with and without questions."""
    from playwright.sync_api import sync_playwright

    result = Result(nodes=nodes, asking=nodes // 10)
    with tempfile.TemporaryDirectory(prefix="taskbeam-questions-bench-") as tmp:
        lab = _lab.Lab(Path(tmp), notebooks=None)
        try:
            lab.start()
            write_notebook(lab.root, NOTEBOOK, SOURCE.replace("CLICKS", str(clicks)))
            with sync_playwright() as p:
                browser = _lab.launch_chromium(p)
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    result.clicks = _clicks(lab, page, clicks)
                    page.close()
                    for k in range(repeats):
                        for asking in (True, False) if k % 2 == 0 else (False, True):
                            page = browser.new_page(viewport={"width": 1400, "height": 1000})
                            result.shown.append(_show(lab, page, nodes, asking, k))
                            page.close()
                    return result
                finally:
                    browser.close()
        finally:
            lab.stop()


def _show(lab: Any, page: Any, nodes: int, asking: bool, k: int) -> Frames:
    """Show the N-node run (asking or not) until the view has it still."""
    name = f"open-{'ask' if asking else 'plain'}-{k}"
    source = OPEN_SOURCE.replace("N)", f"{nodes})").replace("ASK and", f"{asking} and")
    write_notebook(lab.root, name, source)
    nb = _lab.NotebookPage(lab, page, name, _lab.KernelTraffic())
    nb.open()
    nb.wait_kernel_idle(60)
    page.evaluate(FRAME_GAPS)
    nb.run("notebook:run-all-cells")
    nb.wait_cells_done(None, 120)
    want = {"waiting": nodes // 10, "done": nodes - nodes // 10} if asking else {"done": nodes}
    index = nb.view_index(nb.json("run.id"), 60)

    def still() -> bool:
        counts = nb.hook(index, "tb.counts()") or {}
        return all(counts.get(s, 0) == n for s, n in want.items())

    _lab.poll(still, 120, f"the view shows {want}")
    entries = 0
    if asking:
        view = page.locator(".taskbeam-view").nth(index)
        _lab.poll(
            lambda: view.locator(".tb-q-entry").count() == nodes // 10,
            60,
            "every open question in the panel",
        )
        entries = view.locator(".tb-q-entry").count()
    frames = [float(x) for x in nb.hook(index, "tb.frameTimes.slice()")]
    gaps = [float(x) for x in page.evaluate("window.__tbGaps.slice()")]
    page.evaluate("() => { window.__tbGapsToken++; }")
    nb.execute("run.cancel(); run.wait(30); None")
    lab.shutdown_kernels()
    return Frames(asking, frames, gaps, entries)


def _clicks(lab: Any, page: Any, clicks: int) -> list[float]:
    """Latencies in ms, one per click."""
    nb = _lab.NotebookPage(lab, page, NOTEBOOK, _lab.KernelTraffic())
    nb.open()
    nb.run("notebook:run-all-cells")
    nb.wait_cells_done(None, 60)
    index = nb.view_index(nb.json("run.id"))
    view = page.locator(".taskbeam-view").nth(index)
    view.scroll_into_view_if_needed()
    page.evaluate(CLICK_CLOCK)
    out = []
    for i in range(clicks):
        entry = view.locator(f".tb-q-entry[data-node-id='step{i}']")
        _lab.poll(lambda e=entry: e.count() == 1, 20, f"step{i}'s question shows")
        entry.locator(".tb-q-choice", has_text="yes").click()
        at = _lab.poll(
            lambda i=i: nb.json(f"resumed.get({i})"), 10, f"step{i} goes on after the click"
        )
        clicked = page.evaluate("window.__tbClicks")[-1] / 1000
        out.append((float(at) - clicked) * 1000)
    lab.shutdown_kernels()
    return out


def _summary(result: Result, asking: bool) -> dict[str, float]:
    shown = [f for f in result.shown if f.asking is asking]
    return {
        "frame_p50": statistics.median(statistics.median(f.frames) for f in shown),
        "frame_p95": statistics.median(_p95(f.frames) for f in shown),
        "gap_p50": statistics.median(statistics.median(f.gaps) for f in shown),
        "gap_p95": statistics.median(_p95(f.gaps) for f in shown),
        "frames": statistics.median(len(f.frames) for f in shown),
    }


def run_benchmark(quick: bool = False) -> Result:
    return measure(5 if quick else 9, repeats=1 if quick else 2)


def render(result: Result) -> str:
    c = result.clicks
    lines = [
        "### Questions in the view (JupyterLab, headless Chromium)",
        "",
        f"Click to the task going on, over {len(c)} clicks: p50 {statistics.median(c):.1f} ms, "
        f"max {max(c):.1f} ms.",
        "",
        f"A run of {result.nodes:,} nodes of which {result.asking:,} ask and stay open, against "
        "the same graph without questions, shown in the view until it is still "
        f"({len(result.shown) // 2} showings each, medians): canvas frame time (drawing) and the "
        "gaps between animation frames (all the main thread did, the panel included).",
        "",
        "| | frame p50 ms | frame p95 ms | rAF gap p50 ms | rAF gap p95 ms | frames |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for asking, label in ((True, f"{result.asking:,} open questions"), (False, "no questions")):
        m = _summary(result, asking)
        lines.append(
            f"| {label} | {m['frame_p50']:.1f} | {m['frame_p95']:.1f} | {m['gap_p50']:.1f} "
            f"| {m['gap_p95']:.1f} | {m['frames']:.0f} |"
        )
    entries = [f.entries for f in result.shown if f.asking]
    lines += ["", f"Entries in the questions panel at the end: {min(entries):,}.", ""]
    return "\n".join(lines)


def to_json(result: Result) -> dict[str, Any]:
    return {
        "clicks_ms": result.clicks,
        "shown": [vars(f) for f in result.shown],
        "nodes": result.nodes,
        "asking": result.asking,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=9, help="questions answered (1 to 50)")
    parser.add_argument("--quick", action="store_true", help="one showing each")
    args = parser.parse_args(argv)
    if not 1 <= args.clicks <= 50:
        parser.error("--clicks must be from 1 to 50")
    result = measure(args.clicks, repeats=1 if args.quick else 2)
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
