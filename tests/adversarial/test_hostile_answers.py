"""Hostile answers: huge, deeply nested, wrong types, unknown ids; nothing breaks or is lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import wait_until

import taskbeam as tb
from taskbeam.broadcast._requests import BadRequest, parse

SCHEMA = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "string"}, "maxItems": 10}},
    "required": ["items"],
}


@pytest.fixture
def run() -> Iterator[tb.Run]:
    g = tb.Graph("hostile")

    @g.task
    async def form() -> Any:
        return await tb.ask("Edit", schema=SCHEMA, data={"items": []})

    @g.task
    async def pick() -> Any:
        return await tb.ask("Pick", choices=["a", "b"])

    @g.task
    async def text() -> Any:
        return await tb.ask("Say")

    r = tb.start(g)
    wait_until(lambda: len(r.questions()) == 3)
    yield r
    r.cancel()
    r.wait(20)


def by_node(run: tb.Run) -> dict[str, tb.Question]:
    return {q.node_id: q for q in run.questions()}


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"items": [value]}
    return value


class Weird:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    __hash__ = None  # type: ignore[assignment]


HOSTILE: list[Any] = [
    None,
    1,
    1.5,
    float("nan"),
    float("inf"),
    True,
    b"bytes",
    ["a"] * 200_000,
    "x" * 5_000_000,
    {"items": ["y" * 10_000] * 200},
    nested(100_000),
    {1: "int key"},
    {"items": {"a", "b"}},
    Weird(),
    object(),
    {"items": [Weird()]},
    lambda: "a",
]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__)
def test_a_hostile_value_is_refused_clearly_and_the_question_stays_open(
    run: tb.Run, value: Any
) -> None:
    for node in ("form", "pick", "text"):
        q = by_node(run)[node]
        with pytest.raises(tb.AnswerError) as info:  # nothing here fits every question
            run.answer(q.id, value)
        assert str(info.value) and len(str(info.value)) < 2000
        assert q.id in {x.id for x in run.questions()}
    # and the run still answers
    qs = by_node(run)
    run.answer(qs["pick"].id, "a")
    run.answer(qs["text"].id, "fine")
    run.answer(qs["form"].id, {"items": ["ok"]})
    run.wait(20)
    assert run.results == {"pick": "a", "text": "fine", "form": {"items": ["ok"]}}


@pytest.mark.parametrize(
    "qid",
    ["", "q-", "q-ffffffffffffffff", "../../etc", "x" * 100_000, 5, None, ["q-1"], "\x00"],
    ids=repr,
)
def test_unknown_or_malformed_ids_are_clear_errors(run: tb.Run, qid: Any) -> None:
    with pytest.raises(tb.AnswerError):
        run.answer(qid, "a")
    assert len(run.questions()) == 3


@pytest.mark.parametrize(
    "message",
    [
        {"type": "answer"},
        {"type": "answer", "question_id": "q-1"},
        {"type": "answer", "value": 1},
        {"type": "answer", "question_id": 7, "value": 1},
        {"type": "answer", "question_id": "q\x07", "value": 1},
        {"type": "answer", "question_id": "q" * 5000, "value": 1},
    ],
)
def test_bad_answer_requests_are_refused_by_the_table(message: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        parse("socketio", message)


def test_a_flood_of_answers_from_many_threads_leaves_the_run_sound(run: tb.Run) -> None:
    qs = by_node(run)
    errors: list[str] = []

    def hammer(i: int) -> None:
        for j in range(50):
            try:
                run.answer(qs["pick"].id, ["a", "b", "c", 1, None][(i + j) % 5])
            except tb.AnswerError as exc:
                errors.append(str(exc))

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 8 * 50 - 1  # exactly one answer was taken
    assert {q.node_id for q in run.questions()} == {"form", "text"}


def test_a_task_with_hostile_questions_fails_clearly_at_its_ask() -> None:
    g = tb.Graph("bad-asks")

    @g.task
    async def bad_schema() -> Any:
        return await tb.ask("?", schema={"type": 12})

    @g.task
    async def bad_data() -> Any:
        return await tb.ask("?", data=nested(10_000))

    @g.task
    async def bad_key() -> Any:
        return await tb.ask("?", key="k" * 5000)

    run = tb.start(g).wait(20)
    nodes = run.snapshot()["nodes"]
    assert "not a valid JSON Schema" in nodes["bad_schema"]["error"]["message"]
    assert "nested deeper" in nodes["bad_data"]["error"]["message"]
    assert "key" in nodes["bad_key"]["error"]["message"]
    assert run.questions() == []
