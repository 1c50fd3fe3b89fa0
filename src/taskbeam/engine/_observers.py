"""Start hooks: what a package outside the engine attaches to every run as it starts.

A hook is called with the new run and its options before the run's
thread starts, and may return a subscriber (``callback(event)``), which is
then subscribed before the first event, so it sees the run from its start.
The engine knows no observer by name: ``taskbeam.otel`` registers the hook
that turns a run into OpenTelemetry spans when it is imported, and the top
package tells :func:`set_loader` how to import it, so a run started with
``tracer=`` loads it on demand and a run without one never does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["add_start_hook", "set_loader", "subscribers_for"]

StartHook = Callable[[Any, Any], "Callable[[Any], None] | None"]

_HOOKS: list[StartHook] = []
_LOADER: list[Callable[[], object]] = []


def add_start_hook(hook: StartHook) -> Callable[[], None]:
    """Call ``hook(run, options)`` for every run started from now on; returns the undo."""
    _HOOKS.append(hook)

    def remove() -> None:
        if hook in _HOOKS:
            _HOOKS.remove(hook)

    return remove


def set_loader(loader: Callable[[], object]) -> None:
    """How to import the module whose hook serves ``RunOptions.tracer``."""
    _LOADER[:] = [loader]


def subscribers_for(run: Any, options: Any) -> list[Callable[[Any], None]]:
    """The subscribers the hooks give ``run`` (loading the tracer's module if needed)."""
    if getattr(options, "tracer", None) is not None and _LOADER:
        _LOADER[0]()  # imported once: it registers its hook
    out = []
    for hook in list(_HOOKS):
        subscriber = hook(run, options)
        if subscriber is not None:
            out.append(subscriber)
    return out
