"""Live output in the view: the details panel of a running node tails what it prints.

A notebook written here runs two sync tasks that print a line every 50 ms
for several seconds (one line carries markup and an ANSI escape, which must
show as text). In a real JupyterLab in headless Chromium both nodes wear the
dot of unseen output; a click on one opens its details, whose output box
grows with new lines while the node is still running, and holds every
line, once and in order, when it ends; the other keeps its dot.
Screenshots: test-artifacts/output-live-tail.png and docs/img/widget-output.png.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from _lab import poll
from test_notebooks import write_notebook

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

SETUP = """\
import logging, time
import taskbeam as tb

g = tb.Graph("talkers")

@g.task(label="Fetch pages")
def fetch() -> int:
    print("<b>not bold</b> <img src=x onerror=alert(1)> \\x1b[31mnot red\\x1b[0m")
    for i in range(200):
        print(f"fetched page {i}")
        if i % 50 == 49:
            logging.getLogger("fetch").warning("slow page %d", i)
        time.sleep(0.05)
    return 200

@g.task(label="Index")
def index() -> int:  # runs on after fetch ends: the run (and its view) goes on
    for i in range(400):
        print(f"indexed {i}")
        time.sleep(0.05)
    return 400

run = tb.start(g)
run.view(height=520)"""


def status(nb: Any, node: str) -> str:
    value: str = nb.json(f"run.snapshot()['nodes'][{node!r}]['status']")
    return value


@pytest.mark.timeout(180)
def test_the_details_panel_tails_a_running_nodes_output(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    write_notebook(lab.root, "output", [SETUP])
    nb = open_notebook("output")
    dialogs: list[str] = []
    nb.page.on("dialog", lambda d: dialogs.append(d.message))
    index, view = nb.run_all()

    # Both nodes print: both wear the dot of unseen output.
    def dots() -> bool:
        nb.hook(index, "tb.flush()")
        return "•" in nb.hook(index, "tb.drawnText()")

    poll(dots, 20, "the dot of unseen output is drawn", nb.describe)

    center = nb.hook(index, "tb.nodeCenter(arg)", "fetch")
    assert center is not None, "fetch is not drawn"
    nb.page.mouse.click(center["x"], center["y"])
    box = view.locator(".tb-output")
    poll(lambda: box.count() == 1 and "fetched page" in box.inner_text(), 20, "output shows")

    # New lines come while the node runs, in order and once each.
    def lines() -> list[str]:
        if box.count() != 1:
            return []
        text = box.inner_text(timeout=5000)
        return [line for line in text.splitlines() if line.startswith("fetched")]

    def panel() -> str:
        return view.locator(".tb-details").inner_text() + "\n" + "\n".join(nb.console[-10:])

    first = len(lines())
    poll(lambda: len(lines()) >= first + 20, 20, "new lines come in", panel)
    assert status(nb, "fetch") == "running", "the node ended before its lines were seen"
    seen = lines()
    assert seen == [f"fetched page {i}" for i in range(len(seen))], seen[:5]

    # Markup and escapes are text: nothing is rendered or run.
    text = box.inner_text()
    assert "<b>not bold</b> <img src=x onerror=alert(1)>" in text
    assert "\x1b[31mnot red\x1b[0m" in text or "[31mnot red" in text
    assert box.locator("b, img").count() == 0 and view.locator("img").count() == 0

    # The selected node's dot goes; the other keeps its own.
    nb.page.mouse.move(5, 5)
    view.locator(".tb-details").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    nb.hook(index, "tb.flush()")
    assert nb.hook(index, "tb.drawnText()").count("•") >= 1
    view.screenshot(path=str(artifacts / "output-live-tail.png"))
    DOCS_IMG.mkdir(exist_ok=True)
    shutil.copyfile(artifacts / "output-live-tail.png", DOCS_IMG / "widget-output.png")

    def last() -> str:
        return view.inner_text()[-3000:]

    # A logging record reaches the node's output as it comes.
    poll(lambda: "WARNING fetch: slow page 49" in box.inner_text(), 20, "the record shows", last)
    poll(lambda: status(nb, "fetch") == "done", 30, "fetch ends")
    assert status(nb, "index") == "running"
    poll(lambda: "fetched page 199" in "\n".join(lines()), 10, "the last line shows", last)
    final = lines()
    assert final == [f"fetched page {i}" for i in range(200)]
    assert dialogs == [], f"the output ran script: {dialogs}"
    assert nb.errors() == [], nb.errors()
    page_errors = [c for c in nb.console if c.startswith("pageerror")]
    assert page_errors == [], page_errors
    nb.execute("run.cancel(); run.wait(10)")
