"""The request table: every transport dispatches through it, renames only at its edge."""

from __future__ import annotations

from typing import Any

import pytest

from taskbeam.broadcast._requests import REQUESTS, BadRequest, answered_by, offered, parse
from taskbeam.server._outbox import EVENTS as FRAME_EVENTS
from taskbeam.server._outbox import SOCKETIO_NAMES, event_of
from taskbeam.server._sio import EVENTS, OWN
from taskbeam.widget._view import OWN as VIEW_OWN


def test_each_transport_owns_exactly_the_entries_the_table_gives_it() -> None:
    assert set(VIEW_OWN) == answered_by("comm")
    assert answered_by("socketio") == OWN
    assert answered_by("broadcaster") == frozenset()
    for entry in REQUESTS.values():  # a handler, or every transport answers it itself
        assert entry.handler is not None or entry.transports <= entry.own, entry.type


def test_who_offers_what() -> None:
    assert offered("broadcaster") == (
        "resync", "node_details", "nodes", "pause", "resume", "cancel", "cancel_node",
        "continue", "rerun", "questions", "functions", "answer",
    )  # fmt: skip
    assert offered("comm") == (*offered("broadcaster"), "runs")
    assert set(offered("socketio")) == set(offered("broadcaster")) | {
        "subscribe",
        "unsubscribe",
    }


def test_socketio_renames_in_one_mapping() -> None:
    assert SOCKETIO_NAMES == {"batch": "batch_update", "cancel": "stop"}
    assert "stop" in EVENTS and "cancel" not in EVENTS
    assert sorted(EVENTS) == sorted(SOCKETIO_NAMES.get(t, t) for t in offered("socketio"))
    assert FRAME_EVENTS == {
        "snapshot": "snapshot",
        "batch": "batch_update",
        "heartbeat": "heartbeat",
    }
    assert event_of({"type": "batch"}, [])[0] == "batch_update"


@pytest.mark.parametrize(
    ("transport", "message", "fields"),
    [
        ("comm", {"type": "nodes"}, {"cursor": "", "limit": 500}),
        ("comm", {"type": "nodes", "cursor": None, "limit": 7, "id": 1},
         {"cursor": "", "limit": 7}),
        ("socketio", {"type": "node_details", "node_id": "a/b"}, {"node_id": "a/b"}),
        ("broadcaster", {"type": "pause", "extra": 1}, {}),
        ("comm", {"type": "runs", "status": "done,failed", "cursor": ""},
         {"name": None, "status": "done,failed", "cursor": None, "limit": 50}),
    ],
)  # fmt: skip
def test_parse_checks_the_fields_once(transport: str, message: Any, fields: Any) -> None:
    entry, checked = parse(transport, message)
    assert entry.type == message["type"] and checked == fields


@pytest.mark.parametrize(
    ("transport", "message", "says"),
    [
        ("comm", [1], "a request is an object with a string 'type', not list"),
        ("comm", {"type": 3}, "not dict"),
        ("comm", {"type": "explode"}, "unknown request 'explode'"),
        ("socketio", {"type": "runs"}, "unknown request 'runs'"),
        ("broadcaster", {"type": "runs"}, "unknown request 'runs'"),
        ("broadcaster", {"type": "subscribe"}, "unknown request 'subscribe'"),
        ("comm", {"type": "node_details"}, "node_id must be a non-empty string"),
        ("comm", {"type": "cancel_node", "node_id": "\x00"}, "node_id has control characters"),
        ("comm", {"type": "node_details", "node_id": "x" * 1001}, "longer than 1000"),
        ("comm", {"type": "nodes", "limit": 0}, "limit must be an integer from 1 to 5000"),
        ("comm", {"type": "nodes", "limit": True}, "limit must be"),
        ("socketio", {"type": "nodes", "cursor": 3}, "cursor must be a string"),
        ("comm", {"type": "runs", "limit": 501}, "runs: 'limit' is an integer from 1 to 500"),
        ("comm", {"type": "runs", "status": "odd"}, "runs: unknown status 'odd'"),
        ("comm", {"type": "runs", "name": 5}, "runs: 'name' is a string"),
    ],
)
def test_parse_refuses_with_a_reason(transport: str, message: Any, says: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(transport, message)
    assert says in str(caught.value)
