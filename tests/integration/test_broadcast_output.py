"""Live output through the broadcaster: output events, their caps, slow subscribers."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import time
from typing import Any

from tests.conftest import wait_until

import taskbeam as tb
from taskbeam.broadcast._output import FRAME_CHARS, NODE_CHARS
from taskbeam.testing import Follower, MemorySubscriber


class Recorder:
    """A raw subscriber: every frame as it came, with the time it came."""

    def __init__(self) -> None:
        self.follower = Follower()
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any], buffers: list[bytes]) -> None:
        with self._lock:  # decoded: a large frame comes gzipped
            step = self.follower.feed(message, buffers)
            self.frames.append((time.monotonic(), step.frame))

    def outputs(self, node_id: str | None = None) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return [
                (t, e)
                for t, m in self.frames
                if m["type"] == "batch"
                for e in m["events"]
                if e["kind"] == "output" and node_id in (None, e["node_id"])
            ]


def shout_in_a_worker(**_: object) -> int:
    print("from another process")
    return 1


def test_output_of_a_task_in_a_worker_process_comes_when_it_is_brought_home() -> None:
    g = tb.Graph("worker")
    g.add("w", shout_in_a_worker)
    with tb.ProcessExecutor(1) as ex, tb.Broadcaster(max_delay_ms=10) as b:
        gate = threading.Event()

        async def wait() -> bool:  # async: on the run's loop, not in a worker
            return await asyncio.to_thread(gate.wait, 10)

        g.add("gate", wait)
        g.add("after", shout_in_a_worker, deps=["gate"])
        run = tb.start(g, executor=ex)
        client = Recorder()
        b.subscribe(b.attach(run), client.send)
        gate.set()  # "after" is launched while watched
        run.wait(60)
        b.flush_all()
        texts = {e["node_id"]: e["text"] for _, e in client.outputs()}
        assert texts["after"] == "from another process\n"
        assert client.follower.state == run.snapshot()


def test_lines_printed_over_two_seconds_arrive_in_frames_before_the_node_ends() -> None:
    """100 lines over 2 s: several frames carry them while the node runs, in order, once."""
    ended: list[float] = []

    def talk() -> str:
        for i in range(100):
            print(f"line {i}")
            time.sleep(0.02)
        ended.append(time.monotonic())
        return "said"

    g = tb.Graph("talk")
    g.add("talk", talk)
    with tb.Broadcaster(max_delay_ms=50) as b:
        run = tb.start(g)
        room = b.attach(run)
        client = Recorder()
        b.subscribe(room, client.send)
        run.wait(30)
        b.flush_all()
        events = client.outputs("talk")
        before = {id(e) for t, e in events if t < ended[0]}
        frames_with_output = [
            m for _, m in client.frames if any(e["kind"] == "output" for e in m.get("events", []))
        ]
        assert len(before) >= 5 and len(frames_with_output) >= 5
        # In order, none duplicated, no gap: each event starts where the one before ended.
        position = 0
        for _, event in events:
            assert event["from"] == position and "skipped" not in event
            position += len(event["text"])
        text = "".join(e["text"] for _, e in events)
        assert text.splitlines() == [f"line {i}" for i in range(100)]
        assert text == run.details("talk")["output"]
        assert client.follower.state == run.snapshot()
        assert run.snapshot()["nodes"]["talk"]["output_chars"] == len(text)


def test_a_flood_stays_inside_the_frame_caps_and_the_capture_bound() -> None:
    """100 nodes print 10,000 lines each (1,000,000 lines, about 11 MB), while one fails.

    The subscriber that keeps up gets at most ``max_fps`` frames a second
    (critical ones apart), no frame carries more output than its caps, every
    node keeps only its last ``output_limit`` characters; a slow subscriber
    loses only output events (dropped low), and ends with the state, the
    error and the end of the run.
    """
    nodes, lines = 100, 10_000
    line = "x" * 10  # 11 characters with the newline

    def flood() -> int:
        for _ in range(lines):
            print(line)
        return lines

    def fail() -> None:
        time.sleep(0.3)
        raise ValueError("broke in the flood")

    g = tb.Graph("flood")
    for i in range(nodes):
        g.add(f"p{i}", flood)
    g.add("bad", fail)
    max_fps = 20
    with tb.Broadcaster(max_delay_ms=50, max_fps=max_fps) as b:
        run = tb.start(g, max_concurrency=16, output_limit=8192)
        room = b.attach(run)
        fast = Recorder()
        b.subscribe(room, fast.send)
        slow = MemorySubscriber(capacity=1).join(b, room)
        t0 = time.monotonic()
        while not run.done:
            time.sleep(0.3)  # a slow reader: a few frames a second at most
            slow.receive(limit=1)
        elapsed = time.monotonic() - t0
        run.wait(30)
        for _ in range(10):
            b.flush_all()
            if not slow.receive():
                break

        snap = run.snapshot()
        for i in range(nodes):
            node = snap["nodes"][f"p{i}"]
            assert node["status"] == "done" and node["output_chars"] == lines * len(line + "\n")
            assert len(run.details(f"p{i}")["output"]) == 8192  # the capture bound
        # The subscriber that keeps up: inside the frame cap (the run's end and the
        # failure may pass it), and inside the output caps in every frame.
        batches = [m for _, m in fast.frames if m["type"] == "batch"]
        assert len(batches) <= (elapsed + 1) * max_fps + 3
        for m in batches:
            texts = [len(e["text"]) for e in m["events"] if e["kind"] == "output"]
            assert all(n <= NODE_CHARS for n in texts) and sum(texts) <= FRAME_CHARS
        assert fast.follower.state == snap and fast.follower.gaps == 0
        # The slow one lost output events, nothing else.
        stats = b.stats()
        me = next(s for s in stats.subscribers if s.id == slow.subscription.id)  # type: ignore[union-attr]
        assert me.dropped > 0 and stats.dropped["low"] >= me.dropped
        assert stats.dropped["normal"] == stats.dropped["critical"] == 0
        assert slow.state == snap
        kinds = [e["kind"] for e in slow.events]
        assert {
            "kind": "error",
            "node_id": "bad",
            "type": "ValueError",
            "message": "broke in the flood",
        } in slow.events
        assert {"kind": "run", "status": "failed"} in slow.events
        assert kinds.count("output") < len(fast.outputs())


def test_output_events_mark_what_the_frame_caps_left_out() -> None:
    """A node that prints more than a frame may carry: the event says how much it skipped."""
    watched, gate = threading.Event(), threading.Event()

    def burst() -> None:
        watched.wait(10)
        print("a" * 10_000, end="")
        gate.wait(10)
        print("b" * 10, end="")

    g = tb.Graph("burst")
    g.add("burst", burst)
    with tb.Broadcaster(max_delay_ms=20) as b:
        b.output_node_chars = 1000
        run = tb.start(g)
        client = Recorder()
        b.subscribe(b.attach(run), client.send)
        watched.set()
        wait_until(lambda: client.outputs())
        gate.set()
        run.wait(10)
        b.flush_all()
        first, *rest = [e for _, e in client.outputs()]
        assert first == {
            "kind": "output",
            "node_id": "burst",
            "from": 9000,
            "text": "a" * 1000,
            "skipped": 9000,
        }
        assert rest == [{"kind": "output", "node_id": "burst", "from": 10_000, "text": "b" * 10}]
        # What was skipped, fetched from the offset the client has.
        answer = b.request(run.id, {"type": "node_details", "node_id": "burst", "offset": 0})
        assert answer["details"]["output"] == "a" * 10_000 + "b" * 10


def test_node_details_with_an_offset_gives_the_tail_a_view_lacks() -> None:
    g = tb.Graph("tail")
    g.add("a", lambda: print("0123456789"))
    run = tb.start(g).wait(10)
    with tb.Broadcaster() as b:
        room = b.attach(run)
        answer = b.request(room, {"type": "node_details", "node_id": "a", "offset": 4})
        assert answer["details"]["output"] == "456789\n" and answer["details"]["output_from"] == 4
        whole = b.request(room, {"type": "node_details", "node_id": "a"})
        assert whole["details"]["output"] == "0123456789\n" and whole["details"]["output_from"] == 0
        assert run.details("a", offset=11)["output"] == ""


def test_a_print_with_no_subscriber_wakes_nobody() -> None:
    gate, printed = threading.Event(), threading.Event()

    def talk() -> None:
        for _ in range(100):
            print("unwatched")
        printed.set()
        gate.wait(10)
        print("watched")

    g = tb.Graph("quiet")
    g.add("talk", talk)
    with tb.Broadcaster() as b:
        run = tb.start(g)
        room = b.attach(run)  # a room, but nobody in it
        printed.wait(10)
        b.flush_all()
        inner = b._rooms[room]
        assert inner.output is not None and not inner.output.watch.active
        assert inner.output.watch.dirty == set() and inner.batcher.waiting == {}
        client = Recorder()
        b.subscribe(room, client.send)
        gate.set()
        run.wait(10)
        b.flush_all()
        (event,) = [e for _, e in client.outputs()]
        # The first event after someone watches brings what was printed before (within its cap).
        assert event == {
            "kind": "output",
            "node_id": "talk",
            "from": 0,
            "text": "unwatched\n" * 100 + "watched\n",
        }


def test_logging_records_in_a_node_reach_its_output() -> None:
    log = logging.getLogger("tests.output.node")

    def work() -> int:
        log.warning("disk at %d%%", 91)
        try:
            raise KeyError("k")
        except KeyError:
            log.exception("lookup failed")
        print("printed too")
        return 1

    g = tb.Graph("logs")
    g.add("work", work)
    run = tb.start(g).wait(10)
    output = run.details("work")["output"]
    lines = output.splitlines()
    assert lines[0] == "WARNING tests.output.node: disk at 91%"
    assert lines[1] == "ERROR tests.output.node: lookup failed"
    assert "KeyError: 'k'" in output and lines[-1] == "printed too"


def test_prints_and_records_outside_any_node_reach_the_real_streams() -> None:
    script = """
import logging, taskbeam as tb
g = tb.Graph("outside")
g.add("inside", lambda: print("from the node") or logging.getLogger("n").warning("node record"))
run = tb.start(g).wait(10)
print("from the script")
logging.getLogger("s").warning("script record")
assert "from the node" in run.details("inside")["output"]
assert "node record" in run.details("inside")["output"]
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "from the script\n"
    assert "script record" in done.stderr  # logging's last resort, as without taskbeam
    assert "from the node" not in done.stdout and "node record" not in done.stderr


def test_a_handler_on_the_wrapped_stderr_brings_a_record_to_the_node_once() -> None:
    script = """
import logging, sys, taskbeam as tb
g = tb.Graph("first")
g.add("a", lambda: 1)
tb.start(g).wait(10)  # the capture now wraps sys.stderr
logging.basicConfig(format="%(levelname)s:%(name)s:%(message)s")  # a handler on the wrapper
g = tb.Graph("twice")
g.add("warn", lambda: logging.getLogger("w").warning("once"))
run = tb.start(g).wait(10)
print(repr(run.details("warn")["output"]))
logging.getLogger("s").warning("outside")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == repr("WARNING:w:once\n") + "\n"
    assert done.stderr == "WARNING:s:outside\n"
