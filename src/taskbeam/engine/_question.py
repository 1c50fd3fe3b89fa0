"""The question as data, for :mod:`taskbeam.engine._questions`: the
:class:`Question` record, its id, and the checks of questions and answers
(sizes of JSON values, choices, and JSON Schema with the ``jsonschema``
library, Draft 2020-12). Pure: no loop, no run.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import orjson

from taskbeam._errors import AnswerError
from taskbeam._json import check_json as _check_json

__all__ = [
    "MAX_CHARS",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "NO_DEFAULT",
    "PREVIEW_CHARS",
    "PROMPT_CHARS",
    "Question",
    "check_answer",
    "check_json",
    "make_question",
    "question_id",
]

MAX_DEPTH = 64  # deepest nesting of a value a question or an answer may carry
MAX_ITEMS = 100_000  # most values (containers and scalars) in one
MAX_CHARS = 1_000_000  # most characters of strings (and keys) in one
PREVIEW_CHARS = 120
PROMPT_CHARS = 100_000


class _NoDefault:
    """The ``default`` of a question that has none (``taskbeam.NO_DEFAULT``)."""

    _instance: _NoDefault | None = None

    def __new__(cls) -> _NoDefault:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "taskbeam.NO_DEFAULT"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True, slots=True)
class Question:
    """One question a task asked; ``run.questions()`` lists the open ones.

    ``asked`` and ``deadline`` are wall-clock seconds (``time.time()``);
    ``deadline`` is ``None`` without a timeout, ``default`` is
    :data:`NO_DEFAULT` without a default.
    """

    id: str
    node_id: str
    prompt: str
    data: Any
    choices: tuple[Any, ...] | None
    schema: dict[str, Any] | None
    default: Any
    asked: float
    deadline: float | None
    key: str

    def to_dict(self) -> dict[str, Any]:
        """The question as JSON: fields without a value are left out."""
        out: dict[str, Any] = {
            "id": self.id,
            "node_id": self.node_id,
            "key": self.key,
            "prompt": self.prompt,
        }
        if self.data is not None:
            out["data"] = self.data
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.schema is not None:
            out["schema"] = self.schema
        if self.default is not NO_DEFAULT:
            out["default"] = self.default
        out["asked"] = self.asked
        if self.deadline is not None:
            out["deadline"] = self.deadline
        return out

    def summary(self) -> dict[str, Any]:
        """What a waiting node's summary shows of it: id, prompt, choices, form, preview."""
        out: dict[str, Any] = {"id": self.id, "prompt": self.prompt}
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.schema is not None:
            out["form"] = True
        if self.data is not None:
            text = orjson.dumps(self.data).decode()
            if len(text) > PREVIEW_CHARS:
                text = text[: PREVIEW_CHARS - 1] + "…"
            out["preview"] = text
        return out


def question_id(run_id: str, key: str) -> str:
    """``"q-"`` and 16 hex digits: opaque, URL-safe, the same for the same run id and key."""
    digest = hashlib.blake2b(f"{run_id}\0{key}".encode(), digest_size=8).hexdigest()
    return "q-" + digest


def check_json(value: Any, what: str, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` unless ``value`` is plain JSON data within the size limits.

    Plain JSON as :func:`taskbeam._json.check_json` has it, at most
    :data:`MAX_DEPTH` levels, :data:`MAX_ITEMS` values and :data:`MAX_CHARS`
    characters. Iterative, so a value nested a million levels deep is
    refused, not a crash.
    """
    _check_json(
        value, what, max_depth=MAX_DEPTH, max_items=MAX_ITEMS, max_chars=MAX_CHARS, error=error
    )


def _plain(value: Any) -> Any:
    """A copy of checked JSON data as plain dicts and lists (tuples become lists)."""
    return orjson.loads(orjson.dumps(value))


def _same(a: Any, b: Any) -> bool:
    """JSON equality of two scalars: ``True`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def make_question(
    run_id: str,
    node_id: str,
    key: str,
    prompt: Any,
    *,
    data: Any = None,
    choices: Any = None,
    schema: Any = None,
    default: Any = NO_DEFAULT,
    timeout: Any = None,
    now: float,
) -> Question:
    """Check the arguments of an ask and make its :class:`Question` (``now``: wall clock).

    Raises ``TypeError`` or ``ValueError`` naming the argument that is wrong;
    a bad ``schema`` (not valid Draft 2020-12) raises here, at the ask.
    """
    if not isinstance(prompt, str):
        raise TypeError(f"ask() takes the prompt as a str, not {type(prompt).__name__}")
    if len(prompt) > PROMPT_CHARS:
        raise ValueError(f"the prompt is longer than {PROMPT_CHARS:,} characters")
    check_json(data, "data")
    if choices is not None and schema is not None:
        raise ValueError("pass choices or schema, not both (a schema may hold an enum)")
    choice_list: tuple[Any, ...] | None = None
    if choices is not None:
        if isinstance(choices, str | bytes) or not isinstance(choices, list | tuple):
            raise TypeError(f"choices must be a list of JSON scalars, not {type(choices).__name__}")
        if not choices:
            raise ValueError("choices must not be empty")
        for c in choices:
            if c is not None and not isinstance(c, str | int | float | bool):
                raise TypeError(f"each choice must be a JSON scalar, not {type(c).__name__}")
        check_json(list(choices), "choices")
        choice_list = tuple(choices)
    if schema is not None:
        if not isinstance(schema, dict):
            raise TypeError(f"schema must be a dict (a JSON Schema), not {type(schema).__name__}")
        check_json(schema, "schema")
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"schema is not a valid JSON Schema: {exc.message}") from None
        schema = _plain(schema)
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise TypeError(f"timeout must be seconds (a number), not {type(timeout).__name__}")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    question = Question(
        id=question_id(run_id, key),
        node_id=node_id,
        prompt=prompt,
        data=None if data is None else _plain(data),
        choices=choice_list,
        schema=schema,
        default=NO_DEFAULT,
        asked=now,
        deadline=None if timeout is None else now + float(timeout),
        key=key,
    )
    if default is not NO_DEFAULT:
        try:
            check_answer(question, default)
        except AnswerError as exc:
            raise ValueError(f"the default does not fit the question: {exc}") from None
        question = _replace_default(question, _plain(default))
    return question


def _replace_default(q: Question, default: Any) -> Question:
    return Question(
        q.id, q.node_id, q.prompt, q.data, q.choices, q.schema, default, q.asked, q.deadline, q.key
    )


def check_answer(question: Question, value: Any) -> None:
    """Raise :class:`AnswerError` naming what is wrong unless ``value`` answers ``question``."""
    check_json(value, "the answer", AnswerError)
    if question.choices is not None:
        if not any(_same(value, c) for c in question.choices):
            shown = ", ".join(_short(c) for c in question.choices[:20])
            raise AnswerError(f"the answer {_short(value)} is not one of the choices: {shown}")
        return
    if question.schema is not None:
        from jsonschema import Draft202012Validator

        validator = Draft202012Validator(question.schema)
        error = next(iter(validator.iter_errors(_plain(value))), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the answer"
            raise AnswerError(f"{where}: {error.message[:500]}")
        return
    if not isinstance(value, str):
        raise AnswerError(f"the answer must be text (a str), not {type(value).__name__}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
