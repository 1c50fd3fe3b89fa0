"""Progress and metrics in the live view, in a real JupyterLab in headless Chromium.

A notebook written here runs a task that reports progress and usage as it
goes: the bar and the `k/N` note on its card move while it runs, the details
panel shows its progress and metrics, and the toolbar the run's roll-ups
with its budget; a budget question (no node waits for it) is in the
questions panel and answered there. Screenshots go to test-artifacts/view-progress*.png (the
first is also docs/img/view-progress.png).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_notebooks import assert_view_matches_kernel, wait_run_ended, write_notebook

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

PROGRESS = [
    "import threading, time, taskbeam as tb",
    """\
gate = threading.Event()


def crawl() -> int:
    for i in range(40):
        tb.progress(i + 1, 40, note="pages")
        tb.usage(tokens_out=25, cost=0.0125)
        if i == 30:
            gate.wait(60)
        time.sleep(0.12)
    return 40


def summarise(crawl: int) -> str:
    tb.usage(tokens_in=400, tokens_out=80, cost=0.02)
    return f"{crawl} pages"


g = tb.Graph("progress")
g.add("crawl", crawl, label="Crawl the archive")
g.add("summarise", summarise, deps=["crawl"], label="Summarise")
run = tb.start(g, budgets={"cost": 5.0})
run""",
]


@pytest.mark.timeout(150)
def test_a_progress_bar_moves_on_a_running_node(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    write_notebook(lab.root, "progress", PROGRESS)
    nb = open_notebook("progress")
    index, view = nb.run_all()

    def done_on_canvas() -> int | None:
        for text in nb.hook(index, "tb.flush(), tb.drawnText()"):
            match = re.search(r"(\d+)/40", text)
            if match:
                return int(match.group(1))
        return None

    first = nb.poll(
        done_on_canvas, 20, "the card's note shows k/40", lambda: nb.hook(index, "tb.drawnText()")
    )
    nb.poll(
        lambda: (done_on_canvas() or 0) > first,
        20,
        "the progress on the card moves on",
        lambda: (first, nb.hook(index, "tb.drawnText()")),
    )
    view.screenshot(path=str(artifacts / "view-progress.png"))
    DOCS_IMG.mkdir(exist_ok=True)
    shutil.copy(artifacts / "view-progress.png", DOCS_IMG / "view-progress.png")

    # The toolbar shows the run's cost against its budget, and it grows.
    metrics = view.locator(".tb-run-metrics")
    nb.poll(lambda: "cost" in metrics.inner_text() and "/ 5" in metrics.inner_text(), 10,
            "the toolbar shows the cost and its budget", metrics.inner_text)  # fmt: skip

    # The details of the running node: its progress and metrics.
    nb.hook(index, "tb.select('crawl')")
    details = view.locator(".tb-details")
    nb.poll(lambda: "Progress and metrics" in details.inner_text(), 10, "details show progress",
            details.inner_text)  # fmt: skip
    text = details.inner_text()
    assert "/40" in text and "pages" in text and "tokens_out" in text, text
    view.screenshot(path=str(artifacts / "view-progress-details.png"))

    nb.execute("gate.set()")
    snapshot = wait_run_ended(nb)
    assert snapshot["run"]["status"] == "done"
    assert snapshot["run"]["metrics"] == {"tokens_out": 1080, "cost": 0.52, "tokens_in": 400}
    assert_view_matches_kernel(nb, index)
    assert nb.errors() == []
    view.screenshot(path=str(artifacts / "view-progress-done.png"))


BUDGET = [
    "import taskbeam as tb",
    """\
def spend() -> None:
    tb.usage(cost=2.0)


g = tb.Graph("budget")
for i in range(4):
    g.add(f"s{i}", spend)
run = tb.start(g, max_concurrency=1, budgets={"cost": 3.0})
run""",
]


@pytest.mark.timeout(120)
def test_a_budget_question_is_answered_in_the_view(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    write_notebook(lab.root, "budget", BUDGET)
    nb = open_notebook("budget")
    _, view = nb.run_all()
    # The run holds s2, s3 and asks; no node waits, yet the panel shows the question.
    entry = view.locator(".tb-q-entry[data-node-id='']")
    nb.poll(lambda: entry.count() == 1, 20, "the budget question is in the panel",
            lambda: view.locator(".tb-questions").inner_text())  # fmt: skip
    if not entry.locator(".tb-q-choice").first.is_visible():
        entry.locator(".tb-q-title").click()
    assert "budget exceeded: cost 4 of 3" in entry.inner_text()
    metrics = view.locator(".tb-run-metrics")
    nb.poll(lambda: "tb-over-budget" in (metrics.get_attribute("class") or ""), 10,
            "the toolbar marks the budget as passed")  # fmt: skip
    view.screenshot(path=str(artifacts / "view-budget-question.png"))
    entry.locator(".tb-q-choice", has_text="raise").click()
    snapshot = wait_run_ended(nb)
    assert snapshot["run"]["status"] == "done"
    assert snapshot["run"]["metrics"] == {"cost": 8}
    # Raised to 6; s3 took it to 8, past it again, but nothing was left to hold: no question.
    assert snapshot["run"]["budgets"] == {"cost": 6}
    nb.poll(lambda: view.locator(".tb-q-entry").count() == 0, 10, "the question is gone")
    assert nb.errors() == []
