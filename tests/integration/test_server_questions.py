"""Answering a run's questions over the server: REST and Socket.IO (python-socketio).

A real server on 127.0.0.1 (port 0) over graphs whose tasks ask: choices, a
schema and free text. Each answer lets its task go on; a value that does not
fit is refused with its reason and the question stays open; an unknown id is
a 404 and a question no longer open a 409; every route needs the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.integration._server import (
    Client,
    http,
    open_questions,
    registry,
    running,
    start,
    wait_status,
)

import taskbeam as tb
from taskbeam.server import Server

FORM = {
    "type": "object",
    "properties": {"subtopics": {"type": "array", "items": {"type": "string"}}},
    "required": ["subtopics"],
}


def asking() -> tb.Graph:
    """Three tasks that ask (choices, a form, free text) and return their answers."""
    g = tb.Graph("asking")

    async def pick() -> Any:
        return await tb.ask("Approve?", choices=["approve", "abort"], key="pick")

    def form() -> Any:
        return tb.ask_sync("Edit the plan", schema=FORM, data={"subtopics": ["a"]}, key="form")

    async def free() -> Any:
        return await tb.ask("Any notes?", key="free")

    g.add("pick", pick)
    g.add("form", form)
    g.add("free", free)
    return g


def lapsing() -> tb.Graph:
    """One task whose question times out with no default: its node fails."""
    g = tb.Graph("lapsing")

    async def late() -> Any:
        return await tb.ask("Too late?", timeout=0.2, key="late")

    g.add("late", late)
    return g


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running(registry=registry({"asking": asking, "lapsing": lapsing})) as (srv, _):
        yield srv


def test_rest_lists_and_answers_questions(api: httpx.Client) -> None:
    project_id = start(api, "asking")
    by_key = {q["key"]: q for q in open_questions(api, project_id, 3)}
    assert by_key["pick"]["choices"] == ["approve", "abort"]
    assert by_key["form"]["schema"] == FORM and by_key["form"]["data"] == {"subtopics": ["a"]}
    url = f"/api/projects/{project_id}/questions"

    refused = api.post(f"{url}/{by_key['pick']['id']}", json={"value": "maybe"})
    assert refused.status_code == 400 and "maybe" in refused.json()["error"]
    refused = api.post(f"{url}/{by_key['form']['id']}", json={"value": {"subtopics": 3}})
    assert refused.status_code == 400
    assert len(open_questions(api, project_id, 3)) == 3  # nothing was taken

    for key, value in [("pick", "approve"), ("form", {"subtopics": ["x", "y"]}), ("free", "ok")]:
        response = api.post(f"{url}/{by_key[key]['id']}", json={"value": value})
        assert response.status_code == 200, response.text
        assert response.json()["answered"] == by_key[key]["id"]
        assert response.json()["question"]["key"] == key

    again = api.post(f"{url}/{by_key['pick']['id']}", json={"value": "abort"})
    assert again.status_code == 409 and "already answered" in again.json()["error"]
    wait_status(api, project_id, {"done"})
    snapshot = api.get(f"/api/projects/{project_id}", params={"full": "1"}).json()["snapshot"]
    assert snapshot["nodes"]["pick"]["status"] == "done"
    assert api.get(url).json() == {"questions": []}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{}", 422),
        (b'{"value": 1, "extra": 2}', 422),
        (b"[1]", 422),
        (b"not json", 400),
        (b'{"value": ' + b"[" * 200 + b"]" * 200 + b"}", 400),
    ],
)
def test_bad_answer_bodies_leave_the_question_open(
    api: httpx.Client, body: bytes, status: int
) -> None:
    project_id = start(api, "asking")
    question = open_questions(api, project_id, 3)[0]
    url = f"/api/projects/{project_id}/questions/{question['id']}"
    response = api.post(url, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["error"]
    assert question["id"] in {q["id"] for q in open_questions(api, project_id, 3)}
    api.post(f"/api/projects/{project_id}/stop")


def test_unknown_and_withdrawn_questions(api: httpx.Client) -> None:
    project_id = start(api, "asking")
    open_questions(api, project_id, 3)
    url = f"/api/projects/{project_id}/questions"
    assert api.post(f"{url}/q-nope", json={"value": 1}).status_code == 404
    assert api.post("/api/projects/nope/questions/q-1", json={"value": 1}).status_code == 404
    assert api.get("/api/projects/nope/questions").status_code == 404
    assert api.post(f"{url}/a%2Fb", json={"value": 1}).status_code in (400, 404)

    lapsed = start(api, "lapsing")
    question = open_questions(api, lapsed, 1)[0]
    wait_status(api, lapsed, {"failed"})
    response = api.post(f"/api/projects/{lapsed}/questions/{question['id']}", json={"value": 1})
    assert response.status_code == 409, response.text
    api.post(f"/api/projects/{project_id}/stop")


def test_answering_needs_the_token(server: Server, api: httpx.Client) -> None:
    project_id = start(api, "asking")
    question = open_questions(api, project_id, 3)[0]
    url = f"/api/projects/{project_id}/questions"
    for token in (None, "wrong"):
        with http(server, token=token) as anon:
            assert anon.get(url).status_code == 401
            assert anon.post(f"{url}/{question['id']}", json={"value": "x"}).status_code == 401
    assert question["id"] in {q["id"] for q in open_questions(api, project_id, 3)}
    api.post(f"/api/projects/{project_id}/stop")


def test_socketio_lists_and_answers_questions(server: Server, api: httpx.Client) -> None:
    project_id = start(api, "asking")
    open_questions(api, project_id, 3)

    async def main() -> None:
        client = await Client(server).connect()
        try:
            listed = await client.call("questions", {"project_id": project_id})
            assert listed["type"] == "questions"
            by_key = {q["key"]: q for q in listed["questions"]}
            bad = {"project_id": project_id, "question_id": by_key["pick"]["id"], "value": 7}
            refused = await client.call("answer", bad)
            assert refused["type"] == "error" and refused["error"]
            for key, value in [("pick", "abort"), ("form", {"subtopics": []}), ("free", "")]:
                message = {"project_id": project_id, "question_id": by_key[key]["id"]}
                ack = await client.call("answer", {**message, "value": value})
                assert ack["type"] == "ok", ack
        finally:
            await client.close()

    asyncio.run(main())
    wait_status(api, project_id, {"done"})
