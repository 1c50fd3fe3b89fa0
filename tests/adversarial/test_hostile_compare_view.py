"""A view of a comparison given what it should survive.

Two runs with nothing in common; node ids, labels and results that look
like markup (they stay data: the kernel sends them verbatim, the notebook
table escapes them, and the front end writes them with ``textContent``,
see js/test/compare.test.js); run ids that do not exist; a run that has
not ended; requests a hostile front end might send.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_widget import FrontEnd

import taskbeam as tb

MARKUP = '<img src=x onerror="alert(1)">&amp;'


@pytest.fixture
def broadcaster() -> Any:
    with tb.Broadcaster(max_delay_ms=10) as b:
        yield b


def view_of(comparison: tb.Comparison, broadcaster: tb.Broadcaster) -> tuple[FrontEnd, Any]:
    front = FrontEnd(tb.GraphView(comparison, broadcaster=broadcaster))
    front.resync()
    return front, front.settle()


def ask(front: FrontEnd, message: dict[str, Any]) -> dict[str, Any]:
    return front.answer(front.ask(message))


def test_two_runs_with_nothing_in_common(broadcaster: tb.Broadcaster) -> None:
    def fan() -> tb.Expansion:
        sub = tb.Graph("fan")
        for i in range(3):
            sub.add(f"c{i}", lambda i=i: i)
        return tb.expand(sub, aggregate=lambda r: sum(r.values()))

    first = tb.Graph("first")
    first.add("x", lambda: 1)
    first.add("y", lambda v: v + 1, deps={"v": "x"})
    second = tb.Graph("second")
    second.add("p", fan)
    second.add("q", lambda v: v * 2, deps={"v": "p"})
    a, b = tb.start(first).wait(20), tb.start(second).wait(20)
    front, state = view_of(tb.compare(a, b), broadcaster)
    got = {i: n["compare"]["class"] for i, n in state["nodes"].items()}
    assert got == {
        "x": "removed",
        "y": "removed",
        "p": "added",
        "q": "added",
        "p/c0": "added",
        "p/c1": "added",
        "p/c2": "added",
    }
    assert state["run"]["name"] == "first / second"
    # Every edge joins two drawn nodes: both runs' edges, nothing dangling.
    assert sorted(map(tuple, state["edges"])) == [("p", "q"), ("x", "y")]
    json.dumps(state, allow_nan=False)  # plain JSON, as the wire carries it
    for node in got:
        answer = ask(front, {"type": "node_details", "node_id": node})
        sides = {k for k in ("a", "b") if k in answer["details"]}
        assert sides == ({"a"} if node in ("x", "y") else {"b"}), (node, answer)
    front.view.close()


def test_markup_in_ids_labels_and_results_stays_data(broadcaster: tb.Broadcaster) -> None:
    def make(value: str) -> tb.Graph:
        g = tb.Graph(f"<b>{MARKUP}</b>")
        g.add(MARKUP, lambda: f"<script>alert({value!r})</script>", label=f"<i>{MARKUP}</i>")
        return g

    a, b = tb.start(make("a")).wait(20), tb.start(make("b")).wait(20)
    comparison = tb.compare(a, b)
    front, state = view_of(comparison, broadcaster)
    node = state["nodes"][MARKUP]
    assert node["compare"]["class"] == "changed"
    assert node["label"] == f"<i>{MARKUP}</i>"  # verbatim: the view writes it as text
    answer = ask(front, {"type": "node_details", "node_id": MARKUP})
    assert answer["node_id"] == MARKUP
    assert answer["details"]["a"]["result"] == "\"<script>alert('a')</script>\""
    assert answer["details"]["b"]["result"] == "\"<script>alert('b')</script>\""
    # The notebook's table of the same comparison escapes all of it.
    page = comparison._repr_html_()
    assert "<script>" not in page and "<img" not in page and "<b>&lt;" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;" in page
    front.view.close()


def test_run_ids_that_do_not_exist_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = tb.Graph("one")
    g.add("x", lambda: 1)
    a = tb.start(g).wait(20)
    monkeypatch.chdir(tmp_path)  # no default store here
    with pytest.raises(
        KeyError, match=r"no run 'nope-00000000'.*not a run of this process.*store="
    ):
        tb.compare(a, "nope-00000000")
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        with pytest.raises(KeyError, match=r"no run 'nope-00000000' in the store at"):
            tb.compare("nope-00000000", a, store=store)
        with pytest.raises(KeyError, match="no run"):
            tb.compare(MARKUP, a.id, store=store)
    with pytest.raises(KeyError, match="no run 'compare:x:y' in this process"):
        tb.GraphView("compare:x:y")  # a comparison's room is not a run id
    with pytest.raises(TypeError, match="a Comparison"):
        tb.GraphView(object())  # type: ignore[arg-type]


def test_a_run_that_has_not_ended_is_refused() -> None:
    gate = threading.Event()
    g = tb.Graph("slow")
    g.add("x", lambda: gate.wait(10))
    done = tb.start(g)
    gate.set()
    done.wait(20)
    gate.clear()
    going = tb.start(g)
    try:
        with pytest.raises(RuntimeError, match="has not ended"):
            tb.compare(done, going)
    finally:
        gate.set()
        going.wait(20)


def test_hostile_requests_get_errors_and_break_nothing(broadcaster: tb.Broadcaster) -> None:
    g = tb.Graph("g")
    g.add("x", lambda: 1)
    a, b = tb.start(g).wait(20), tb.start(g).wait(20)
    front, state = view_of(tb.compare(a, b), broadcaster)
    for node_id, error in (
        ("x\x00y", "control characters"),
        ("x" * 1001, "longer than 1000"),
        ("", "non-empty string"),
        (["x"], "non-empty string"),
        (MARKUP, "no node"),
        ("../../x", "no node"),
    ):
        answer = ask(front, {"type": "node_details", "node_id": node_id})
        assert answer["type"] == "error" and error in answer["error"], (node_id, answer)
    for request in ({"type": "answer", "question_id": "q-1", "value": 1}, {"type": "functions"}):
        assert ask(front, request)["type"] == "error"
    assert ask(front, {"type": "node_details", "node_id": "x"})["details"]["b"]["result"] == "1"
    front.resync()
    assert front.settle() == state  # nothing changed it
    front.view.close()


def test_a_run_compared_with_itself_is_all_equal(broadcaster: tb.Broadcaster) -> None:
    g = tb.Graph("same")
    for i in range(200):
        g.add(f"n{i}", lambda i=i, **up: i, deps={"v": f"n{i - 1}"} if i else None)
    a = tb.start(g).wait(20)
    front, state = view_of(tb.compare(a, a), broadcaster)
    assert {n["compare"]["class"] for n in state["nodes"].values()} == {"equal"}
    assert len(state["edges"]) == 199
    front.view.close()
