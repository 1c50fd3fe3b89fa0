"""The REST API of the server: every route, auth, origins, and every bad input.

A real uvicorn on 127.0.0.1 (port 0) in a thread, over a real ExecutionService.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.integration._server import http, running, wait_status

import taskbeam as tb
from taskbeam.server import Server, serve
from taskbeam.server._openapi import OPENAPI

ROUTES = [
    ("GET", "/api/graphs"),
    ("GET", "/api/projects"),
    ("POST", "/api/projects"),
    ("GET", "/api/projects/p"),
    ("POST", "/api/projects/p/execute"),
    ("POST", "/api/projects/p/pause"),
    ("POST", "/api/projects/p/resume"),
    ("POST", "/api/projects/p/continue"),
    ("POST", "/api/projects/p/stop"),
    ("GET", "/api/projects/p/nodes"),
    ("GET", "/api/projects/p/nodes/a/b"),
]


def create(api: httpx.Client, graph: str, **body: Any) -> dict[str, Any]:
    response = api.post("/api/projects", json={"graph": graph, **body})
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    return project


def test_health_openapi_and_page_need_no_token(server: Server) -> None:
    with http(server, token=None) as anon:
        assert anon.get("/api/health").json() == {"status": "ok", "version": tb.__version__}
        assert anon.get("/api/openapi.json").json() == OPENAPI
        page = anon.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert anon.get("/static/index.html").status_code == 200
        assert anon.get("/static/../_app.py").status_code == 404


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic dG9rZW4=", "Bearer"])
def test_every_route_needs_the_token(
    server: Server, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=server.url, headers=headers) as client:
        response = client.request(method, path, json={"graph": "tiny"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "token" in response.json()["error"]


def test_graphs_lists_the_registry(api: httpx.Client) -> None:
    graphs = {g["name"]: g for g in api.get("/api/graphs").json()["graphs"]}
    assert set(graphs) == {"tiny", "slow", "wide", "nested", "not-a-graph"}
    assert graphs["tiny"]["description"] == "n independent nodes that return at once."
    assert graphs["tiny"]["params"] == [{"name": "n", "required": False, "default": 3}]


def test_a_project_runs_and_is_read_back(api: httpx.Client) -> None:
    project = create(api, "nested", params={"breadth": 3})
    assert project["graph"] == "nested"
    assert project["params"] == {"breadth": 3}
    assert project["status"] in {"running", "failed"}
    done = wait_status(api, project["id"], {"failed"})  # one node always fails
    assert done["run"]["counts"]["done"] == 4 and done["run"]["counts"]["failed"] == 1
    assert project["id"] in [p["id"] for p in api.get("/api/projects").json()["projects"]]

    full = api.get(f"/api/projects/{project['id']}", params={"full": "1"}).json()
    nodes = full["snapshot"]["nodes"]
    assert set(nodes) == {"root", "root/c0", "root/c1", "root/c2", "broken"}
    assert full["snapshot"]["run"] == full["run"]

    pages: dict[str, Any] = {}
    cursor = ""
    for _ in range(10):
        page = api.get(
            f"/api/projects/{project['id']}/nodes", params={"cursor": cursor, "limit": 2}
        )
        assert page.status_code == 200
        pages.update(page.json()["nodes"])
        cursor = page.json().get("cursor", "")
        if not cursor:
            break
    assert pages == nodes

    child = api.get(f"/api/projects/{project['id']}/nodes/root/c1").json()
    assert child["id"] == "root/c1" and child["parent"] == "root" and child["result"] == "1"
    broken = api.get(f"/api/projects/{project['id']}/nodes/broken").json()
    assert broken["error"]["type"] == "RuntimeError"
    assert "always fails" in broken["error"]["traceback"]


def test_create_without_start_then_execute_and_restart(api: httpx.Client) -> None:
    project = create(api, "tiny", params={"n": 5}, start=False)
    pid = project["id"]
    assert project["status"] == "created" and "run" not in project
    for command in ("pause", "resume", "continue", "stop"):
        assert api.post(f"/api/projects/{pid}/{command}").status_code == 409
    assert api.get(f"/api/projects/{pid}/nodes").status_code == 409
    assert api.get(f"/api/projects/{pid}/nodes/n000").status_code == 409

    started = api.post(f"/api/projects/{pid}/execute")
    assert started.status_code == 202
    first = wait_status(api, pid, {"done"})["run"]["id"]
    again = api.post(f"/api/projects/{pid}/execute")
    assert again.status_code == 202
    second = wait_status(api, pid, {"done"})["run"]["id"]
    assert second != first
    assert api.get(f"/api/projects/{pid}").json()["run"]["counts"]["done"] == 5


def test_pause_resume_stop(api: httpx.Client) -> None:
    pid = create(api, "slow", params={"n": 400, "delay": 0.02})["id"]
    assert api.post(f"/api/projects/{pid}/execute").status_code == 409  # still running
    assert api.post(f"/api/projects/{pid}/pause").status_code == 202
    wait_status(api, pid, {"paused"})
    assert api.post(f"/api/projects/{pid}/continue").status_code == 409  # paused: resume it
    resumed = api.post(f"/api/projects/{pid}/resume")
    assert resumed.status_code == 202
    assert "deprecation" not in resumed.headers and "link" not in resumed.headers
    wait_status(api, pid, {"running"})
    assert api.post(f"/api/projects/{pid}/continue").status_code == 409  # running
    assert api.post(f"/api/projects/{pid}/stop").status_code == 202
    stopped = wait_status(api, pid, {"cancelled"})
    assert stopped["run"]["counts"]["cancelled"] >= 1
    assert api.post(f"/api/projects/{pid}/pause").status_code == 202  # a no-op once ended


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not JSON"),
        (b"", 400, "not JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (b'{"graph": 3}', 422, "'graph'"),
        (b'{"graph": "tiny", "params": []}', 422, "'params'"),
        (b'{"graph": "tiny", "start": "yes"}', 422, "'start'"),
        (b'{"graph": "tiny", "code": "import os"}', 422, "unknown fields"),
        (b'{"graph": "nope"}', 404, "no graph named 'nope'"),
        (b'{"graph": "../../etc/passwd"}', 404, "no graph named"),
        (b'{"graph": "tiny", "params": {"m": 1}}', 422, "unexpected keyword argument 'm'"),
        (b'{"graph": "tiny", "params": {"n": 0}}', 422, "n must be an integer"),
        (b'{"graph": "not-a-graph"}', 422, "returned a int, not a taskbeam.Graph"),
        (b'{"graph": "tiny", "params": {"n": 1e400}}', 400, "too large for a float"),
        (b"[" * 5000 + b"]" * 5000, 400, "nested deeper"),
    ],
)
def test_bad_project_bodies(api: httpx.Client, body: bytes, status: int, says: str) -> None:
    response = api.post("/api/projects", content=body)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/projects/nope", 404),
        ("/api/projects/nope/nodes", 404),
        ("/api/projects/nope/nodes/a", 404),
        ("/api/projects/nope/execute", 404),
        ("/api/projects/..%2F..%2Fetc%2Fpasswd", 404),
        ("/api/projects/..", 404),
        ("/api/projects/%00", 400),
        ("/api/projects/" + "x" * 5000, 400),
        ("/api/projects/", 404),
        ("/api/nothing", 404),
        ("/nothing", 404),
    ],
)
def test_unknown_or_bad_ids(api: httpx.Client, path: str, status: int) -> None:
    method = "POST" if path.endswith("execute") else "GET"
    response = api.request(method, path)
    assert response.status_code == status, response.text
    assert response.json()["error"]


def test_bad_node_ids_and_queries(api: httpx.Client) -> None:
    pid = create(api, "tiny")["id"]
    wait_status(api, pid, {"done"})
    base = f"/api/projects/{pid}"
    assert api.get(f"{base}/nodes/nope").status_code == 404
    assert api.get(f"{base}/nodes/{'y' * 2000}").status_code == 400
    assert api.get(f"{base}/nodes/a%01b").status_code == 400
    for query in ({"limit": "abc"}, {"limit": "0"}, {"limit": "5001"}, {"limit": "-1"},
                  {"cursor": "z" * 2000}):  # fmt: skip
        assert api.get(f"{base}/nodes", params=query).status_code == 422, query
    assert api.get(base, params={"full": "maybe"}).status_code == 422
    assert api.request("DELETE", base).status_code == 405


def test_bodies_over_the_limit_are_refused(server: Server, api: httpx.Client) -> None:
    big = b'{"graph": "tiny", "params": {"x": "' + b"a" * (1 << 20) + b'"}}'
    declared = api.post("/api/projects", content=big)
    assert declared.status_code == 413
    assert "larger than" in declared.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        for _ in range(64):
            yield b"a" * 65536

    streamed = api.post("/api/projects", content=chunks())
    assert streamed.status_code == 413
    opened = api.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    sid = json.loads(opened.text[1:])["sid"]  # an Engine.IO long-polling session
    polling = api.post(f"/socket.io/?EIO=4&transport=polling&sid={sid}", content=chunks())
    assert polling.status_code == 413
    assert api.get("/api/health").status_code == 200


def test_other_origins_are_refused(server: Server, api: httpx.Client) -> None:
    evil = {"Origin": "http://evil.example"}
    assert api.post("/api/projects", json={"graph": "tiny"}, headers=evil).status_code == 403
    assert api.get("/api/projects", headers=evil).status_code == 403
    own = {"Origin": server.url}
    assert api.get("/api/projects", headers=own).status_code == 200
    preflight = api.options(
        "/api/projects",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_allowed_origins() -> None:
    other = "http://localhost:9999"
    with running(allow_origins=[other]) as (server, _), http(server) as api:
        headers = {"Origin": other, "Access-Control-Request-Method": "POST",
                   "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
        preflight = api.options("/api/projects", headers=headers)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == other
        listed = api.get("/api/projects", headers={"Origin": other})
        assert listed.status_code == 200
        assert listed.headers["access-control-allow-origin"] == other


def test_no_auth_only_on_loopback_and_guards_the_host() -> None:
    service = tb.ExecutionService()
    with pytest.raises(ValueError, match="only on a loopback host"):
        serve(service, host="0.0.0.0", auth=False)
    with pytest.raises(ValueError, match="token was given"):
        serve(service, token="t", auth=False)
    with running(auth=False) as (server, _), http(server, token=None) as api:
        assert server.token is None
        assert api.get("/api/projects").status_code == 200
        rebound = api.get("/api/projects", headers={"Host": "attacker.example:80"})
        assert rebound.status_code == 400  # a DNS-rebinding page cannot use it
        assert api.get("/api/projects", headers={"Host": "localhost"}).status_code == 200


def test_the_server_stops_and_frees_its_port() -> None:
    with running() as (server, _):
        url = server.url
        with http(server) as api:
            project = create(api, "tiny")
        assert project["status"] in {"running", "done"}
    assert "stopped" in repr(server)
    server.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/health", timeout=2)


def test_projects_started_from_python_are_served_too() -> None:
    with running() as (server, service), http(server) as api:
        graph = tb.Graph("from-python")
        graph.add("a", lambda: 1)
        graph.add("b", lambda a: a + 1, deps=["a"])
        first = service.start("notebook", graph).wait()
        listed = {p["id"]: p for p in api.get("/api/projects").json()["projects"]}
        assert listed["notebook"]["graph"] == "from-python"
        assert listed["notebook"]["status"] == "done"
        assert api.get("/api/projects/notebook/nodes/b").json()["result"] == "2"
        assert api.post("/api/projects/notebook/execute").status_code == 202
        again = wait_status(api, "notebook", {"done"})
        assert again["run"]["id"] != first.id
