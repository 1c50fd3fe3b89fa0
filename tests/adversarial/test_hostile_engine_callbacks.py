"""User callbacks that raise: subscribers, aggregators, tasks. Contained; the run ends terminal."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from tests.adversarial._hostile_engine import all_terminal

import taskbeam as tb


class Custom(BaseException):
    """A BaseException of the user's own."""


BASE_EXCEPTIONS = [KeyboardInterrupt, SystemExit, GeneratorExit, Custom, asyncio.CancelledError]


def wide(n: int) -> tb.Graph:
    g = tb.Graph(f"wide-{n}")
    for i in range(n):
        g.add(f"n{i}", lambda: None)
    return g


def timed(subscriber: object | None) -> tuple[tb.Run, float]:
    run = tb.Run(wide(2000), max_concurrency=4)
    if subscriber is not None:
        run._subscribers = (subscriber,)  # type: ignore[assignment] - from the first event
        run._state.record = True
    t0 = time.perf_counter()
    run._begin().wait(30)
    return run, time.perf_counter() - t0


def test_a_subscriber_that_always_raises_is_logged_once_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad(event: tb.Event) -> None:
        raise ValueError("subscriber bug")

    caplog.set_level(logging.WARNING, logger="taskbeam")
    _, plain = timed(lambda event: None)
    run, raising = timed(bad)
    assert run.status is tb.RunStatus.DONE and all_terminal(run)
    errors = run.callback_errors
    assert len(errors) == 1
    assert errors[0]["type"] == "ValueError" and errors[0]["role"] == "subscriber"
    assert errors[0]["count"] >= 4000  # two events per node, and the run's own
    records = [r for r in caplog.records if r.name == "taskbeam" and run.id in r.getMessage()]
    assert [r.levelname for r in records] == ["ERROR", "WARNING"]  # first one, then the tally
    assert sum(len(r.getMessage()) + len(r.exc_text or "") for r in records) < 10_000
    assert raising < 3 * plain + 0.5, (plain, raising)  # was ~6x, with 8 MB of log


@pytest.mark.parametrize("kind", BASE_EXCEPTIONS, ids=lambda k: k.__name__)
def test_a_subscriber_raising_a_base_exception_does_not_stop_the_run(
    kind: type[BaseException], caplog: pytest.LogCaptureFixture
) -> None:
    def bad(event: tb.Event) -> None:
        raise kind("from a subscriber")

    caplog.set_level(logging.CRITICAL, logger="taskbeam")
    run, _ = timed(bad)
    assert run.done and run.status is tb.RunStatus.DONE
    assert all_terminal(run)
    assert run.counts["done"] == 2000
    assert run.callback_errors[0]["type"] == kind.__qualname__


@pytest.mark.parametrize("kind", BASE_EXCEPTIONS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("style", ["sync", "async"])
def test_a_task_raising_a_base_exception_fails_its_node_only(
    kind: type[BaseException], style: str
) -> None:
    def sync_bad() -> None:
        raise kind("from a task")

    async def async_bad() -> None:
        await asyncio.sleep(0)
        raise kind("from a task")

    g = tb.Graph("task-base")
    g.add("bad", sync_bad if style == "sync" else async_bad)
    g.add("after", lambda bad: bad, deps=["bad"])
    g.add("other", lambda: "fine")
    run = tb.start(g).wait(10)
    nodes = run.snapshot()["nodes"]
    assert nodes["bad"]["status"] == "failed"
    assert nodes["bad"]["error"]["type"].endswith(kind.__qualname__)
    assert nodes["after"]["status"] == "skipped"
    assert run.result("other") == "fine"
    assert run.status is tb.RunStatus.FAILED


@pytest.mark.parametrize("kind", BASE_EXCEPTIONS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("style", ["sync", "async"])
def test_an_aggregator_raising_a_base_exception_fails_its_parent(
    kind: type[BaseException], style: str
) -> None:
    def sync_agg(results: dict[str, object]) -> object:
        raise kind("from an aggregator")

    async def async_agg(results: dict[str, object]) -> object:
        raise kind("from an aggregator")

    def plan() -> tb.Expansion:
        sub = tb.Graph("sub")
        sub.add("x", lambda: 1)
        return tb.expand(sub, aggregate=sync_agg if style == "sync" else async_agg)

    g = tb.Graph("agg-base")
    g.add("plan", plan)
    g.add("after", lambda plan: plan, deps=["plan"])
    run = tb.start(g).wait(10)
    nodes = run.snapshot()["nodes"]
    assert nodes["plan"]["status"] == "failed"
    assert nodes["plan"]["error"]["type"].endswith(kind.__qualname__)
    assert nodes["after"]["status"] == "skipped"
    assert all_terminal(run)


def test_an_aggregator_whose_result_repr_raises_still_completes() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    def plan() -> tb.Expansion:
        sub = tb.Graph("sub")
        sub.add("x", lambda: 1)
        return tb.expand(sub, aggregate=lambda results: Broken())

    g = tb.Graph("agg-repr")
    g.add("plan", plan)
    run = tb.start(g).wait(10)
    assert run.status is tb.RunStatus.DONE
    assert "Broken" in run.snapshot()["nodes"]["plan"]["preview"]


@pytest.mark.parametrize("style", ["sync", "async"])
def test_a_failing_engine_step_ends_the_run_and_wait_raises(
    style: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def quick() -> int:
        return 1

    g = tb.Graph("engine-bug")
    g.add("a", (lambda: 1) if style == "sync" else quick)
    g.add("b", lambda a: a, deps=["a"])
    g.add("c", lambda b: b, deps=["b"])
    run = tb.Run(g)
    succeed = run._state.succeed

    def broken(node: Any, result: Any, now: float) -> None:
        if node.id == "b":
            raise RuntimeError("a bug in the engine")
        succeed(node, result, now)

    run._state.succeed = broken  # type: ignore[method-assign]
    caplog.set_level(logging.CRITICAL, logger="taskbeam")
    run._begin()
    with pytest.raises(RuntimeError, match="a bug in the engine"):
        run.wait(10)
    assert run.done
    assert all_terminal(run)
