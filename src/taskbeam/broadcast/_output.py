"""Live output in frames: low-priority ``output`` events (see docs/protocol.md).

A room whose run can be watched (a live run: ``watch_output``) holds a
:class:`RoomOutput`: the run's watch, active while the room has
subscribers, and per node the position up to which the room has sent its
output. A node that prints marks itself in the watch (once until the next
frame looks) and the room's batcher gets the :data:`OUTPUT` key at low
priority, so output is coalesced per node per frame window and never makes
a frame of its own outside the batch's timing and the frame-rate caps.

When the batch is built, each node that wrote gives one event
``{"kind": "output", "node_id", "from", "text"}``: ``from`` is the position
of ``text``'s first character in everything the node printed (a count of
characters, monotonic). At most ``node_chars`` per node (the last ones) and
``frame_chars`` in all go in one frame; what is left out is counted in the
event's ``skipped`` (characters between the room's last event for the node
and ``from``), and a client that wants it fetches it with ``node_details``
and an ``offset``. For a subscriber that cannot take a frame now (its
frame-rate cap, a busy transport) the output events wait beside its
pending patch, one per node, within the same caps (:func:`pend`); a
subscriber that stays behind loses the oldest of them first (counted as
dropped low), never a state change, and sees the gap by ``from``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FRAME_CHARS",
    "NODE_CHARS",
    "OUTPUT",
    "RoomOutput",
    "events",
    "pend",
    "without_output",
    "watch",
]

OUTPUT = "\x00output"  # the batcher's key for "nodes printed"; no node id can be this
NODE_CHARS = 4096  # characters of one node's output in one frame, at most (the last ones)
FRAME_CHARS = 65536  # characters of output in one frame, all nodes together


@dataclass(eq=False)
class RoomOutput:
    """A room's watch of its run's output and what it has sent of it."""

    watch: Any  # an engine OutputWatch: ``active``, ``take()``
    stop: Callable[[], None]
    sent: dict[str, int] = field(default_factory=dict)  # node id -> position sent up to
    turn: int = 0  # where the next frame starts among the nodes that printed (fairness)


def watch(run: Any, wake: Callable[[], None]) -> RoomOutput | None:
    """Watch ``run``'s output (``None`` for a run that cannot print: a stored one)."""
    start = getattr(run, "watch_output", None)
    if start is None or getattr(run, "done", False):
        return None
    handle, stop = start(wake)
    handle.active = False  # until the room has a subscriber
    return RoomOutput(handle, stop)


def events(
    output: RoomOutput,
    run: Any,
    node_ids: Iterable[str],
    summaries: dict[str, dict[str, Any]],
    node_chars: int = NODE_CHARS,
    frame_chars: int = FRAME_CHARS,
) -> list[dict[str, Any]]:
    """The ``output`` events of the nodes that printed since the last frame."""
    out: list[dict[str, Any]] = []
    sent = output.sent
    budget = frame_chars
    ids = sorted(node_ids)
    if ids:  # over the budget, the nodes left out go first next time
        first = output.turn % len(ids)
        ids = ids[first:] + ids[:first]
    served = 0
    for node_id in ids:
        have = sent.get(node_id, 0)
        if budget > 0:
            start, text = run.output(node_id, have, min(node_chars, budget))
            budget -= len(text)
            served += 1
        else:  # over the frame's budget: only say how far the node got
            start = max(have, summaries.get(node_id, {}).get("output_chars", have))
            text = ""
        end = start + len(text)
        if end <= have:
            continue
        event: dict[str, Any] = {"kind": "output", "node_id": node_id, "from": start, "text": text}
        if start > have:
            event["skipped"] = start - have
        sent[node_id] = end
        out.append(event)
    output.turn += served
    return out


def without_output(
    frame_events: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``frame_events`` split: the other events, and the output events."""
    if not any(e.get("kind") == "output" for e in frame_events):
        return frame_events, []
    kept = [e for e in frame_events if e.get("kind") != "output"]
    return kept, [e for e in frame_events if e.get("kind") == "output"]


def pend(
    pending: list[dict[str, Any]],
    new: list[dict[str, Any]],
    node_chars: int = NODE_CHARS,
    frame_chars: int = FRAME_CHARS,
) -> int:
    """Keep ``new`` output events for a subscriber that cannot take a frame now.

    One event per node: a node's next event is appended to the one that
    waits (the room makes them in order), cut to its last ``node_chars``
    characters. Past ``frame_chars`` in all, the oldest waiting events are
    dropped whole: the subscriber will see the gap by ``from``. Returns how
    many events lost text (the count of dropped low-priority items).
    """
    dropped = 0
    index = {e["node_id"]: i for i, e in enumerate(pending)}
    for event in new:
        i = index.get(event["node_id"])
        if i is None:
            index[event["node_id"]] = len(pending)
            pending.append(dict(event))
            continue
        old = pending[i]
        if event.get("skipped"):  # the room left text out: what waits is no use to a tail
            skipped = event["from"] - old["from"] + old.get("skipped", 0)
            pending[i] = dict(event, skipped=skipped)
            dropped += 1
            continue
        text = old["text"] + event["text"]
        if len(text) > node_chars:
            cut = len(text) - node_chars
            old["from"] += cut
            old["skipped"] = old.get("skipped", 0) + cut
            text = text[cut:]
            dropped += 1
        old["text"] = text
    total = sum(len(e["text"]) for e in pending)
    while total > frame_chars and pending:
        total -= len(pending.pop(0)["text"])
        dropped += 1
    return dropped
