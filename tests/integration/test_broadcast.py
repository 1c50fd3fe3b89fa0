"""The broadcaster with real runs, threads and in-memory subscribers."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import pytest
from tests.conftest import wait_until

import taskbeam as tb
from taskbeam.testing import MemorySubscriber


def wide_graph(n: int, delay: float = 0.0, name: str = "wide") -> tb.Graph:
    async def work(i: int) -> int:
        if delay:
            await asyncio.sleep(delay)
        return i

    g = tb.Graph(name)
    for i in range(n):
        g.add(f"n{i}", work, kwargs={"i": i})
    return g


def settle(b: tb.Broadcaster, *clients: MemorySubscriber) -> None:
    """Flush, then apply everything queued, until nothing moves (resyncs included)."""
    for _ in range(10):
        b.flush_all()
        if not sum(c.receive() for c in clients):
            return
    raise AssertionError("clients did not settle")


def test_a_subscriber_ends_equal_to_the_final_snapshot() -> None:
    gate = threading.Event()
    g = wide_graph(50)
    g.add("last", lambda: gate.wait(10) and "end")
    run = tb.start(g, max_concurrency=4)
    with tb.Broadcaster(max_delay_ms=5) as b:
        client = MemorySubscriber().join(b, b.attach(run))
        gate.set()
        run.wait(10)
        settle(b, client)
        assert client.state == run.snapshot()
        assert client.gaps == 0 and client.snapshots == 1
        assert {"kind": "run", "status": "done"} in client.events
        frames_before = client.received
        b.flush_all()  # nothing changed: nothing is sent
        assert client.receive() == 0 and client.received == frames_before


def test_batches_chain_seq_and_base_seq_and_patch_only_changed_nodes() -> None:
    seen: list[dict[str, Any]] = []
    gate = threading.Event()
    g = tb.Graph("chain")
    g.add("a", lambda: gate.wait(10) and 1)
    g.add("b", lambda: "untouched")  # finishes before the subscriber joins
    run = tb.start(g)
    wait_until(lambda: run.snapshot()["nodes"]["b"]["status"] == "done")
    with tb.Broadcaster(max_delay_ms=1) as b:
        room = b.attach(run)
        b.subscribe(room, lambda m, bufs: m["type"] != "heartbeat" and seen.append(m))
        gate.set()
        run.wait(10)
        b.flush_all()
    assert seen[0]["type"] == "snapshot"
    batches = [m for m in seen if m["type"] == "batch"]
    assert batches
    for previous, frame in itertools.pairwise(seen):
        assert frame["base_seq"] == previous["seq"] and frame["seq"] == previous["seq"] + 1
    for frame in batches:
        assert set(frame["patch"].get("nodes", {})) <= {"a"}  # b never changed again


def test_critical_changes_flush_at_once() -> None:
    def boom() -> None:
        raise ValueError("bad")

    gate = threading.Event()
    g = tb.Graph("critical")
    g.add("boom", lambda: gate.wait(10) and boom())
    g.add("slow", lambda: gate.wait(10) and time.sleep(1))
    run = tb.start(g)
    with tb.Broadcaster(max_delay_ms=60_000) as b:  # normal changes would wait a minute
        client = MemorySubscriber().join(b, b.attach(run))
        client.receive()
        gate.set()
        deadline = time.monotonic() + 5
        while not any(e.get("kind") == "error" for e in client.events):
            assert time.monotonic() < deadline, "the error did not arrive at once"
            client.receive()
            time.sleep(0.01)
        [error] = [e for e in client.events if e["kind"] == "error"]
        assert error == {"kind": "error", "node_id": "boom", "type": "ValueError", "message": "bad"}
        run.wait(10)


def test_a_stalled_subscriber_stays_bounded_and_catches_up() -> None:
    run = tb.start(wide_graph(2000, delay=0.001), max_concurrency=50)
    with tb.Broadcaster(max_delay_ms=5, max_pending_bytes=64 * 1024) as b:
        room = b.attach(run)
        stalled = MemorySubscriber(capacity=1).join(b, room)
        live = MemorySubscriber().join(b, room)
        while not run.done:
            live.receive()
            stats = b.stats()
            mine = next(s for s in stats.subscribers if s.id == stalled.subscription.id)
            assert len(stalled.queue) <= 1
            assert mine.pending_bytes <= 64 * 1024 + 16 * 1024  # one frame past the bound at most
            time.sleep(0.005)
        run.wait(10)
        settle(b, stalled, live)
        assert stalled.state == live.state == run.snapshot()
        assert b.stats().coalesced > 0


def test_frame_rate_is_capped_per_subscriber() -> None:
    run = tb.start(wide_graph(300, delay=0.003), max_concurrency=4)
    with tb.Broadcaster(max_delay_ms=1, max_fps=10) as b:
        client = MemorySubscriber().join(b, b.attach(run))
        started = time.monotonic()
        run.wait(20)
        elapsed = time.monotonic() - started
        frames = client.receive()
        settle(b, client)
    # a snapshot, ~10 frames a second, plus the critical end-of-run frame
    assert frames <= 1 + 10 * elapsed + 3, (frames, elapsed)
    assert client.state == run.snapshot()


def test_three_runs_five_subscribers_each_one_stalled_rooms_never_mix() -> None:
    with tb.ExecutionService(max_concurrency=8) as svc, tb.Broadcaster(max_delay_ms=5) as b:
        runs = [svc.start(f"p{i}", wide_graph(200, delay=0.001, name=f"g{i}")) for i in range(3)]
        clients: dict[str, list[MemorySubscriber]] = {}
        for run in runs:
            room = b.attach(run)
            clients[room] = [
                MemorySubscriber(capacity=1 if k == 0 else None).join(b, room) for k in range(5)
            ]
        while not all(r.done for r in runs):
            for group in clients.values():
                for c in group[1:]:
                    c.receive()
            time.sleep(0.005)
        every = [c for group in clients.values() for c in group]
        settle(b, *every)
        for run in runs:
            for c in clients[run.id]:
                assert c.state == run.snapshot()
                assert c.state["run"]["id"] == run.id


def test_resync_details_and_pages() -> None:
    def fails() -> None:
        print("about to fail")
        raise KeyError("missing")

    g = wide_graph(30)
    g.add("fails", fails)
    run = tb.start(g).wait(10)
    with tb.Broadcaster() as b:
        room = b.attach(run)
        client = MemorySubscriber().join(b, room)
        client.receive()
        assert client.snapshots == 1
        assert client.subscription is not None
        assert client.subscription.request({"type": "resync"}) == {"type": "ok"}
        b.flush_all()
        client.receive()
        assert client.snapshots == 2
        details = b.request(room, {"type": "node_details", "node_id": "fails"})
        assert details["details"]["error"]["type"] == "KeyError"
        assert details["details"]["output"] == "about to fail\n"
        assert "Traceback" in details["details"]["error"]["traceback"]
        page = b.request(room, {"type": "nodes", "limit": 20})
        rest = b.request(room, {"type": "nodes", "cursor": page["cursor"], "limit": 20})
        assert len(page["nodes"]) == 20 and len(rest["nodes"]) == 11 and "cursor" not in rest
        assert set(page["nodes"]) | set(rest["nodes"]) == set(run.snapshot()["nodes"])
        for bad in ({"type": "nodes", "limit": 0}, {"type": "explode"}, {"type": "node_details"}):
            assert b.request(room, bad)["type"] == "error"
        assert b.request("nope", {"type": "resync"})["type"] == "error"
        with pytest.raises(KeyError, match="no room"):
            b.subscribe("nope", lambda m, bufs: None)


def test_control_requests_reach_the_run_and_answers_carry_the_request_id() -> None:
    gate = threading.Event()

    async def wait_gate() -> None:
        await asyncio.to_thread(gate.wait, 10)

    g = tb.Graph("controlled")
    for i in range(4):
        g.add(f"n{i}", wait_gate)
    run = tb.start(g, max_concurrency=1)
    with tb.Broadcaster() as b:
        room = b.attach(run)
        assert b.request(room, {"type": "pause", "id": 3}) == {"type": "ok", "id": 3}
        wait_until(lambda: run.status is tb.RunStatus.PAUSED)
        assert b.request(room, {"type": "cancel_node", "node_id": "n3", "id": "x"}) == {
            "type": "ok",
            "id": "x",
        }
        assert b.request(room, {"type": "cancel_node", "node_id": "zz"})["type"] == "error"
        assert b.request(room, {"type": "cancel_node"})["type"] == "error"
        assert b.request(room, {"type": "resume"}) == {"type": "ok"}
        gate.set()
        run.wait(10)
        assert run.snapshot()["nodes"]["n3"]["status"] == "cancelled"
        # Ids that are not small integers or short strings are not echoed.
        for rid in (True, "x" * 65, [1], 1.5):
            assert "id" not in b.request(room, {"type": "explode", "id": rid})
        assert b.request(room, {"type": "cancel"}) == {"type": "ok"}  # after the end: no-op


def test_submitted_calls_run_on_the_broadcaster_thread_in_order() -> None:
    seen: list[tuple[int, str]] = []
    with tb.Broadcaster() as b:
        for i in range(5):
            b.submit(lambda i=i: seen.append((i, threading.current_thread().name)))
        b.submit(lambda: 1 / 0)  # logged; the thread goes on
        b.submit(lambda: seen.append((5, threading.current_thread().name)))
        b.flush_all()
    assert seen == [(i, "taskbeam-broadcaster") for i in range(6)]


def test_big_frames_are_compressed_and_stats_add_up() -> None:
    run = tb.start(wide_graph(500)).wait(10)
    with tb.Broadcaster(compress_min_bytes=1024) as b:
        client = MemorySubscriber().join(b, b.attach(run))
        client.receive()
        assert client.compressed == 1  # the 500-node snapshot went as gzip
        assert client.state == run.snapshot()
        stats = b.stats()
        assert stats.snapshots_out == 1 and stats.frames_out == 1 and stats.rooms == 1
        assert stats.bytes_sent < stats.bytes_raw * 0.8
        assert stats.compression_ratio == stats.bytes_sent / stats.bytes_raw


def test_a_raising_send_does_not_stop_the_others() -> None:
    def broken(message: dict[str, Any], buffers: list[bytes]) -> None:
        raise ConnectionError("gone")

    run = tb.start(wide_graph(20, delay=0.001))
    with tb.Broadcaster(max_delay_ms=2) as b:
        room = b.attach(run)
        b.subscribe(room, broken)
        good = MemorySubscriber().join(b, room)
        run.wait(10)
        settle(b, good)
        assert good.state == run.snapshot()


def test_attaching_a_run_that_has_already_ended() -> None:
    run = tb.start(wide_graph(3)).wait(10)
    with tb.Broadcaster() as b:
        client = MemorySubscriber().join(b, b.attach(run))
        client.receive()
        assert client.state == run.snapshot()


def test_one_shared_broadcaster_per_process() -> None:
    shared = tb.Broadcaster.shared()
    assert tb.Broadcaster.shared() is shared
    run = tb.start(wide_graph(2)).wait(10)
    client = MemorySubscriber().join(shared, shared.attach(run))
    client.receive()
    assert client.state == run.snapshot()
    client.subscription.close()  # type: ignore[union-attr]
