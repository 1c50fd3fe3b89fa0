"""Hostile answers over REST: each gets a clear 4xx, and the question stays open.

A real server on 127.0.0.1 (port 0). What is sent: bodies past the size and
JSON limits, ints past 64 bits, lone surrogates, a wrong content type, ids
with path tricks or control characters, and answers to another project's
question. Afterwards the question is still open and a fitting answer works.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.integration._server import open_questions, registry, running, start, wait_status

import taskbeam as tb
from taskbeam.server import Server


def one_question() -> tb.Graph:
    g = tb.Graph("one-question")

    async def ask() -> Any:
        return await tb.ask("Name?", key="name")

    g.add("ask", ask)
    return g


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running(registry=registry({"one-question": one_question})) as (srv, _):
        yield srv


def asked(api: httpx.Client, project_id: str) -> dict[str, Any]:
    return open_questions(api, project_id)[0]


HOSTILE: list[tuple[str, bytes, dict[str, str], set[int]]] = [
    ("over the body limit", b'{"value": "' + b"x" * (2 << 20) + b'"}', {}, {413}),
    ("too many values", b'{"value": [' + b"0," * 200_000 + b"0]}", {}, {400}),
    ("nested past the depth limit", b'{"value": ' + b"[" * 5000 + b"]" * 5000 + b"}", {}, {400}),
    ("an int past 64 bits", b'{"value": 123456789012345678901234567890}', {}, {400}),
    ("a lone surrogate", b'{"value": "\\ud800"}', {}, {400}),
    ("NaN", b'{"value": NaN}', {}, {400}),
    ("duplicate keys", b'{"value": 1, "value": 2}', {}, {400, 422}),
    ("not JSON at all", b"\xff\xfe\x00", {}, {400}),
    ("form data", b"value=1", {"content-type": "application/x-www-form-urlencoded"}, {400}),
    ("an empty body", b"", {}, {400}),
]


@pytest.mark.parametrize(
    ("what", "body", "headers", "statuses"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
def test_hostile_bodies_are_refused_and_lose_nothing(
    server: Server, what: str, body: bytes, headers: dict[str, str], statuses: set[int]
) -> None:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30
    ) as api:
        project_id = start(api, "one-question")
        question = asked(api, project_id)
        url = f"/api/projects/{project_id}/questions/{question['id']}"
        response = api.post(
            url, content=body, headers={"content-type": "application/json", **headers}
        )
        assert response.status_code in statuses, (what, response.status_code, response.text[:300])
        if response.status_code != 413:
            assert response.json()["error"]
        assert asked(api, project_id)["id"] == question["id"]  # still open
        assert api.post(url, json={"value": "Ada"}).status_code == 200
        wait_status(api, project_id, {"done"})


@pytest.mark.parametrize(
    "question_id",
    ["..%2F..%2Fapi%2Fhealth", "q-%00", "q-" + "a" * 300, "%E2%80%AE", "q-1%0d%0aX-Injected: 1"],
)
def test_hostile_question_ids(server: Server, question_id: str) -> None:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30
    ) as api:
        project_id = start(api, "one-question")
        question = asked(api, project_id)
        response = api.post(
            f"/api/projects/{project_id}/questions/{question_id}", json={"value": "x"}
        )
        assert response.status_code in (400, 404), response.text[:300]
        assert "X-Injected" not in response.headers
        assert asked(api, project_id)["id"] == question["id"]
        api.post(f"/api/projects/{project_id}/stop")


def test_another_projects_question_is_not_answered_through_this_one(server: Server) -> None:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30
    ) as api:
        first, second = start(api, "one-question"), start(api, "one-question")
        theirs = asked(api, second)
        asked(api, first)
        response = api.post(f"/api/projects/{first}/questions/{theirs['id']}", json={"value": "x"})
        assert response.status_code == 404, response.text
        assert asked(api, second)["id"] == theirs["id"]
        for project_id in (first, second):
            api.post(f"/api/projects/{project_id}/stop")
