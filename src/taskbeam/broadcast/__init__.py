"""Live view plumbing: merge patches over snapshots, the wire codec, the broadcaster."""

from taskbeam.broadcast._batcher import Batcher, Priority, compose
from taskbeam.broadcast._broadcaster import (
    Broadcaster,
    BroadcastStats,
    SubscriberStats,
    Subscription,
)
from taskbeam.broadcast._codec import decode, dumps, encode
from taskbeam.broadcast._patch import apply, diff

__all__ = [
    "Batcher",
    "BroadcastStats",
    "Broadcaster",
    "Priority",
    "SubscriberStats",
    "Subscription",
    "apply",
    "compose",
    "decode",
    "diff",
    "dumps",
    "encode",
]
