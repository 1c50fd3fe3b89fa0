"""A comparison of two runs in the view, in a real JupyterLab in headless Chromium.

A notebook cell runs a planner twice: the second run plans other sections
(one child added, one removed), its check fails where the first one's
passed, and its plan's result changes; then it shows
``tb.GraphView(tb.compare(a, b))``. In the page: every node's colour class
is the kernel's difference class, the legend counts them, the removed
child's name is struck through and the classes wear their glyphs; the
details of the plan node show both runs' result previews side by side,
as text (they print like HTML). Screenshots go to
test-artifacts/compare-*.png (light and dark).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _lab import poll
from test_notebooks import write_notebook

SETUP = """\
import taskbeam as tb


def build(sections, value=1):
    def plan(sections):
        sub = tb.Graph("sections")
        for s in sections:
            sub.add(s, lambda s=s: f"<b>{s.upper()}</b>", label=f"Write {s}")
        return tb.expand(sub, aggregate=lambda r: ", ".join(sorted(r.values())))

    def check(value):
        if value < 0:
            raise ValueError(f"negative: {value}")
        return value

    g = tb.Graph("outline")
    g.add("load", lambda: [3, 1, 2], label="Load rows")
    g.add("plan", plan, kwargs={"sections": sections}, label="Plan sections")
    g.add("check", check, kwargs={"value": value}, label="Check value")
    g.add("title", lambda text: text.title(), deps={"text": "plan"}, label="Title")
    g.add("final", lambda text, n, rows: f"{text}:{n}:{len(rows)}",
          deps={"text": "title", "n": "check", "rows": "load"}, label="Final report")
    return g


a = tb.start(build(["intro", "methods", "data"])).wait()
b = a.rerun(graph=build(["intro", "results", "data"], value=-1)).wait()
comparison = tb.compare(a, b)
view = tb.GraphView(comparison)
view"""

# The kernel's difference class of every node, as the view should colour it.
KERNEL_CLASSES = (
    "{r.node: __import__('taskbeam._compare_view', fromlist=['diff_class']).diff_class(r)"
    " for r in comparison.rows}"
)

LEGEND = """(index) => Array.from(document.querySelectorAll('.taskbeam-view')[index]
  .querySelectorAll('.tb-compare-legend .tb-legend-item'))
  .filter((el) => getComputedStyle(el).display !== 'none')
  .map((el) => [el.dataset.class, el.dataset.count, [
    el.querySelector('.tb-swatch').textContent, el.querySelector('.tb-legend-label').textContent,
  ].join(' ').trim()])"""


def click_node(nb: Any, index: int, node: str) -> None:
    center = nb.hook(index, "tb.nodeCenter(arg)", node)
    assert center is not None, f"{node} is not drawn"
    nb.page.mouse.click(center["x"], center["y"])


@pytest.mark.timeout(180)
def test_a_comparison_is_drawn_by_difference_with_both_sides_in_the_details(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    write_notebook(lab.root, "compare", [SETUP])
    nb = open_notebook("compare")
    nb.run("notebook:run-all-cells")
    nb.wait_cells_done(None, 60)
    room = nb.json("view.run_id")
    a, b = nb.json("a.id"), nb.json("b.id")
    assert room == f"compare:{a}:{b}"
    index = nb.view_index(room)
    view = nb.view(index)
    poll(lambda: nb.hook(index, "!!tb.state()"), 20, "the comparison's state")

    # Every node wears the kernel's class, added and removed children included.
    kernel = nb.json(KERNEL_CLASSES)
    assert kernel["plan/results"] == "added" and kernel["plan/methods"] == "removed"
    assert kernel["check"] == "status" and kernel["plan"] == "changed"
    assert kernel["plan/intro"] == "equal"
    drawn = nb.hook(index, "tb.nodeClasses()")
    assert drawn == {node: f"tb-diff-{cls}" for node, cls in kernel.items()}

    # The legend says what each colour means, with counts that match.
    counts: dict[str, int] = {}
    for cls in kernel.values():
        counts[cls] = counts.get(cls, 0) + 1
    legend = nb.page.evaluate(LEGEND, index)
    shown = {cls: int(count) for cls, count, _ in legend if cls != "reused"}
    assert shown == counts, legend
    texts = {cls: text for cls, _, text in legend}
    assert texts["removed"] == "− removed in b" and texts["added"] == "+ added in b", texts
    assert texts["status"] == "! status differs" and texts["changed"] == "≠ changed", texts
    reused = nb.json("sum(1 for r in comparison.rows if r.cached_b)")
    assert reused > 0 and texts["reused"] == "reused in b", texts
    assert dict((cls, int(n)) for cls, n, _ in legend)["reused"] == reused
    title = " ".join(view.locator(".tb-compare-runs").inner_text().split())
    assert title == f"a {a[-8:]} done → b {b[-8:]} failed", title
    # Colour is not the only cue: glyphs on the cards, a struck-through removed name, notes.
    nb.hook(index, "tb.fit()")
    nb.hook(index, "tb.flush()")
    text = nb.hook(index, "tb.drawnText()")
    assert "strike:Write methods" in text, text
    for glyph in ("≠", "!", "+", "−"):
        assert glyph in text, (glyph, text)
    assert "done → failed" in text and "added" in text, text
    nb.page.mouse.move(5, 5)
    view.screenshot(path=str(artifacts / "compare-graph.png"))
    # Nothing to control, rerun or time: a comparison is not a run.
    for hidden in (".tb-toolbar .tb-rerun", ".tb-timeline-toggle", ".tb-continue", ".tb-stats"):
        assert view.locator(hidden).is_hidden(), hidden

    # The plan's details: both runs' result previews side by side, as text.
    click_node(nb, index, "plan")
    details = view.locator(".tb-details")
    poll(lambda: details.locator(".tb-compare-result").count() == 2, 10, "both previews")
    preview = "__import__('taskbeam.engine._preview', fromlist=['preview']).preview"
    want_a = nb.json(f"{preview}(a.results['plan'], 4000)")
    want_b = nb.json(f"{preview}(b.results['plan'], 4000)")
    assert "<b>METHODS</b>" in want_a and "<b>RESULTS</b>" in want_b
    assert details.locator(".tb-compare-result.tb-compare-a").inner_text() == want_a
    assert details.locator(".tb-compare-result.tb-compare-b").inner_text() == want_b
    assert details.locator("b, script, img").count() == 0  # nothing of the results was parsed
    heads = details.locator(".tb-compare-head").all_inner_texts()
    assert heads == [f"a · {a[-8:]}", f"b · {b[-8:]}"], heads
    assert "changed" in details.locator(".tb-diff-pill").inner_text()
    children = details.locator(".tb-links button").all_text_contents()
    assert "+Write results" in children and "−Write methods" in children, children
    nb.page.mouse.move(5, 5)  # no tooltip over the graph in the picture
    nb.hook(index, "tb.flush()")
    view.screenshot(path=str(artifacts / "compare-view.png"))

    # The failed check: the error on b's side, the value on a's.
    click_node(nb, index, "check")
    poll(lambda: "negative: -1" in details.inner_text(), 10, "check's error in b's column")
    assert details.locator(".tb-compare-result.tb-compare-a").inner_text() == "1"
    nb.hook(index, "tb.flush()")
    view.screenshot(path=str(artifacts / "compare-view-failed.png"))

    # The dark theme, for a person to look at.
    nb.page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    poll(
        lambda: nb.page.evaluate("document.body.dataset.jpThemeLight") == "false",
        20,
        "the dark theme",
    )
    nb.page.wait_for_timeout(500)
    nb.hook(index, "tb.fit()")  # the whole graph beside the details
    click_node(nb, index, "plan")
    poll(lambda: details.locator(".tb-compare-result").count() == 2, 10, "both previews")
    nb.page.mouse.move(5, 5)
    nb.hook(index, "tb.flush()")
    view.screenshot(path=str(artifacts / "compare-view-dark.png"))
    nb.page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
    )
    poll(
        lambda: nb.page.evaluate("document.body.dataset.jpThemeLight") == "true",
        20,
        "the light theme again",
    )
    assert nb.errors() == [], nb.errors()
    page_errors = [c for c in nb.console if c.startswith("pageerror")]
    assert page_errors == [], page_errors
