"""GraphView, the Jupyter widget, driven as its front end drives it.

The front end here is :class:`FrontEnd`: it takes what the view sends over
the comm (recorded instead of going to a kernel's IOPub) and sends custom
messages back the way js/src/widget.js does. The browser itself is covered
by tests/e2e.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import traitlets
from tests.conftest import wait_until
from tests.integration.test_broadcast import wide_graph

import taskbeam as tb
from taskbeam.testing import MemorySubscriber


class FrontEnd:
    """One widget model's front end: applies frames, asks for resyncs, sends requests."""

    def __init__(self, view: tb.GraphView) -> None:
        self.view = view
        self.client = MemorySubscriber()
        self.client.subscription = self  # type: ignore[assignment]  # gaps -> resync()
        self.answers: list[dict[str, Any]] = []
        self.threads: set[str] = set()
        self.sent = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        view.send = self._on_send  # what would go to the browser

    def _on_send(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        with self._lock:
            self.threads.add(threading.current_thread().name)
            self.sent += 1
            if content.get("type") in ("snapshot", "batch", "heartbeat"):
                self.client.send(content, list(buffers or []))
            else:
                self.answers.append(content)

    def ask(self, message: dict[str, Any]) -> int:
        rid = next(self._ids)
        self.view._handle_custom_msg({**message, "id": rid}, [])
        return rid

    def resync(self) -> None:
        self.ask({"type": "resync"})

    def answer(self, rid: int, timeout: float = 10) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def got() -> bool:
            with self._lock:
                found[:] = [a for a in self.answers if a.get("id") == rid]
            return bool(found)

        wait_until(got, timeout)
        return found[0]

    def settle(self) -> dict[str, Any]:
        b = self.view._broadcaster
        for _ in range(10):
            b.flush_all()
            time.sleep(0.01)  # answers are sent from the broadcaster thread
            if not self.client.receive():
                assert self.client.state is not None
                return self.client.state
        raise AssertionError("the front end did not settle")


@pytest.fixture
def broadcaster() -> Any:
    with tb.Broadcaster(max_delay_ms=10) as b:
        yield b


def test_the_view_sends_nothing_until_its_front_end_asks(broadcaster: tb.Broadcaster) -> None:
    run = tb.start(wide_graph(20))
    view = tb.GraphView(run, broadcaster=broadcaster)
    front = FrontEnd(view)
    run.wait()
    broadcaster.flush_all()
    assert front.sent == 0  # nothing sent before display could be lost
    front.resync()  # what the front end does when it renders
    assert front.answer(1) == {"type": "ok", "id": 1}
    assert front.settle() == run.snapshot()
    assert front.threads == {"taskbeam-broadcaster"}  # only the broadcaster sends
    view.close()


def test_a_live_run_converges_and_two_views_of_it_agree(broadcaster: tb.Broadcaster) -> None:
    gate = threading.Event()

    async def slow(i: int) -> int:
        await asyncio.to_thread(gate.wait, 10)
        return i

    g = tb.Graph("live")
    for i in range(50):
        g.add(f"n{i}", slow, kwargs={"i": i})
    run = tb.start(g, max_concurrency=4)
    fronts = [FrontEnd(tb.GraphView(run, broadcaster=broadcaster)) for _ in range(2)]
    for front in fronts:
        front.resync()
    wait_until(lambda: all(f.client.queue for f in fronts))
    gate.set()
    run.wait()
    for front in fronts:
        assert front.settle() == run.snapshot()
        assert front.client.snapshots >= 1
        front.view.close()


def test_a_lost_frame_is_healed_by_a_resync(broadcaster: tb.Broadcaster) -> None:
    gate = threading.Event()

    async def slow() -> None:
        await asyncio.to_thread(gate.wait, 10)

    g = tb.Graph("lossy")
    for i in range(30):
        g.add(f"n{i}", slow)
    run = tb.start(g, max_concurrency=2)
    front = FrontEnd(tb.GraphView(run, broadcaster=broadcaster))
    front.resync()
    wait_until(lambda: front.client.queue)
    front.client.receive()
    gate.set()
    run.wait()
    broadcaster.flush_all()
    front.client.receive(drop=1)  # the comm lost a frame
    assert front.settle() == run.snapshot()
    assert front.client.gaps >= 1


def test_requests_get_answers_with_their_id(broadcaster: tb.Broadcaster) -> None:
    g = tb.Graph("ask")

    def boom() -> None:
        print("about to fail")
        raise ValueError("no luck")

    g.add("ok", lambda: 41)
    g.add("boom", boom)
    run = tb.start(g)
    run.wait()
    front = FrontEnd(tb.GraphView(run, broadcaster=broadcaster))
    details = front.answer(front.ask({"type": "node_details", "node_id": "boom"}))
    assert details["type"] == "node_details"
    assert details["details"]["error"]["type"] == "ValueError"
    assert "no luck" in details["details"]["error"]["traceback"]
    assert details["details"]["output"] == "about to fail\n"
    tail = front.answer(front.ask({"type": "node_details", "node_id": "boom", "offset": 6}))
    assert tail["details"]["output"] == "to fail\n" and tail["details"]["output_from"] == 6
    bad = front.answer(front.ask({"type": "node_details", "node_id": "boom", "offset": -1}))
    assert bad["type"] == "error" and "offset must be an integer" in bad["error"]
    missing = front.answer(front.ask({"type": "node_details", "node_id": "nope"}))
    assert missing["type"] == "error" and "nope" in missing["error"]
    wrong = front.answer(front.ask({"type": "node_details", "node_id": 7}))
    assert wrong["type"] == "error"
    unknown = front.answer(front.ask({"type": "explode"}))
    assert unknown == {"type": "error", "error": "unknown request 'explode'", "id": unknown["id"]}
    runs = front.answer(front.ask({"type": "runs"}))
    listed = runs["runs"]
    assert [{k: r[k] for k in ("id", "name", "status", "project")} for r in listed] == [
        {"id": run.id, "name": "ask", "status": "failed", "project": ""}
    ]
    assert listed[0]["counts"] == run.counts and listed[0]["total"] == 2
    assert runs["next"] is None and runs["total"] == 1


@pytest.mark.parametrize(
    "content",
    [[1, 2], "resync", None, {"no": "type"}, {"type": 5}, {"type": "x" * 100_000}],
)
def test_malformed_messages_get_an_error_and_break_nothing(
    broadcaster: tb.Broadcaster, content: Any
) -> None:
    run = tb.start(wide_graph(3))
    run.wait()
    front = FrontEnd(tb.GraphView(run, broadcaster=broadcaster))
    front.view._handle_custom_msg(content, [])
    wait_until(lambda: front.answers)
    assert front.answers[0]["type"] == "error"
    assert len(front.answers[0]["error"]) < 200
    front.resync()  # the view still works
    assert front.settle() == run.snapshot()


def test_a_huge_or_odd_request_id_is_not_echoed(broadcaster: tb.Broadcaster) -> None:
    run = tb.start(wide_graph(1))
    run.wait()
    front = FrontEnd(tb.GraphView(run, broadcaster=broadcaster))
    for rid in ("x" * 65, [1], True):
        front.view._handle_custom_msg({"type": "runs", "id": rid}, [])
    wait_until(lambda: len(front.answers) == 3)
    assert all("id" not in a for a in front.answers)


def test_controls_pause_resume_cancel_node_and_cancel(broadcaster: tb.Broadcaster) -> None:
    gate = threading.Event()
    started: list[str] = []

    async def step(name: str, **_upstream: Any) -> str:
        started.append(name)
        await asyncio.to_thread(gate.wait, 10)
        return name

    g = tb.Graph("controls")
    for i in range(6):
        g.add(f"s{i}", step, kwargs={"name": f"s{i}"})
    g.add("last", step, kwargs={"name": "last"}, deps=["s5"])
    run = tb.start(g, max_concurrency=1)
    front = FrontEnd(tb.GraphView(run, broadcaster=broadcaster))
    wait_until(lambda: started == ["s0"])
    assert front.answer(front.ask({"type": "pause"}))["type"] == "ok"
    wait_until(lambda: run.status is tb.RunStatus.PAUSED)
    gate.set()
    time.sleep(0.2)
    assert started == ["s0"]  # paused: nothing new starts
    assert front.answer(front.ask({"type": "cancel_node", "node_id": "s5"}))["type"] == "ok"
    assert front.answer(front.ask({"type": "resume"}))["type"] == "ok"
    run.wait(10)
    assert run.snapshot()["nodes"]["s5"]["status"] == "cancelled"
    assert run.snapshot()["nodes"]["last"]["status"] == "skipped"
    assert "s5" not in started and "s4" in started
    bad = front.answer(front.ask({"type": "cancel_node", "node_id": "zzz"}))
    assert bad["type"] == "error"

    gate.clear()
    run2 = tb.start(wide_graph(10, delay=30), max_concurrency=2)
    front2 = FrontEnd(tb.GraphView(run2, broadcaster=broadcaster))
    assert front2.answer(front2.ask({"type": "cancel"}))["type"] == "ok"
    assert run2.wait(10).status is tb.RunStatus.CANCELLED


def test_a_service_view_lists_runs_and_switches_between_them(
    broadcaster: tb.Broadcaster,
) -> None:
    with tb.ExecutionService() as svc:
        view = tb.GraphView(svc, broadcaster=broadcaster)
        assert view.mode == "service" and view.run_id == ""
        front = FrontEnd(view)
        a = svc.start("a", wide_graph(5, name="alpha"))
        b = svc.start("b", wide_graph(7, name="beta"))
        a.wait()
        b.wait()
        runs = front.answer(front.ask({"type": "runs"}))["runs"]
        assert [(r["id"], r["project"]) for r in runs] == [(a.id, "a"), (b.id, "b")]
        wait_until(lambda: view.run_id == b.id)  # none chosen yet: the latest
        front.resync()
        assert front.settle() == b.snapshot()
        view.run_id = a.id  # as the selector in the front end does

        def shows_a() -> bool:
            front.client.receive()
            return front.client.state is not None and front.client.state["run"]["id"] == a.id

        wait_until(shows_a)
        assert front.settle() == a.snapshot()
        count = front.client.received
        # A node of the old run changing no longer reaches this view.
        b2 = svc.start("b", wide_graph(3, name="beta"))
        b2.wait()
        front.settle()
        assert front.client.received == count
        view.close()


def test_a_run_shows_itself_as_its_view() -> None:
    run = tb.start(wide_graph(2))
    run.wait()
    bundle = run._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    model = data["application/vnd.jupyter.widget-view+json"]["model_id"]
    again = run._repr_mimebundle_()
    again_data = again[0] if isinstance(again, tuple) else again
    assert again_data["application/vnd.jupyter.widget-view+json"]["model_id"] == model
    assert run.view().model_id != model  # view() makes a new one
    assert tb.GraphView(run.id).run_id == run.id


def test_bad_sources_are_clear_errors() -> None:
    with pytest.raises(KeyError, match="no run 'nope-00000000' in this process"):
        tb.GraphView("nope-00000000")
    with pytest.raises(TypeError, match="GraphView takes a Run"):
        tb.GraphView(42)  # type: ignore[arg-type]
    run = tb.start(wide_graph(1))
    with pytest.raises(ValueError, match="height"):
        tb.GraphView(run, height=5)
    run.wait()


def test_many_views_of_a_fast_run_stay_under_the_comm_budget() -> None:
    # The Jupyter server drops comm messages above ~1,000/s over 3 s; the
    # views of one process share a budget of 200 frames a second.
    with tb.Broadcaster(max_delay_ms=1, max_fps=1000, comm_fps=200) as b:
        g = wide_graph(3000, delay=0.0005)
        run = tb.start(g, max_concurrency=50)
        fronts = [FrontEnd(tb.GraphView(run, broadcaster=b)) for _ in range(10)]
        t0 = time.monotonic()
        for front in fronts:
            front.resync()
        run.wait()
        elapsed = time.monotonic() - t0
        frames = sum(f.client.queue.__len__() for f in fronts)
        assert frames <= 200 * elapsed + 2 * len(fronts) + 10
        for front in fronts:
            assert front.settle() == run.snapshot()


def test_a_displayed_view_sends_snapshots_until_its_front_end_speaks(
    broadcaster: tb.Broadcaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # While a cell keeps the kernel busy, the front end's resync may wait
    # until the cell ends: the view does not wait for it to show the run.
    from taskbeam.widget import _view

    monkeypatch.setattr(_view, "NUDGES", (0.05, 0.1, 0.2))
    run = tb.start(wide_graph(5))
    run.wait()
    front = FrontEnd(tb.GraphView(run, broadcaster=broadcaster))
    front.view._repr_mimebundle_()  # what displaying it does
    # (Only look at the queue: receive() with no state would ask, as a front end does.)
    wait_until(lambda: len(front.client.queue) == 4)
    time.sleep(0.3)
    assert len(front.client.queue) == 4  # one at display, three nudges, then no more
    front.client.receive()
    assert front.client.snapshots == 4 and front.client.state == run.snapshot()

    quiet = FrontEnd(tb.GraphView(run, broadcaster=broadcaster))
    quiet.view._repr_mimebundle_()
    quiet.ask({"type": "runs"})  # the front end spoke: no nudges
    time.sleep(0.3)
    assert len(quiet.client.queue) == 1


# --- labels and height ------------------------------------------------------------------------


def labelled_graph() -> tb.Graph:
    """A top-level node with a label, one without, and an expansion whose children have labels."""

    def plan(fetch: int) -> tb.Expansion:
        sub = tb.Graph("plan")
        sub.add("q1", lambda: "tides", label="What raises the tides?")
        sub.add("q2", lambda: "coasts")  # no label: the id is what views show
        sub.add("join", lambda q1, q2: f"{q1}+{q2}", deps=["q1", "q2"], label="  Join\n answers ")
        return tb.expand(sub, aggregate=lambda r: r["join"])

    g = tb.Graph("labelled")
    g.add("fetch", lambda: 1, label="Summarise arXiv")
    g.add("plan", plan, deps=["fetch"], label="Plan the research")

    @g.task(deps=["plan"], label="Write the report")
    def report(plan: str) -> str:
        return plan

    g.add("plain", lambda: 2)
    return g


def test_labels_are_in_the_snapshot_and_reach_the_view(broadcaster: tb.Broadcaster) -> None:
    run = tb.start(labelled_graph())
    front = FrontEnd(tb.GraphView(run, broadcaster=broadcaster))
    front.resync()
    run.wait()
    state = front.settle()
    assert run.status == "done"
    nodes = state["nodes"]
    assert nodes["fetch"]["label"] == "Summarise arXiv"
    assert nodes["plan"]["label"] == "Plan the research"
    assert nodes["report"]["label"] == "Write the report"  # the decorator's
    assert nodes["plan/q1"]["label"] == "What raises the tides?"  # a child of an expansion
    assert nodes["plan/join"]["label"] == "Join answers"  # folded to one line
    # Left out when not set (merge patches use null to delete).
    assert "label" not in nodes["plain"] and "label" not in nodes["plan/q2"]
    assert state == run.snapshot()
    # The id stays the identity: results and details are by id.
    assert run.result("report") == "tides+coasts"
    assert run.details("plan/q1")["label"] == "What raises the tides?"
    front.view.close()


def test_a_label_is_checked_when_the_task_is_added() -> None:
    g = tb.Graph()
    with pytest.raises(tb.GraphError, match="label must be a string"):
        g.add("a", lambda: 1, label=3)  # type: ignore[arg-type]
    with pytest.raises(tb.GraphError, match="at most 200"):
        g.add("b", lambda: 1, label="x" * 201)
    assert g.add("c", lambda: 1, label="   ").label is None  # blank is no label
    assert g.add("d", lambda: 1, label="Fetch\tthe  page").label == "Fetch the page"
    assert "label" not in tb.start(g).wait().snapshot()["nodes"]["c"]
    # networkx keeps it both ways.
    back = tb.Graph.from_networkx(g.to_networkx())
    assert back["d"].label == "Fetch the page" and back["c"].label is None


def test_height_is_a_trait_that_fits_the_graph_by_default() -> None:
    run = tb.start(wide_graph(2))
    run.wait()
    assert tb.GraphView(run).height == 0  # fit the graph
    assert run.view().height == 0
    view = run.view(height=300)
    assert view.height == 300 and view.get_state()["height"] == 300
    assert tb.GraphView(run, height=720).height == 720
    # What the front end sets when the handle is dragged, and what Python sets.
    view.set_state({"height": 512})
    assert view.height == 512
    view.height = 0
    assert view.height == 0
    for bad in (5, 99, 10_001, True, 2.5, "400"):
        with pytest.raises((ValueError, traitlets.TraitError)):
            view.height = bad  # type: ignore[assignment]
        with pytest.raises((ValueError, traitlets.TraitError)):
            run.view(height=bad)  # type: ignore[arg-type]
    assert view.height == 0


def test_a_displayed_run_s_text_line_shows_how_it_ended(tmp_path: Any) -> None:
    # Where widgets do not render (a saved notebook opened without its
    # widget state, nbconvert, GitHub), the output's text/plain is what
    # people read: it shows the finished run, not "running: 0/3".
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    cells = [
        "import asyncio, taskbeam as tb\n"
        "async def slow():\n    await asyncio.sleep(0.3)\n"
        "g = tb.Graph('shown')\n"
        "for i in range(3):\n    g.add(f'n{i}', slow)\n"
        "run = tb.start(g)\nrun",
        "await run\nrun.status",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=60, kernel_name="python3", store_widget_state=False).execute()
    (shown,) = nb.cells[0].outputs
    assert shown.output_type == "display_data"
    assert "application/vnd.jupyter.widget-view+json" in shown.data
    assert shown.data["text/plain"].endswith("'shown' done: 3/3 finished>"), shown.data


def test_labels_survive_the_store_and_a_continued_run(tmp_path: Path) -> None:
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        first = tb.start(labelled_graph(), store=store).wait()
        stored = store.load(first.id)["nodes"]
        again = tb.continue_run(first.id, labelled_graph(), store=store).wait()
        nodes = again.snapshot()["nodes"]
    for snapshot in (stored, nodes):
        assert snapshot["plan"]["label"] == "Plan the research"
        assert snapshot["plan/q1"]["label"] == "What raises the tides?"  # restored child
        assert snapshot["plan/join"]["label"] == "Join answers"
        assert "label" not in snapshot["plan/q2"]
    assert again.details("plan/q1")["label"] == "What raises the tides?"
