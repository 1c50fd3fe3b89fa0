"""Task: one node of a graph, as plain frozen data.

Apart from :mod:`taskbeam.graph._graph`, so that the checks of
:mod:`taskbeam.graph._validate` can name it without importing the graph
that calls them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Task"]


@dataclass(frozen=True, slots=True)
class Task:
    """One node of a graph: a callable, its dependencies and its policies.

    ``deps`` are dependency ids and ``args`` the keyword names their results
    are passed under (the same unless a mapping was given). ``label`` is
    what views show for the node instead of its id (the id stays its
    identity); ``None`` shows the id.
    """

    id: str
    fn: Callable[..., Any]
    deps: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    retries: int = 0
    backoff: float = 0.5
    timeout: float | None = None
    priority: int = 0
    tags: tuple[str, ...] = ()
    is_async: bool = False
    label: str | None = None
    cache: bool = True  # False: never taken from the cache nor stored there (side effects)
    cache_key: Callable[..., Any] | None = None  # inputs -> str, used instead of their digests
    cache_ttl: float | None = None  # seconds a cached result may be reused
