"""Rerunning a project over the server: REST ``POST .../rerun`` and the Socket.IO event.

A real server on 127.0.0.1 (port 0); the graph counts its executions, so
each test sees what ran again and what was reused.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.integration._server import Client, http, registry, running, start, wait_status

import taskbeam as tb
from taskbeam.server import Server

RAN: Counter[str] = Counter()
GATE = threading.Event()


def counted(tag: str = "a") -> tb.Graph:
    """fetch -> parse -> report, each counting its executions under ``tag``."""

    def fetch(tag: str) -> list[int]:
        RAN[f"{tag}:fetch"] += 1
        return [1, 2, 3]

    def parse(rows: list[int]) -> int:
        RAN[f"{tag}:parse"] += 1
        return sum(rows)

    def report(total: int) -> str:
        RAN[f"{tag}:report"] += 1
        return f"total {total}"

    g = tb.Graph("counted")
    g.add("fetch", fetch, kwargs={"tag": tag})
    g.add("parse", parse, deps={"rows": "fetch"})
    g.add("report", report, deps={"total": "parse"})
    return g


def gated() -> tb.Graph:
    g = tb.Graph("gated")
    g.add("wait", lambda: GATE.wait(20))
    return g


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running(registry=registry({"counted": counted, "gated": gated})) as (srv, _):
        yield srv


def ran(tag: str) -> dict[str, int]:
    return {k.split(":", 1)[1]: v for k, v in RAN.items() if k.startswith(tag + ":")}


def test_rest_reruns_a_node_and_reuses_the_rest(api: httpx.Client) -> None:
    project = start(api, "counted", tag="rest")
    first = wait_status(api, project, {"done"})
    response = api.post(f"/api/projects/{project}/rerun", json={"nodes": ["parse"]})
    assert response.status_code == 202, response.text
    done = wait_status(api, project, {"done"})
    run = done["run"]
    assert run["id"] != first["run"]["id"]
    assert run["parent_run"] == first["run"]["id"]
    assert run["cache"] == {"hits": 2, "misses": 1, "uncacheable": 0}
    assert ran("rest") == {"fetch": 1, "parse": 2, "report": 1}  # parse made the same total
    full = api.get(f"/api/projects/{project}", params={"full": "1"}).json()["snapshot"]
    assert full["nodes"]["report"]["cached"] == {"run": first["run"]["id"], "node": "report"}
    # No body: only what changed runs, which is nothing.
    assert api.post(f"/api/projects/{project}/rerun").status_code == 202
    wait_status(api, project, {"done"})
    assert api.post(f"/api/projects/{project}/rerun", json={"nodes": None}).status_code == 202
    wait_status(api, project, {"done"})
    assert ran("rest") == {"fetch": 1, "parse": 2, "report": 1}


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b'{"nodes": ["nope"]}', 422, "no node 'nope'"),
        (b'{"nodes": "parse"}', 422, "must be a list"),
        (b'{"nodes": [1]}', 422, "non-empty string"),
        (b'{"nodes": ["a\\u0000b"]}', 422, "control characters"),
        (b'{"nodes": [], "extra": 1}', 422, "unknown fields"),
        (b"[1]", 422, "JSON object"),
        (b"not json", 400, "not JSON"),
    ],
)
def test_bad_rerun_bodies_are_refused_and_start_nothing(
    api: httpx.Client, body: bytes, status: int, says: str
) -> None:
    project = start(api, "counted", tag="bad")
    before = wait_status(api, project, {"done"})["run"]["id"]
    response = api.post(
        f"/api/projects/{project}/rerun", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert says in response.json()["error"]
    assert api.get(f"/api/projects/{project}").json()["run"]["id"] == before


def test_a_running_or_unknown_project_is_not_rerun(api: httpx.Client) -> None:
    GATE.clear()
    project = start(api, "gated")
    try:
        busy = api.post(f"/api/projects/{project}/rerun")
        assert busy.status_code == 409 and "rerun it once its run has ended" in busy.json()["error"]
    finally:
        GATE.set()
    wait_status(api, project, {"done"})
    assert api.post("/api/projects/p-none/rerun").status_code == 404


def test_rerun_needs_the_token(server: Server) -> None:
    with http(server, token=None) as anonymous:
        assert anonymous.post("/api/projects/x/rerun").status_code == 401


def test_socketio_rerun_moves_the_subscribers_to_the_new_run(
    server: Server, api: httpx.Client
) -> None:
    project = start(api, "counted", tag="sio")
    first = wait_status(api, project, {"done"})["run"]["id"]

    async def scenario() -> dict[str, Any]:
        client = await Client(server).connect()
        try:
            await client.subscribe(project)
            await client.until(lambda: client.state is not None)
            answer: dict[str, Any] = await client.call(
                "rerun", {"project_id": project, "nodes": ["fetch"]}
            )
            assert answer["type"] == "rerun" and answer["parent_run"] == first
            await client.until(
                lambda: (
                    client.state is not None
                    and client.state["run"]["id"] == answer["run_id"]
                    and client.state["run"]["status"] == "done"
                )
            )
            refused = await client.call("rerun", {"project_id": project, "nodes": ["zz"]})
            assert refused["type"] == "error" and "no node 'zz'" in refused["error"]
            by_run = await client.call("rerun", {"run_id": first})
            assert by_run["type"] == "error" and "project_id" in by_run["error"]
            return answer
        finally:
            await client.close()

    answer = asyncio.run(scenario())
    assert ran("sio") == {"fetch": 2, "parse": 1, "report": 1}
    assert api.get(f"/api/projects/{project}").json()["run"]["id"] == answer["run_id"]
