"""The questions a run asked and the answers it got, in the store.

One row per ``(run_id, key)``: the question as asked (its full JSON) and,
once answered, the answer, who gave it (``person`` or ``default``) and when.
Both are written at once, not on the save schedule, so an answer survives
a crash that comes right after it; the two writes may arrive in either
order (each fills its own columns). Plain SQL on a connection the caller
owns: the writer thread for writes, any reader for reads.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

__all__ = [
    "MIGRATION",
    "answer_row",
    "put_answer",
    "put_question",
    "question_row",
    "read_questions",
]

# Schema 2 -> 3.
MIGRATION = """
    CREATE TABLE questions (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        question TEXT,
        asked REAL,
        answer TEXT,
        by TEXT,
        answered REAL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
"""

BY = ("person", "default")


def question_row(question: dict[str, Any]) -> tuple[str, str, float]:
    """``(key, JSON text, asked)`` of a question dict; ``ValueError`` if it cannot be stored.

    Checked in the caller's thread, before anything reaches the writer.
    """
    key = _key(
        question.get("key") if isinstance(question, dict) else None,
        "a stored question needs its key",
    )
    asked = _epoch(question.get("asked", 0.0), "a stored question's 'asked'")
    return key, _json_text(question, "the question"), asked


def answer_row(key: str, value: Any, by: str, at: float) -> tuple[str, str, str, float]:
    """``(key, JSON text, by, at)`` of an answer; ``ValueError`` if it cannot be stored."""
    key = _key(key, "an answer needs the key of its question")
    if by not in BY:
        raise ValueError(f"by must be one of {BY}, not {by!r}")
    at = _epoch(at, "an answer's time")
    return key, _json_text(value, "the answer"), by, at


def _key(key: object, what: str) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"{what} (a non-empty str)")
    return key


def _epoch(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} is a number (epoch seconds)")
    return float(value)


def _json_text(value: Any, what: str) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:
        raise ValueError(f"{what} cannot be stored as JSON: {exc}") from None


def put_question(conn: sqlite3.Connection, run_id: str, row: tuple[str, str, float]) -> None:
    """Record a question (see :func:`question_row`); an answer already there is kept."""
    conn.execute(
        "INSERT INTO questions (run_id, key, question, asked) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (run_id, key) DO UPDATE SET question = excluded.question, "
        "asked = excluded.asked",
        (run_id, *row),
    )


def put_answer(conn: sqlite3.Connection, run_id: str, row: tuple[str, str, str, float]) -> None:
    """Record an answer (see :func:`answer_row`)."""
    conn.execute(
        "INSERT INTO questions (run_id, key, answer, by, answered) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, key) DO UPDATE SET answer = excluded.answer, "
        "by = excluded.by, answered = excluded.answered",
        (run_id, *row),
    )


def read_questions(conn: sqlite3.Connection, run_id: str) -> list[dict[str, Any]]:
    """The run's questions in asked order, each with ``answer``/``by``/``answered`` if answered.

    A row whose JSON does not decode is skipped (it is asked again).
    """
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'questions'"
    ).fetchone():
        return []  # a read-only store of an older schema: no question was ever stored
    rows = conn.execute(
        "SELECT key, question, asked, answer, by, answered FROM questions "
        "WHERE run_id = ? ORDER BY asked, key",
        (run_id,),
    ).fetchall()
    out: list[dict[str, Any]] = []
    for key, question, asked, answer, by, answered in rows:
        try:
            item = orjson.loads(question) if question else {"key": key}
            if not isinstance(item, dict):
                continue
            item["key"] = key
            if asked is not None:
                item.setdefault("asked", asked)
            if answer is not None:
                item["answer"] = orjson.loads(answer)
                item["by"] = by
                item["answered"] = answered
        except orjson.JSONDecodeError:
            continue
        out.append(item)
    return out
