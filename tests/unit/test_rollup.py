"""The pure parts of metrics: checks, fold, rollup, and the loop's incremental roll-up
compared with rollup() from scratch."""

from __future__ import annotations

import math
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskbeam.engine._meters import Meters
from taskbeam.engine._metrics import (
    Meter,
    check_budgets,
    check_name,
    check_value,
    fold,
    plain,
    rollup,
)

BIG = sys.float_info.max


def test_check_name() -> None:
    assert check_name("cost") == "cost"
    assert check_name("<b>x</b>") == "<b>x</b>"  # markup is a name like any other
    with pytest.raises(TypeError, match="a metric name is a str"):
        check_name(3)
    with pytest.raises(ValueError, match="1 to 100 characters"):
        check_name("")
    with pytest.raises(ValueError, match="1 to 100 characters"):
        check_name("x" * 101)
    with pytest.raises(ValueError, match="control characters"):
        check_name("a\nb")


def test_check_value() -> None:
    assert check_value("x", 3) == 3.0
    assert check_value("x", 2.5) == 2.5
    from fractions import Fraction

    assert check_value("x", Fraction(1, 4)) == 0.25
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="finite"):
            check_value("x", bad)
    for wrong in ("1", None, True, [1], object()):
        with pytest.raises(TypeError, match="takes a number"):
            check_value("x", wrong)
    with pytest.raises(ValueError, match="up to 1.8e308"):
        check_value("x", 10**400)  # an int too big for a float


def test_fold() -> None:
    assert fold("sum", None, 2.0) == 2.0
    assert fold("sum", 1.0, 2.0) == 3.0
    assert fold("sum", BIG, BIG) == BIG  # overflow stays finite
    assert fold("sum", -BIG, -BIG) == -BIG
    assert fold("max", 5.0, 2.0) == 5.0
    assert fold("max", 1.0, 2.0) == 2.0
    assert fold("last", 5.0, 2.0) == 2.0


def test_plain() -> None:
    assert plain(3.0) == 3 and type(plain(3.0)) is int
    assert plain(0.1 + 0.2) == 0.3
    assert plain(1e300) == 1e300


def test_check_budgets() -> None:
    assert check_budgets(None, "start()") is None
    assert check_budgets({"cost": 5}, "start()") == {"cost": 5.0}
    with pytest.raises(ValueError, match=">= 0"):
        check_budgets({"cost": -1}, "start()")
    with pytest.raises(TypeError, match="mapping"):
        check_budgets(["cost"], "start()")
    with pytest.raises(ValueError, match="finite"):
        check_budgets({"cost": math.nan}, "start()")


def test_rollup_example() -> None:
    nodes = {
        "a": (None, {"cost": (1.0, 1.0)}),
        "a/x": ("a", {"cost": (2.0, 2.0), "peak": (7.0, 2.0)}),
        "a/x/y": ("a/x", {"cost": (3.0, 3.0), "peak": (4.0, 3.0), "seen": (9.0, 3.0)}),
        "b": (None, {"seen": (1.0, 4.0)}),
    }
    aggs = {"cost": "sum", "peak": "max", "seen": "last"}
    per_node, run = rollup(nodes, aggs)
    assert per_node["a"] == {"cost": 6.0, "peak": 7.0, "seen": 9.0}
    assert per_node["a/x"] == {"cost": 5.0, "peak": 7.0, "seen": 9.0}
    assert per_node["a/x/y"] == {"cost": 3.0, "peak": 4.0, "seen": 9.0}
    assert run == {"cost": 6.0, "peak": 7.0, "seen": 1.0}  # b reported "seen" last


# -- the loop's incremental roll-up against rollup() ---------------------------


class _Node:
    """What Meters reads of a node: id, parent, meter."""

    def __init__(self, node_id: str, parent: _Node | None) -> None:
        self.id = node_id
        self.parent = parent
        self.meter: Meter | None = None
        self.status = None


class _State:
    def __init__(self) -> None:
        self.record = False
        self.dirty = None
        self.events: list[Any] = []
        self.nodes: dict[str, Any] = {}
        self.touched = 0
        self.metric_fields = None

    def touch(self, node: Any, now: float) -> None:
        self.touched += 1


class _Driver:
    def __init__(self) -> None:
        self.state = _State()
        self.loop = None
        self._pumping = False
        self.id = "r"


trees = st.lists(st.integers(min_value=-1, max_value=30), min_size=1, max_size=30)
reports = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=29),
        st.sampled_from(["cost", "peak", "seen"]),
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        st.booleans(),  # settle after this report
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(trees, reports)
def test_incremental_equals_scratch(parents: list[int], calls: list[Any]) -> None:
    driver = _Driver()
    meters = Meters(driver)
    nodes: list[_Node] = []
    for i, p in enumerate(parents):
        parent = nodes[p] if 0 <= p < i else None
        nodes.append(_Node(f"n{i}" if parent is None else f"{parent.id}/n{i}", parent))
    aggs = {"cost": "sum", "peak": "max", "seen": "last"}
    for name, agg in aggs.items():
        meters.kind(name, agg, None)
    clock = 0.0
    for index, name, value, settle in calls:
        node = nodes[index % len(nodes)]
        meter = node.meter or meters.meter(node)  # type: ignore[arg-type]
        clock += 1.0
        agg = aggs[name]
        if agg == "last":
            meter.own[name] = value
            meter.stamps[name] = clock
        else:
            meter.own[name] = fold(agg, meter.own.get(name), value)
        if not meter.queued:
            meters.changed(meter)
        if settle:
            meters.settle()
    meters.settle()
    scratch_in: dict[str, Any] = {}
    for node in nodes:
        meter = node.meter
        own = {}
        if meter is not None:
            own = {k: (v, meter.stamps.get(k, 0.0)) for k, v in meter.own.items()}
        scratch_in[node.id] = (None if node.parent is None else node.parent.id, own)
    per_node, run = rollup(scratch_in, aggs)
    for node in nodes:
        got = {} if node.meter is None else node.meter.totals
        assert got == pytest.approx(per_node.get(node.id, {}), rel=1e-9, abs=1e-6)
    assert meters.totals == pytest.approx(run, rel=1e-9, abs=1e-6)


# -- holds in the state machine (pure) -----------------------------------------


def test_a_held_subgraph_starts_nothing_until_unheld() -> None:
    import taskbeam as tb
    from taskbeam.engine._state import RunState

    g = tb.Graph("holds")
    g.add("p", lambda: None)
    g.add("q", lambda: None)
    st = RunState(g, max_concurrency=4)
    st.start(0.0)
    p, q = st.nodes["p"], st.nodes["q"]
    assert st.schedule(0.0) == [p, q]
    sub = tb.Graph("sub")
    for i in range(3):
        sub.add(f"c{i}", lambda: None)
    st.expand(p, sub, dict, 0.0)
    st.hold("p")
    assert st.held_by(st.nodes["p/c0"]) == "p" and st.held_by(q) is None
    assert st.schedule(0.0) == []  # the children of p are parked
    assert [n.id for n in st.parked] == ["p/c0", "p/c1", "p/c2"]
    st.unhold("p")
    assert [n.id for n in st.schedule(0.0)] == ["p/c0", "p/c1", "p/c2"]


def test_stop_cancels_what_has_not_started_and_keeps_the_hold() -> None:
    import taskbeam as tb
    from taskbeam.engine._state import RunState
    from taskbeam.engine._status import Status

    g = tb.Graph("stop")
    for i in range(4):
        g.add(f"n{i}", lambda: None)
    g.add("after", lambda n3: None, deps=["n3"])
    st = RunState(g, max_concurrency=1)
    st.start(0.0)
    first = st.schedule(0.0)
    assert [n.id for n in first] == ["n0"]
    st.hold("")  # the run's own scope
    st.succeed(first[0], None, 1.0)
    assert st.schedule(1.0) == []
    st.stop("", 2.0)
    statuses = {i: n.status for i, n in st.nodes.items()}
    assert statuses == {
        "n0": Status.DONE, "n1": Status.CANCELLED, "n2": Status.CANCELLED,
        "n3": Status.CANCELLED, "after": Status.SKIPPED,  # what depends on them is skipped
    }  # fmt: skip
    assert st.finished and st.status.value == "cancelled"
