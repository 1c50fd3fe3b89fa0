"""History mode in JupyterLab: the run list of a store, stored runs frozen, Continue.

A notebook written here stores three runs in a new SQLite store, after 25
small ones (a second page): one done, one failed, and one interrupted (a
subprocess started it and was killed with SIGKILL mid-run). It displays
``tb.GraphView(store, graphs=...)``; in headless Chromium the test reads
the list (newest first, each status in its colour, ``interrupted``
included, in the light and the dark theme), filters it, reads its second
page, opens the failed run (frozen: no controls, the stored colours
of every node), goes back, opens the interrupted one and clicks Continue:
the view turns live and the run reaches ``done`` without running again
the nodes the killed process finished. Screenshots go to
test-artifacts/history-*.png.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from test_notebooks import assert_view_matches_kernel, write_notebook

GRAPHS = '''"""Graphs of the history notebook (imported by it and by the process it kills)."""
import sys
import time

import taskbeam as tb

EXTRA = 25


def quick(i, **upstream):
    return i * 2


def boom(**upstream):
    raise ValueError("the source is down")


def step(i, effects, **upstream):
    with open(effects, "a") as f:
        f.write(f"{i}\\n")
    time.sleep(0.35)
    return i


def report():
    g = tb.Graph("report")
    g.add("load", quick, kwargs={"i": 1})
    g.add("clean", quick, deps=["load"], kwargs={"i": 2})
    g.add("plot", quick, deps=["clean"], kwargs={"i": 3})
    g.add("summary", quick, deps=["clean"], kwargs={"i": 4})
    return g


def shaky():
    g = tb.Graph("shaky")
    g.add("fetch", quick, kwargs={"i": 1})
    g.add("parse", boom, deps=["fetch"])
    g.add("save", quick, deps=["parse"], kwargs={"i": 3})
    return g


def crawl(effects):
    g = tb.Graph("crawl")
    g.add("seed", step, kwargs={"i": "seed", "effects": effects})
    for k in range(6):
        g.add(f"page{k}", step, deps=["seed"], kwargs={"i": f"page{k}", "effects": effects})
    pages = [f"page{k}" for k in range(6)]
    g.add("merge", step, deps=pages, kwargs={"i": "merge", "effects": effects})
    return g


def finished(db):
    store = tb.SQLiteStore(db)
    for k in range(EXTRA):  # the oldest runs: a second page of the list
        g = tb.Graph("batch")
        g.add("only", quick, kwargs={"i": k})
        tb.start(g, store=store).wait()
    time.sleep(0.05)
    tb.start(report(), store=store).wait()
    time.sleep(0.05)  # newest first: the runs' creation times differ
    tb.start(shaky(), store=store).wait()
    store.close()


def main(db, effects):
    store = tb.SQLiteStore(db)
    policy = tb.SavePolicy(watched=0.02, unwatched=0.02)
    run = tb.start(crawl(effects), store=store, max_concurrency=2, save_policy=policy)
    print("started", flush=True)
    run.wait()
'''

SETUP = """\
import pathlib, signal, subprocess, sys, tempfile, time
import taskbeam as tb
import hist_graphs

folder = pathlib.Path(tempfile.mkdtemp())
db, effects = folder / "runs.db", str(folder / "effects.txt")
# Runs stored by other processes: a done one, a failed one, and a crawl killed
# with SIGKILL once 3 of its nodes are done.
code = "import sys, hist_graphs; hist_graphs.finished(sys.argv[1])"
subprocess.run([sys.executable, "-c", code, str(db)], check=True, timeout=60)
store = tb.SQLiteStore(db)
done_id = store.history(name="report")["runs"][0]["id"]
failed_id = store.history(name="shaky")["runs"][0]["id"]
code = "import sys, hist_graphs; hist_graphs.main(sys.argv[1], sys.argv[2])"
proc = subprocess.Popen([sys.executable, "-c", code, str(db), effects], stdout=subprocess.PIPE)
assert proc.stdout.readline() == b"started\\n"
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    listed = store.history(name="crawl")["runs"]
    if listed and listed[0]["counts"].get("done", 0) >= 3:
        break
    time.sleep(0.05)
proc.send_signal(signal.SIGKILL)
proc.wait()
crawl_id = store.history(name="crawl")["runs"][0]["id"]
assert tb.open_run(crawl_id, store).status == "interrupted"
"""

HELPERS = """\
from taskbeam.engine._run import live_run

class Shown:
    '''What the view shows of a run: stored (frozen) or, once continued, live.'''
    def __init__(self, run_id, graph=None):
        self.run_id, self.graph = run_id, graph
    def snapshot(self):
        try:
            return live_run(self.run_id).snapshot()
        except KeyError:
            snap = tb.open_run(self.run_id, store, graph=self.graph).snapshot()
            snap["run"]["stored"] = True
            return snap

shown_failed = Shown(failed_id)
shown_crawl = Shown(crawl_id, hist_graphs.crawl(effects))
"""

VIEW = """\
view = tb.GraphView(store, graphs={"crawl": hist_graphs.crawl(effects)})
view
"""

# Colours of the interrupted status (style.css): light theme, dark theme.
INTERRUPTED_LIGHT = "#a16207"
INTERRUPTED_DARK = "#d4a72c"


# The colour of the dot of the run's status pill in the toolbar.
TITLE_DOT = "getComputedStyle(root.querySelector('.tb-title .tb-pill'), '::before').backgroundColor"


def rows(nb: Any, index: int) -> list[dict[str, str]]:
    return nb.hook(
        index,
        """Array.from(root.querySelectorAll('.tb-history-row')).map(r => ({
          id: r.dataset.id, status: r.dataset.status,
          name: r.querySelector('.tb-history-run').textContent,
          color: getComputedStyle(r.querySelector('.tb-pill'))
            .getPropertyValue('--tb-color').trim(),
          dot: getComputedStyle(r.querySelector('.tb-pill'), '::before').backgroundColor,
        }))""",
    )


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def open_row(nb: Any, index: int, run_id: str) -> float:
    """Click the run's row; seconds until the view shows that run."""
    view = nb.page.locator(".taskbeam-view").nth(index)
    began = time.monotonic()
    view.locator(f'.tb-history-row[data-id="{run_id}"]').click()
    nb.poll(
        lambda: nb.hook(index, "tb.page() === 'run' && tb.state() && tb.state().run.id") == run_id,
        20,
        f"the view shows run {run_id}",
        lambda: nb.hook(index, "[tb.page(), tb.state() && tb.state().run]"),
        interval=0.02,
    )
    return time.monotonic() - began


def toolbar(nb: Any, index: int) -> dict[str, Any]:
    return nb.hook(
        index,
        """(() => {
          const q = (s) => root.querySelector(s);
          const visible = (s) => !!q(s) && q(s).offsetParent !== null;
          return {frozen: visible('.tb-frozen'), continue: visible('.tb-continue'),
                  back: visible('.tb-back'), pause: visible('.tb-toolbar [aria-label=Pause]'),
                  cancel: visible('.tb-toolbar [aria-label=Cancel]'),
                  pill: q('.tb-title .tb-pill').className,
                  status: q('.tb-title .tb-pill').textContent};
        })()""",
    )


@pytest.mark.timeout(150)
def test_the_history_lists_opens_and_continues_stored_runs(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    (lab.root / "hist_graphs.py").write_text(GRAPHS)
    write_notebook(lab.root, "history", [SETUP, HELPERS, VIEW])
    nb = open_notebook("history")
    nb.run("notebook:run-all-cells")
    nb.wait_cells_done(None, 90)
    done_id, failed_id, crawl_id = nb.json("[done_id, failed_id, crawl_id]")
    index = nb.poll(
        lambda: [v["index"] for v in nb.views() if v["hook"]],
        30,
        "the history view renders",
        nb.describe,
    )[0]
    view = nb.page.locator(".taskbeam-view").nth(index)
    view.scroll_into_view_if_needed()

    # The list: the stored runs, newest first, a page of 25, each status in its colour.
    nb.poll(lambda: len(rows(nb, index)) == 25, 20, "a page listed", lambda: rows(nb, index))
    listed = rows(nb, index)[:3]
    assert [r["id"] for r in listed] == [crawl_id, failed_id, done_id], listed
    assert [r["status"] for r in listed] == ["interrupted", "failed", "done"], listed
    assert [r["name"] for r in listed] == ["crawl", "shaky", "report"], listed
    assert {r["name"] for r in rows(nb, index)[3:]} == {"batch"}
    assert listed[0]["color"] == INTERRUPTED_LIGHT and listed[0]["dot"] == rgb(INTERRUPTED_LIGHT)
    assert len({r["dot"] for r in listed}) == 3, f"three statuses, three colours: {listed}"
    assert nb.hook(index, "tb.page()") == "list"
    nb.page.wait_for_timeout(300)  # let the first frame settle for the picture
    view.screenshot(path=str(artifacts / "history-list.png"))

    # Filters: by a part of the name, by status (each a new query of the store).
    view.locator(".tb-history-name").fill("SHA")
    nb.poll(lambda: [r["id"] for r in rows(nb, index)] == [failed_id], 10, "the name filter")
    view.locator(".tb-history-name").fill("")
    view.locator(".tb-history-status").select_option("interrupted")
    nb.poll(lambda: [r["id"] for r in rows(nb, index)] == [crawl_id], 10, "the status filter")
    view.locator(".tb-history-status").select_option("")
    nb.poll(lambda: len(rows(nb, index)) == 25, 10, "no filter: the first page again")
    # More: the next page, after the last row shown; then no more.
    more = view.locator(".tb-history-more")
    assert more.inner_text() == "More (25 of 28)"
    more.click()
    nb.poll(lambda: len(rows(nb, index)) == 28, 10, "the second page", lambda: rows(nb, index))
    assert len({r["id"] for r in rows(nb, index)}) == 28
    assert not more.is_visible()
    assert nb.hook(index, "tb.history().total") == 28

    # The failed run, frozen: the stored colours of every node, no controls, Continue offered.
    timings = {"open failed run": open_row(nb, index, failed_id)}
    assert nb.json("view.run_id") == failed_id
    snap = assert_view_matches_kernel(nb, index, "shown_failed")
    assert snap["nodes"]["parse"]["status"] == "failed", snap
    assert snap["nodes"]["save"]["status"] == "skipped", snap
    bar = toolbar(nb, index)
    assert bar["frozen"] and bar["back"] and not bar["pause"] and not bar["cancel"], bar
    assert bar["continue"] and "tb-status-failed" in bar["pill"], bar
    # Continue with no graph for "shaky": the answer's error shows, the run stays stored.
    view.locator(".tb-continue").click()
    notice = view.locator(".tb-statusline")
    nb.poll(
        lambda: notice.is_visible() and "continue:" in notice.inner_text(),
        15,
        "the continue error in the notice",
        lambda: notice.inner_text(),
    )
    assert "graph" in notice.inner_text(), notice.inner_text()
    assert toolbar(nb, index)["frozen"]
    view.locator(".tb-statusline-close").click()
    # Details still work on a stored run.
    nb.hook(index, "tb.select('parse')")
    details = view.locator(".tb-details")
    nb.poll(lambda: "the source is down" in details.inner_text(), 10, "the failed node's details")
    nb.hook(index, "tb.select(null)")

    # Back to the list, then the interrupted run.
    view.locator(".tb-back").click()
    nb.poll(lambda: nb.hook(index, "tb.page()") == "list", 10, "back on the list")
    assert nb.json("view.run_id") == ""
    timings["open interrupted run"] = open_row(nb, index, crawl_id)
    snap = assert_view_matches_kernel(nb, index, "shown_crawl")
    stored = Counter(n["status"] for n in snap["nodes"].values())
    assert stored["done"] >= 3 and stored["done"] < len(snap["nodes"]), stored
    bar = toolbar(nb, index)
    assert bar["status"] == "interrupted" and "tb-status-interrupted" in bar["pill"], bar
    assert bar["frozen"] and bar["continue"] and not bar["pause"], bar
    done_before = {i for i, n in snap["nodes"].items() if n["status"] == "done"}
    before = Counter(nb.execute("print(open(effects).read())").split())
    nb.hook(index, "tb.flush()")
    view.screenshot(path=str(artifacts / "history-interrupted.png"))

    # The dark theme: the interrupted colour there.
    nb.page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    nb.poll(
        lambda: nb.hook(index, TITLE_DOT) == rgb(INTERRUPTED_DARK),
        20,
        "the dark theme's interrupted colour",
    )
    nb.page.wait_for_timeout(500)
    nb.hook(index, "tb.flush()")
    view.screenshot(path=str(artifacts / "history-interrupted-dark.png"))
    nb.page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
    )
    nb.poll(
        lambda: nb.hook(index, TITLE_DOT) == rgb(INTERRUPTED_LIGHT),
        20,
        "the light theme again",
    )

    # Continue: the view turns live and the run reaches done.
    began = time.monotonic()
    view.locator(".tb-continue").click()
    nb.poll(
        lambda: nb.hook(index, "!(tb.state() && tb.state().run.stored)"),
        20,
        "the view turns live",
        interval=0.02,
    )
    timings["continue to live view"] = time.monotonic() - began
    nb.poll(
        lambda: nb.hook(index, "root.getAttribute('data-run-status')") == "done",
        60,
        "the continued run is done",
        lambda: nb.hook(index, "tb.state() && tb.state().run"),
    )
    snap = assert_view_matches_kernel(nb, index, "shown_crawl")
    assert set(Counter(n["status"] for n in snap["nodes"].values())) == {"done"}, snap
    assert "stored" not in snap["run"]
    bar = toolbar(nb, index)
    assert not bar["frozen"] and not bar["continue"] and bar["pause"], bar
    after = Counter(nb.execute("print(open(effects).read())").split())
    rerun = sorted(i for i in done_before if after[i] != before[i])
    assert rerun == [], f"continuing ran done nodes again: {rerun}"
    assert nb.json("tb.open_run(crawl_id, store).status.value") == "done"
    nb.hook(index, "tb.flush()")
    view.screenshot(path=str(artifacts / "history-continued.png"))

    # The list follows: the crawl is done now.
    began = time.monotonic()
    view.locator(".tb-back").click()
    nb.poll(
        lambda: [r["status"] for r in rows(nb, index)][:3] == ["done", "failed", "done"],
        15,
        "the list shows the continued run done",
        lambda: rows(nb, index),
        interval=0.02,
    )
    timings["back to an up-to-date list"] = time.monotonic() - began
    (artifacts / "history-timings.json").write_text(
        json.dumps({k: round(v, 3) for k, v in timings.items()}, indent=1)
    )
    # A run id the store does not have (set from Python): the view says so, and goes back.
    nb.execute("view.run_id = 'nowhere-00000000'")
    empty = view.locator(".tb-empty")
    nb.poll(
        lambda: "may not be in this store" in empty.inner_text(),
        15,
        "the view says the run did not come",
        lambda: empty.inner_text(),
    )
    nb.execute("view.run_id = ''")
    nb.poll(lambda: nb.hook(index, "tb.page()") == "list", 10, "the list again")
    assert nb.errors() == []
    problems = [line for line in nb.console if "pageerror" in line]
    assert problems == [], problems
