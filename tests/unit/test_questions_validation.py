"""Questions as data: ids, the checks of an ask's arguments, answers against choices and schemas."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

import taskbeam as tb
from taskbeam.engine._questions import (
    MAX_DEPTH,
    NO_DEFAULT,
    check_answer,
    check_json,
    make_question,
    question_id,
)


def ask(**options: Any) -> tb.Question:
    return make_question("run-1", "plan", "plan:0", "Approve?", now=100.0, **options)


def test_ids_are_opaque_stable_and_url_safe() -> None:
    qid = question_id("run-1", "plan:0")
    digest = hashlib.blake2b(b"run-1\0plan:0", digest_size=8).hexdigest()
    assert qid == "q-" + digest
    assert qid == question_id("run-1", "plan:0")  # the same run id and key: the same id
    assert qid != question_id("run-2", "plan:0") != question_id("run-1", "plan:1")
    ids = {question_id("r", f"n{i}/c{j}:0") for i in range(50) for j in range(50)}
    assert len(ids) == 2500
    assert all(i.startswith("q-") and len(i) == 18 and i[2:].isalnum() for i in ids)


def test_a_question_as_json_leaves_out_what_it_does_not_have() -> None:
    q = ask()
    assert q.default is NO_DEFAULT and q.deadline is None and q.key == "plan:0"
    assert q.to_dict() == {
        "id": question_id("run-1", "plan:0"),
        "node_id": "plan",
        "key": "plan:0",
        "prompt": "Approve?",
        "asked": 100.0,
    }
    full = ask(data={"subtopics": ["a"]}, choices=["yes", "no"], default="no", timeout=5)
    assert full.to_dict() == {
        "id": full.id,
        "node_id": "plan",
        "key": "plan:0",
        "prompt": "Approve?",
        "data": {"subtopics": ["a"]},
        "choices": ["yes", "no"],
        "default": "no",
        "asked": 100.0,
        "deadline": 105.0,
    }
    assert full.summary() == {
        "id": full.id,
        "prompt": "Approve?",
        "choices": ["yes", "no"],
        "preview": '{"subtopics":["a"]}',
    }
    form = ask(schema={"type": "object"}, data={"x": "y" * 500})
    summary = form.summary()
    assert summary["form"] is True and len(summary["preview"]) == 120
    assert summary["preview"].endswith("…")


def test_no_default_is_one_falsy_sentinel() -> None:
    import pickle

    assert tb.NO_DEFAULT is NO_DEFAULT and not NO_DEFAULT
    assert repr(NO_DEFAULT) == "taskbeam.NO_DEFAULT"
    assert pickle.loads(pickle.dumps(NO_DEFAULT)) is NO_DEFAULT


@pytest.mark.parametrize(
    ("options", "kind", "words"),
    [
        ({"choices": []}, ValueError, "must not be empty"),
        ({"choices": "yes"}, TypeError, "list of JSON scalars"),
        ({"choices": [{"a": 1}]}, TypeError, "JSON scalar"),
        ({"choices": ["a"], "schema": {"type": "string"}}, ValueError, "not both"),
        ({"schema": {"type": "nonsense"}}, ValueError, "not a valid JSON Schema"),
        ({"schema": {"minimum": "zero"}}, ValueError, "not a valid JSON Schema"),
        ({"schema": ["type"]}, TypeError, "schema must be a dict"),
        ({"choices": ["a", "b"], "default": "c"}, ValueError, "default does not fit"),
        ({"schema": {"type": "integer"}, "default": "1"}, ValueError, "default does not fit"),
        ({"default": 3}, ValueError, "default does not fit"),
        ({"timeout": 0}, ValueError, "positive"),
        ({"timeout": float("inf")}, ValueError, "positive"),
        ({"timeout": "10"}, TypeError, "seconds"),
        ({"timeout": True}, TypeError, "seconds"),
        ({"data": object()}, ValueError, "not JSON data"),
        ({"data": {1: "a"}}, ValueError, "JSON keys are str"),
        ({"data": float("nan")}, ValueError, "JSON cannot carry"),
    ],
)  # fmt: skip
def test_a_bad_ask_raises_naming_the_argument(
    options: dict[str, Any], kind: type[Exception], words: str
) -> None:
    with pytest.raises(kind, match=words):
        ask(**options)


def test_a_prompt_must_be_text() -> None:
    with pytest.raises(TypeError, match="prompt as a str"):
        make_question("r", "n", "n:0", 42, now=0.0)


def test_answers_to_choices_are_one_of_them_with_json_types() -> None:
    q = ask(choices=["approve", "edit", 1, True, None])
    for good in ("approve", "edit", 1, 1.0, True, None):
        check_answer(q, good)
    for bad in ("abort", "Approve", 2, False, 0, [], {"approve": 1}):
        with pytest.raises(tb.AnswerError, match="not one of the choices"):
            check_answer(q, bad)
    ones = ask(choices=[1, 2])
    with pytest.raises(tb.AnswerError):
        check_answer(ones, True)  # True is not 1 in JSON


SCHEMA = {
    "type": "object",
    "properties": {
        "subtopics": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "depth": {"type": "integer", "minimum": 1},
        "mode": {"enum": ["fast", "thorough"]},
        "publish": {"type": "boolean"},
    },
    "required": ["subtopics"],
    "additionalProperties": False,
}


def test_answers_to_a_schema_are_validated_by_jsonschema() -> None:
    q = ask(schema=SCHEMA, data={"subtopics": ["a"]})
    check_answer(q, {"subtopics": ["a", "b"], "depth": 2, "mode": "fast", "publish": False})
    check_answer(q, {"subtopics": ("tuples", "are", "lists")})
    cases = [
        ({}, "'subtopics' is a required property"),
        ({"subtopics": []}, "subtopics"),
        ({"subtopics": [1]}, "subtopics/0"),
        ({"subtopics": ["a"], "depth": 0}, "depth"),
        ({"subtopics": ["a"], "depth": 1.5}, "depth"),
        ({"subtopics": ["a"], "mode": "slow"}, "mode"),
        ({"subtopics": ["a"], "extra": 1}, "Additional properties"),
        ("text", "is not of type 'object'"),
    ]
    for value, words in cases:
        with pytest.raises(tb.AnswerError, match=words):
            check_answer(q, value)


def test_a_free_text_answer_is_a_str() -> None:
    q = ask()
    check_answer(q, "")
    check_answer(q, "looks good")
    for bad in (1, None, ["a"], {"text": "a"}, b"bytes"):
        with pytest.raises(tb.AnswerError):
            check_answer(q, bad)


def test_json_checks_are_bounded_and_never_recurse() -> None:
    deep: Any = "x"
    for _ in range(200_000):  # far past the Python stack
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        check_json(deep, "the answer")
    ok: Any = 1
    for _ in range(MAX_DEPTH - 1):
        ok = [ok]
    check_json(ok, "the answer")
    with pytest.raises(ValueError, match="values"):
        check_json(list(range(200_000)), "the answer")
    with pytest.raises(ValueError, match="characters"):
        check_json("x" * 2_000_000, "the answer")
    with pytest.raises(tb.AnswerError):
        check_json({"k": {1, 2}}, "the answer", tb.AnswerError)


def test_error_types() -> None:
    assert issubclass(tb.AnswerError, ValueError) and issubclass(tb.AnswerError, tb.TaskbeamError)
    assert issubclass(tb.QuestionTimeout, TimeoutError)
    assert tb.AnswerError.__module__ == "taskbeam"
