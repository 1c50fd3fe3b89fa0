"""Questions inside live runs: waiting, answering from other threads, timeouts, cancel."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import taskbeam as tb
from taskbeam.broadcast._requests import REQUESTS, answer, parse
from taskbeam.testing import MemorySubscriber


def until(cond: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError("condition not met in time")


def asked(run: tb.Run, n: int) -> list[tb.Question]:
    def enough() -> list[tb.Question] | None:
        qs = run.questions()
        return qs if len(qs) >= n else None

    return until(enough)


def test_async_and_sync_tasks_ask_and_get_the_answer() -> None:
    g = tb.Graph("ask")

    @g.task
    async def plan() -> Any:
        return await tb.ask("Approve?", data={"subtopics": ["a"]}, choices=["approve", "abort"])

    def publish() -> Any:
        return tb.ask_sync("Title?", timeout=60)

    g.add("publish", publish)
    run = tb.start(g)
    questions = {q.node_id: q for q in asked(run, 2)}
    assert set(questions) == {"plan", "publish"}
    plan_q = questions["plan"]
    assert plan_q.key == "plan:0" and plan_q.choices == ("approve", "abort")
    assert plan_q.deadline is None and questions["publish"].deadline is not None
    snap = run.snapshot()
    assert snap["nodes"]["plan"]["status"] == "waiting"
    assert snap["nodes"]["plan"]["question"] == {
        "id": plan_q.id,
        "prompt": "Approve?",
        "choices": ["approve", "abort"],
        "preview": '{"subtopics":["a"]}',
    }
    assert snap["run"]["counts"]["waiting"] == 2 and snap["run"]["status"] == "running"
    details = run.details("plan")
    assert details["questions"] == [plan_q.to_dict()]
    with pytest.raises(tb.AnswerError, match="not one of the choices"):
        run.answer(plan_q.id, "maybe")
    assert run.questions()[0].id == plan_q.id  # still open
    run.answer(plan_q.id, "approve")
    run.answer(questions["publish"].id, "Report")
    run.wait(20)
    assert run.results == {"plan": "approve", "publish": "Report"}
    assert "question" not in run.snapshot()["nodes"]["plan"]
    with pytest.raises(tb.AnswerError, match="already answered"):
        run.answer(plan_q.id, "abort")
    with pytest.raises(tb.AnswerError, match="no question"):
        run.answer("q-0000000000000000", "x")


def test_fifty_questions_in_parallel_branches_and_nested_expansions_each_with_its_own_id() -> None:
    async def leaf(name: str) -> Any:
        return await tb.ask(f"{name}?")

    def level(depth: int, width: int) -> tb.Graph:
        sub = tb.Graph(f"level{depth}")
        for i in range(width):
            if depth < 3:
                sub.add(f"e{i}", expander, kwargs={"depth": depth + 1})
            else:
                sub.add(f"q{i}", leaf, kwargs={"name": f"d{depth}q{i}"})
        return sub

    def expander(depth: int) -> tb.Expansion:
        return tb.expand(level(depth, 2 if depth < 3 else 5), aggregate=lambda r: sorted(r))

    g = tb.Graph("many")
    for i in range(30):
        g.add(f"b{i}", leaf, kwargs={"name": f"b{i}"})
    g.add("deep", expander, kwargs={"depth": 1})  # 2 * 2 * 5 = 20 questions, 3 levels down
    run = tb.start(g, max_concurrency=4)
    questions = asked(run, 50)
    assert len(questions) == 50
    assert len({q.id for q in questions}) == 50 and len({q.key for q in questions}) == 50
    nested = [q for q in questions if q.node_id.count("/") == 3]
    assert len(nested) == 20 and all(q.key == q.node_id + ":0" for q in nested)
    threads = [threading.Thread(target=run.answer, args=(q.id, q.node_id)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.wait(30)
    assert run.status is tb.RunStatus.DONE
    assert run.result("b7") == "b7"
    assert run.result("deep/e0/e1/q3") == "deep/e0/e1/q3"


def test_independent_nodes_keep_running_while_others_wait() -> None:
    g = tb.Graph("busy")
    for i in range(4):
        g.add(f"ask{i}", _asker, kwargs={"text": f"ask{i}"})
    for i in range(40):
        g.add(f"work{i}", lambda: 1)
    run = tb.start(g, max_concurrency=4)
    asked(run, 4)
    until(lambda: run.counts.get("done") == 40)  # four waiters hold no slot
    assert run.counts.get("waiting") == 4
    for q in run.questions():
        run.answer(q.id, "ok")
    assert run.wait(20).status is tb.RunStatus.DONE


def test_asks_in_first_steps_pass_the_slot_on_and_every_change_is_seen() -> None:
    # One slot; every asker asks in the first step of its Task, which runs inside
    # the engine step that started it: each gives the slot to the next one there,
    # and a subscriber sees every asker go running -> waiting.
    gate = threading.Event()

    async def ask(text: str, gate: Any) -> Any:
        return await tb.ask(text)

    g = tb.Graph("first-steps")
    g.add("gate", lambda: gate.wait(20))
    for i in range(30):
        g.add(f"ask{i:02d}", ask, kwargs={"text": f"ask{i}"}, deps=["gate"])
    g.add("after", lambda **_: 1, deps=[f"ask{i:02d}" for i in range(30)])
    events: list[tb.Event] = []
    run = tb.start(g, max_concurrency=1)
    run.subscribe(events.append)
    gate.set()
    assert len(asked(run, 30)) == 30
    until(lambda: run.counts.get("waiting") == 30)
    waited = {e.node_id for e in events if e.old == "running" and e.new == "waiting"}
    assert waited == {f"ask{i:02d}" for i in range(30)}
    for q in run.questions():
        run.answer(q.id, "ok")
    assert run.wait(20).status is tb.RunStatus.DONE
    assert run.result("ask07") == "ok" and run.result("after") == 1


def _append(order: list[str], text: str) -> Callable[..., None]:
    def append(**_: Any) -> None:
        order.append(text)

    return append


async def _asker(text: str) -> Any:
    return await tb.ask(text)


def test_an_answered_node_resumes_before_any_ready_node_within_the_limit() -> None:
    order: list[str] = []
    gate = threading.Event()

    async def first() -> None:
        answer = await tb.ask("go?")
        order.append(f"first resumed {answer}")

    def blocker() -> None:
        gate.wait(20)
        order.append("blocker")

    g = tb.Graph("order")
    g.add("first", first)
    g.add("blocker", blocker)
    for i in range(3):
        g.add(f"later{i}", _append(order, f"later{i}"), deps=["blocker"] if i else [])
    run = tb.start(g, max_concurrency=1)
    q = asked(run, 1)[0]
    until(lambda: run.snapshot()["nodes"]["blocker"]["status"] == "running")
    run.answer(q.id, "yes")  # no slot free (blocker holds it): it waits, as READY later0 does
    assert run.snapshot()["nodes"]["first"]["status"] == "waiting"
    assert run.snapshot()["nodes"]["later0"]["status"] == "ready"
    gate.set()
    run.wait(20)
    assert order.index("first resumed yes") < order.index("later0")


def test_question_timeout_with_a_default_and_without() -> None:
    g = tb.Graph("timeouts")
    joined = threading.Event()
    g.add("gate", lambda: joined.wait(20))  # every ask comes after the viewer joined

    @g.task(deps=["gate"])
    async def defaulted(gate: bool) -> Any:
        return await tb.ask("Publish?", choices=["yes", "no"], default="no", timeout=0.2)

    attempts: list[int] = []

    def strict(gate: bool) -> Any:
        attempts.append(1)
        return tb.ask_sync("Name?", timeout=0.2)

    g.add("strict", strict, deps=["gate"], retries=1, backoff=0.01)
    sub = MemorySubscriber()
    b = tb.Broadcaster(max_delay_ms=5)
    run = tb.start(g)
    sub.join(b, b.attach(run))
    joined.set()
    run.wait(20)
    assert run.result("defaulted") == "no"
    assert run.snapshot()["nodes"]["strict"]["error"]["type"] == "taskbeam.QuestionTimeout"
    assert len(attempts) == 2  # retries apply
    until(
        lambda: sub.receive() >= 0 and len([e for e in sub.events if e["kind"] == "answered"]) >= 3
    )
    by = sorted(e["by"] for e in sub.events if e["kind"] == "answered")
    assert by == ["default", "withdrawn", "withdrawn"]
    assert sorted(e["node_id"] for e in sub.events if e["kind"] == "question") == [
        "defaulted", "strict", "strict",
    ]  # fmt: skip
    b.close()


def test_the_task_timeout_does_not_count_time_spent_waiting() -> None:
    g = tb.Graph("paused-clock")

    @g.task(timeout=0.5)
    async def slow() -> Any:
        await asyncio.sleep(0.2)
        answer = await tb.ask("ok?")
        await asyncio.sleep(0.2)  # 0.4 s of running in all: within 0.5
        return answer

    run = tb.start(g)
    q = asked(run, 1)[0]
    time.sleep(0.8)  # waiting longer than the timeout itself
    run.answer(q.id, "yes")
    run.wait(20)
    assert run.result("slow") == "yes"

    g2 = tb.Graph("still-counts")

    @g2.task(timeout=0.5)
    async def slower() -> Any:
        await asyncio.sleep(0.3)
        await tb.ask("ok?")
        await asyncio.sleep(0.4)  # 0.7 s of running: over

    run2 = tb.start(g2)
    run2.answer(asked(run2, 1)[0].id, "yes")
    run2.wait(20)
    assert run2.snapshot()["nodes"]["slower"]["error"]["type"] == "taskbeam.NodeTimeout"


@pytest.mark.parametrize("how", ["cancel_node", "cancel"])
@pytest.mark.parametrize("kind", ["async", "sync"])
def test_cancel_withdraws_the_questions(how: str, kind: str) -> None:
    seen: list[str] = []

    async def async_task() -> None:
        try:
            await tb.ask("?")
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    def sync_task() -> None:
        try:
            tb.ask_sync("?")
        except BaseException as exc:
            seen.append(type(exc).__name__)
            raise

    g = tb.Graph("cancel")
    g.add("w", async_task if kind == "async" else sync_task)
    g.add("after", lambda w: w, deps=["w"])
    run = tb.start(g)
    q = asked(run, 1)[0]
    getattr(run, how)(*(["w"] if how == "cancel_node" else []))
    run.wait(20)
    assert run.snapshot()["nodes"]["w"]["status"] == "cancelled"
    assert run.questions() == []
    with pytest.raises(tb.AnswerError, match="withdrawn"):
        run.answer(q.id, "late")
    until(lambda: seen)
    assert seen[0] in ("cancelled", "CancelledError")


def test_pause_keeps_questions_answerable() -> None:
    g = tb.Graph("pause")
    g.add("a", _asker, kwargs={"text": "a"})
    g.add("b", lambda a: a, deps=["a"])
    run = tb.start(g)
    q = asked(run, 1)[0]
    run.pause()
    run.answer(q.id, "fine")
    until(lambda: run.snapshot()["nodes"]["a"]["status"] == "done")
    assert run.snapshot()["nodes"]["b"]["status"] == "ready"  # paused: nothing new starts
    run.resume()
    assert run.wait(20).results["b"] == "fine"


def test_one_answer_wins_when_many_threads_answer_at_once() -> None:
    g = tb.Graph("race")
    g.add("a", _asker, kwargs={"text": "a"})
    run = tb.start(g)
    q = asked(run, 1)[0]
    outcomes: list[str] = []
    lock = threading.Lock()

    def give(i: int) -> None:
        try:
            run.answer(q.id, f"v{i}")
            result = "ok"
        except tb.AnswerError as exc:
            result = str(exc)
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=give, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1
    assert all("already answered" in o for o in outcomes if o != "ok")
    run.wait(20)


def test_a_retry_gets_the_answer_of_its_key_at_once_and_keys_can_be_given() -> None:
    calls: list[Any] = []

    async def flaky() -> Any:
        answer = await tb.ask("plan?")
        named = await tb.ask("name?", key="the-name")
        calls.append((answer, named))
        if len(calls) == 1:
            raise RuntimeError("first attempt fails after its answers")
        return answer

    g = tb.Graph("retry")
    g.add("flaky", flaky, retries=1, backoff=0.01)
    run = tb.start(g)
    run.answer(asked(run, 1)[0].id, "p")
    q2 = asked(run, 1)[0]
    assert q2.key == "the-name"
    run.answer(q2.id, "n")
    run.wait(20)
    assert calls == [("p", "n"), ("p", "n")]  # the retry was never asked again
    assert run.result("flaky") == "p"


def test_concurrent_asks_of_one_key_share_the_question() -> None:
    async def both() -> Any:
        return await asyncio.gather(tb.ask("x?", key="k"), tb.ask("x?", key="k"))

    g = tb.Graph("shared")
    g.add("both", both)
    run = tb.start(g)
    qs = asked(run, 1)
    until(lambda: run.snapshot()["nodes"]["both"]["status"] == "waiting")
    assert len(run.questions()) == 1  # both asks were made in the gather's first step
    run.answer(qs[0].id, "once")
    assert run.wait(20).result("both") == ["once", "once"]


def test_asking_outside_a_task_or_from_an_aggregator_is_refused() -> None:
    with pytest.raises(RuntimeError, match="only inside a task"):
        tb.ask_sync("?")
    with pytest.raises(RuntimeError, match="only inside a task"):
        asyncio.run(tb.ask("?"))

    async def agg(results: dict[str, Any]) -> Any:
        return await tb.ask("?")

    g = tb.Graph("agg")
    sub = tb.Graph()
    sub.add("c", lambda: 1)
    g.add("e", lambda: tb.expand(sub, aggregate=agg))
    run = tb.start(g).wait(20)
    assert "aggregator cannot ask" in run.snapshot()["nodes"]["e"]["error"]["message"]


def test_the_request_table_lists_and_answers_questions() -> None:
    g = tb.Graph("requests")
    g.add("a", _asker, kwargs={"text": "a"})
    run = tb.start(g)
    q = asked(run, 1)[0]
    b = tb.Broadcaster()
    room = b.attach(run)
    try:
        entry, fields = parse("comm", {"type": "questions"})
        listed = b.answer(room, entry, fields)
        assert listed == {"type": "questions", "questions": [q.to_dict()]}
        entry, fields = parse("socketio", {"type": "answer", "question_id": q.id, "value": 3})
        assert b.answer(room, entry, fields)["type"] == "error"
        entry, fields = parse("broadcaster", {"type": "answer", "question_id": q.id, "value": "x"})
        assert b.answer(room, entry, fields) == {"type": "ok"}
        assert run.wait(20).result("a") == "x"
        assert "answer" in REQUESTS and answer is not None
    finally:
        b.close()


def test_the_service_lists_questions_across_projects() -> None:
    with tb.ExecutionService() as svc:
        for name in ("p1", "p2"):
            g = tb.Graph(name)
            g.add("a", _asker, kwargs={"text": name})
            svc.start(name, g)
        found = until(lambda: svc.questions() if len(svc.questions()) == 2 else None)
        assert [(p, q.prompt) for p, q in found] == [("p1", "p1"), ("p2", "p2")]
        for project, q in found:
            svc.answer(project, q.id, "done")
        assert svc.get("p2").wait(20).result("a") == "done"
        with pytest.raises(KeyError):
            svc.answer("nope", "q-1", "x")


def test_a_waiting_sync_task_does_not_starve_the_others() -> None:
    def waits() -> Any:
        return tb.ask_sync("?")

    g = tb.Graph("threads")
    for i in range(3):
        g.add(f"w{i}", waits)
    for i in range(10):
        g.add(f"s{i}", lambda i=i: i)
    run = tb.start(g, sync_workers=2, max_concurrency=8)
    asked(run, 3)  # three threads blocked in ask_sync, more than the pool's two
    until(lambda: run.counts.get("done") == 10)
    for q in run.questions():
        run.answer(q.id, "a")
    assert run.wait(20).status is tb.RunStatus.DONE


def test_a_task_that_stops_waiting_on_its_own_runs_on() -> None:
    async def impatient() -> Any:
        try:
            return await asyncio.wait_for(tb.ask("quick?"), 0.2)
        except TimeoutError:
            return "gave up"

    g = tb.Graph("impatient")
    g.add("i", impatient)
    g.add("j", impatient)
    run = tb.start(g, max_concurrency=1)
    assert run.wait(20).results == {"i": "gave up", "j": "gave up"}
    assert run.questions() == []


def test_a_stored_answer_is_announced_and_never_shown() -> None:
    attempts: list[int] = []

    async def twice() -> Any:
        answer = await tb.ask("?")
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("again")
        return answer

    g = tb.Graph("stored-by")
    g.add("t", twice, retries=1, backoff=0.01)
    run = tb.start(g)
    b = tb.Broadcaster(max_delay_ms=5)
    sub = MemorySubscriber()
    sub.join(b, b.attach(run))
    run.answer(asked(run, 1)[0].id, "x")
    run.wait(20)
    until(
        lambda: sub.receive() >= 0 and len([e for e in sub.events if e["kind"] == "answered"]) >= 2
    )
    assert [e["by"] for e in sub.events if e["kind"] == "answered"] == ["person", "stored"]
    assert attempts == [1, 1] and run.result("t") == "x"
    b.close()


def test_ask_sync_in_a_worker_process_is_refused_naming_the_alternative() -> None:
    g = tb.Graph("process")
    g.add("p", _ask_in_process)
    with tb.ProcessExecutor(1) as processes:
        run = tb.start(g, executor=processes).wait(60)
    message = run.snapshot()["nodes"]["p"]["error"]["message"]
    assert "worker process" in message and "LocalExecutor" in message


def _ask_in_process() -> Any:
    return tb.ask_sync("?")


def test_a_thread_given_up_on_cannot_ask_later() -> None:
    late: list[str] = []
    release = threading.Event()

    def slow() -> Any:
        release.wait(20)
        try:
            return tb.ask_sync("too late?")
        except RuntimeError as exc:
            late.append(str(exc))
            raise

    g = tb.Graph("late")
    g.add("slow", slow, timeout=0.1)
    g.add("keep", _asker, kwargs={"text": "keeps the run going"})
    run = tb.start(g)
    until(lambda: run.snapshot()["nodes"]["slow"]["status"] == "failed")
    release.set()
    until(lambda: late)
    assert "cannot ask any more" in late[0]
    [keep] = run.questions()
    run.answer(keep.id, "ok")
    run.wait(20)

    late.clear()
    g2 = tb.Graph("late-end")  # the run has ended by the time the thread asks
    g2.add("slow", slow, timeout=0.1)
    release.clear()
    run2 = tb.start(g2)
    run2.wait(20)
    release.set()
    until(lambda: late)
    assert "its run has ended" in late[0]


def test_a_stored_view_of_a_waiting_node_shows_its_question_and_takes_no_answer(
    tmp_path: Any,
) -> None:
    store = tb.SQLiteStore(tmp_path / "runs.db")
    g = tb.Graph("stored")

    @g.task
    async def gate() -> str:
        return str(await tb.ask("Ship?", choices=["yes", "no"], data={"build": 7}))

    run = tb.start(g, store=store, save_policy=tb.SavePolicy(watched=0.01, unwatched=0.01))
    try:
        deadline = time.monotonic() + 10
        while tb.open_run(run.id, store).snapshot()["nodes"]["gate"]["status"] != "waiting":
            assert time.monotonic() < deadline, "the store never held the waiting node"
            time.sleep(0.02)
        stored = tb.open_run(run.id, store)
        shown = stored.snapshot()["nodes"]["gate"]["question"]
        assert shown == run.snapshot()["nodes"]["gate"]["question"]
        assert shown["choices"] == ["yes", "no"] and shown["preview"] == '{"build":7}'
        b = tb.Broadcaster()
        try:
            room = b.attach(stored)
            message = {"type": "answer", "question_id": shown["id"], "value": 1}
            entry, fields = parse("comm", message)
            refused = b.answer(room, entry, fields)
            assert refused["type"] == "error" and "not running" in refused["error"], refused
        finally:
            b.close()
        run.answer(shown["id"], "yes")
        assert run.wait(10) and run.result("gate") == "yes"
    finally:
        run.cancel()
        run.wait(10)
