"""Rerun from the live view, in a real JupyterLab in headless Chromium.

A notebook cell builds a four-node graph whose tasks count their
executions in a dict (``ran``) and runs it. In the view, a click on the
middle node ``clean`` opens its details; *Rerun from here* there asks for a
rerun from that node. The kernel answers with a new run and the view
follows it: ``clean`` ran again and made the same value, so nothing it
feeds ran (early cutoff); the toolbar says "rerun of <short id>" and how
many nodes were reused; the reused nodes are drawn with their mark and a
reused node's details say where its result came from. Then the toolbar's
*Rerun changed* runs nothing at all. Screenshots go to
test-artifacts/rerun-*.png (light and dark).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from _lab import poll
from test_notebooks import write_notebook

SETUP = """\
import taskbeam as tb

ran = {}


def counted(name):
    ran[name] = ran.get(name, 0) + 1


def load():
    counted("load")
    return [3, 1, 2]


def clean(rows):
    counted("clean")
    return sorted(rows)


def total(rows):
    counted("total")
    return sum(rows)


def report(total, rows):
    counted("report")
    return f"{len(rows)} rows, total {total}"


g = tb.Graph("counted")
g.add("load", load, label="Load rows")
g.add("clean", clean, deps={"rows": "load"}, label="Clean rows")
g.add("total", total, deps={"rows": "clean"}, label="Sum")
g.add("report", report, deps={"total": "total", "rows": "clean"}, label="Report")
run = tb.start(g)
run.view(height=420)"""

SHOWN = """(() => {
  const s = tb.state();
  return s ? {id: s.run.id, status: s.run.status, parent: s.run.parent_run ?? null} : null;
})()"""


# Every text the view's notice row shows, in order (a quick run's "Run done" follows at once).
NOTICES = """(index) => {
  const root = document.querySelectorAll('.taskbeam-view')[index];
  const el = root.querySelector('.tb-statusline-text');
  window.__tbNotices = [];
  new MutationObserver(() => window.__tbNotices.push(el.textContent)).observe(
    el, {childList: true, characterData: true, subtree: true});
}"""


def shown(nb: Any, index: int) -> dict[str, Any] | None:
    value: dict[str, Any] | None = nb.hook(index, SHOWN)
    return value


def wait_new_run(nb: Any, index: int, before: str) -> dict[str, Any]:
    """The view shows another run than ``before``, and it has ended."""
    now: dict[str, Any] = poll(
        lambda: (s := shown(nb, index)) and s["id"] != before and s["status"] == "done" and s,
        30,
        f"the view shows a new run after {before}, done",
        lambda: f"shown: {shown(nb, index)}\n{nb.describe()}",
    )
    return now


def kernel_run(nb: Any, run_id: str) -> dict[str, Any]:
    snap: dict[str, Any] = nb.json(
        f"__import__('taskbeam.engine._run', fromlist=['live_run']).live_run({run_id!r}).snapshot()"
    )
    return snap


def click_node(nb: Any, index: int, node: str) -> None:
    center = nb.hook(index, "tb.nodeCenter(arg)", node)
    assert center is not None, f"{node} is not drawn"
    nb.page.mouse.click(center["x"], center["y"])


@pytest.mark.timeout(180)
def test_rerun_from_a_node_and_of_what_changed_from_the_view(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    write_notebook(lab.root, "rerun", [SETUP])
    nb = open_notebook("rerun")
    index, view = nb.run_all()
    first = nb.json("run.id")
    poll(lambda: (shown(nb, index) or {}).get("status") == "done", 20, "the first run ends")
    assert nb.json("ran") == {"load": 1, "clean": 1, "total": 1, "report": 1}
    assert nb.hook(index, "tb.reused()") == [], "a first run reuses nothing"
    assert view.locator(".tb-lineage").is_hidden()
    changed = view.locator(".tb-toolbar .tb-rerun")
    assert changed.is_enabled(), changed.get_attribute("title")

    # The middle node's details: Rerun from here.
    click_node(nb, index, "clean")
    details = view.locator(".tb-details")
    poll(lambda: "Clean rows" in details.inner_text(), 10, "clean's details open")
    button = details.locator(".tb-rerun-node")
    assert button.is_enabled(), button.get_attribute("title")
    nb.page.evaluate(NOTICES, index)
    clicked = time.monotonic()
    button.click()
    second = wait_new_run(nb, index, first)
    print(f"\nclick to the new run shown, done: {time.monotonic() - clicked:.2f} s")
    assert second["parent"] == first
    notices = nb.page.evaluate("window.__tbNotices")
    assert "Rerunning from Clean rows…" in notices, notices

    # Only clean ran again; it made the same list, so total and report were reused.
    assert nb.json("ran") == {"load": 1, "clean": 2, "total": 1, "report": 1}
    snap = kernel_run(nb, second["id"])
    assert snap["run"]["parent_run"] == first
    assert snap["run"]["cache"] == {"hits": 3, "misses": 1, "uncacheable": 0}
    assert nb.hook(index, "tb.reused()") == ["load", "report", "total"]
    nb.hook(index, "tb.fit()")
    nb.hook(index, "tb.flush()")
    drawn = nb.hook(index, "tb.drawnText()")
    assert drawn.count("reused") == 3, drawn  # the note of each reused card

    # The summary row: "rerun of <short id>" (the full id in its tooltip) and the reuse count.
    lineage = view.locator(".tb-lineage")
    assert lineage.is_visible()
    text = lineage.inner_text()
    assert f"rerun of {first[-8:]}" in " ".join(text.split()), text
    assert "3 reused" in text, text
    assert first in (view.locator(".tb-lineage-run").get_attribute("title") or "")

    # The node rerun from keeps its details open in the new run; a reused node's say so.
    poll(lambda: "Clean rows" in details.inner_text(), 10, "clean's details in the new run")
    assert "Reused from" not in details.inner_text()
    click_node(nb, index, "total")
    poll(
        lambda: f"Reused from run {first} (node total)" in details.inner_text(),
        10,
        "a reused node's details say where its result came from",
        lambda: details.inner_text(),
    )
    nb.page.mouse.move(5, 5)  # no tooltip over the graph in the picture
    nb.hook(index, "tb.flush()")
    view.screenshot(path=str(artifacts / "rerun-view.png"))

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
    nb.hook(index, "tb.flush()")
    view.screenshot(path=str(artifacts / "rerun-view-dark.png"))
    nb.page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
    )
    poll(
        lambda: nb.page.evaluate("document.body.dataset.jpThemeLight") == "true",
        20,
        "the light theme again",
    )

    # Rerun changed: nothing changed, so nothing runs; every node is reused.
    assert changed.is_enabled(), changed.get_attribute("title")
    changed.click()
    third = wait_new_run(nb, index, second["id"])
    assert third["parent"] == second["id"]
    assert nb.json("ran") == {"load": 1, "clean": 2, "total": 1, "report": 1}
    assert kernel_run(nb, third["id"])["run"]["cache"]["hits"] == 4
    assert nb.hook(index, "tb.reused()") == ["clean", "load", "report", "total"]
    poll(
        lambda: "4 reused" in view.locator(".tb-lineage").inner_text(),
        10,
        "the toolbar counts 4 reused",
    )
    assert nb.errors() == [], nb.errors()
    page_errors = [c for c in nb.console if c.startswith("pageerror")]
    assert page_errors == [], page_errors


# --- a history view -------------------------------------------------------------------------

HISTORY = SETUP.replace(
    'run = tb.start(g)\nrun.view(height=420)"""'.removesuffix('"""'),
    """store = tb.SQLiteStore("rerun-history.db")
first = tb.start(g, store=store).wait()
view = tb.GraphView(store, graphs={"counted": g}, height=360)
view.run_id = first.id
view""",
)


@pytest.mark.timeout(150)
def test_a_history_view_reruns_a_stored_run_and_its_parent_link_goes_back(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    assert "GraphView(store" in HISTORY, "the history cell was not built"
    write_notebook(lab.root, "rerun-history", [HISTORY])
    nb = open_notebook("rerun-history")
    index, view = nb.run_all(variable="first")
    first = nb.json("first.id")
    # The run ran here and ended: the history shows it as stored, with its graph known.
    poll(lambda: nb.hook(index, "tb.state().run.stored === true"), 20, "the stored run")
    changed = view.locator(".tb-toolbar .tb-rerun")
    poll(changed.is_enabled, 10, "Rerun changed is on", lambda: changed.get_attribute("title"))
    changed.click()
    second = wait_new_run(nb, index, first)
    assert second["parent"] == first
    assert nb.json("view.run_id") == second["id"]
    assert nb.json("ran") == {"load": 1, "clean": 1, "total": 1, "report": 1}  # all reused
    assert nb.hook(index, "tb.reused()") == ["clean", "load", "report", "total"]
    assert nb.json(f"tb.open_run({second['id']!r}, store).status.value") == "done"

    # The parent's id is a link here (a history view shows any run of its store).
    link = view.locator("button.tb-lineage-run")
    poll(link.is_visible, 10, "the parent run's link")
    assert link.inner_text() == first[-8:]
    nb.hook(index, "tb.flush()")
    view.screenshot(path=str(artifacts / "rerun-history.png"))
    link.click()
    poll(lambda: (shown(nb, index) or {}).get("id") == first, 20, "back to the parent run")
    assert nb.json("view.run_id") == first
    assert nb.errors() == [], nb.errors()
