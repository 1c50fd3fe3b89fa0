"""The notebooks, run in a real JupyterLab in headless Chromium, and their live views.

Each notebook of ``notebooks/`` runs to the end without an error, and the
first view of its main run (the variable ``run``) ends up showing exactly
what the kernel says: its state, counts, legend and the colour of every
node. The quickstart's first run is also paused and resumed from its view,
its nodes clicked, and the page reloaded; the service notebook's view
switches runs. A notebook written here runs a fast graph in many views, which
stay under Jupyter's IOPub rate limit, and cancels a run from its view.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

# The Jupyter server drops IOPub messages above 1,000 a second averaged over 3 s.
IOPUB_LIMIT = 1000
# The views of one kernel share a budget of frames a second (Broadcaster(comm_fps=200)).
# It is set in the kernel, so it is measured there: what the browser counts in one
# second also depends on how the kernel's IOPub thread and the websocket bunch messages.
COMM_BUDGET = 200
# In the kernel: the shared broadcaster's counters sampled every 50 ms into
# _tb_frames, for 90 s at most, as (monotonic time before the read, after it,
# batches sent so far).
FRAME_SAMPLER = """\
import threading as _th, time as _t
import taskbeam as _tb
_tb_frames = []
def _tb_sample():
    b, end = _tb.Broadcaster.shared(), _t.monotonic() + 90
    while _t.monotonic() < end:
        before = _t.monotonic()
        s = b.stats()
        _tb_frames.append((before, _t.monotonic(), s.frames_out - s.snapshots_out))
        _t.sleep(0.05)
_th.Thread(target=_tb_sample, daemon=True).start()
print(len(_tb_frames) >= 0)"""


def kernel_frame_peak(samples: list[tuple[float, float, int]]) -> tuple[float, int, float]:
    """The most batches the kernel sent between two samples at least 1 s apart:
    ``(the longest the batches between them can have taken, their number, the start)``.

    A count is read somewhere between its sample's two times, so the batches
    between samples i and j went out within ``after_j - before_i`` seconds.
    """
    best = (1.0, 0, 0.0)
    j = 0
    for i, (before, _, count) in enumerate(samples):
        j = max(j, i)
        while j < len(samples) and samples[j][0] - samples[i][1] < 1.0:
            j += 1
        if j == len(samples):
            break
        sent = samples[j][2] - count
        if sent > best[1]:
            best = (samples[j][1] - before, sent, before)
    return best


ENDED = ("done", "failed", "cancelled")
# Statuses of nodes that have not started.
NOT_STARTED = frozenset({"pending", "ready"})
RATE_LIMIT_TEXT = "IOPub message rate exceeded"


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {status: n for status, n in counts.items() if n}


def json_differences(page: Any, kernel: Any, path: str = "") -> list[str]:
    """Paths where two JSON values differ, with both values."""
    if isinstance(page, dict) and isinstance(kernel, dict):
        out = []
        for key in sorted(set(page) | set(kernel)):
            if key not in page:
                out.append(f"{path}/{key}: missing on the page (kernel {kernel[key]!r:.80})")
            elif key not in kernel:
                out.append(f"{path}/{key}: {page[key]!r:.80} on the page, not in the kernel")
            else:
                out += json_differences(page[key], kernel[key], f"{path}/{key}")
        return out
    if page != kernel:
        return [f"{path}: page {page!r:.80} != kernel {kernel!r:.80}"]
    return []


def view_differences(nb: Any, index: int, snapshot: dict[str, Any]) -> list[str]:
    """How the view at ``index`` differs from the kernel's ``snapshot`` (empty: it agrees)."""
    seen = nb.hook(
        index,
        """{
          state: tb.state(),
          counts: tb.counts(),
          classes: tb.nodeClasses(),
          runStatus: root.getAttribute('data-run-status'),
          seq: root.getAttribute('data-seq'),
          painted: tb.paints.length ? tb.paints[tb.paints.length - 1].seq : null,
          legend: Array.from(root.querySelectorAll('[data-status][data-count]')).map(e => ({
            status: e.getAttribute('data-status'),
            count: e.getAttribute('data-count'),
            coloured: e.classList.contains('tb-status-' + e.getAttribute('data-status')),
          })),
        }""",
    )
    want_counts = nonzero(snapshot["run"]["counts"])
    diffs = []
    if nonzero(seen["counts"]) != want_counts:
        diffs.append(f"counts(): page {nonzero(seen['counts'])} != kernel {want_counts}")
    if seen["runStatus"] != snapshot["run"]["status"]:
        diffs.append(
            f"data-run-status: page {seen['runStatus']!r} != kernel {snapshot['run']['status']!r}"
        )
    legend = {item["status"]: item for item in seen["legend"]}
    for status, n in want_counts.items():
        if status not in legend:
            diffs.append(f"legend: no item for {status!r} ({n} nodes)")
    for status, item in legend.items():
        want = str(snapshot["run"]["counts"].get(status, 0))
        if item["count"] != want:
            diffs.append(f"legend {status!r}: data-count {item['count']} != kernel {want}")
        if not item["coloured"]:
            diffs.append(f"legend {status!r}: item lacks the class tb-status-{status}")
    want_classes = {i: f"tb-status-{node['status']}" for i, node in snapshot["nodes"].items()}
    classes = seen["classes"]
    if classes != want_classes:
        wrong = sorted(i for i in want_classes if classes.get(i) != want_classes[i])
        extra = sorted(set(classes) - set(want_classes))
        shown = ", ".join(
            f"{i}: page {classes.get(i)} != kernel {want_classes[i]}" for i in wrong[:8]
        )
        diffs.append(
            f"nodeClasses(): {len(wrong)} of {len(want_classes)} nodes differ ({shown})"
            + (f"; unknown to the kernel: {extra[:8]}" if extra else "")
        )
    if seen["state"] is None:
        diffs.append("state(): null")
    else:
        found = json_differences(seen["state"], snapshot)
        if found:
            diffs.append(f"state() differs from run.snapshot() at {len(found)} paths: {found[:6]}")
    if seen["painted"] is None or str(seen["painted"]) != seen["seq"]:
        diffs.append(f"the canvas last drew seq {seen['painted']}, the view is at {seen['seq']}")
    return diffs


def wait_run_ended(nb: Any, variable: str = "run", timeout: float = 60) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        snap: dict[str, Any] = nb.snapshot(variable)
        return snap if snap["run"]["status"] in ENDED else None

    return nb.poll(ended, timeout, f"{variable} of {nb.path} ended", nb.describe, interval=0.5)


def assert_view_matches_kernel(
    nb: Any, index: int, variable: str = "run", timeout: float = 20
) -> dict[str, Any]:
    """Poll until the view agrees with the kernel's snapshot of ``variable``; return it."""
    last: dict[str, Any] = {}

    def agrees() -> bool:
        last["snapshot"] = nb.snapshot(variable)
        last["diffs"] = view_differences(nb, index, last["snapshot"])
        return not last["diffs"]

    nb.poll(
        agrees,
        timeout,
        f"the view of {variable} on {nb.path} shows the kernel's state",
        lambda: "\n".join(last.get("diffs", [])),
        interval=0.5,
    )
    return last["snapshot"]


def screenshots(nb: Any, index: int, artifacts: Path, label: str) -> None:
    view = nb.page.locator(".taskbeam-view").nth(index)
    view.scroll_into_view_if_needed()
    view.screenshot(path=str(artifacts / f"{label}-widget.png"))
    nb.page.screenshot(path=str(artifacts / f"{label}-page.png"))


def check_traffic(nb: Any, artifacts: Path) -> None:
    (artifacts / f"{nb.name}-iopub.json").write_text(
        json.dumps({t: dict(sorted(c.items())) for t, c in nb.traffic.per_second.items()}, indent=1)
    )
    limited = nb.traffic.window_peak("rate-limited")
    assert limited < IOPUB_LIMIT, (
        f"{nb.path}: {limited:.0f} IOPub messages a second over 3 s, above Jupyter's "
        f"limit of {IOPUB_LIMIT} (per second: {nb.traffic.summary('*limited')})"
    )
    assert RATE_LIMIT_TEXT not in nb.page.inner_text("body"), (
        f"{nb.path}: the page shows '{RATE_LIMIT_TEXT}'"
    )


def check_kernel(nb: Any) -> None:
    """The notebook's kernel is the venv's Python, with this checkout's taskbeam."""
    seen = nb.json(
        "{'prefix': __import__('sys').prefix, 'taskbeam': __import__('taskbeam').__file__}"
    )
    assert seen["prefix"] == sys.prefix, f"the kernel runs {seen['prefix']}, not {sys.prefix}"
    src = Path(__file__).resolve().parents[2] / "src"
    assert Path(seen["taskbeam"]).resolve().is_relative_to(src), (
        f"the kernel imports taskbeam from {seen['taskbeam']}, not from {src}"
    )


def run_notebook_and_check_view(nb: Any, artifacts: Path) -> dict[str, Any]:
    nb.clear_outputs()
    nb.run("notebook:run-all-cells")
    nb.wait_cells_done(None, 90)
    snapshot = wait_run_ended(nb)
    index = nb.view_index(snapshot["run"]["id"])
    snapshot = assert_view_matches_kernel(nb, index)
    screenshots(nb, index, artifacts, nb.name)
    assert nb.errors() == [], f"{nb.path} shows errors: {nb.errors()}"
    check_traffic(nb, artifacts)
    return snapshot


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    "name",
    [
        "02-recursive-research-agent",
        "03-errors-retries-timeouts",
        "05-scale-out",
        "06-human-in-the-loop",
        "07-agent-usage",
        "09-dask-collections",
    ],
)
def test_a_notebook_runs_and_its_view_shows_the_kernels_state(
    open_notebook: Any, artifacts: Path, name: str
) -> None:
    nb = open_notebook(name)
    check_kernel(nb)
    run_notebook_and_check_view(nb, artifacts)


# The kernel's run of an id, whichever variable holds it.
LIVE_RUN = "__import__('taskbeam.engine._run', fromlist=['live_run']).live_run"


def live_run(run_id: str) -> str:
    """An expression for the run ``run_id`` in the kernel."""
    return f"{LIVE_RUN}({run_id!r})"


# The latest run of each project of the notebook's ExecutionService: {id: status}.
SERVICE_RUNS = (
    "{r.id: str(r.status) for svc in [v for v in list(globals().values()) "
    "if isinstance(v, __import__('taskbeam').ExecutionService)][:1] "
    "for r in svc.list().values()}"
)


@pytest.mark.timeout(150)
def test_the_service_notebook_runs_and_its_view_switches_between_runs(
    open_notebook: Any, artifacts: Path
) -> None:
    nb = open_notebook("04-many-runs-one-service")
    check_kernel(nb)
    snapshot = run_notebook_and_check_view(nb, artifacts)
    index = nb.view_index(snapshot["run"]["id"])
    view = nb.page.locator(".taskbeam-view").nth(index)
    selector = view.locator("select")
    assert selector.count() == 1, f"the service view has {selector.count()} run selectors"
    shown: dict[str, Any] = {}

    def lists_live_runs() -> bool:
        options = selector.locator("option").evaluate_all(
            "os => os.map(o => [o.value, o.textContent])"
        )
        statuses = nb.json(SERVICE_RUNS)
        shown["options"], shown["kernel"] = options, statuses
        return [value for value, _ in options] == list(statuses) and all(
            text.endswith(statuses[value]) for value, text in options
        )

    nb.poll(
        lists_live_runs,
        15,
        "the service view lists the service's runs (svc.list()) in order, with their status",
        lambda: f"options (id, text): {shown.get('options')}\nkernel: {shown.get('kernel')}",
        interval=0.5,
    )
    assert snapshot["run"]["id"] in shown["kernel"], "the service's runs do not include `run`"
    other = next(value for value, _ in shown["options"] if value != snapshot["run"]["id"])
    selector.select_option(other)
    nb.poll(
        lambda: nb.hook(index, "tb.state() && tb.state().run.id") == other,
        10,
        f"the service view switches to {other} when it is chosen",
        lambda: nb.hook(index, "tb.state() && tb.state().run.id"),
    )
    assert_view_matches_kernel(nb, index, live_run(other))
    screenshots(nb, index, artifacts, "04-many-runs-one-service-switched")


# --- the quickstart, driven from its view ----------------------------------------------------


def find_split(cells: list[dict[str, Any]]) -> int:
    """Index of the first cell that awaits ``run`` after the cell that starts it."""
    start = next((c["index"] for c in cells if re.search(r"^run\s*=", c["source"], re.M)), None)
    assert start is not None, "01-quickstart binds no `run = ...`"
    wait = next(
        (
            c["index"]
            for c in cells
            if c["index"] > start and re.search(r"\bawait\s+run\b|\brun\.wait\(", c["source"])
        ),
        None,
    )
    assert wait is not None, "01-quickstart never awaits its first run in a later cell"
    return int(wait)


def click_control(nb: Any, index: int, label: str) -> None:
    """Click the view's button ``label``: by its text or aria-label, else its title's start."""
    buttons = nb.page.locator(".taskbeam-view").nth(index).locator("button")
    named = [
        (
            b.inner_text().strip().lower(),
            (b.get_attribute("aria-label") or "").lower(),
            (b.get_attribute("title") or "").lower(),
        )
        for b in buttons.all()
    ]
    found = [i for i, (text, aria, _) in enumerate(named) if label in (text, aria)] or [
        i for i, (_, _, title) in enumerate(named) if re.match(rf"{label}\b", title)
    ]
    assert len(found) == 1, f"{len(found)} buttons named {label!r} in the view: {named}"
    button = buttons.nth(found[0])
    # The toolbar follows the state on the next animation frame.
    nb.poll(button.is_enabled, 5, f"the {label!r} button is enabled")
    button.click()


def started_nodes(nb: Any, index: int) -> set[str]:
    classes = nb.hook(index, "tb.nodeClasses()")
    return {i for i, c in classes.items() if c.removeprefix("tb-status-") not in NOT_STARTED}


def open_details(nb: Any, index: int, node_id: str, wants: list[str]) -> str:
    """Click ``node_id`` on the canvas; return the details panel's text once it shows ``wants``."""
    center = nb.hook(index, "tb.nodeCenter(arg)", node_id)
    assert center is not None, f"nodeCenter({node_id!r}) is null: the node is not drawn"
    nb.page.mouse.click(center["x"], center["y"])
    panel = nb.page.locator(".taskbeam-view").nth(index).locator(".tb-details")
    seen = {"text": ""}

    def shows_all() -> bool:
        seen["text"] = panel.first.inner_text() if panel.count() else ""
        return all(want.lower() in seen["text"].lower() for want in [node_id, *wants])

    nb.poll(
        shows_all,
        10,
        f"a click on {node_id!r} at {center} opens its details, showing {wants}",
        lambda: f"the details panel shows:\n{seen['text']}",
    )
    return seen["text"]


@pytest.mark.timeout(180)
def test_the_quickstart_view_pauses_resumes_shows_details_and_resyncs(
    open_notebook: Any, artifacts: Path
) -> None:
    nb = open_notebook("01-quickstart")
    check_kernel(nb)
    nb.clear_outputs()
    split = find_split(nb.cells())
    nb.run("notebook:run-all-above", split)
    nb.wait_cells_done(split, 60)
    first = nb.snapshot()
    assert first["run"]["status"] == "running", (
        f"the first run was {first['run']['status']} before its view could pause it"
    )
    assert len(first["nodes"]) >= 20, f"the first run has {len(first['nodes'])} nodes, not >= 20"
    index = nb.view_index(first["run"]["id"])

    # Pause from the view; nothing starts while paused.
    click_control(nb, index, "pause")
    nb.poll(
        lambda: nb.hook(index, "root.getAttribute('data-run-status')") == "paused",
        10,
        "data-run-status becomes 'paused' after a click on pause",
        lambda: nb.hook(index, "root.getAttribute('data-run-status')"),
    )
    kernel_status = nb.json("str(run.status)")
    assert kernel_status == "paused", f"the view says paused, the kernel says {kernel_status}"
    before = started_nodes(nb, index)
    time.sleep(1.5)
    after = started_nodes(nb, index)
    assert after <= before, f"nodes started while paused: {sorted(after - before)}"
    assert len(before) < len(first["nodes"]), "every node had started before the pause"
    screenshots(nb, index, artifacts, "01-quickstart-paused")

    click_control(nb, index, "resume")
    nb.poll(
        lambda: nb.hook(index, "root.getAttribute('data-run-status')") != "paused",
        10,
        "the run leaves 'paused' after a click on resume",
    )

    # The rest of the notebook awaits the run.
    nb.run("notebook:run-all-below", split)
    nb.wait_cells_done(None, 90)
    snapshot = wait_run_ended(nb)
    snapshot = assert_view_matches_kernel(nb, index)
    assert started_nodes(nb, index) > after, "no node started after resume"
    screenshots(nb, index, artifacts, "01-quickstart")
    assert nb.errors() == [], f"01-quickstart shows errors: {nb.errors()}"
    check_traffic(nb, artifacts)

    # A node's details, on a click.
    nodes = snapshot["nodes"]
    done = next(i for i, n in nodes.items() if n["status"] == "done")
    open_details(nb, index, done, ["done", "Attempt", "Result"])
    failed = [i for i, n in nodes.items() if n["status"] == "failed"]
    assert failed, "the quickstart's first run has no failed node to show the details of"
    details = nb.json(f"run.details({failed[0]!r})")
    error = details["error"]
    last_line = error["traceback"].strip().splitlines()[-1]
    open_details(nb, index, failed[0], ["failed", error["type"], "Traceback", last_line])
    view = nb.page.locator(".taskbeam-view").nth(index)
    view.screenshot(path=str(artifacts / "01-quickstart-details.png"))

    # A reloaded page shows the same run again, from the kernel.
    kernel_id = nb.kernel_id()
    nb.save()
    nb.page.reload(wait_until="domcontentloaded")
    nb.wait_kernel_idle(60)
    again = nb.kernel_id()
    assert again == kernel_id, f"the reloaded page uses kernel {again}, not {kernel_id}"
    index = nb.view_index(snapshot["run"]["id"])
    assert_view_matches_kernel(nb, index)
    screenshots(nb, index, artifacts, "01-quickstart-reloaded")
    assert nb.errors() == [], f"01-quickstart shows errors after a reload: {nb.errors()}"


# --- a fast run and Jupyter's rate limit; cancel ------------------------------------------------

# 1,600 nodes in about 4 s (over a thousand changes a second), shown by the run
# itself and by more views than the shared budget feeds at their own rate
# (14 x 20 frames a second > 200); then a slow run, left running for its view
# to cancel.
EXTRA_VIEWS = 13
SCRATCH = [
    """\
import asyncio
import taskbeam as tb

async def tick(i: int, **_: object) -> int:
    await asyncio.sleep(0.02 * (i % 3))
    return i

g = tb.Graph("fast")
for layer in range(8):
    for i in range(200):
        deps = [f"l{layer - 1}_{i}"] if layer else []
        g.add(f"l{layer}_{i}", tick, kwargs={"i": i}, deps=deps)
run = tb.start(g, max_concurrency=8)
run""",
    f"""\
from IPython.display import display
views = [run.view(height=120) for _ in range({EXTRA_VIEWS})]
display(*views)""",
    "await run\nrun.status",
    """\
slow_graph = tb.Graph("slow")
for i in range(12):
    slow_graph.add(f"nap_{i}", asyncio.sleep, kwargs={"delay": 30})
slow = tb.start(slow_graph, max_concurrency=3)
slow""",
]


def write_notebook(root: Path, name: str, cells: list[str]) -> None:
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / f"{name}.ipynb").write_text(json.dumps(notebook))


@pytest.mark.timeout(120)
def test_a_fast_run_stays_under_the_rate_limit_and_a_slow_one_is_cancelled_from_its_view(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    write_notebook(lab.root, "scratch", SCRATCH)
    nb = open_notebook("scratch")
    nb.wait_kernel_idle(60)
    nb.execute(FRAME_SAMPLER)
    since = nb.traffic.mark()
    nb.run("notebook:run-all-cells")
    nb.wait_cells_done(None, 60)
    snapshot = wait_run_ended(nb)
    assert snapshot["run"]["status"] == "done", f"the fast run ended {snapshot['run']['status']}"
    index = nb.view_index(snapshot["run"]["id"])
    assert_view_matches_kernel(nb, index)
    want = nonzero(snapshot["run"]["counts"])
    shown: dict[str, Any] = {}

    def every_view_agrees() -> bool:
        views = nb.page.evaluate(
            "() => Array.from(document.querySelectorAll('.taskbeam-view'))"
            ".map(r => [r.taskbeam && r.taskbeam.state() && r.taskbeam.state().run.id, "
            "r.getAttribute('data-run-status'), r.taskbeam && r.taskbeam.counts()])"
        )
        shown["views"] = [v[1:] for v in views if v[0] == snapshot["run"]["id"]]
        return len(shown["views"]) == 1 + EXTRA_VIEWS and all(
            status == "done" and counts is not None and nonzero(counts) == want
            for status, counts in shown["views"]
        )

    nb.poll(
        every_view_agrees,
        20,
        f"all {1 + EXTRA_VIEWS} views of the fast run show its final counts {want}",
        lambda: f"views (run status, counts): {shown.get('views')}",
    )
    screenshots(nb, index, artifacts, "fast-run")
    stats = nb.hook(index, "{stats: tb.stats(), layoutMs: tb.layoutMs, frames: tb.frameTimes}")
    (artifacts / "fast-run-view.json").write_text(json.dumps(stats))
    check_traffic(nb, artifacts)
    assert nb.traffic.total("comm_msg", since) > 0, "the page received no comm message at all"
    # At the browser, what matters is Jupyter's limit: 1,000 a second over 3 s.
    comm = nb.traffic.window_peak("comm_msg", 3, since)
    assert comm < IOPUB_LIMIT, (
        f"{comm:.0f} comm messages a second over 3 s at the browser, above Jupyter's limit "
        f"of {IOPUB_LIMIT} (per second: {nb.traffic.summary('comm_msg')})"
    )
    # In the kernel, the broadcaster's budget: frames at least 1/COMM_BUDGET s apart,
    # but for the critical frame of the run's end, which each view gets at once
    # (snapshots are not counted: they answer a view's resync).
    samples = [(float(a), float(b), int(n)) for a, b, n in nb.json("_tb_frames")]
    assert len(samples) > 20, f"the kernel's frame sampler took {len(samples)} samples"
    seconds, sent, start = kernel_frame_peak(samples)
    # + 1 for the interval's first frame, + the run's end to each view of both runs
    allowed = COMM_BUDGET * seconds + 1 + (1 + EXTRA_VIEWS) + 1
    rates = {
        "browser_comm_3s": comm,
        "browser_comm_1s_peak": nb.traffic.peak("comm_msg", since),
        "kernel_window_s": seconds,
        "kernel_frames": sent,
        "kernel_allowed": allowed,
    }
    (artifacts / "fast-run-rates.json").write_text(json.dumps(rates))
    assert sent <= allowed, (
        f"the kernel sent {sent} frames in {seconds:.2f} s from {start - samples[0][0]:.2f} s, "
        f"over the views' shared budget of {COMM_BUDGET} a second (at most {allowed:.0f})"
    )
    assert nb.errors() == [], f"the scratch notebook shows errors: {nb.errors()}"

    # Cancel, from the view of a run that is going (the kernel is idle).
    slow = nb.snapshot("slow")
    assert slow["run"]["status"] == "running", f"the slow run is {slow['run']['status']}"
    index = nb.view_index(slow["run"]["id"])
    click_control(nb, index, "cancel")
    nb.poll(
        lambda: nb.hook(index, "root.getAttribute('data-run-status')") == "cancelled",
        10,
        "data-run-status becomes 'cancelled' after a click on cancel",
        lambda: nb.hook(index, "root.getAttribute('data-run-status')"),
    )
    slow = assert_view_matches_kernel(nb, index, "slow")
    assert slow["run"]["status"] == "cancelled", f"the kernel's run is {slow['run']['status']}"
    assert set(nonzero(slow["run"]["counts"])) == {"cancelled"}, slow["run"]["counts"]
    screenshots(nb, index, artifacts, "cancelled")


# --- a busy kernel ------------------------------------------------------------------------------

# The cell after the view keeps the kernel busy for seconds. Some ipykernel
# versions hold the browser's messages (the view's own resync) until a busy
# cell ends, so the view must show the run going without them.
BUSY = [
    """\
import asyncio
import time
import taskbeam as tb

steady = tb.Graph("steady")
for i in range(40):
    steady.add(f"s{i:02d}", asyncio.sleep, kwargs={"delay": 0.15})
run = tb.start(steady, max_concurrency=1)
run""",
    "time.sleep(4)  # busy: no message from the browser is handled now\nrun.status",
    "await run\nrun.status",
]


@pytest.mark.timeout(120)
def test_the_view_moves_while_a_cell_keeps_the_kernel_busy(
    lab: Any, open_notebook: Any, artifacts: Path
) -> None:
    write_notebook(lab.root, "busy", BUSY)
    nb = open_notebook("busy")
    nb.run("notebook:run-all-cells")
    seen: list[tuple[str | None, int]] = []

    def sample() -> bool:
        status = nb.kernel_status()
        seq = nb.page.evaluate(
            "() => { const r = document.querySelector('.taskbeam-view');"
            " return r && r.dataset.seq ? Number(r.dataset.seq) : -1; }"
        )
        seen.append((status, seq))
        busy = [s for st, s in seen if st == "busy" and s >= 0]
        return len(set(busy)) >= 3

    nb.poll(
        sample,
        30,
        "the view shows at least three different states while the kernel is busy",
        lambda: f"(kernel status, view seq) samples: {seen[-40:]}",
        interval=0.1,
    )
    nb.wait_cells_done(None, 60)
    index = nb.view_index(wait_run_ended(nb)["run"]["id"])
    assert_view_matches_kernel(nb, index)
    assert nb.errors() == [], f"the busy notebook shows errors: {nb.errors()}"
