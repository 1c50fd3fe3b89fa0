"""Hostile printed output: markup, escapes, a huge line, bad offsets."""

from __future__ import annotations

import threading
import time
from typing import Any

import taskbeam as tb
from taskbeam.broadcast._output import FRAME_CHARS, NODE_CHARS
from taskbeam.testing import Follower

HOSTILE = (
    "<script>alert(1)</script><img src=x onerror=alert(2)>"
    "\x1b[31mred\x1b[0m \x1b]8;;http://127.0.0.1/\x07link\x1b]8;;\x07"
    " &amp; \u202e\u0000\ufeff {{x}} ${x}\n"
)


def _follow(run: tb.Run, b: tb.Broadcaster) -> tuple[Follower, list[dict[str, Any]]]:
    follower, events = Follower(), []
    lock = threading.Lock()

    def send(message: dict[str, Any], buffers: list[bytes]) -> None:
        with lock:
            step = follower.feed(message, buffers)
            events.extend(e for e in step.frame.get("events", ()) if e["kind"] == "output")

    b.subscribe(b.attach(run), send)
    return follower, events


def test_markup_and_escapes_travel_as_the_text_that_was_printed() -> None:
    gate = threading.Event()

    def shout() -> None:
        gate.wait(10)
        print(HOSTILE, end="")

    g = tb.Graph("hostile")
    g.add("shout", shout)
    with tb.Broadcaster(max_delay_ms=10) as b:
        run = tb.start(g)
        follower, events = _follow(run, b)
        gate.set()
        run.wait(10)
        b.flush_all()
        assert "".join(e["text"] for e in events) == HOSTILE
        answer = b.request(run.id, {"type": "node_details", "node_id": "shout", "offset": 0})
        assert answer["details"]["output"] == HOSTILE
        assert follower.state == run.snapshot()


def test_a_huge_single_line_stays_inside_the_capture_and_the_frame_caps() -> None:
    gate = threading.Event()

    def huge() -> None:
        gate.wait(10)
        print("y" * 20_000_000)  # 20 MB, one line

    g = tb.Graph("huge")
    g.add("huge", huge)
    with tb.Broadcaster(max_delay_ms=10) as b:
        run = tb.start(g)
        follower, events = _follow(run, b)
        gate.set()
        t0 = time.monotonic()
        run.wait(30)
        b.flush_all()
        assert time.monotonic() - t0 < 20
        details = run.details("huge")
        assert details["output_chars"] == 20_000_001
        assert len(details["output"]) == 64 * 1024  # the capture keeps its bound
        assert details["output_from"] == 20_000_001 - 64 * 1024
        assert events and all(len(e["text"]) <= min(NODE_CHARS, FRAME_CHARS) for e in events)
        assert events[-1]["from"] + len(events[-1]["text"]) == 20_000_001
        assert events[0]["skipped"] > 0  # what did not fit is marked
        assert follower.state == run.snapshot()


def test_a_bad_offset_is_refused_clearly() -> None:
    g = tb.Graph("offsets")
    g.add("a", lambda: print("twelve chars"))
    run = tb.start(g).wait(10)
    with tb.Broadcaster() as b:
        room = b.attach(run)

        def ask(offset: Any) -> dict[str, Any]:
            return b.request(room, {"type": "node_details", "node_id": "a", "offset": offset})

        for bad in (-1, "0", 1.0, True, 2**64, [3]):
            answer = ask(bad)
            assert answer == {
                "type": "error",
                "error": "offset must be an integer from 0 (a position in the node's output)",
            }
        assert ask(14) == {
            "type": "error",
            "error": "offset 14 is past the output of node 'a' (13 characters)",
        }
        assert ask(13)["details"]["output"] == ""
        missing = b.request(room, {"type": "node_details", "node_id": "nope", "offset": 0})
        assert missing["type"] == "error" and "no node 'nope'" in missing["error"]
