"""Fuzzing the server: the REST API from its OpenAPI document, Socket.IO from hypothesis.

Whatever arrives, the server answers with a described status (never a 5xx)
or an error acknowledgement, and keeps serving. Example counts are bounded
so the whole module runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.integration._server import Client, RawClient, http, wait_status

from taskbeam.server import Server
from taskbeam.server._openapi import OPENAPI
from taskbeam.server._sio import EVENTS

schema = schemathesis.openapi.from_dict(copy.deepcopy(OPENAPI))


@pytest.fixture(scope="module")
def project(server: Server) -> str:
    with http(server) as api:
        response = api.post("/api/projects", json={"graph": "nested", "params": {"breadth": 2}})
        project_id: str = response.json()["id"]
        wait_status(api, project_id, {"failed"})
    return project_id


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_rest_api_from_its_openapi_document(case: Any, server: Server, project: str) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}
    if _headers_broken(case) and "Authorization" not in (case.headers or {}):
        # A case that leaves the token out on purpose: adding it back would make the
        # request valid and the check of its rejection wrong. It must be refused (401).
        auth = {}
    response = case.call(base_url=server.url, headers=auth)
    if response.status_code == 400 and response.text == "Invalid HTTP request received.":
        return  # malformed headers, refused by the HTTP parser before reaching the app
    case.validate_response(
        response, headers=auth, transport_kwargs={"base_url": server.url, "headers": auth}
    )


def _headers_broken(case: Any) -> bool:
    """Whether schemathesis made ``case``'s headers break the schema on purpose."""
    meta = getattr(case, "_meta", None)
    for location, info in (getattr(meta, "components", None) or {}).items():
        if str(getattr(location, "value", location)) == "header":
            mode = getattr(info, "mode", None)
            return str(getattr(mode, "value", mode)) == "negative"
    return False


# Digits of other scripts (str.isdigit() and int() accept some), full-width ones,
# signs, spaces, exponents and huge values: what a query-string integer is not.
ODD_DIGITS = "²³¹٣۴५৬๗０１５９𝟘𝟙"
odd_integers = st.one_of(
    st.text(alphabet=ODD_DIGITS + "0123456789", min_size=1, max_size=8),
    st.integers(-(10**30), 10**30).map(str),
    st.builds(
        lambda pre, n, post: f"{pre}{n}{post}",
        st.sampled_from(["", "+", "-", " ", "\t", "0x", "00"]),
        st.integers(0, 10**6),
        st.sampled_from(["", " ", "\n", "e3", ".0", "_0", "\u00a0"]),
    ),
    st.just("9" * 5000),
)


@given(limit=odd_integers, full=st.sampled_from(["", "1", "true", "²", "１", " 1", "yes"]))
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_query_integers_from_hypothesis(
    server: Server, project: str, limit: str, full: str
) -> None:
    with http(server) as api:
        nodes = api.get(f"/api/projects/{project}/nodes", params={"limit": limit})
        one = api.get(f"/api/projects/{project}", params={"full": full})
    digits = limit.lstrip("0")
    plain = (
        limit.isascii() and limit.isdigit() and len(digits) <= 4 and 1 <= int(digits or 0) <= 5000
    )
    assert nodes.status_code == (200 if plain else 422), (limit, nodes.text)
    assert one.status_code in (200, 422), (full, one.text)


class LoopThread:
    """An event loop in a thread, for a Socket.IO client shared by hypothesis examples."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 20) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def sio(server: Server) -> Iterator[tuple[LoopThread, Client]]:
    loop = LoopThread()
    client = loop.run(Client(server).connect())
    try:
        yield loop, client
    finally:
        loop.run(client.close())
        loop.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = ("project_id", "node_id", "cursor", "limit", "id")


@st.composite
def payloads(draw: st.DrawFn, project_id: str) -> tuple[str, tuple[Any, ...]]:
    event = draw(st.sampled_from((*EVENTS, "*", "connect", "disconnect")) | st.text(max_size=20))
    values = json_values | st.sampled_from([project_id, "root", "root/c0", "", 1, 5000, 0, -1])
    fields = draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=4))
    data = draw(st.just(fields) | json_values)
    args = draw(st.sampled_from([(data,), (), (data, data)]))
    return event, args


def test_socketio_payloads_from_hypothesis(
    server: Server, project: str, sio: tuple[LoopThread, Client]
) -> None:
    loop, client = sio

    @given(payloads(project))
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def check(payload: tuple[str, tuple[Any, ...]]) -> None:
        event, args = payload
        data = args if len(args) != 1 else args[0]
        answer = loop.run(client.sio.call(event, data if args else None, timeout=10))
        assert isinstance(answer, dict), answer
        answers = {"ok", "error", "nodes", "node_details", "questions", "functions"}
        assert answer["type"] in answers, answer
        if answer["type"] == "error":
            assert isinstance(answer["error"], str) and answer["error"]

    check()
    with http(server) as api:
        assert api.get("/api/health").status_code == 200
    answer = loop.run(client.call("nodes", {"project_id": project, "limit": 1}))
    assert answer["type"] == "nodes"


@pytest.mark.parametrize(
    "packet",
    [
        "42", "42[", "42[]", "42[123]", "42[null,{}]", "42[[1],{}]", '42["subscribe"', '42"text"',
        "4", "49", "41", "43999[1]", "4/nope,", "40/admin,{}", "42/other,[\"x\"]",
        '451-["subscribe",{"_placeholder":true,"num":0}]', '42["subscribe",{"project_id":',
        "4" + "9" * 5000, '42["nodes",' + "[" * 2000 + "]" * 2000 + "]", "\x00\xff", "2", "6",
    ],
)  # fmt: skip
def test_malformed_packets_do_not_hurt_the_server(server: Server, packet: str) -> None:
    raw = RawClient(server)
    try:
        raw.connect(server.token)
        with contextlib.suppress(OSError):  # the server may hang up at any point from here
            raw.send(packet)
            raw.send_bytes(b"\x00\x01garbage")
            raw.emit("subscribe", {"project_id": "nope"}, ack=1)
        try:
            answer = raw.answer(1, timeout=2)
        except (OSError, AssertionError):
            pass  # the server may hang up on (or stop answering) a client that sent garbage
        else:
            assert answer[0]["type"] == "error"
    finally:
        raw.close()
    with http(server) as api:
        assert api.get("/api/health").status_code == 200

    async def fresh() -> None:
        client = await Client(server).connect()
        try:
            answer = await client.call("subscribe", {"project_id": "nope"})
            assert answer["type"] == "error"
        finally:
            await client.close()

    asyncio.run(fresh())


def test_oversize_socketio_messages_are_refused(server: Server) -> None:
    raw = RawClient(server)
    try:
        raw.connect(server.token)
        raw.emit("subscribe", {"project_id": "x" * (2 << 20)}, ack=1)
        with pytest.raises((OSError, AssertionError)):
            raw.answer(1, timeout=5)
    finally:
        raw.close()
    assert httpx.get(f"{server.url}/api/health").status_code == 200
