"""taskbeam.testing.Follower: a room's state from its frames, gaps and resyncs."""

from __future__ import annotations

from typing import Any

import pytest

from taskbeam.broadcast import encode
from taskbeam.testing import Follower


def snapshot(seq: int, room: str = "r", **nodes: Any) -> dict[str, Any]:
    return {"type": "snapshot", "room": room, "seq": seq, "state": {"run": {}, "nodes": nodes}}


def batch(seq: int, base: int, patch: dict[str, Any], room: str = "r") -> dict[str, Any]:
    events = [{"kind": "run", "status": "done"}]
    return {"type": "batch", "room": room, "seq": seq, "base_seq": base, "patch": patch,
            "events": events}  # fmt: skip


@pytest.mark.parametrize("in_place", [False, True])
def test_it_applies_a_snapshot_then_batches_in_order(in_place: bool) -> None:
    f = Follower(in_place=in_place)
    steps = [
        f.feed(snapshot(1, a={"status": "pending"})),
        f.feed(batch(2, 1, {"nodes": {"a": {"status": "done", "preview": "1"}}})),
        f.feed(batch(3, 2, {"nodes": {"a": {"preview": None}, "b": {"status": "ready"}}})),
    ]
    assert [(s.applied, s.resync) for s in steps] == [(True, False)] * 3
    assert f.state == {"run": {}, "nodes": {"a": {"status": "done"}, "b": {"status": "ready"}}}
    assert (f.seq, f.snapshots, f.batches, f.frames, f.gaps) == (3, 1, 2, 3, 0)
    assert f.events == [{"kind": "run", "status": "done"}] * 2


def test_pure_apply_leaves_the_frames_it_was_given_alone() -> None:
    first = snapshot(1, a={"status": "pending"})
    f = Follower()
    f.feed(first)
    f.feed(batch(2, 1, {"nodes": {"a": {"status": "done"}}}))
    assert first["state"]["nodes"]["a"] == {"status": "pending"}


def test_a_gap_a_batch_before_any_snapshot_and_a_stale_heartbeat_ask_for_a_resync() -> None:
    f = Follower()
    assert f.feed(batch(2, 1, {})).resync  # no state yet
    f.feed(snapshot(5))
    assert f.feed(batch(7, 6, {"nodes": {"x": {"status": "done"}}})).resync
    assert f.state == {"run": {}, "nodes": {}} and f.seq == 5  # the lost batch is not applied
    assert not f.feed({"type": "heartbeat", "room": "r", "seq": 5}).resync
    assert f.feed({"type": "heartbeat", "room": "r", "seq": 6}).resync
    assert (f.gaps, f.heartbeats) == (3, 2)


def test_it_decodes_compressed_frames() -> None:
    big = snapshot(1, **{f"n{i:04d}": {"status": "pending"} for i in range(500)})
    message, buffers, _, _ = encode(big, compress_min_bytes=1024)
    assert buffers
    f = Follower()
    assert f.feed(message, buffers).applied
    assert f.state == big["state"] and f.compressed == 1


def test_a_follower_of_one_room_ignores_the_others_until_reset() -> None:
    f = Follower(room="r")
    assert f.feed(snapshot(1, room="old")).frame == {}
    f.feed(snapshot(1))
    assert (f.snapshots, f.other_rooms) == (1, 1)
    f.reset("s")
    assert f.state is None and f.frames == 0
    assert f.feed(snapshot(4, room="s")).applied and f.seq == 4
