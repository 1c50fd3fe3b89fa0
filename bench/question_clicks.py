"""Click-to-resume latency of the questions panel, in a real JupyterLab and headless Chromium.

A notebook runs a chain of nodes, each asking for a choice (``tb.ask``);
the page answers them one by one with a click on the choice in the view's
questions panel. Each task records ``time.time()`` as its ask returns (the
node leaves ``waiting``), and a capture-phase listener on the page records
each click's time (``performance.timeOrigin + event.timeStamp``): same
machine, same wall clock. Latency = the task's time - the click's; the
median (p50) and the largest are printed.

The JupyterLab server and the page driver are the end-to-end tests'
(``tests/e2e/_lab.py``), as in ``widget.py``. ``python bench/question_clicks.py
[--clicks N]`` (default 9; under a minute).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

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

CLICK_CLOCK = """() => {
  window.__tbClicks = [];
  document.addEventListener('click', (e) => {
    if (e.target.closest && e.target.closest('.tb-q-choice')) {
      window.__tbClicks.push(performance.timeOrigin + e.timeStamp);
    }
  }, true);
}"""


def write_notebook(root: Path, clicks: int) -> None:
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "cell-0",
        "metadata": {},
        "outputs": [],
        "source": SOURCE.replace("CLICKS", str(clicks)),
    }
    notebook = {
        "cells": [cell],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / f"{NOTEBOOK}.ipynb").write_text(json.dumps(notebook))


def measure(clicks: int) -> list[float]:
    """Latencies in ms, one per click."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="taskbeam-questions-bench-") as tmp:
        lab = _lab.Lab(Path(tmp), notebooks=None)
        try:
            lab.start()
            write_notebook(lab.root, clicks)
            with sync_playwright() as p:
                browser = _lab.launch_chromium(p)
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    traffic = _lab.KernelTraffic()
                    nb = _lab.NotebookPage(lab, page, NOTEBOOK, traffic)
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
                            lambda i=i: nb.json(f"resumed.get({i})"),
                            10,
                            f"step{i} goes on after the click",
                        )
                        clicked = page.evaluate("window.__tbClicks")[-1] / 1000
                        out.append((float(at) - clicked) * 1000)
                    return out
                finally:
                    browser.close()
        finally:
            lab.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=9, help="questions answered (1 to 50)")
    args = parser.parse_args(argv)
    if not 1 <= args.clicks <= 50:
        parser.error("--clicks must be from 1 to 50")
    latencies = measure(args.clicks)
    print(
        f"questions: click-to-resume over {len(latencies)} clicks: "
        f"p50 {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms "
        f"({', '.join(f'{x:.1f}' for x in latencies)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
