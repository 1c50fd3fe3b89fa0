"""The broadcaster's records: a room per run, its subscribers, and the
counters it reports (see :mod:`taskbeam.broadcast._broadcaster`). Only the
broadcaster thread touches a room or a subscriber.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from taskbeam.broadcast._batcher import Batcher
from taskbeam.broadcast._source import Source

Send = Callable[[dict[str, Any], list[bytes]], None]
STRUCTURE = "\x00edges"  # a key meaning "nodes were added: send the edges"
RUN_END = frozenset({"done", "failed", "cancelled"})


class Ready(Protocol):
    def __call__(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class SubscriberStats:
    """One subscriber as the broadcaster sees it."""

    id: int
    room: str
    kind: str
    seq: int
    lag: int  # frames of the room it has not been sent yet
    pending_bytes: int  # estimated size of what waits for it
    waiting_since: float | None  # seconds it has had something waiting
    frames: int
    snapshots: int
    dropped: int


@dataclass(frozen=True, slots=True)
class BroadcastStats:
    """A frozen record of what the broadcaster has done so far."""

    changes_in: int
    frames_out: int
    batches: int
    snapshots_out: int
    coalesced: int
    dropped: dict[str, int]
    bytes_raw: int
    bytes_sent: int
    compression_ratio: float
    resyncs: int
    rooms: int
    subscribers: tuple[SubscriberStats, ...]


@dataclass(eq=False)
class Subscriber:
    id: int
    room: str
    send: Send
    ready: Ready | None
    kind: str
    min_gap: float
    seq: int = -1  # seq of the last frame sent
    next_at: float = 0.0  # earliest time the next frame may go (frame-rate cap)
    pending: dict[str, Any] | None = None  # composed patch not sent yet
    pending_seq: int = -1
    pending_events: list[dict[str, Any]] = field(default_factory=list)
    pending_output: list[dict[str, Any]] = field(default_factory=list)  # low: see _output.py
    pending_bytes: int = 0
    pending_since: float | None = None
    critical: bool = False
    needs_snapshot: bool = True
    closed: bool = False
    frames: int = 0
    snapshots: int = 0
    dropped: int = 0

    def drop_pending(self) -> None:
        """Forget the composed patch (a snapshot will replace it)."""
        self.pending, self.pending_events, self.pending_bytes = None, [], 0
        self.pending_output = []

    def settle(self) -> None:
        """Nothing waits for this subscriber any more."""
        self.drop_pending()
        self.pending_since, self.critical = None, False


@dataclass(eq=False)
class Room:
    name: str
    run: Source
    state: dict[str, Any]
    unsubscribe: Callable[[], None]
    batcher: Batcher
    seq: int = 0
    subscribers: list[Subscriber] = field(default_factory=list)
    heartbeats: list[float] = field(default_factory=list)  # when to send the next ones
    notes: int = 0  # how many of the run's question events the room has sent
    output: Any = None  # a RoomOutput (broadcast/_output.py) while the run can print


def is_waiting(sub: Subscriber) -> bool:
    return sub.pending is not None or sub.needs_snapshot
