"""The timeline mode in JupyterLab: every node of a finished run drawn where its timings say.

A run with retries, a question answered after a wait, and an expanded
sub-graph runs in a real JupyterLab in headless Chromium. Its view is
switched to the timeline (the toolbar's button) while the question waits:
the waiting node's bar is open and grows. At the end every node that ran has a
bar, and each bar's left and right edges sit where the kernel's snapshot
puts its start and end on the timeline's scale. A click on a bar opens
that node's details. Screenshots go to test-artifacts/timeline-*.png and
docs/img/timeline.png.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_notebooks import assert_view_matches_kernel, wait_run_ended, write_notebook

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

CELLS = [
    """import asyncio, threading
import taskbeam as tb

g = tb.Graph("timeline-demo")
tries = {"n": 0}

async def load(i):
    await asyncio.sleep(0.15 + 0.05 * (i % 4))
    return i

async def flaky():
    tries["n"] += 1
    await asyncio.sleep(0.2)
    if tries["n"] < 3:
        raise ValueError(f"try {tries['n']}")
    return "ok"

async def review(flaky):
    await asyncio.sleep(0.1)
    return await tb.ask("Ship it?", choices=["yes", "no"])

async def part(k):
    await asyncio.sleep(0.1 * (k + 1))
    return k

async def fan_out(**loaded):
    sub = tb.Graph("parts")
    for k in range(4):
        sub.add(f"part{k}", part, kwargs={"k": k}, label=f"Part {k}")
    return tb.expand(sub, aggregate=lambda r: sum(r.values()))

for i in range(6):
    g.add(f"load{i}", load, kwargs={"i": i}, tags=("io",))
g.add("flaky", flaky, retries=3, backoff=0.1, tags=("llm",))
g.add("review", review, deps=["flaky"], tags=("llm",))
g.add("fan_out", fan_out, deps=[f"load{i}" for i in range(6)], label="Fan out")
run = tb.start(g, max_concurrency=4)

_go = threading.Event()  # the test sets it once it saw the wait live

def _answer():
    import time
    for _ in range(2400):
        qs = run.questions()
        if qs:
            _go.wait(60)
            time.sleep(0.3)
            run.answer(qs[0].id, "yes")
            return
        time.sleep(0.025)

threading.Thread(target=_answer, daemon=True).start()
run""",
]


@pytest.mark.timeout(150)
def test_the_timeline_draws_every_node_where_its_timings_say(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    write_notebook(lab.root, "timeline", CELLS)
    nb = open_notebook("timeline")
    nb.wait_kernel_idle(60)
    index, view = nb.run_all()

    # The toolbar's button switches to the timeline, live: while the question
    # waits for its answer, the waiting node's bar is open and grows.
    view.locator(".tb-timeline-toggle").click()
    nb.poll(lambda: nb.hook(index, "tb.timeline.shown()"), 5, "the timeline is shown")
    assert view.get_attribute("data-view") == "timeline"

    def open_review() -> Any:
        bar = nb.hook(index, "tb.timeline.bars()").get("review")
        status = nb.hook(index, "tb.state().nodes.review.status")
        return bar if bar and bar["end"] is None and status == "waiting" else None

    first = nb.poll(open_review, 30, "the waiting node's open bar on the timeline")
    grown = nb.poll(
        lambda: (b := open_review()) and b["x1"] - b["x0"] > first["x1"] - first["x0"] + 2 and b,
        10,
        "the waiting node's bar grows while it waits",
    )
    assert grown["start"] == first["start"]
    view.screenshot(path=str(artifacts / "timeline-live.png"))
    # A node's details open beside the timeline; both outlast the run's end.
    nb.hook(index, "tb.select('load0')")
    nb.poll(lambda: view.locator(".tb-details").is_visible(), 5, "the details of load0 are open")
    nb.page.evaluate(
        f"() => {{ window.__tbOldView = document.querySelectorAll('.taskbeam-view')[{index}]; }}"
    )
    nb.execute("_go.set()")
    snapshot = wait_run_ended(nb)
    assert snapshot["run"]["status"] == "done", snapshot["run"]
    snapshot = assert_view_matches_kernel(nb, index)
    assert len(snapshot["nodes"]["flaky"]["attempts"]) == 2
    assert len(snapshot["nodes"]["review"]["waits"]) == 1
    # JupyterLab draws the output anew when the run's display is updated at its end
    # (while the kernel runs code); the new view keeps the timeline and the details.
    redrawn = f"() => document.querySelectorAll('.taskbeam-view')[{index}] !== window.__tbOldView"
    with contextlib.suppress(AssertionError):  # a front end that updates in place is fine too
        nb.poll(lambda: nb.page.evaluate(redrawn), 10, "the view drawn anew")
    view = nb.page.locator(".taskbeam-view").nth(index)
    nb.poll(lambda: nb.hook(index, "tb.timeline.shown()"), 5, "the timeline is still shown")
    assert view.get_attribute("data-view") == "timeline"
    details = view.locator(".tb-details")
    nb.poll(
        lambda: details.is_visible() and "load0" in (details.inner_text() or ""),
        10,
        "the details of load0 are still open",
        lambda: details.inner_text() if details.is_visible() else "hidden",
    )
    assert nb.json("run._view.view_state") == {"timeline": True, "details": "load0"}
    nb.hook(index, "tb.select(null)")  # every row in view again
    nb.poll(lambda: not details.is_visible(), 5, "the details close")
    nb.page.set_viewport_size({"width": 1400, "height": 1000})
    nb.hook(index, "tb.timeline.flush()")
    info = nb.hook(index, "tb.timeline.info()")
    assert info["nodes"] == len(snapshot["nodes"]) and not info["aggregated"], info

    # Bars and scale from one frame: a redraw between two reads may move the scale.
    bars, scale = nb.hook(index, "[tb.timeline.bars(), tb.timeline.scale()]")
    ran = {i: n for i, n in snapshot["nodes"].items() if "started" in n}
    assert set(bars) == set(ran), f"bars {sorted(bars)} for nodes {sorted(ran)}"

    def x(t: float) -> float:
        return scale["left"] + (t - scale["t0"]) * scale["width"] / (scale["t1"] - scale["t0"])

    for node_id, summary in ran.items():
        start = summary.get("attempts", [[summary["started"]]])[0][0]
        bar = bars[node_id]
        assert bar["start"] == start and bar["end"] == summary["ended"], (node_id, bar, summary)
        assert abs(bar["x0"] - x(start)) < 0.5, (node_id, bar, x(start))
        assert abs(bar["x1"] - x(summary["ended"])) < 0.5, (node_id, bar, x(summary["ended"]))
    # Retries are earlier segments: the flaky node's bar starts at its first attempt.
    assert bars["flaky"]["start"] < ran["flaky"]["started"]
    view.screenshot(path=str(artifacts / "timeline-widget.png"))
    DOCS_IMG.mkdir(exist_ok=True)
    shutil.copyfile(artifacts / "timeline-widget.png", DOCS_IMG / "timeline.png")

    # A click on a bar opens that node's details.
    point = nb.hook(index, "tb.timeline.barCenter('review')")
    assert point is not None
    nb.page.mouse.click(point["x"], point["y"])
    details = view.locator(".tb-details")
    nb.poll(
        lambda: details.is_visible() and "review" in (details.inner_text() or ""),
        10,
        "the details of 'review' are open",
        lambda: details.inner_text() if details.is_visible() else "hidden",
    )
    view.screenshot(path=str(artifacts / "timeline-details.png"))

    # Grouped by tag: the io, llm and untagged groups; T goes back to the graph.
    nb.hook(index, "tb.timeline.groupBy('tag')")
    nb.hook(index, "tb.timeline.flush()")
    assert nb.hook(index, "tb.timeline.info()")["groupBy"] == "tag"
    view.screenshot(path=str(artifacts / "timeline-by-tag.png"))
    nb.page.locator(".taskbeam-view").nth(index).locator("canvas.tb-timeline-canvas").focus()
    nb.page.keyboard.press("t")
    nb.poll(lambda: not nb.hook(index, "tb.timeline.shown()"), 5, "T shows the graph again")
