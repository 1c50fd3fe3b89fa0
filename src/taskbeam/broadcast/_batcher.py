"""The batcher and patch composition: pure parts of the broadcaster.

Batcher
-------
Collects the keys that changed in one room (node ids, or ``RUN`` for the
run's own fields) with a priority each, and says when a batch is due:

* at once when a critical change is waiting (an error, the end of the run);
* when ``max_batch`` distinct keys are waiting;
* when the oldest waiting change is ``max_delay`` seconds old.

A key changed many times in one window is one entry (its highest priority
wins): what is sent is the key's state at flush time, so every change of a
node in a window collapses into one entry with the latest value of every
field. Time is an argument; nothing here reads a clock.

compose
-------
``compose(p1, p2)`` is the merge patch that does what applying ``p1`` and
then ``p2`` does (RFC 7386 patches compose by a merge that keeps nulls), so
a subscriber that cannot take every frame gets one patch for all it missed.
One case has no merge patch: ``p1`` removes or replaces a value and ``p2``
sets an object there. Applied to a target that had an object at that key,
a merged patch would keep the old object's other members, so ``compose``
raises :class:`NotComposable` and the subscriber gets a snapshot instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = ["RUN", "Batcher", "NotComposable", "Priority", "compose"]

RUN = "\x00run"  # the key of the run's own fields; no node id can be this


class Priority(IntEnum):
    """How urgently a change must reach subscribers."""

    LOW = 0  # progress ticks, log lines: may be coalesced or dropped under pressure
    NORMAL = 1  # state changes: batched
    CRITICAL = 2  # errors, the end of the run: flushed at once


@dataclass
class Batcher:
    """Changes waiting in one room, and when to flush them."""

    max_delay: float = 0.05
    max_batch: int = 10_000
    waiting: dict[str, Priority] = field(default_factory=dict)
    since: float | None = None
    critical: bool = False

    def add(self, key: str, priority: Priority, now: float) -> None:
        """Record that ``key`` changed at ``now``."""
        old = self.waiting.get(key)
        if old is None or priority > old:
            self.waiting[key] = priority
        if self.since is None:
            self.since = now
        if priority is _CRITICAL:
            self.critical = True

    def due(self, now: float) -> bool:
        if not self.waiting:
            return False
        assert self.since is not None
        return (
            self.critical
            or len(self.waiting) >= self.max_batch
            or now - self.since >= self.max_delay
        )

    def deadline(self) -> float | None:
        """When the waiting changes become due by age (``None``: nothing waits)."""
        if self.since is None:
            return None
        return self.since + self.max_delay

    def take(self) -> tuple[dict[str, Priority], bool]:
        """The waiting keys with their priorities, and whether one was critical; resets."""
        taken, critical = self.waiting, self.critical
        self.waiting, self.since, self.critical = {}, None, False
        return taken, critical


_CRITICAL = Priority.CRITICAL


class NotComposable(ValueError):
    """Two merge patches whose effect no single merge patch has."""


def compose(first: Any, second: Any) -> Any:
    """One merge patch equal to applying ``first`` then ``second``.

    Raises :class:`NotComposable` when there is none (see the module notes).

    Examples
    --------
    >>> compose({"a": {"x": 1, "y": 2}}, {"a": {"y": None}, "b": 3})
    {'a': {'x': 1, 'y': None}, 'b': 3}
    >>> compose({"a": 1}, {"a": 2})
    {'a': 2}
    """
    if not isinstance(second, dict):
        return second
    if not isinstance(first, dict):
        raise NotComposable("an object set where an earlier patch removed or replaced one")
    out = dict(first)
    for key, value in second.items():
        if value is None or key not in out or not isinstance(value, dict):
            out[key] = value
        else:
            out[key] = compose(out[key], value)
    return out
