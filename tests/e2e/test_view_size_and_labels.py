"""The live view of real graphs in JupyterLab: its height, labels, durations and notices.

The research agent of notebook 02 (nested expanded sub-graphs, a label on
every node) runs in a real JupyterLab in headless Chromium; its view fits
its height to the graph, keeps its toolbar on one row at JupyterLab's
notebook width, draws the nodes' labels, and is resized by dragging the
handle at its bottom edge (the new height reaches the kernel's trait and
stays). A notebook written here shows a running node's live duration, a
timed-out node's note, the error notice above the canvas rather than over
it, and "Pause requested" going once the run is paused. Screenshots go to
test-artifacts/view-*.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_notebooks import assert_view_matches_kernel, wait_run_ended, write_notebook

# The toolbar is one row of 26-pixel controls with 6 pixels of padding above and below.
ONE_ROW = 44


def view_box(nb: Any, index: int) -> dict[str, float]:
    return nb.page.locator(".taskbeam-view").nth(index).bounding_box()


@pytest.mark.timeout(150)
def test_a_nested_research_tree_is_readable_and_its_view_resizes(
    open_notebook: Any, artifacts: Path
) -> None:
    nb = open_notebook("02-recursive-research-agent")
    nb.clear_outputs()
    nb.run("notebook:run-all-cells")
    nb.wait_cells_done(None, 90)
    snapshot = wait_run_ended(nb)
    index = nb.view_index(snapshot["run"]["id"])
    view = nb.page.locator(".taskbeam-view").nth(index)
    view.scroll_into_view_if_needed()
    snapshot = assert_view_matches_kernel(nb, index)
    nb.hook(index, "tb.flush()")

    # Labels come from the graph, children of expansions included, and are drawn.
    labels = {i: n["label"] for i, n in snapshot["nodes"].items() if "label" in n}
    assert labels["root/q1"] == "What raises the tides?", labels
    assert len(labels) == len(snapshot["nodes"]), "every node of notebook 02 has a label"
    drawn = nb.hook(index, "tb.drawnText()")
    whole = [t for t in drawn if t in labels.values()]
    assert len(whole) >= 6, f"few whole labels drawn at the default size: {drawn}"

    # The automatic fit keeps them legible: never below the floor.
    zoom = nb.hook(index, "tb.zoom()")
    assert zoom["s"] >= zoom["floor"] - 1e-9, zoom
    # The toolbar is one row at the notebook's width.
    bar = view.locator(".tb-toolbar").bounding_box()
    assert bar["height"] <= ONE_ROW, f"the toolbar wraps: {bar}"
    # The height fits the graph, within 240…640 pixels.
    fitted = nb.hook(index, "tb.height()")
    assert 240 <= fitted <= 640, fitted
    nb.page.screenshot(path=str(artifacts / "view-nested-page.png"))
    view.screenshot(path=str(artifacts / "view-nested-labels.png"))

    # Narrower windows (with JupyterLab's file browser open): still one row, nothing cut off.
    for width in (1280, 1024, 800):
        nb.page.set_viewport_size({"width": width, "height": 1000})
        nb.poll(
            lambda: view.locator(".tb-toolbar").evaluate("b => b.scrollWidth <= b.clientWidth"),
            5,
            f"the toolbar's controls all fit at a window {width} px wide",
            lambda: view.locator(".tb-toolbar").evaluate("b => [b.scrollWidth, b.clientWidth]"),
        )
        bar = view.locator(".tb-toolbar").bounding_box()
        assert bar["height"] <= ONE_ROW, f"the toolbar wraps at {width} px: {bar}"
        view.screenshot(path=str(artifacts / f"view-toolbar-{width}.png"))
    nb.page.set_viewport_size({"width": 1400, "height": 1000})
    nb.poll(lambda: view.bounding_box()["width"] > 900, 5, "the view is wide again")
    nb.hook(index, "tb.flush()")
    fitted = nb.hook(index, "tb.height()")

    # The search box finds a node by its label; the details show label and id.
    search = view.locator("input.tb-search")
    search.fill("tidal resonance")
    search.press("Enter")
    details = view.locator(".tb-details")
    nb.poll(
        lambda: details.is_visible() and "root/q2/q3" in details.inner_text(),
        10,
        "a search by label opens the node root/q2/q3",
        lambda: details.inner_text() if details.is_visible() else "(no details)",
    )
    assert "What is tidal resonance?" in details.inner_text()
    assert nb.hook(index, "tb.height()") == fitted, "opening the details changed the height"
    view.screenshot(path=str(artifacts / "view-search-label.png"))
    view.locator("button[aria-label='Close details']").click()
    search.fill("")
    search.press("Escape")

    # Drag the handle 180 pixels down: the view grows by that, the trait follows.
    nb.poll(lambda: not details.is_visible(), 5, "the details are closed")
    assert nb.hook(index, "tb.height()") == fitted
    handle = view.locator(".tb-resize").bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    nb.page.mouse.move(x, y)
    nb.page.mouse.down()
    for step in range(1, 7):
        nb.page.mouse.move(x, y + 30 * step)
    nb.page.mouse.up()
    grown = nb.hook(index, "tb.height()")
    assert abs(grown - (fitted + 180)) <= 2, (fitted, grown)
    nb.poll(
        lambda: nb.json("run._view.height") == round(grown),
        10,
        "the kernel's view.height is the dragged height",
        lambda: nb.json("run._view.height"),
    )
    # It stays: through frames, a fit, and a second display of the same view.
    nb.hook(index, "tb.fit()")
    nb.hook(index, "tb.flush()")
    assert nb.hook(index, "tb.height()") == grown
    nb.execute("run._view.height = 520")
    nb.poll(lambda: nb.hook(index, "tb.height()") == 520, 10, "Python sets the height")
    view.screenshot(path=str(artifacts / "view-resized.png"))


LIVE = [
    "import asyncio, taskbeam as tb",
    """\
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "ok"


def broken() -> None:
    raise ValueError("3 of 10 links are broken")


g = tb.Graph("live")
g.add("crawl", slow, kwargs={"seconds": 60}, label="Crawl the archive")
g.add("enrich", slow, kwargs={"seconds": 60}, timeout=1.5, label="Enrich with rates")
g.add("check", broken, label="Check links")
run = tb.start(g)
run""",
]


@pytest.mark.timeout(120)
def test_running_nodes_show_their_duration_and_notices_never_cover_the_graph(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    write_notebook(lab.root, "live", LIVE)
    nb = open_notebook("live")
    index, view = nb.run_all()

    # A timed-out node: a short note on the canvas, like other failures.
    nb.poll(
        lambda: nb.json("run.snapshot()['nodes']['enrich']['status']") == "failed",
        15,
        "enrich timed out",
    )
    nb.poll(
        lambda: "timed out after 1.5 s" in nb.hook(index, "tb.flush(), tb.drawnText()"),
        10,
        "the canvas says 'timed out after 1.5 s'",
        lambda: nb.hook(index, "tb.drawnText()"),
    )
    # The error notice is a row above the canvas: the canvas moves, nothing covers it.
    notice = view.locator(".tb-statusline")
    nb.poll(notice.is_visible, 10, "the failure notice shows")
    canvas = view.locator("canvas.tb-canvas").bounding_box()
    box = notice.bounding_box()
    assert box["y"] + box["height"] <= canvas["y"] + 0.5, (box, canvas)

    # A running node's duration moves on, on the node and in its details.
    def crawl_note() -> list[str]:
        return [t for t in nb.hook(index, "tb.flush(), tb.drawnText()") if t.endswith(" s")]

    first = nb.poll(crawl_note, 10, "a running duration on the canvas")
    nb.poll(lambda: crawl_note() != first, 5, "the duration moves on", crawl_note)
    nb.hook(index, "tb.select('crawl')")
    details = view.locator(".tb-details")
    nb.poll(lambda: "Running for" in details.inner_text(), 10, "details show 'Running for'")
    assert "Crawl the archive" in details.inner_text()
    view.screenshot(path=str(artifacts / "view-running-timeout.png"))

    # Pause: "Pause requested" goes once the run is paused.
    view.locator("button[aria-label='Pause']").click()
    nb.poll(lambda: nb.json("str(run.status)") == "paused", 10, "the run is paused")
    nb.poll(
        lambda: not notice.is_visible() or "Pause requested" not in notice.inner_text(),
        5,
        "'Pause requested' clears once the run is paused",
        notice.inner_text,
    )
    view.locator(".tb-statusline-close").count()  # the close button exists
    view.locator("button[aria-label='Cancel']").click()
    # (It ends failed: it has failed nodes.)
    nb.poll(
        lambda: (
            nb.json("run.snapshot()['nodes']['crawl']['status']") == "cancelled"
            and nb.json("str(run.status)") == "failed"
        ),
        15,
        "the run is cancelled",
        lambda: (nb.json("run.snapshot()"), notice.inner_text(), nb.console[-5:]),
    )
    nb.poll(
        lambda: not notice.is_visible() or "requested" not in notice.inner_text(),
        5,
        "'Cancel requested' clears once the run has ended",
        notice.inner_text,
    )


@pytest.mark.timeout(90)
def test_a_saved_notebook_shows_its_finished_runs_before_it_is_run(
    open_notebook: Any, artifacts: Path
) -> None:
    # Saved without widget state, a view's output falls back to its text
    # line, which the run updated when it ended.
    nb = open_notebook("02-recursive-research-agent")
    cell = nb.page.locator(".jp-CodeCell", has_text="run = tb.start(").first
    cell.scroll_into_view_if_needed()
    output = cell.locator(".jp-OutputArea-output")
    nb.poll(lambda: output.count() > 0 and output.first.inner_text().strip(), 20, "it shows")
    nb.page.screenshot(path=str(artifacts / "view-saved-notebook.png"))
    text = output.first.inner_text()
    assert text.startswith("<Run research-") and "done: 18/18 finished>" in text, text


SAME_CELL = [
    "import asyncio, taskbeam as tb",
    """\
async def step() -> int:
    await asyncio.sleep(0.4)
    return 1


g = tb.Graph("same-cell")
for i in range(4):
    g.add(f"s{i}", step, label=f"Step {i}")
run = tb.start(g)
display(run)
_ = await run""",
]


@pytest.mark.timeout(90)
def test_a_run_that_ends_while_its_cell_runs_keeps_a_working_view(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    # The display's update arrives while the cell that displayed it still
    # runs: JupyterLab draws that output again, from the same widget model.
    write_notebook(lab.root, "same-cell", SAME_CELL)
    nb = open_notebook("same-cell")
    nb.run("notebook:run-all-cells")
    nb.wait_cells_done(None, 60)
    snapshot = wait_run_ended(nb)
    index = nb.view_index(snapshot["run"]["id"])
    assert_view_matches_kernel(nb, index)
    nb.page.screenshot(path=str(artifacts / "view-same-cell-page.png"))
    assert nb.page.locator(".taskbeam-view").count() == 1
    assert nb.errors() == []
    assert "Step 0" in nb.hook(index, "tb.flush(), tb.drawnText()")
    nb.page.locator(".taskbeam-view").nth(index).screenshot(
        path=str(artifacts / "view-same-cell.png")
    )
