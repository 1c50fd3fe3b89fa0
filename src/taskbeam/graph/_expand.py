"""Run-time decomposition: a task returns a sub-graph and an aggregator.

A task that returns ``expand(sub, aggregate=fn)`` does not finish: the engine
adds the nodes of ``sub`` as its children (ids ``parent/child``), runs them
under the same limits, then calls ``fn({child_id: result})`` and the value it
returns becomes the parent's result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskbeam.graph._graph import Graph

__all__ = ["Aggregator", "Expansion", "expand"]

Aggregator = Callable[[dict[str, Any]], Any]


def _all_results(results: Mapping[str, Any]) -> dict[str, Any]:
    return dict(results)


@dataclass(frozen=True, slots=True)
class Expansion:
    """What a task returns to decompose itself; build it with :func:`expand`."""

    graph: Graph
    aggregate: Aggregator
    budgets: Mapping[str, float] | None = None


def expand(
    graph: Graph,
    aggregate: Aggregator | None = None,
    *,
    budgets: Mapping[str, float] | None = None,
) -> Expansion:
    """Ask the engine to run ``graph`` as children of the current task.

    Parameters
    ----------
    graph : Graph
        The sub-graph. It is validated when the engine receives it; an invalid
        one fails the parent node with a :class:`~taskbeam.GraphError`.
    aggregate : callable, optional
        Called with ``{child_id: result}`` (ids local to ``graph``) once every
        child is done; sync or async. Its return value is the parent's result.
        By default the parent's result is that dict itself.
    budgets : mapping of metric name to limit, optional
        Limits on the sub-graph's rolled-up metrics, e.g. ``{"cost": 1.0}``:
        once one is passed, no new node starts in the sub-graph and the run
        asks whether to continue, raise the limit or stop (see
        ``docs/metrics.md``).

    Examples
    --------
    >>> import taskbeam as tb
    >>> def plan(topic):
    ...     sub = tb.Graph()
    ...     sub.add("a", lambda: 1)
    ...     sub.add("b", lambda a: a + 1, deps=["a"])
    ...     return tb.expand(sub, aggregate=lambda r: r["b"])
    >>> g = tb.Graph("agent")
    >>> _ = g.add("plan", plan, kwargs={"topic": "x"})
    >>> tb.start(g).wait().result("plan")
    2
    """
    from taskbeam.graph._graph import Graph

    if not isinstance(graph, Graph):
        raise TypeError(f"expand() takes a taskbeam.Graph, not {type(graph).__name__}")
    if aggregate is not None and not callable(aggregate):
        raise TypeError(f"expand(aggregate=...) must be callable, not {type(aggregate).__name__}")
    if budgets is not None and not isinstance(budgets, Mapping):
        raise TypeError("expand(budgets=...) must be a mapping of metric name to limit")
    return Expansion(graph, aggregate or _all_results, dict(budgets) if budgets else None)
