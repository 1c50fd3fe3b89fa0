"""The pure parts of live output: buffers' positions, output events, what waits for a subscriber."""

from __future__ import annotations

import pytest

from taskbeam.broadcast._output import RoomOutput, events, pend
from taskbeam.broadcast._requests import BadRequest, parse
from taskbeam.engine._capture import OutputBuffer
from taskbeam.engine._output import OutputWatch


class FakeRun:
    def __init__(self, **texts: str) -> None:
        self.buffers = {}
        for node, text in texts.items():
            self.buffers[node] = buffer = OutputBuffer(limit=100)
            buffer.write(text)

    def output(self, node_id: str, offset: int = 0, limit: int | None = None) -> tuple[int, str]:
        return self.buffers[node_id].tail(offset, limit)


def test_a_buffer_counts_every_character_and_reads_from_a_position() -> None:
    buffer = OutputBuffer(limit=10)
    buffer.write("0123456789")
    buffer.write("abcde")
    assert buffer.written == 15 and buffer.getvalue() == "56789abcde"
    assert buffer.tail(12) == (12, "cde")
    assert buffer.tail(0) == (5, "56789abcde")  # older than what is kept: from the first kept
    assert buffer.tail(0, limit=3) == (12, "cde")
    assert buffer.tail(15) == (15, "")


def test_events_follow_each_node_from_where_the_room_left_it() -> None:
    run = FakeRun(a="hello\n", b="x" * 50)
    out = RoomOutput(watch=None, stop=lambda: None)
    first = events(out, run, {"a", "b"}, {}, node_chars=20)
    assert first == [
        {"kind": "output", "node_id": "a", "from": 0, "text": "hello\n"},
        {"kind": "output", "node_id": "b", "from": 30, "text": "x" * 20, "skipped": 30},
    ]
    run.buffers["a"].write("again\n")
    assert events(out, run, {"a"}, {}) == [
        {"kind": "output", "node_id": "a", "from": 6, "text": "again\n"}
    ]
    assert events(out, run, {"a"}, {}) == []  # nothing new: no event


def test_over_the_frame_budget_a_node_only_says_how_far_it_got() -> None:
    run = FakeRun(a="a" * 30, b="b" * 30)
    out = RoomOutput(watch=None, stop=lambda: None)
    summaries = {"a": {"output_chars": 30}, "b": {"output_chars": 30}}
    got = events(out, run, {"a", "b"}, summaries, node_chars=30, frame_chars=30)
    assert got == [
        {"kind": "output", "node_id": "a", "from": 0, "text": "a" * 30},
        {"kind": "output", "node_id": "b", "from": 30, "text": "", "skipped": 30},
    ]
    run.buffers["a"].write("A")
    run.buffers["b"].write("B")
    # The node left out goes first next time.
    got = events(out, run, {"a", "b"}, summaries, node_chars=30, frame_chars=1)
    assert [e["node_id"] for e in got if e["text"]] == ["b"]


def test_pending_output_joins_per_node_and_drops_the_oldest_past_the_budget() -> None:
    pending: list[dict] = []
    assert pend(pending, [{"kind": "output", "node_id": "a", "from": 0, "text": "ab"}]) == 0
    assert pend(pending, [{"kind": "output", "node_id": "a", "from": 2, "text": "cd"}]) == 0
    assert pending == [{"kind": "output", "node_id": "a", "from": 0, "text": "abcd"}]
    # Cut to the node's cap: the head goes, and says so.
    assert pend(pending, [{"kind": "output", "node_id": "a", "from": 4, "text": "ef"}], 4) == 1
    assert pending == [{"kind": "output", "node_id": "a", "from": 2, "text": "cdef", "skipped": 2}]
    # A skip in the room replaces what waits.
    skip = {"kind": "output", "node_id": "a", "from": 20, "text": "z", "skipped": 14}
    assert pend(pending, [skip]) == 1
    assert pending == [dict(skip, skipped=20)]
    # Past the frame's budget the oldest node's event goes.
    new = [{"kind": "output", "node_id": "b", "from": 0, "text": "b" * 10}]
    assert pend(pending, new, frame_chars=10) == 1
    assert [e["node_id"] for e in pending] == ["b"]


def test_a_watch_wakes_once_until_it_is_read_and_not_while_inactive() -> None:
    wakes: list[int] = []
    watch = OutputWatch(lambda: wakes.append(1))
    watch.active = False  # the feed skips an inactive watch; mark itself always records
    watch.mark("a")
    watch.mark("a")
    watch.mark("b")
    assert wakes == [1] and watch.take() == {"a", "b"}
    watch.mark("a")
    assert wakes == [1, 1]


@pytest.mark.parametrize("offset", [-1, 1.5, "3", True, 2**60, [], {}])
def test_node_details_refuses_an_offset_that_is_not_a_position(offset: object) -> None:
    with pytest.raises(BadRequest, match="offset must be an integer from 0"):
        parse("comm", {"type": "node_details", "node_id": "a", "offset": offset})


def test_node_details_takes_an_offset_and_leaves_it_out_when_absent() -> None:
    assert parse("socketio", {"type": "node_details", "node_id": "a", "offset": 7})[1] == {
        "node_id": "a",
        "offset": 7,
    }
    assert parse("comm", {"type": "node_details", "node_id": "a", "offset": None})[1] == {
        "node_id": "a"
    }
