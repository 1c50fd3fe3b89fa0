"""Graph checks: callability per task, unknown dependencies and cycles per graph.

Pure functions, linear in nodes plus edges. :class:`~taskbeam.Graph` checks
each task as it is added (:func:`check_task`) and keeps track of what a
whole-graph check still has to do, so validating a graph whose tasks were
added after their dependencies (the usual case) costs nothing more at
start; a graph with forward references gets the full :func:`find_cycle`.
"""

from __future__ import annotations

import functools
import inspect
import keyword
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from taskbeam._errors import GraphError

if TYPE_CHECKING:
    from taskbeam.graph._task import Task

__all__ = ["check_task", "find_cycle"]


def check_task(task: Task) -> None:
    """Raise :class:`GraphError` if ``task`` cannot be called with its arguments."""
    for arg, dep in zip(task.args, task.deps, strict=True):
        if not arg.isidentifier() or keyword.iskeyword(arg):
            suggestion = "".join(c if c.isalnum() else "_" for c in dep).lstrip("0123456789")
            raise GraphError(
                f"task {task.id!r}: dependency {dep!r} cannot be passed as a keyword "
                f"argument; map it to a valid name, e.g. "
                f"deps={{{(suggestion or 'value')!r}: {dep!r}}}"
            )
    names = (*task.args, *task.kwargs)
    try:
        problem = _call_problem(task.fn, names)
    except TypeError:  # an unhashable callable: no cache
        problem = _call_problem.__wrapped__(task.fn, names)
    if problem:
        raise GraphError(f"task {task.id!r} cannot be called with {sorted(names)}: {problem}")


@functools.lru_cache(maxsize=4096)
def _call_problem(fn: Callable[..., Any], names: tuple[str, ...]) -> str | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and C callables: nothing to check
        return None
    try:
        sig.bind(**dict.fromkeys(names))
    except TypeError as exc:
        return str(exc)
    return None


def find_cycle(tasks: Mapping[str, Task]) -> list[str]:
    """Return one cycle as a path ``[a, b, ..., a]``, or ``[]`` for a DAG.

    Kahn's algorithm removes every node not on or behind a cycle; from any
    node left, following a remaining dependency must revisit a node.
    """
    indegree = {tid: 0 for tid in tasks}
    dependants: dict[str, list[str]] = {tid: [] for tid in tasks}
    for t in tasks.values():
        for dep in t.deps:
            if dep in tasks:
                indegree[t.id] += 1
                dependants[dep].append(t.id)
    stack = [tid for tid, n in indegree.items() if n == 0]
    while stack:
        for child in dependants[stack.pop()]:
            indegree[child] -= 1
            if indegree[child] == 0:
                stack.append(child)
    left = {tid for tid, n in indegree.items() if n > 0}
    if not left:
        return []
    node = next(iter(tid for tid in tasks if tid in left))
    seen: dict[str, int] = {}
    path: list[str] = []
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(dep for dep in tasks[node].deps if dep in left)
    cycle = [*path[seen[node] :], node]
    cycle.reverse()  # read in execution order: dependency -> dependant
    return cycle
