"""What the broadcaster needs of a run: the ``Source`` protocol.

A live :class:`~taskbeam.Run` is a source, and so is a stored run
(:class:`~taskbeam.StoredRun`), which never changes and answers every
control with :class:`~taskbeam.NotRunning`. The broadcaster calls these on
its own thread; each must return promptly (a live run's are short calls on
its loop, a stored run's read memory).

A live run offers more, which the broadcaster looks up by name and a stored
run does without: ``question_events`` (docs/questions.md), and for live
output ``watch_output`` and ``output`` (see :mod:`._output`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from taskbeam._schema import Event

__all__ = ["Source"]


@runtime_checkable
class Source(Protocol):
    """A run as the broadcaster sees it."""

    @property
    def id(self) -> str: ...

    @property
    def done(self) -> bool: ...

    def watch(
        self, callback: Callable[[Event], None]
    ) -> tuple[dict[str, Any], Callable[[], None]]: ...

    def summaries(
        self, node_ids: Iterable[str], edges: bool = False
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[list[str]] | None]: ...

    def details(self, node_id: str) -> dict[str, Any]: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def cancel(self) -> None: ...

    def cancel_node(self, node_id: str) -> None: ...
