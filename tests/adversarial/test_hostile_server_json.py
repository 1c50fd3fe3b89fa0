"""Hostile JSON and query strings: nesting, huge integers, lone surrogates, odd digits.

Each one gets a 4xx (REST) or an error acknowledgement (Socket.IO); nothing
a client sends is kept if it could not be encoded again, and one bad record
never breaks the project list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from tests.adversarial._hostile_server import RawClient, hostile, nested_json, raw_http
from tests.integration._server import http, start, wait_status

from taskbeam.server import Server
from taskbeam.server._limits import MAX_DEPTH, query_int
from taskbeam.server._projects import Project


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with hostile() as (srv, _):
        yield srv


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with http(server) as client:
        yield client


@pytest.fixture(scope="module")
def project(server: Server) -> str:
    with http(server) as api:
        project_id = start(api, "tiny", n=3)
        wait_status(api, project_id, {"done"})
    return project_id


def _post_params(api: httpx.Client, params_text: str) -> httpx.Response:
    body = '{"graph": "anything", "params": {"x": ' + params_text + "}}"
    return api.post(
        "/api/projects", content=body.encode(), headers={"content-type": "application/json"}
    )


@pytest.mark.parametrize("depth", [300, 254, MAX_DEPTH])
def test_deeply_nested_params_are_refused_and_the_list_still_answers(
    api: httpx.Client, depth: int
) -> None:
    before = len(api.get("/api/projects").json()["projects"])
    response = _post_params(api, nested_json(depth))
    assert response.status_code == 400, response.text
    assert "nested deeper" in response.json()["error"]
    listing = api.get("/api/projects")
    assert listing.status_code == 200
    assert len(listing.json()["projects"]) == before  # nothing was kept


def test_params_at_the_depth_limit_are_kept_and_listed(api: httpx.Client) -> None:
    # "params" is level 1 and "x" level 2: the limit counts from the body
    response = _post_params(api, nested_json(MAX_DEPTH - 3))
    assert response.status_code == 201, response.text
    assert api.get("/api/projects").status_code == 200


@pytest.mark.parametrize(
    "value",
    [
        "1" * 5000,  # a 5,000-digit integer
        '"\\ud800"',  # a lone surrogate
        '{"\\udfff": 1}',  # a lone surrogate in a key
        nested_json(5000),  # past any parser's recursion
        str(2**64),  # one past 64 bits: never rounded to a float
        str(-(2**63) - 1),
        "NaN",
        "-Infinity",
    ],
    ids=[
        "5000-digits",
        "lone-surrogate",
        "surrogate-key",
        "depth-5000",
        "2**64",
        "below-int64",
        "nan",
        "infinity",
    ],
)
def test_params_that_cannot_be_encoded_are_refused(api: httpx.Client, value: str) -> None:
    response = _post_params(api, value)
    assert response.status_code == 400, response.text
    assert api.get("/api/projects").status_code == 200


def test_integers_at_the_64_bit_bounds_keep_their_exact_value(api: httpx.Client) -> None:
    for value in (2**64 - 1, -(2**63)):
        response = _post_params(api, str(value))
        assert response.status_code == 201, response.text
        assert response.json()["params"] == {"x": value}
        assert isinstance(response.json()["params"]["x"], int)


def test_one_record_that_cannot_be_described_is_left_out_of_the_list(
    server: Server, api: httpx.Client, project: str
) -> None:
    projects = server.app.projects
    bad = Project("broken-record", "anything", {"x": {1, 2}})  # a set: not JSON
    with projects._lock:
        projects._own[bad.id] = bad
    try:
        listing = api.get("/api/projects")
        assert listing.status_code == 200
        ids = [p["id"] for p in listing.json()["projects"]]
        assert project in ids
        assert bad.id not in ids
    finally:
        with projects._lock:
            del projects._own[bad.id]


BAD_LIMITS = [
    "²",  # superscript two: str.isdigit() says yes, int() says no
    "٣",  # Arabic-Indic three: int() accepts it
    "５",  # full-width five
    "+5",
    "-5",
    " 5",
    "5 ",
    "\t5",
    "5\n",
    "1e3",
    "5.0",
    "0x10",
    "1_000",
    "",
    "0",
    "5001",
    "9" * 30,
    "9" * 5000,
]


@pytest.mark.parametrize("limit", BAD_LIMITS)
def test_limit_takes_ascii_digits_in_range_only(
    api: httpx.Client, project: str, limit: str
) -> None:
    response = api.get(f"/api/projects/{project}/nodes", params={"limit": limit})
    assert response.status_code == 422, response.text
    assert response.json() == {"error": "'limit' is an integer from 1 to 5000"}


@pytest.mark.parametrize("limit", ["1", "0005", "5000", "0" * 50 + "7"])
def test_limit_in_range_is_answered(api: httpx.Client, project: str, limit: str) -> None:
    response = api.get(f"/api/projects/{project}/nodes", params={"limit": limit})
    assert response.status_code == 200, response.text
    assert len(response.json()["nodes"]) == min(int(limit), 3)


def test_query_int_refuses_what_str_isdigit_accepts() -> None:
    for text in BAD_LIMITS:
        with pytest.raises(ValueError, match="'limit' is an integer from 1 to 5000"):
            query_int({"limit": text}, "limit", 500, 1, 5000)


def test_content_length_with_a_non_ascii_digit_is_refused(server: Server) -> None:
    host = server.url.removeprefix("http://")
    request = (
        f"POST /api/projects HTTP/1.1\r\nhost: {host}\r\n"
        f"authorization: Bearer {server.token}\r\ncontent-length: ²\r\n\r\n"
    )
    answer = raw_http(server, request.encode())
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


# -- Socket.IO -------------------------------------------------------------------


@pytest.fixture
def raw(server: Server) -> Iterator[RawClient]:
    client = RawClient(server)
    try:
        assert client.connect(server.token).startswith("40")
        yield client
    finally:
        client.close()


@pytest.mark.parametrize(
    "payload",
    [
        '{"project_id": "p", "x": ' + nested_json(300) + "}",
        '{"project_id": "p", "x": ' + nested_json(5000) + "}",
        '{"project_id": "p", "limit": ' + "7" * 5000 + "}",
        '{"project_id": "\\ud800"}',
        '{"project_id": "p", "limit": 1e999999}',
    ],
    ids=["depth-300", "depth-5000", "5000-digits", "lone-surrogate", "huge-float"],
)
def test_malformed_socketio_payloads_are_answered_with_an_error(
    server: Server, raw: RawClient, payload: str, project: str
) -> None:
    raw.send('421["nodes",' + payload + "]")
    answer = raw.answer(1, timeout=5)
    assert answer[0]["type"] == "error", answer
    assert answer[0]["error"]
    # the connection still serves
    raw.emit("nodes", {"project_id": project, "limit": 2}, ack=2)
    assert raw.answer(2)[0]["type"] == "nodes"


def test_a_packet_that_is_not_json_is_answered_with_an_error(raw: RawClient) -> None:
    raw.send('423["nodes", {"project_id": ')
    answer = raw.answer(3, timeout=5)
    assert answer[0]["type"] == "error"
    assert "not valid JSON" in answer[0]["error"]


@pytest.mark.parametrize(
    "auth",
    [
        '{"token": "\\ud800"}',
        '{"token": ' + nested_json(300) + "}",
        '{"token": ' + "9" * 5000 + "}",
    ],
    ids=["lone-surrogate", "depth-300", "5000-digits"],
)
def test_a_malformed_token_is_refused_with_a_connect_error(server: Server, auth: str) -> None:
    client = RawClient(server)
    try:
        client.send(f"40{auth}")
        client._read_until(lambda: any(t.startswith("44") for t in client.texts), timeout=5)
        refusal = next(t for t in client.texts if t.startswith("44"))
        assert "message" in json.loads(refusal[2:])
    finally:
        client.close()
    # and the server still takes a good token
    good = RawClient(server)
    try:
        assert good.connect(server.token).startswith("40")
    finally:
        good.close()
