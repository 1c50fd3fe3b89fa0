"""Exceptions from user callbacks a run calls (subscribers): contained, logged once, counted.

The first exception of each kind from each callback is logged with its
traceback; the rest are only counted, so a subscriber that raises on every
event neither floods the log nor slows the run down. When the run ends, a
tally names each callback that raised more than once. Used on the run's
thread only; :meth:`Contained.listed` copies before it reads, so it is
safe from any thread.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["Contained", "describe"]

log = logging.getLogger("taskbeam")


def describe(callback: object) -> str:
    """A short, safe name for a user callback (its ``repr`` may be long or raise)."""
    name = getattr(callback, "__qualname__", None)
    if not isinstance(name, str):
        name = type(callback).__qualname__
    return name[:200]


class Contained:
    """The exceptions contained for one run, by callback and kind."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        # (role, id(callback), exception type) -> [callback, count]
        self._raised: dict[tuple[str, int, type[BaseException]], list[Any]] = {}

    def raised(self, role: str, callback: object, exc: BaseException) -> None:
        """``callback`` (a ``role``, e.g. ``"subscriber"``) raised ``exc``: log it or count it."""
        key = (role, id(callback), type(exc))
        seen = self._raised.get(key)
        if seen is not None:
            seen[1] += 1
            return
        self._raised[key] = [callback, 1]
        log.error(
            "%s %s of run %s raised %s; the run goes on (it is logged once, then counted)",
            role,
            describe(callback),
            self.run_id,
            type(exc).__qualname__,
            exc_info=exc,
        )

    def report(self) -> None:
        """At the end of the run: the tally of each callback that raised more than once."""
        for (role, _, kind), (callback, count) in self._raised.items():
            if count > 1:
                log.warning(
                    "%s %s of run %s raised %s %d times in all",
                    role,
                    describe(callback),
                    self.run_id,
                    kind.__qualname__,
                    count,
                )

    def listed(self) -> list[dict[str, Any]]:
        """``{role, callback, type, count}`` per callback and kind."""
        return [
            {"role": role, "callback": describe(cb), "type": kind.__qualname__, "count": n}
            for (role, _, kind), (cb, n) in list(self._raised.items())
        ]
