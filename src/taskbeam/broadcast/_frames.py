"""Frames, for :class:`~taskbeam.broadcast._broadcaster.Broadcaster` (a mixin, on
the broadcaster thread): a room's changes read from its run and diffed into a
batch, encoded once and sent to every subscriber that can take it, composed
into the pending patch of those that cannot, snapshots, heartbeats, the
frame-rate caps and the counters of :class:`BroadcastStats`.
"""

from __future__ import annotations

import logging
from typing import Any

from taskbeam.broadcast._batcher import RUN, NotComposable, Priority, compose
from taskbeam.broadcast._codec import dumps, encode
from taskbeam.broadcast._output import OUTPUT, pend, without_output
from taskbeam.broadcast._output import events as output_events
from taskbeam.broadcast._patch import diff
from taskbeam.broadcast._rooms import (
    RUN_END,
    STRUCTURE,
    BroadcastStats,
    Room,
    Subscriber,
    SubscriberStats,
    is_waiting,
)

log = logging.getLogger("taskbeam.broadcast")

# After a burst of frames, a room sends its seq this many seconds later, twice,
# so a client whose last frame was lost finds out and resyncs.
HEARTBEATS = (1.0, 10.0)
BUSY_RETRY = 0.02  # seconds before asking a busy transport again


class Frames:
    """Building and sending the frames of each room."""

    compress_min_bytes: int
    compress_level: int
    max_pending_bytes: int
    comm_gap: float
    output_node_chars: int
    output_frame_chars: int
    _rooms: dict[str, Room]
    _comm_next: float
    _counters: dict[str, int]
    _bytes: list[int]
    _dropped: dict[str, int]

    def _flush(self, room: Room, now: float, force: bool = False) -> None:
        keys, critical = room.batcher.take()
        if keys:
            patch, events, state = self._changes(room, keys)
            if patch or events:
                room.state = state
                room.seq += 1
                self._counters["batches"] += 1
                frame = {
                    "type": "batch",
                    "room": room.name,
                    "seq": room.seq,
                    "base_seq": room.seq - 1,
                    "patch": patch,
                    "events": events,
                }
                self._fan_out(room, frame, patch, events, critical or force, now)
                room.heartbeats = [now + delay for delay in HEARTBEATS]
        if force:
            for sub in room.subscribers:
                if is_waiting(sub):
                    self._deliver_pending(room, sub, now)

    def _changes(
        self, room: Room, keys: dict[str, Priority]
    ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        """The patch since the room's state, its events, and the new state.

        The new state is built from the summaries just read (a fresh dict:
        frames already handed to transports may still hold the old one), so
        it needs no patch applied: the patch is only what goes on the wire.
        """
        ids = list(keys)
        for special in (RUN, STRUCTURE, OUTPUT):
            if special in keys:
                ids.remove(special)
        printed: set[str] = set()
        if OUTPUT in keys and room.output is not None:  # taken before the text is read
            printed = room.output.watch.take()
            ids.extend(printed.difference(keys))
        run_fields, summaries, edges = room.run.summaries(ids, edges=STRUCTURE in keys)
        old_nodes = room.state["nodes"]
        nodes_patch = {}
        events: list[dict[str, Any]] = []
        for node_id, summary in summaries.items():
            old = old_nodes.get(node_id)
            change = summary if old is None else _node_diff(old, summary)
            if change:
                nodes_patch[node_id] = change
                if summary["status"] == "failed" and (old or {}).get("status") != "failed":
                    error = summary.get("error", {})
                    events.append({"kind": "error", "node_id": node_id, **error})
        if printed and room.output is not None:  # low priority: see _output.py
            events.extend(
                output_events(
                    room.output,
                    room.run,
                    printed,
                    summaries,
                    self.output_node_chars,
                    self.output_frame_chars,
                )
            )
        notes = getattr(room.run, "question_events", None)
        if notes is not None:  # question / answered events (see docs/questions.md)
            room.notes, asked = notes(room.notes)
            events.extend(asked)
        patch: dict[str, Any] = {}
        run_patch = diff(room.state["run"], run_fields)
        if run_patch:
            patch["run"] = run_patch
            if (
                run_fields["status"] in RUN_END
                and room.state["run"]["status"] != run_fields["status"]
            ):
                events.append({"kind": "run", "status": run_fields["status"]})
        state = dict(room.state, run=run_fields)
        if nodes_patch:
            patch["nodes"] = nodes_patch
            nodes = dict(old_nodes)
            nodes.update(summaries)
            state["nodes"] = nodes
        if edges is not None and edges != room.state["edges"]:
            patch["edges"] = edges
            state["edges"] = edges
        return patch, events, state

    def _fan_out(
        self,
        room: Room,
        frame: dict[str, Any],
        patch: dict[str, Any],
        events: list[dict[str, Any]],
        critical: bool,
        now: float,
    ) -> None:
        encoded: tuple[dict[str, Any], list[bytes], int, int] | None = None
        for sub in room.subscribers:
            if sub.needs_snapshot:
                continue  # it will get the state itself
            if not is_waiting(sub) and self._may_send(sub, now, critical):
                if encoded is None:  # encode once for every subscriber that keeps up
                    encoded = self._encode(frame)
                self._send(sub, encoded, now)
                sub.seq = room.seq
            else:
                self._coalesce(room, sub, patch, events, critical, encoded, now)

    def _coalesce(
        self,
        room: Room,
        sub: Subscriber,
        patch: dict[str, Any],
        events: list[dict[str, Any]],
        critical: bool,
        encoded: tuple[dict[str, Any], list[bytes], int, int] | None,
        now: float,
    ) -> None:
        self._counters["coalesced"] += 1
        try:
            sub.pending = patch if sub.pending is None else compose(sub.pending, patch)
        except NotComposable:
            sub.drop_pending()
            sub.needs_snapshot = True
            return
        sub.pending_seq = room.seq
        sub.pending_since = sub.pending_since or now
        sub.critical = sub.critical or critical
        events, output = without_output(events)  # output waits apart, dropped first
        if output:
            low = pend(sub.pending_output, output, self.output_node_chars, self.output_frame_chars)
            sub.dropped += low
            self._dropped["low"] += low
        sub.pending_events.extend(events)
        if len(sub.pending_events) > 100:  # keep the newest; count the rest as dropped
            extra = len(sub.pending_events) - 100
            del sub.pending_events[:extra]
            sub.dropped += extra
            self._dropped["critical"] += extra
        # The frame's size, less its output (which waits apart, bounded on its own).
        sub.pending_bytes += encoded[2] if encoded is not None and not output else _size(patch)
        if sub.pending_bytes > self.max_pending_bytes:
            sub.drop_pending()
            sub.needs_snapshot = True

    def _deliver_pending(self, room: Room, sub: Subscriber, now: float) -> None:
        if sub.needs_snapshot:
            self._send_snapshot(room, sub, now)
            return
        if sub.pending is None:
            return
        frame = {
            "type": "batch",
            "room": room.name,
            "seq": sub.pending_seq,
            "base_seq": sub.seq,
            "patch": sub.pending,
            "events": sub.pending_events + sub.pending_output,
        }
        self._send(sub, self._encode(frame), now)
        sub.seq = sub.pending_seq
        sub.settle()

    def _heartbeat(self, room: Room, now: float) -> None:
        """Tell subscribers that keep up the room's ``seq``: one that lost the last
        frame sees it is behind and asks for a resync."""
        message = {"type": "heartbeat", "room": room.name, "seq": room.seq}
        encoded: tuple[dict[str, Any], list[bytes], int, int] = (message, [], 0, 0)
        for sub in room.subscribers:
            if not is_waiting(sub) and self._may_send(sub, now, critical=True):
                self._send(sub, encoded, now, count=False)

    def _encode(self, message: dict[str, Any]) -> tuple[dict[str, Any], list[bytes], int, int]:
        return encode(
            message, compress_min_bytes=self.compress_min_bytes, level=self.compress_level
        )

    def _send_snapshot(self, room: Room, sub: Subscriber, now: float) -> None:
        message = {"type": "snapshot", "room": room.name, "seq": room.seq, "state": room.state}
        sub.needs_snapshot = False
        sub.settle()
        sub.snapshots += 1
        self._counters["snapshots_out"] += 1
        self._send(sub, self._encode(message), now)
        sub.seq = room.seq

    def _may_send(self, sub: Subscriber, now: float, critical: bool) -> bool:
        if sub.ready is not None:
            try:
                if not sub.ready():
                    # Look again a little later, not at once: a busy transport
                    # must not make this thread spin (it may also wake us up
                    # sooner with submit() when it has room).
                    sub.next_at = max(sub.next_at, now + BUSY_RETRY)
                    return False
            except Exception:
                log.exception("ready() of subscriber %s raised", sub.id)
                sub.next_at = max(sub.next_at, now + BUSY_RETRY)
                return False
        if critical:
            return True
        if now < sub.next_at:
            return False
        return not (sub.kind == "comm" and now < self._comm_next)

    def _send(
        self,
        sub: Subscriber,
        encoded: tuple[dict[str, Any], list[bytes], int, int],
        now: float,
        count: bool = True,
    ) -> None:
        message, buffers, raw, sent = encoded
        try:
            sub.send(message, buffers)
        except Exception:
            log.exception("send() of subscriber %s raised; it gets a snapshot next", sub.id)
            sub.needs_snapshot = True
            return
        if not count:  # heartbeats: tiny, and not frames of state
            return
        sub.frames += 1
        sub.next_at = now + sub.min_gap
        if sub.kind == "comm":
            self._comm_next = max(self._comm_next, now) + self.comm_gap
        self._counters["frames_out"] += 1
        self._bytes[0] += raw
        self._bytes[1] += sent

    def _stats(self, now: float) -> BroadcastStats:
        raw, sent = self._bytes
        subs = tuple(
            SubscriberStats(
                id=s.id,
                room=r.name,
                kind=s.kind,
                seq=s.seq,
                lag=r.seq - s.seq,
                pending_bytes=s.pending_bytes,
                waiting_since=None if s.pending_since is None else now - s.pending_since,
                frames=s.frames,
                snapshots=s.snapshots,
                dropped=s.dropped,
            )
            for r in self._rooms.values()
            for s in r.subscribers
        )
        return BroadcastStats(
            dropped=dict(self._dropped),
            bytes_raw=raw,
            bytes_sent=sent,
            compression_ratio=sent / raw if raw else 1.0,
            rooms=len(self._rooms),
            subscribers=subs,
            **self._counters,
        )


def _node_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The merge patch between two node summaries.

    Summaries are flat but for the ``error`` object, so this compares fields
    one by one in the common case and calls the general :func:`diff` otherwise.
    """
    get = old.get
    patch: dict[str, Any] = {}
    for key, value in new.items():  # a plain loop: no comprehension frame per node
        if get(key) != value:
            if isinstance(value, dict):
                nested: dict[str, Any] = diff(old, new)  # a nested object changed: diff it
                return nested
            patch[key] = value
    if not old.keys() <= new.keys():
        for key in old.keys() - new.keys():
            patch[key] = None
    return patch


def _size(patch: dict[str, Any]) -> int:
    return len(dumps(patch))
