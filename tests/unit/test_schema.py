"""The statuses are defined once: the front end, the OpenAPI document and the
store list exactly those of ``taskbeam._schema``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from taskbeam._schema import RunStatus, Status
from taskbeam.engine._status import TERMINAL
from taskbeam.engine._status import RunStatus as EngineRunStatus
from taskbeam.engine._status import Status as EngineStatus
from taskbeam.server._openapi import OPENAPI
from taskbeam.store._stored import STATUSES

STATUS_JS = Path(__file__).resolve().parents[2] / "js" / "src" / "status.js"


def _js_set(name: str, text: str) -> list[str]:
    """The strings of ``export const NAME = ... ([...])`` or ``new Set([...])``, in order."""
    match = re.search(rf"export const {name}\b[^=]*=(.*?)\]\s*\)", text, re.DOTALL)
    assert match is not None, f"{STATUS_JS} has no list {name}"
    items = match.group(1)[match.group(1).index("[") :] + "]"
    parsed = ast.literal_eval(items)  # a JS array of string literals reads as a Python list
    assert isinstance(parsed, list) and all(isinstance(s, str) for s in parsed)
    return parsed


def test_front_end_lists_the_node_statuses_in_order() -> None:
    text = STATUS_JS.read_text(encoding="utf-8")
    assert _js_set("STATUSES", text) == [s.value for s in Status]


def test_front_end_finished_and_ended_sets_match() -> None:
    text = STATUS_JS.read_text(encoding="utf-8")
    assert set(_js_set("FINISHED", text)) == {s.value for s in TERMINAL}
    ended = set(_js_set("RUN_ENDED", text))
    assert ended <= {s.value for s in RunStatus}
    assert ended == {"done", "failed", "cancelled"}


def test_interrupted_is_a_run_status_only() -> None:
    assert "interrupted" in {s.value for s in RunStatus}
    assert "interrupted" not in {s.value for s in Status}
    assert "interrupted" not in _js_set("STATUSES", STATUS_JS.read_text(encoding="utf-8"))


def test_engine_re_exports_the_same_enums() -> None:
    assert EngineStatus is Status
    assert EngineRunStatus is RunStatus


def test_openapi_and_store_derive_their_statuses() -> None:
    schemas = OPENAPI["components"]["schemas"]
    node_enums = [
        s["properties"]["status"]["enum"]
        for s in _walk(schemas)
        if isinstance(s, dict) and "pending" in str(s.get("properties", {}).get("status"))
    ]
    assert node_enums and all(e == [s.value for s in Status] for e in node_enums)
    assert list(STATUSES) == [s.value for s in RunStatus]


def _walk(value: object) -> list[object]:
    out: list[object] = [value]
    if isinstance(value, dict):
        for item in value.values():
            out += _walk(item)
    elif isinstance(value, list):
        for item in value:
            out += _walk(item)
    return out
