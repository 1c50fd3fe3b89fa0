"""Hostile metrics: values that are not numbers or not finite, huge sums, names that
look like markup, and a flood of calls that must stay bounded in memory."""

from __future__ import annotations

import math
import sys
import tracemalloc
from decimal import Decimal
from typing import Any

import orjson
import pytest

import taskbeam as tb
from taskbeam.broadcast._codec import dumps


def run_task(fn: Any, **options: Any) -> tb.Run:
    g = tb.Graph("hostile-metrics")
    g.add("t", fn)
    return tb.start(g, **options).wait(60)


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, float("nan"), Decimal("NaN"), Decimal("Infinity")],
)
def test_non_finite_values_are_refused(value: Any) -> None:
    caught: list[BaseException] = []

    def task() -> None:
        try:
            tb.metric("x", value)
        except ValueError as exc:
            caught.append(exc)
        try:
            tb.progress(value)
        except ValueError as exc:
            caught.append(exc)

    run = run_task(task)
    assert len(caught) == 2
    assert "metrics" not in run.snapshot()["run"]


@pytest.mark.parametrize("value", ["3", b"3", None, [1], {"a": 1}, True, object(), 3j])
def test_non_numbers_are_refused(value: Any) -> None:
    caught: list[BaseException] = []

    def task() -> None:
        try:
            tb.metric("x", value)
        except TypeError as exc:
            caught.append(exc)

    run_task(task)
    assert len(caught) == 1 and "takes a number" in str(caught[0])


def test_huge_values_stay_finite_and_json() -> None:
    def task() -> None:
        for _ in range(10):
            tb.metric("big", sys.float_info.max)
            tb.metric("neg", -sys.float_info.max)
            tb.metric("peak", 1e308, agg="max")
        tb.metric("int", 10**300)

    run = run_task(task)
    snap = run.snapshot()
    metrics = snap["run"]["metrics"]
    assert metrics["big"] == pytest.approx(sys.float_info.max)
    assert metrics["neg"] == pytest.approx(-sys.float_info.max)
    assert all(math.isfinite(v) for v in metrics.values())
    orjson.loads(dumps(snap))  # the snapshot frame is valid JSON


def test_names_that_look_like_markup_are_plain_data(tmp_path: Any) -> None:
    names = ["<img src=x onerror=alert(1)>", "</script><b>", "{{7*7}}", "${x}", "a&amp;b", "'\""]

    def task() -> None:
        for name in names:
            tb.metric(name, 1, unit="<i>u</i>")
        tb.progress(1, 2, note="<script>alert(1)</script>")

    store = tb.SQLiteStore(tmp_path / "runs.db")
    run = run_task(task, store=store)
    snap = run.snapshot()
    assert set(snap["run"]["metrics"]) == set(names)
    assert snap["nodes"]["t"]["progress"]["note"] == "<script>alert(1)</script>"
    stored = store.load_for_resume(run.id)["metrics"]["t"]
    assert set(stored) == set(names)


def test_too_many_names_are_refused() -> None:
    caught: list[BaseException] = []

    def task() -> None:
        try:
            for i in range(2000):
                tb.metric(f"m{i}", 1)
        except ValueError as exc:
            caught.append(exc)

    run = run_task(task)
    assert "at most 1000 metric names" in str(caught[0])
    assert len(run.snapshot()["run"]["metrics"]) == 1000


def test_a_million_calls_stay_bounded_in_memory() -> None:
    def task() -> None:
        for i in range(1_000_000):
            tb.metric("tokens", 1)
            if i % 4 == 0:
                tb.progress(i, 1_000_000)

    tracemalloc.start()
    try:
        g = tb.Graph("flood")
        g.add("t", task)
        run = tb.start(g)
        seen = [0]
        run.subscribe(lambda e: seen.__setitem__(0, seen[0] + 1))  # watched: settles as it goes
        run.wait(120)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert run.snapshot()["run"]["metrics"]["tokens"] == 1_000_000
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert seen[0] < 10_000  # changes are settled at most every 0.1 s, not per call
    assert len(run._driver.meters.pending) == 0
