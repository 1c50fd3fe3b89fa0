"""OpenTelemetry spans of runs, read back with the SDK's in-memory exporter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import taskbeam as tb
from taskbeam.otel import metric_attributes


def until(cond: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError("condition not met in time")


@pytest.fixture
def exporter() -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter, provider
    provider.shutdown()


def nested_graph() -> tb.Graph:
    g = tb.Graph("otel")
    tries = {"n": 0}

    def flaky() -> int:
        tries["n"] += 1
        if tries["n"] == 1:
            raise ValueError("first try")
        return 1

    def leaf() -> int:
        return 2

    def root(flaky: int) -> Any:
        sub = tb.Graph("sub")
        sub.add("x", leaf, tags=("llm",))
        sub.add("y", leaf)
        return tb.expand(sub, aggregate=lambda r: sum(r.values()))

    def broken() -> None:
        raise KeyError("nope")

    g.add("flaky", flaky, retries=2, backoff=0.01)
    g.add("root", root, deps=["flaky"], label="Root step")
    g.add("broken", broken)
    g.add("after", lambda broken: broken, deps=["broken"])
    return g


def test_a_span_per_node_under_the_run_and_expanded_parents(
    exporter: tuple[InMemorySpanExporter, TracerProvider],
) -> None:
    memory, provider = exporter
    run = tb.start(nested_graph(), tracer=provider.get_tracer("test")).wait(20)
    spans = {s.attributes.get("taskbeam.node.id", "run"): s for s in memory.get_finished_spans()}
    assert set(spans) == {
        "run",
        "flaky",
        "root",
        "root/x",
        "root/y",
        "broken",
    }  # "after" was skipped
    root_span = spans["run"]
    assert root_span.parent is None and root_span.name == "taskbeam run otel"
    assert root_span.attributes["taskbeam.run.status"] == "failed"
    for node in ("flaky", "root", "broken"):
        assert spans[node].parent.span_id == root_span.context.span_id
    for child in ("root/x", "root/y"):
        assert spans[child].parent.span_id == spans["root"].context.span_id
        assert spans[child].context.trace_id == root_span.context.trace_id
    assert spans["root"].name == "Root step"
    assert spans["root/x"].attributes["taskbeam.node.tags"] == ("llm",)
    flaky = spans["flaky"]
    assert flaky.attributes["taskbeam.node.attempt"] == 2
    assert flaky.attributes["taskbeam.node.status"] == "done"
    (retry,) = [e for e in flaky.events if e.name == "taskbeam.retry"]
    assert retry.attributes["error.type"] == "ValueError" and retry.attributes["attempt"] == 1
    assert spans["broken"].status.status_code is StatusCode.ERROR
    assert "KeyError" in (spans["broken"].status.description or "")
    assert spans["root"].start_time <= spans["root/x"].start_time <= spans["root/x"].end_time
    assert spans["root/x"].end_time <= spans["root"].end_time <= root_span.end_time
    assert run.status.value == "failed"


def test_questions_are_span_events(exporter: tuple[InMemorySpanExporter, TracerProvider]) -> None:
    memory, provider = exporter
    g = tb.Graph("asks")

    @g.task
    async def plan() -> Any:
        return await tb.ask("Approve?", choices=["yes", "no"])

    run = tb.start(g, tracer=provider.get_tracer("test"))
    question = until(run.questions)[0]
    run.answer(question.id, "yes")
    run.wait(20)
    (span,) = [
        s for s in memory.get_finished_spans() if s.attributes.get("taskbeam.node.id") == "plan"
    ]
    names = [e.name for e in span.events]
    assert names == ["taskbeam.question", "taskbeam.answered"]
    assert span.events[0].attributes["question.prompt"] == "Approve?"
    assert span.events[0].attributes["question.id"] == question.id


def test_instrument_covers_every_run_until_undone(
    exporter: tuple[InMemorySpanExporter, TracerProvider],
) -> None:
    memory, provider = exporter
    g = tb.Graph("plain")
    g.add("a", lambda: 1)
    undo = tb.instrument(provider)
    try:
        tb.start(g).wait(20)
    finally:
        undo()
    assert {s.name for s in memory.get_finished_spans()} == {"taskbeam run plain", "a"}
    memory.clear()
    tb.start(g).wait(20)
    assert memory.get_finished_spans() == ()


def test_token_metrics_get_the_genai_names() -> None:
    assert metric_attributes("tokens_in", 120) == {
        "taskbeam.metric.tokens_in": 120,
        "gen_ai.usage.input_tokens": 120,
    }
    assert metric_attributes("tokens_out", 7.0)["gen_ai.usage.output_tokens"] == 7
    assert metric_attributes("cost", 0.25) == {"taskbeam.metric.cost": 0.25}
    assert metric_attributes("odd", [1]) == {}


def test_the_service_gives_its_tracer_to_every_run(
    exporter: tuple[InMemorySpanExporter, TracerProvider],
) -> None:
    memory, provider = exporter
    g = tb.Graph("served")
    g.add("a", lambda: 1)
    with tb.ExecutionService(tracer=provider.get_tracer("svc")) as svc:
        svc.start("p", g).wait(20)
    assert {s.name for s in memory.get_finished_spans()} == {"taskbeam run served", "a"}


def test_a_continued_run_takes_a_tracer_too(
    exporter: tuple[InMemorySpanExporter, TracerProvider], tmp_path: Any
) -> None:
    memory, provider = exporter
    fixed = {"ok": False}

    def shaky() -> int:
        if not fixed["ok"]:
            raise RuntimeError("not yet")
        return 1

    g = tb.Graph("again")
    g.add("solid", lambda: 1)
    g.add("shaky", shaky)
    store = tb.SQLiteStore(tmp_path / "runs.db")
    try:
        first = tb.start(g, store=store).wait(20)
        assert first.status.value == "failed"
        fixed["ok"] = True
        again = tb.open_run(first.id, store, graph=g).continue_run(tracer=provider.get_tracer("t"))
        again.wait(20)
        names = sorted(s.name for s in memory.get_finished_spans())
        assert names == ["shaky", "taskbeam run again"]  # "solid" was reused, not run
    finally:
        store.close()
