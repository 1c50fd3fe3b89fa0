"""The engine for real: threads, event loops, pools, timeouts, retries, recursion."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest
from tests.conftest import wait_until

import taskbeam as tb


def chain_graph() -> tb.Graph:
    g = tb.Graph("chain")
    g.add("a", lambda: 1)
    g.add("b", lambda a: a + 1, deps=["a"])
    g.add("c", lambda b: b * 10, deps=["b"])
    return g


def test_start_returns_at_once_and_runs_in_a_named_thread() -> None:
    gate = threading.Event()
    seen: dict[str, Any] = {}

    async def slow() -> str:
        seen["thread"] = threading.current_thread().name
        seen["loop"] = asyncio.get_running_loop()
        await asyncio.get_running_loop().run_in_executor(None, gate.wait, 5)
        return "ok"

    g = tb.Graph("bg")
    g.add("slow", slow)
    t0 = time.monotonic()
    run = tb.start(g)
    assert time.monotonic() - t0 < 0.5
    assert run.status == "running"
    wait_until(lambda: "thread" in seen)
    assert seen["thread"] == f"taskbeam-run-{run.id}"
    gate.set()
    assert run.wait(5) is run
    assert run.status == tb.RunStatus.DONE and run.done
    assert seen["loop"].is_closed()
    assert run._thread is not None and not run._thread.is_alive()
    assert run.results == {"slow": "ok"}


def test_results_flow_along_edges_sync_and_async() -> None:
    g = chain_graph()

    async def d(c: int, b: int) -> int:
        await asyncio.sleep(0)
        return c + b

    g.add("d", d, deps=["c", "b"])
    run = tb.start(g).wait(5)
    assert run.results == {"a": 1, "b": 2, "c": 20, "d": 22}
    assert run.result("d") == 22


def test_wait_timeout_raises() -> None:
    g = tb.Graph("slow")
    g.add("s", asyncio.sleep, kwargs={"delay": 5})
    run = tb.start(g)
    with pytest.raises(TimeoutError):
        run.wait(0.05)
    run.cancel()
    assert run.wait(5).status == "cancelled"


def test_pause_starts_nothing_until_resume() -> None:
    started: list[str] = []

    async def work(i: int) -> int:
        started.append(f"n{i}")
        await asyncio.sleep(0.02)
        return i

    g = tb.Graph("pausing")
    for i in range(12):
        g.add(f"n{i}", work, kwargs={"i": i})
    run = tb.start(g, max_concurrency=2)
    wait_until(lambda: len(started) >= 2)
    run.pause()
    assert run.status == "paused"
    wait_until(lambda: run.counts.get("running", 0) == 0)
    frozen = len(started)
    time.sleep(0.2)  # a window in which nothing may start
    assert len(started) == frozen < 12
    run.resume()
    assert run.wait(5).status == "done"
    assert len(started) == 12


def test_cancel_cancels_running_async_tasks_and_ends_every_node() -> None:
    cancelled: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    g = tb.Graph("cancel")
    for i in range(4):
        g.add(f"f{i}", forever, kwargs={"name": f"f{i}"})
    g.add("after", lambda f0: None, deps=["f0"])
    run = tb.start(g, max_concurrency=3)
    wait_until(lambda: run.counts.get("running") == 3)
    run.cancel()
    run.wait(5)
    assert run.status == "cancelled"
    assert sorted(cancelled) == ["f0", "f1", "f2"]
    assert {n["status"] for n in run.snapshot()["nodes"].values()} == {"cancelled"}


def test_cancel_node_skips_its_downstream_only() -> None:
    async def forever() -> None:
        await asyncio.sleep(60)

    g = tb.Graph("cn")
    g.add("a", forever)
    g.add("b", lambda a: a, deps=["a"])
    g.add("c", lambda: "c")
    run = tb.start(g)
    wait_until(lambda: run.snapshot()["nodes"]["a"]["status"] == "running")
    run.cancel_node("a")
    run.wait(5)
    statuses = {k: v["status"] for k, v in run.snapshot()["nodes"].items()}
    assert statuses == {"a": "cancelled", "b": "skipped", "c": "done"}
    assert run.status == "cancelled"
    with pytest.raises(KeyError, match="no node 'zz'"):
        run.cancel_node("zz")


def test_async_timeout_fails_the_node_promptly() -> None:
    g = tb.Graph("t")
    g.add("slow", asyncio.sleep, kwargs={"delay": 30}, timeout=0.1)
    t0 = time.monotonic()
    run = tb.start(g).wait(5)
    assert time.monotonic() - t0 < 2
    node = run.snapshot()["nodes"]["slow"]
    assert node["status"] == "failed"
    assert node["error"]["type"] == "taskbeam.NodeTimeout"
    assert "timed out after 0.1 s" in node["error"]["message"]


def test_sync_timeout_fails_at_once_while_the_thread_finishes_later() -> None:
    release = threading.Event()
    finished = threading.Event()

    def stuck() -> str:
        release.wait(10)
        finished.set()
        return "late"

    g = tb.Graph("t")
    g.add("stuck", stuck, timeout=0.1)
    g.add("next", lambda stuck: stuck, deps=["stuck"])
    run = tb.start(g).wait(5)
    assert run.status == "failed"
    assert not finished.is_set()
    assert {k: v["status"] for k, v in run.snapshot()["nodes"].items()} == {
        "stuck": "failed",
        "next": "skipped",
    }
    release.set()
    assert finished.wait(5)
    assert run.snapshot()["nodes"]["stuck"]["status"] == "failed"  # late result discarded


def test_retries_with_backoff_then_success() -> None:
    calls: list[float] = []
    subscribed = threading.Event()

    def flaky() -> str:
        subscribed.wait(5)
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError(f"try {len(calls)}")
        return "ok"

    events: list[tb.Event] = []
    g = tb.Graph("r")
    g.add("flaky", flaky, retries=2, backoff=0.05)
    run = tb.start(g, seed=1)
    run.subscribe(events.append)
    subscribed.set()
    run.wait(5)
    assert run.result("flaky") == "ok"
    assert run.snapshot()["nodes"]["flaky"]["attempt"] == 3
    assert calls[1] - calls[0] >= 0.05 * 0.5 and calls[2] - calls[1] >= 0.1 * 0.5
    statuses = [e.new for e in events if e.node_id == "flaky"]
    assert statuses.count("retrying") == 2


def test_retries_exhausted_keeps_type_message_traceback() -> None:
    def boom() -> None:
        raise ValueError("bad input 42")

    g = tb.Graph("r")
    g.add("boom", boom, retries=1, backoff=0)
    run = tb.start(g).wait(5)
    assert run.status == "failed"
    details = run.details("boom")
    assert details["attempt"] == 2
    assert details["error"]["type"] == "ValueError"
    assert details["error"]["message"] == "bad input 42"
    assert "in boom" in details["error"]["traceback"]
    with pytest.raises(LookupError, match="it is failed: ValueError: bad input 42"):
        run.result("boom")


def test_on_error_continue_skips_downstream_and_finishes_independent_branches() -> None:
    g = tb.Graph("continue")
    g.add("bad", lambda: 1 / 0)
    g.add("down", lambda bad: bad, deps=["bad"])
    g.add("further", lambda down: down, deps=["down"])
    g.add("ok", lambda: "fine")
    g.add("ok2", lambda ok: ok * 2, deps=["ok"])
    run = tb.start(g, on_error="continue").wait(5)
    statuses = {k: v["status"] for k, v in run.snapshot()["nodes"].items()}
    assert statuses == {
        "bad": "failed",
        "down": "skipped",
        "further": "skipped",
        "ok": "done",
        "ok2": "done",
    }
    assert run.status == "failed"
    assert run.result("ok2") == "finefine"


def test_fail_fast_cancels_what_is_still_running() -> None:
    async def long() -> None:
        await asyncio.sleep(60)

    async def bad() -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("stop")

    g = tb.Graph("ff")
    g.add("long", long)
    g.add("bad", bad)
    g.add("later", lambda bad: None, deps=["bad"])
    run = tb.start(g, on_error="fail_fast").wait(5)
    statuses = {k: v["status"] for k, v in run.snapshot()["nodes"].items()}
    assert statuses == {"long": "cancelled", "bad": "failed", "later": "skipped"}
    assert run.status == "failed"


def test_concurrency_and_tag_limits_are_never_exceeded() -> None:
    lock = threading.Lock()
    now = {"all": 0, "llm": 0}
    peak = {"all": 0, "llm": 0}

    async def work(llm: bool) -> None:
        with lock:
            now["all"] += 1
            now["llm"] += llm
            peak["all"] = max(peak["all"], now["all"])
            peak["llm"] = max(peak["llm"], now["llm"])
        await asyncio.sleep(0.005)
        with lock:
            now["all"] -= 1
            now["llm"] -= llm

    g = tb.Graph("limits")
    for i in range(40):
        llm = i % 2 == 0
        g.add(f"n{i}", work, kwargs={"llm": llm}, tags=["llm"] if llm else [])
    run = tb.start(g, max_concurrency=5, limits={"llm": 2}).wait(10)
    assert run.status == "done"
    assert peak == {"all": 5, "llm": 2}


def test_priority_orders_the_ready_queue() -> None:
    order: list[str] = []
    g = tb.Graph("prio")
    for name, prio in [("low", 0), ("high", 10), ("mid", 5), ("high2", 10)]:
        g.add(name, lambda name=name: order.append(name), priority=prio)
    tb.start(g, max_concurrency=1).wait(5)
    assert order == ["high", "high2", "mid", "low"]


def test_a_sync_task_may_call_asyncio_run() -> None:
    async def inner() -> int:
        await asyncio.sleep(0)
        return 7

    g = tb.Graph("nested")
    g.add("s", lambda: asyncio.run(inner()))
    assert tb.start(g).wait(5).result("s") == 7


def _library_that_runs_its_own_loop() -> int:
    async def inner() -> int:
        await asyncio.sleep(0.01)  # a real suspension inside the inner run
        return 5

    coro = inner()
    try:
        return asyncio.run(coro)
    except RuntimeError:
        coro.close()
        raise


async def _async_caller() -> int:
    await asyncio.sleep(0.01)
    first = _library_that_runs_its_own_loop()
    await asyncio.sleep(0.01)
    return first + _library_that_runs_its_own_loop()


def test_nested_loops_is_opt_in_and_private_to_the_run() -> None:
    g = tb.Graph("nest")
    g.add("a", _async_caller)
    g.add("b", _async_caller)
    plain = tb.start(g).wait(5)
    assert plain.status == "failed"
    assert "cannot be called from a running event loop" in plain.details("a")["error"]["message"]
    nested = tb.start(g, nested_loops=True).wait(5)
    assert nested.results == {"a": 10, "b": 10}
    # everything outside that run is untouched: tasks are C tasks, loops are plain,
    # and asyncio.run outside a nested run is the original one
    assert asyncio.Task is asyncio.tasks._CTask  # type: ignore[attr-defined]
    other = asyncio.new_event_loop()
    assert type(other).run_until_complete is asyncio.BaseEventLoop.run_until_complete
    other.close()
    assert asyncio.run(asyncio.sleep(0, "plain")) == "plain"
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    assert tb.start(g).wait(5).status == "failed"  # a later plain run is not nested


def test_recursion_three_levels_deep() -> None:
    from taskbeam.examples import FakeLLM, research_graph

    run = tb.start(research_graph("t", depth=3, breadth=2, llm=FakeLLM(delay=0.001))).wait(10)
    assert run.status == "done", run.snapshot()
    snap = run.snapshot()["nodes"]
    assert len(snap) == 2 + 2 + 4 + 8
    assert snap["root/q1/q2/q1"]["parent"] == "root/q1/q2"
    assert snap["root/q1/q2"]["parent"] == "root/q1"
    root = run.result("root")
    assert root.startswith("[t: [t.1: [t.1.1: answer(t.1.1.1)")
    assert run.result("report").startswith("report on t")


def test_expand_runs_children_under_the_same_limits() -> None:
    lock = threading.Lock()
    live = [0, 0]

    async def leaf() -> int:
        with lock:
            live[0] += 1
            live[1] = max(live[1], live[0])
        await asyncio.sleep(0.01)
        with lock:
            live[0] -= 1
        return 1

    def plan() -> tb.Expansion:
        sub = tb.Graph()
        for i in range(10):
            sub.add(f"l{i}", leaf)
        return tb.expand(sub, aggregate=lambda r: sum(r.values()))

    g = tb.Graph("limits")
    g.add("p1", plan)
    g.add("p2", plan)
    run = tb.start(g, max_concurrency=3).wait(10)
    assert run.results["p1"] == run.results["p2"] == 10
    assert live[1] == 3


def test_depth_beyond_max_depth_fails_that_node() -> None:
    def dig(level: int = 0) -> tb.Expansion:
        sub = tb.Graph()
        sub.add("deeper", dig, kwargs={"level": level + 1})
        return tb.expand(sub)

    g = tb.Graph("deep")
    g.add("dig", dig)
    run = tb.start(g, max_depth=2).wait(5)
    nodes = run.snapshot()["nodes"]
    assert nodes["dig/deeper/deeper"]["error"]["type"] == "taskbeam.DepthError"
    assert "max_depth=2" in nodes["dig/deeper/deeper"]["error"]["message"]
    assert nodes["dig"]["status"] == "failed"
    assert nodes["dig"]["error"]["type"] == "ChildFailed"


def test_a_failing_child_fails_the_parent_after_its_siblings_finish() -> None:
    async def sibling() -> str:
        await asyncio.sleep(0.05)
        return "done"

    def plan() -> tb.Expansion:
        sub = tb.Graph()
        sub.add("bad", lambda: 1 / 0)
        sub.add("sib", sibling)
        return tb.expand(sub, aggregate=lambda r: r)

    g = tb.Graph("child-fail")
    g.add("plan", plan)
    g.add("after", lambda plan: plan, deps=["plan"])
    run = tb.start(g, on_error="continue").wait(5)
    nodes = {k: v["status"] for k, v in run.snapshot()["nodes"].items()}
    assert nodes == {
        "plan": "failed",
        "after": "skipped",
        "plan/bad": "failed",
        "plan/sib": "done",
    }
    assert "child 'plan/bad' failed: ZeroDivisionError" in run.details("plan")["error"]["message"]


def test_an_invalid_subgraph_fails_the_parent() -> None:
    def plan() -> tb.Expansion:
        sub = tb.Graph()
        sub.add("a", lambda b: b, deps=["b"])
        sub.add("b", lambda a: a, deps=["a"])
        return tb.expand(sub)

    g = tb.Graph("bad-sub")
    g.add("plan", plan)
    run = tb.start(g).wait(5)
    assert run.details("plan")["error"]["type"] == "taskbeam.GraphError"


def test_async_aggregate_and_empty_expansion() -> None:
    async def agg(results: dict[str, int]) -> int:
        await asyncio.sleep(0)
        return sum(results.values())

    def plan(n: int) -> tb.Expansion:
        sub = tb.Graph()
        for i in range(n):
            sub.add(f"c{i}", lambda i=i: i)
        return tb.expand(sub, aggregate=agg)

    g = tb.Graph("agg")
    g.add("three", plan, kwargs={"n": 3})
    g.add("none", plan, kwargs={"n": 0})
    assert tb.start(g).wait(5).results == {
        "three": 3,
        "none": 0,
        "three/c0": 0,
        "three/c1": 1,
        "three/c2": 2,
    }


def test_events_are_ordered_and_a_raising_subscriber_does_no_harm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = threading.Event()
    g = chain_graph()
    g.add("gate", lambda: gate.wait(5))
    run = tb.start(g)
    events: list[tb.Event] = []

    def bad(event: tb.Event) -> None:
        raise RuntimeError("subscriber bug")

    run.subscribe(bad)
    unsubscribe = run.subscribe(events.append)
    with caplog.at_level(logging.ERROR, logger="taskbeam"):
        gate.set()
        run.wait(5)
    assert run.status == "done"
    assert "subscriber bug" in caplog.text
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(e.run_id == run.id for e in events)
    assert events[-1].node_id is None and events[-1].new == "done"
    assert threading.current_thread().name not in {e.run_id for e in events}
    unsubscribe()


def test_subscriber_runs_on_the_run_thread() -> None:
    names: set[str] = set()
    gate = threading.Event()
    g = tb.Graph("sub")
    g.add("gate", lambda: gate.wait(5))
    run = tb.start(g)
    run.subscribe(lambda e: names.add(threading.current_thread().name))
    gate.set()
    run.wait(5)
    assert names == {f"taskbeam-run-{run.id}"}


def test_output_is_captured_per_node_and_not_printed(capsys: pytest.CaptureFixture[str]) -> None:
    def talk() -> int:
        print("hello from sync")
        return 1

    async def talk_async() -> int:
        print("hello from async")
        import sys

        print("to stderr", file=sys.stderr)
        return 2

    g = tb.Graph("out")
    g.add("s", talk)
    g.add("a", talk_async)
    run = tb.start(g).wait(5)
    out = capsys.readouterr()
    assert "hello" not in out.out and "stderr" not in out.err
    assert run.details("s")["output"] == "hello from sync\n"
    assert run.details("a")["output"] == "hello from async\nto stderr\n"
    print("main thread still prints")
    assert capsys.readouterr().out == "main thread still prints\n"


def test_async_output_is_captured_across_steps_child_tasks_and_threads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate = threading.Event()

    async def talk() -> int:
        print("first step")
        while not gate.is_set():
            await asyncio.sleep(0.005)
        print("after a suspension")

        async def child() -> None:
            print("from a child task")

        await asyncio.create_task(child())
        await asyncio.to_thread(print, "from to_thread")
        return 1

    async def quick() -> int:
        print("quick")
        return 2

    async def after(talk: int, quick: int) -> int:
        return talk + quick

    g = tb.Graph("out-async")
    g.add("talk", talk)
    g.add("quick", quick)
    g.add("after", after, deps=["talk", "quick"])
    run = tb.start(g)
    run.subscribe(lambda e: print(f"event {e.node_id} {e.new}"))  # not a node's output
    gate.set()
    run.wait(5)
    assert run.result("after") == 3
    assert run.details("talk")["output"] == (
        "first step\nafter a suspension\nfrom a child task\nfrom to_thread\n"
    )
    assert run.details("quick")["output"] == "quick\n"
    assert "output" not in run.details("after")
    assert "event after done" in capsys.readouterr().out


def test_an_async_task_sees_its_own_task_in_the_first_step_and_after() -> None:
    async def check() -> bool:
        first = asyncio.current_task()
        async with asyncio.timeout(1):
            await asyncio.sleep(0)
        return first is not None and first is asyncio.current_task()

    g = tb.Graph("current")
    g.add("c", check)
    assert tb.start(g).wait(5).result("c") is True


@pytest.mark.parametrize("suspend", [False, True])
def test_an_async_task_that_raises_systemexit_or_cancels_itself_fails_alone(
    suspend: bool,
) -> None:
    async def exits() -> None:
        if suspend:
            await asyncio.sleep(0.01)
        raise SystemExit(3)

    async def interrupted() -> None:
        if suspend:
            await asyncio.sleep(0.01)
        raise KeyboardInterrupt("stop")

    async def cancels_itself() -> None:
        if suspend:
            await asyncio.sleep(0.01)
        raise asyncio.CancelledError("by itself")

    g = tb.Graph("base-exceptions")
    g.add("exits", exits)
    g.add("interrupted", interrupted)
    g.add("cancels", cancels_itself)
    g.add("other", lambda: "fine")
    run = tb.start(g).wait(5)
    assert run.status == "failed"
    assert run.result("other") == "fine"
    errors = {i: run.details(i)["error"] for i in ("exits", "interrupted", "cancels")}
    assert errors["exits"]["type"] == "SystemExit" and errors["exits"]["message"] == "3"
    assert errors["interrupted"]["type"] == "KeyboardInterrupt"
    assert errors["cancels"]["type"] == "asyncio.exceptions.CancelledError"
    assert errors["cancels"]["message"] == "by itself"
    assert "in cancels_itself" in run.details("cancels")["error"]["traceback"]


def test_subscribers_never_print_into_a_nodes_output(capsys: pytest.CaptureFixture[str]) -> None:
    gate = threading.Event()

    def sync_step() -> int:
        gate.wait(5)  # done on a worker thread, reported through the inbox
        return 1

    async def agg(results: dict[str, int]) -> int:
        await asyncio.sleep(0.01)
        return sum(results.values())

    def plan() -> tb.Expansion:
        sub = tb.Graph()
        sub.add("c", lambda: 1)
        return tb.expand(sub, aggregate=agg)

    g = tb.Graph("quiet")
    g.add("s", sync_step)
    g.add("p", plan)
    run = tb.start(g)
    run.subscribe(lambda event: print(f"saw {event.node_id} {event.new}"))
    gate.set()
    run.wait(5)
    assert "output" not in run.details("s")
    assert "output" not in run.details("p")
    assert "saw s" in capsys.readouterr().out  # printed where the subscriber runs: nowhere hidden


def test_captured_output_keeps_only_the_tail() -> None:
    def chatty() -> None:
        for i in range(1000):
            print(f"line {i:04d}")

    g = tb.Graph("tail")
    g.add("c", chatty)
    output = tb.start(g, output_limit=100).wait(5).details("c")["output"]
    assert len(output) == 100
    assert output.endswith("line 0999\n")


def test_any_result_gets_a_safe_preview() -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    g = tb.Graph("prev")
    g.add("weird", Weird)
    g.add("big", lambda: "x" * 10_000)
    g.add("lock", threading.Lock)
    run = tb.start(g).wait(5)
    nodes = run.snapshot()["nodes"]
    assert nodes["weird"]["preview"].startswith("<Weird instance at 0x")
    assert len(nodes["big"]["preview"]) <= 120
    assert "lock" in nodes["lock"]["preview"]


def test_await_run_from_a_running_loop_does_not_block_it() -> None:
    gate = threading.Event()
    g = tb.Graph("awaited")
    g.add("w", lambda: gate.wait(5) and "ok")

    async def main() -> tuple[tb.Run, int]:
        run = tb.start(g)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while not run.done:
                ticks += 1
                if ticks == 5:
                    gate.set()
                await asyncio.sleep(0.005)

        t = asyncio.create_task(ticker())
        finished = await run
        await t
        return finished, ticks

    finished, ticks = asyncio.run(main())
    assert finished.result("w") == "ok"
    assert ticks >= 5


def test_bad_options_are_clear_errors() -> None:
    g = chain_graph()
    with pytest.raises(ValueError, match="on_error must be one of"):
        tb.start(g, on_error="explode")
    with pytest.raises(ValueError, match="max_concurrency must be an int >= 1"):
        tb.start(g, max_concurrency=0)
    with pytest.raises(ValueError, match=r"limits\['llm'\] must be an int >= 1"):
        tb.start(g, limits={"llm": 0})
    with pytest.raises(TypeError, match="taskbeam.Graph"):
        tb.start({"a": 1})  # type: ignore[arg-type]


def test_snapshot_is_plain_json_without_nulls() -> None:
    import json

    def fail() -> None:
        raise KeyError("k")

    g = chain_graph()
    g.add("fail", fail)
    run = tb.start(g).wait(5)
    snap = run.snapshot()
    text = json.dumps(snap)
    assert "null" not in text
    assert snap["run"]["status"] == "failed"
    assert snap["run"]["counts"]["done"] == 3 and snap["run"]["counts"]["failed"] == 1
    assert snap["edges"] == [["a", "b"], ["b", "c"]]
    assert snap["nodes"]["fail"]["error"] == {"type": "KeyError", "message": "'k'"}
