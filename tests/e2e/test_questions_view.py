"""Questions in the live view: a person answers a run's tasks in JupyterLab and on the page.

A notebook written here runs a graph whose tasks ask (``tb.ask``): one
with choices, whose prompt carries HTML that must show as text; one with a
schema, answered through the form; one with free text, left open. In a
real JupyterLab in headless Chromium the view's questions panel shows
them; a click on the waiting node opens its question, a click on a
choice answers it and the run goes on (the time from the click to the
task going on is measured in the kernel); the form is edited, a value the
kernel refuses shows its error and keeps the question open, the right one
is taken; after a reload the open question is still there. Then the
server's web page (a real uvicorn on 127.0.0.1, port 0) answers a
project's question over Socket.IO. Last, a question is answered while
another cell is busy: from the view while the cell sleeps (held until it
ends on ipykernel 7.4) or awaits, and from a subshell console while it
sleeps. Screenshots go to test-artifacts/questions-*.png.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _lab import poll
from test_notebooks import write_notebook
from tests.integration._server import http, registry, running, start, wait_status

import taskbeam as tb
from taskbeam.server import Server

SETUP = """\
import asyncio, time
import taskbeam as tb

resumed = {}

OUTLINE = {
    "type": "object",
    "properties": {
        "subtopics": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "depth": {"type": "integer", "minimum": 1, "maximum": 5},
        "tone": {"enum": ["formal", "casual"]},
        "final": {"type": "boolean"},
    },
    "required": ["subtopics", "depth"],
}

g = tb.Graph("review")


@g.task(label="Approve the plan")
async def plan() -> str:
    choice = await tb.ask(
        "**Approve** this plan? <img src=x onerror=alert(1)>",
        data={"subtopics": ["intro", "method", "results"]},
        choices=["approve", "edit", "abort"],
    )
    resumed["plan"] = time.time()
    return choice


@g.task(deps=["plan"], label="Rewrite the outline")
async def outline(plan: str) -> dict:
    edited = await tb.ask(
        "Rewrite the outline\\n\\n- one subtopic a line\\n- `depth` from 1 to 5",
        data={"subtopics": ["intro", "method"], "depth": 2, "tone": "formal"},
        schema=OUTLINE,
    )
    resumed["outline"] = time.time()
    return edited


@g.task(label="Name the report")
async def title() -> str:
    return await tb.ask("Give the report a *title*")


run = tb.start(g)
run"""

# Where a click lands, on the page's clock (ms since the epoch): the capture phase sees it first.
CLICK_CLOCK = """() => {
  if (window.__tbClicks) return;
  window.__tbClicks = [];
  document.addEventListener('click', (e) => {
    const b = e.target.closest && e.target.closest('.tb-q-choice, .tb-q-submit');
    if (b) window.__tbClicks.push({t: performance.timeOrigin + e.timeStamp, text: b.textContent});
  }, true);
}"""


def node_status(nb: Any, node: str) -> str:
    status: str = nb.json(f"run.snapshot()['nodes'][{node!r}]['status']")
    return status


def last_click(nb: Any) -> float:
    clicks = nb.page.evaluate("window.__tbClicks")
    assert clicks, "no click on an answer button was seen"
    return float(clicks[-1]["t"]) / 1000


def entry(view: Any, node: str) -> Any:
    return view.locator(f".tb-q-entry[data-node-id='{node}']")


@pytest.mark.timeout(240)
def test_questions_are_answered_in_the_view_and_survive_a_reload(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    write_notebook(lab.root, "questions", [SETUP])
    nb = open_notebook("questions")
    dialogs: list[str] = []
    nb.page.on("dialog", lambda d: dialogs.append(d.message))
    index, view = nb.run_all()
    nb.page.evaluate(CLICK_CLOCK)

    # Two questions open at once (plan and title); the panel opens by itself.
    panel = view.locator(".tb-questions")
    poll(panel.is_visible, 20, "the questions panel opens", nb.describe)
    poll(
        lambda: view.locator(".tb-q-entry").count() == 2,
        20,
        "two open questions in the panel",
        lambda: panel.inner_text(),
    )
    badge = view.locator(".tb-q-badge")
    assert badge.is_visible() and "2" in badge.inner_text(), badge.inner_text()
    assert nb.hook(index, "tb.nodeClass('plan')") == "tb-status-waiting"
    nb.hook(index, "tb.flush()")
    assert "?" in nb.hook(index, "tb.drawnText()"), "no '?' badge drawn on the waiting nodes"

    # The prompt is Markdown, never HTML: the <img> shows as text and runs nothing.
    plan = entry(view, "plan")
    prompt = plan.locator(".tb-q-prompt")
    assert prompt.locator("strong").inner_text() == "Approve"
    assert "<img src=x onerror=alert(1)>" in prompt.inner_text()
    assert prompt.locator("img").count() == 0
    assert view.locator("img").count() == 0

    # A click on the waiting node on the canvas opens its question.
    title = entry(view, "title")
    title.locator(".tb-q-title").click()
    poll(lambda: "tb-q-open" in (title.get_attribute("class") or ""), 5, "title's entry opens")
    center = nb.hook(index, "tb.nodeCenter(arg)", "plan")
    assert center is not None, "plan is not drawn"
    nb.page.mouse.click(center["x"], center["y"])
    poll(
        lambda: "tb-q-open" in (plan.get_attribute("class") or ""),
        5,
        "a click on the waiting node opens its question",
        lambda: plan.get_attribute("class"),
    )
    assert '"method"' in plan.locator(".tb-q-data pre").inner_text()
    nb.page.mouse.move(5, 5)  # no tooltip over the graph in the picture
    nb.hook(index, "tb.flush()")
    view.screenshot(path=str(artifacts / "questions-panel.png"))

    # A choice: the run goes on; how long from the click to the task going on.
    plan.locator(".tb-q-choice", has_text="edit").click()
    poll(lambda: node_status(nb, "plan") != "waiting", 10, "plan goes on after the click")
    latency = nb.json("resumed['plan']") - last_click(nb)
    print(f"\nclick-to-resume latency (choice): {latency * 1000:.1f} ms")
    assert 0 <= latency < 5, latency

    # The schema's form, filled from the question's data.
    outline = entry(view, "outline")
    poll(
        lambda: outline.locator("form.tb-q-form").count() == 1,
        20,
        "the outline's form shows",
        lambda: panel.inner_text(),
    )
    outline.locator(".tb-q-title").click()
    form = outline.locator("form.tb-q-form")
    items = form.locator("[data-path='subtopics'] .tb-q-row input")
    assert [items.nth(k).input_value() for k in range(items.count())] == ["intro", "method"]
    depth = form.locator("[data-path='depth'] input")
    assert depth.input_value() == "2"
    assert form.locator("[data-path='tone'] select").input_value() == "0"  # "formal"
    items.nth(1).fill("methods")
    form.locator("[data-path='subtopics'] .tb-q-add").click()
    items.nth(2).fill("results")
    form.locator("[data-path='tone'] select").select_option(label="casual")
    form.locator("[data-path='final'] input[type=checkbox]").check()

    # A depth the schema refuses: a hint at once, the kernel's error on submit; still open.
    depth.fill("9")
    assert "at most 5" in form.locator("[data-path='depth'] .tb-q-hint").inner_text()
    form.locator(".tb-q-submit").click()
    error = outline.locator(".tb-q-body > .tb-q-error")
    poll(error.is_visible, 10, "the kernel's error shows", lambda: outline.inner_text())
    assert "depth" in error.inner_text(), error.inner_text()
    assert node_status(nb, "outline") == "waiting"
    view.screenshot(path=str(artifacts / "questions-form-error.png"))

    depth.fill("3")
    form.locator(".tb-q-submit").click()
    poll(lambda: node_status(nb, "outline") == "done", 10, "outline goes on after the submit")
    form_latency = nb.json("resumed['outline']") - last_click(nb)
    print(f"click-to-resume latency (form): {form_latency * 1000:.1f} ms")
    assert nb.json("run.result('outline')") == {
        "subtopics": ["intro", "methods", "results"],
        "depth": 3,
        "tone": "casual",
        "final": True,
    }
    poll(lambda: outline.count() == 0, 10, "the answered entries leave the panel")
    assert view.locator(".tb-q-entry").count() == 1

    # A reload: the still-open question is there again, read from the kernel.
    nb.save()
    nb.page.reload(wait_until="domcontentloaded")
    nb.wait_kernel_idle(60)
    index = nb.view_index(nb.json("run.id"))
    view = nb.view(index)
    title = entry(view, "title")
    poll(lambda: title.count() == 1, 20, "the open question is there after a reload")
    poll(
        lambda: "title" in title.locator(".tb-q-prompt").inner_text(),
        10,
        "its prompt",
    )
    assert title.locator(".tb-q-prompt em").inner_text() == "title"
    area = title.locator("textarea.tb-q-text")
    area.fill("Tides, in short")
    view.screenshot(path=str(artifacts / "questions-reloaded.png"))
    title.locator(".tb-q-submit").click()
    poll(lambda: nb.json("str(run.status)") == "done", 15, "the run ends once all are answered")
    assert nb.json("run.results") == {
        "plan": "edit",
        "outline": {
            "subtopics": ["intro", "methods", "results"],
            "depth": 3,
            "tone": "casual",
            "final": True,
        },
        "title": "Tides, in short",
    }
    poll(lambda: view.locator(".tb-q-badge").is_hidden(), 10, "the badge goes with the questions")
    assert dialogs == [], f"the prompt ran script: {dialogs}"
    assert nb.errors() == [], nb.errors()
    page_errors = [c for c in nb.console if c.startswith("pageerror")]
    assert page_errors == [], page_errors


# --- the server's page ---------------------------------------------------------------


# When each node of ``asking`` went on after its answer (time.time()), by node id: the
# service runs in this process, so this is the kernel's side of the click.
RESUMED: dict[str, float] = {}


def asking(n: int = 1) -> tb.Graph:
    """``n`` nodes one after another, each asking for a choice."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 50:
        raise ValueError("n must be an integer from 1 to 50")

    async def ask(i: int, **_: Any) -> str:
        choice = await tb.ask(f"Go on with step {i}?", choices=["yes", "no"])
        RESUMED[f"step{i}"] = time.time()
        return str(choice)

    g = tb.Graph("asking")
    for i in range(n):
        g.add(f"step{i}", ask, kwargs={"i": i}, deps=[f"step{i - 1}"] if i else [])
    return g


@pytest.fixture
def server() -> Iterator[Server]:
    with running(registry=registry({"asking": asking})) as (srv, _):
        yield srv


@pytest.mark.timeout(120)
def test_the_server_page_answers_a_question(browser: Any, server: Server, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 1360, "height": 820})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    api = http(server)
    try:
        RESUMED.clear()
        project = start(api, "asking", n=3)
        page.goto(f"{server.link}#project={project}")
        page.evaluate(CLICK_CLOCK)
        view = page.locator(".tbp-view .taskbeam-view")
        latencies = []
        for i in range(3):
            step = view.locator(f".tb-q-entry[data-node-id='step{i}']")
            poll(lambda step=step: step.count() == 1, 20, f"step{i}'s question on the page")
            if i == 0:
                assert "Go on with step 0?" in step.inner_text()
                page.screenshot(path=str(artifacts / "questions-server-page.png"))
            step.locator(".tb-q-choice", has_text="yes").click()

            at = poll(lambda i=i: RESUMED.get(f"step{i}"), 10, f"step{i} goes on after the click")
            clicks = page.evaluate("window.__tbClicks")
            latencies.append(at - clicks[-1]["t"] / 1000)
        wait_status(api, project, {"done"})
        print(
            "\nclick-to-resume latency on the server page: "
            + ", ".join(f"{x * 1000:.1f}" for x in latencies)
            + f" ms (median {statistics.median(latencies) * 1000:.1f} ms)"
        )
        assert all(0 <= x < 5 for x in latencies), latencies
        poll(lambda: view.locator(".tb-q-badge").is_hidden(), 10, "no question left on the page")
        assert errors == [], errors
    finally:
        api.close()
        context.close()


# --- a stored run ------------------------------------------------------------------------

STORED = """\
import time
import taskbeam as tb

store = tb.SQLiteStore("stored-questions.db")
g = tb.Graph("stored")


@g.task
async def gate() -> str:
    return await tb.ask("Ship **it**?", choices=["yes", "no"], data={"build": 7})


run = tb.start(g, store=store, save_policy=tb.SavePolicy(watched=0.05, unwatched=0.05))
for _ in range(400):  # until the store holds the waiting node (at most 20 s)
    if tb.open_run(run.id, store).snapshot()["nodes"]["gate"]["status"] == "waiting":
        break
    time.sleep(0.05)
tb.open_run(run.id, store)"""


@pytest.mark.timeout(120)
def test_a_stored_runs_questions_show_but_take_no_answer(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    write_notebook(lab.root, "stored-questions", [STORED])
    nb = open_notebook("stored-questions")
    _, view = nb.run_all()
    gate = entry(view, "gate")
    poll(lambda: gate.count() == 1, 20, "the stored run's question in its panel", nb.describe)
    assert "Ship it?" in gate.locator(".tb-q-prompt").inner_text()
    choices = gate.locator(".tb-q-choice")
    assert choices.count() == 2
    assert all(choices.nth(k).is_disabled() for k in range(2)), "a stored run took a click"
    note = gate.locator(".tb-q-status")
    assert "stored run" in note.inner_text(), note.inner_text()
    view.screenshot(path=str(artifacts / "questions-stored.png"))
    # The live run still takes its answer; the stored view was only a picture.
    nb.execute("run.answer(run.questions()[0].id, 'yes'); run.wait(10)")
    assert nb.json("run.result('gate')") == "yes"
    assert nb.errors() == [], nb.errors()


# --- a busy cell ---------------------------------------------------------------------------

BUSY = """\
import asyncio, time
import taskbeam as tb

when = {}
g = tb.Graph("busy-question")


@g.task
async def gate() -> str:
    choice = await tb.ask("Go on?", choices=["yes", "no"])
    when["answered"] = time.time()
    return choice


run = tb.start(g)
run"""


def _ipykernel() -> tuple[int, ...]:
    import ipykernel

    return tuple(int(p) for p in ipykernel.__version__.split(".")[:2] if p.isdigit())


def _answer_while_busy(open_notebook: Any, lab: Any, name: str, busy: str) -> None:
    """Click a choice while the second cell runs ``busy`` for 12 s: answered before it ends."""
    cell = f"when['busy_from'] = time.time()\n{busy}\nwhen['busy_to'] = time.time()"
    write_notebook(lab.root, name, [BUSY, cell])
    nb = open_notebook(name)
    nb.run("notebook:run-all-cells")
    view = nb.page.locator(".taskbeam-view").first
    gate = entry(view, "gate")
    poll(lambda: gate.count() == 1, 30, "the question in the panel", nb.describe)
    gate.locator(".tb-q-choice", has_text="yes").click()
    clicked = time.time()
    nb.wait_cells_done(None, 60)
    when = nb.json("when")
    print(
        f"\nclicked {clicked - when['busy_from']:.2f} s into the busy cell; answered "
        f"{when['answered'] - when['busy_from']:.2f} s in; the cell ended at "
        f"{when['busy_to'] - when['busy_from']:.2f} s"
    )
    assert nb.json("run.result('gate')") == "yes"
    assert when["busy_from"] < clicked < when["busy_to"], "the click came outside the busy cell"
    assert when["answered"] < when["busy_to"], "the answer waited for the busy cell to end"


# ipykernel 7.3 handles the view's comm messages on JupyterLab's comm subshell while a
# cell blocks the main thread. 7.4 routes a comm's messages to the shell its kernel side
# last sent from (Kernel.shell_channel_thread_main, Comm._reply_subshell_for): the main
# shell for a view opened in a cell, so they wait until the cell ends (measured: answered
# 12.01 s into a 12 s cell). See docs/questions.md, "Answering while a cell runs".
@pytest.mark.xfail(
    _ipykernel() >= (7, 4),
    reason="ipykernel 7.4 delivers a view's messages only after a blocking cell ends",
    strict=True,
)
@pytest.mark.timeout(120)
def test_a_question_answered_while_a_cell_is_busy(lab: Any, open_notebook: Any) -> None:
    _answer_while_busy(open_notebook, lab, "busy-question", "time.sleep(12)")


# A cell that awaits leaves the main shell's event loop free: 7.4 handles comm messages
# there while the cell waits, 7.3 on the comm subshell.
@pytest.mark.timeout(120)
def test_a_question_answered_while_a_cell_awaits(lab: Any, open_notebook: Any) -> None:
    _answer_while_busy(open_notebook, lab, "await-question", "await asyncio.sleep(12)")


# A console on its own subshell (JupyterLab's "New Subshell Console for Notebook") runs
# beside a cell that blocks, on 7.3 and 7.4 alike: execute requests go to the subshell
# their header names. It must be open before the cell starts (it waits for the kernel's
# info, which the main shell sends).
@pytest.mark.timeout(150)
def test_a_question_answered_from_a_subshell_console_while_a_cell_is_busy(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    cell = "when['busy_from'] = time.time()\ntime.sleep(12)\nwhen['busy_to'] = time.time()"
    write_notebook(lab.root, "console-question", [BUSY, cell])
    nb = open_notebook("console-question")
    nb.page.evaluate(
        "() => { window.jupyterapp.commands.execute('notebook:create-subshell-console'); }"
    )
    banner = nb.page.locator(".jp-CodeConsole-banner", has_text="IPython")
    poll(lambda: banner.count() == 1, 30, "the subshell console", nb.describe)
    nb.page.locator(".jp-Notebook .jp-Cell").first.click()
    nb.run("notebook:run-all-cells")
    gate = entry(nb.page.locator(".taskbeam-view").first, "gate")
    poll(lambda: gate.count() == 1, 30, "the question in the panel", nb.describe)
    nb.page.locator(".jp-CodeConsole-promptCell .cm-content").click()
    nb.page.keyboard.type("run.answer(run.questions()[0].id, 'yes')")
    nb.page.keyboard.press("Shift+Enter")
    typed = time.time()
    nb.wait_cells_done(None, 60)
    nb.page.screenshot(path=str(artifacts / "questions-subshell-console.png"))
    when = nb.json("when")
    print(
        f"\nanswered in the console {typed - when['busy_from']:.2f} s into the busy cell; "
        f"the task went on {when['answered'] - when['busy_from']:.2f} s in; the cell ended at "
        f"{when['busy_to'] - when['busy_from']:.2f} s"
    )
    assert nb.json("run.result('gate')") == "yes"
    assert when["busy_from"] < typed < when["busy_to"], "the answer came outside the busy cell"
    assert when["answered"] < when["busy_to"], "the answer waited for the busy cell to end"
