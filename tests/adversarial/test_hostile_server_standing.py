"""The standing hostile suite: auth, origins, traversal, big bodies, storms, slow readers.

Routes come from the app and the OpenAPI document, and events from the
Socket.IO handlers' table, so a new route or event is covered without
editing this file. Everything is bounded in count and time, on loopback.
"""

from __future__ import annotations

import concurrent.futures
import socket
import time

import httpx
import pytest
from tests.adversarial._hostile_server import RawClient, hostile, raw_http
from tests.integration._server import http, start, wait_status

from taskbeam.server import Server
from taskbeam.server._api import Api
from taskbeam.server._app import PUBLIC
from taskbeam.server._openapi import OPENAPI
from taskbeam.server._sio import EVENTS


def _app_routes() -> set[tuple[str, str]]:
    out = set()
    for route in Api(None, None).routes():  # type: ignore[arg-type]
        path = route.path.replace(":path}", "}")
        out.update((method, path) for method in route.methods or () if method != "HEAD")
    return out


def _document_routes() -> set[tuple[str, str]]:
    out = set()
    for path, item in OPENAPI["paths"].items():
        out.update((method.upper(), path) for method in item if method != "parameters")
    return out


ROUTES = sorted(_document_routes())


def test_every_route_of_the_app_is_in_the_openapi_document() -> None:
    assert _app_routes() == _document_routes()


def _fill(path: str, project: str) -> str:
    return path.replace("{project_id}", project).replace("{node_id}", "n000")


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer", "bearer x y", "Basic dG9rZW4=", b"Bearer \xe9", "Token x"],
)
def test_every_route_needs_the_token(
    server: Server, project: str, method: str, path: str, authorization: str | bytes | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        response = client.request(method, _fill(path, project), json={"graph": "tiny"})
    if path in PUBLIC:
        assert response.status_code == 200
    else:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_foreign_origin(
    server: Server, project: str, method: str, path: str
) -> None:
    with http(server) as api:
        for origin in ("http://evil.example", "null", f"{server.url}.evil.example"):
            response = api.request(
                method, _fill(path, project), json={"graph": "tiny"}, headers={"Origin": origin}
            )
            assert response.status_code == 403, (origin, response.text)


def test_socketio_refuses_a_foreign_origin(server: Server) -> None:
    with http(server) as api:
        response = api.get(
            "/socket.io/",
            params={"EIO": "4", "transport": "polling"},
            headers={"Origin": "http://evil.example"},
        )
    assert response.status_code == 403


@pytest.mark.parametrize("event", EVENTS)
def test_no_event_is_handled_before_a_valid_connect(
    server: Server, project: str, event: str
) -> None:
    for token in (None, "wrong"):
        client = RawClient(server)
        try:
            if token is not None:
                assert client.connect(token).startswith("44")
            client.emit(event, {"project_id": project, "node_id": "n000"}, ack=1)
            with pytest.raises((AssertionError, ConnectionError)):
                client.answer(1, timeout=0.5)
        finally:
            client.close()
    with http(server) as api:
        assert api.get(f"/api/projects/{project}").json()["status"] == "done"


TRAVERSALS = [
    "/static/../_app.py",
    "/static/%2e%2e/_app.py",
    "/static/%2E%2E/_app.py",
    "/static/..%2f_app.py",
    "/static/..%2F_app.py",
    "/static/%2e%2e%2f_app.py",
    "/static/%252e%252e/_app.py",
    "/static/..%5c_app.py",
    "/static/..\\_app.py",
    "/static/....//_app.py",
    "/static/%c0%ae%c0%ae/_app.py",
    "/static/./../_app.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/index.html%00.js",
    "/static/../../../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_static_files_stay_inside_the_static_folder(server: Server, path: str) -> None:
    host = server.url.removeprefix("http://")
    # a raw request: an HTTP client would normalise the path first
    answer = raw_http(server, f"GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n".encode())
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 404), answer[:300]
    assert b"root:" not in answer
    assert b"create_app" not in answer


def test_a_body_at_the_limit_nested_or_not_gets_a_4xx(server: Server) -> None:
    with http(server) as api:
        wide = b'{"graph": "anything", "params": {"x": [' + b"1," * 400_000 + b"1]}}"
        assert api.post("/api/projects", content=wide).status_code == 201
        deep = b'{"graph": "anything", "params": {"x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
        assert api.post("/api/projects", content=deep).status_code == 400
        huge = b'{"graph": "anything", "params": {"x": "' + b"a" * (2 << 20) + b'"}}'
        assert api.post("/api/projects", content=huge).status_code == 413
        assert api.get("/api/projects").status_code == 200


def test_a_request_storm_is_answered_and_the_server_keeps_serving(
    server: Server, project: str
) -> None:
    paths = ["/api/health", "/api/projects", f"/api/projects/{project}", "/api/nope"]

    def burst(i: int) -> list[int]:
        with http(server) as api:
            return [api.get(paths[(i + j) % len(paths)]).status_code for j in range(50)]

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = [c for batch in pool.map(burst, range(16)) for c in batch]
    assert len(codes) == 800
    assert set(codes) <= {200, 404, 503}
    assert codes.count(200) >= 500
    assert time.monotonic() - started < 60
    with http(server) as api:
        assert api.get("/api/health").status_code == 200


def test_clients_that_never_read_do_not_stall_the_others(server: Server) -> None:
    with http(server) as api:
        big = start(api, "wide", n=2000, delay=0)
        wait_status(api, big, {"done"})
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    request = (
        f"GET /api/projects/{big}?full=1 HTTP/1.1\r\nhost: {host}:{port}\r\n"
        f"authorization: Bearer {server.token}\r\n\r\n"
    ).encode()
    stalled: list[socket.socket] = []
    try:
        for _ in range(20):  # each asks for a large answer and never reads it
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            for _ in range(5):
                sock.sendall(request)  # pipelined: h11 answers one at a time
            stalled.append(sock)
        time.sleep(0.2)  # let the server fill their buffers (no synchronisation depends on it)
        with http(server) as api:
            started = time.monotonic()
            for _ in range(10):
                assert api.get("/api/health").status_code == 200
            assert time.monotonic() - started < 5
    finally:
        for sock in stalled:
            sock.close()


def test_a_slow_header_client_does_not_block_others(server: Server) -> None:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    slow = [socket.create_connection((host, int(port)), timeout=5) for _ in range(20)]
    try:
        for sock in slow:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nhost: x\r\n")  # never ends its headers
        with http(server) as api:
            assert api.get("/api/health").status_code == 200
    finally:
        for sock in slow:
            sock.close()


def _closed_within(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes ``sock`` within ``timeout`` (what it sends is read and dropped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def test_connections_whose_headers_are_late_are_closed() -> None:
    with hostile(header_timeout=0.5) as (server, _):
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        silent = socket.create_connection((host, int(port)), timeout=5)
        slow = socket.create_connection((host, int(port)), timeout=5)
        kept: socket.socket | None = None
        try:
            started = time.monotonic()
            slow.sendall(b"GET /api/health HTTP/1.1\r\n")
            assert _closed_within(silent, 5)  # connected, never sent a byte
            assert _closed_within(slow, 5)  # never ended its headers
            assert 0.4 < time.monotonic() - started < 5
            # a kept-alive connection: the deadline starts again with the next request
            kept = socket.create_connection((host, int(port)), timeout=5)
            kept.sendall(f"GET /api/health HTTP/1.1\r\nhost: {host}:{port}\r\n\r\n".encode())
            kept.settimeout(5)
            assert kept.recv(65536).startswith(b"HTTP/1.1 200")
            kept.sendall(b"GET /api/health HTTP/1.1\r\n")
            assert _closed_within(kept, 5)
        finally:
            for sock in (silent, slow, kept):
                if sock is not None:
                    sock.close()
        assert server.security_stats()["header_timeouts"] >= 3
        with http(server) as api:  # a normal client is served all along
            assert api.get("/api/health").status_code == 200
