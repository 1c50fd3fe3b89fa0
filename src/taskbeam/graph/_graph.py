"""Graph and Task: what to run and in which order.

A :class:`Graph` is an ordered mapping of task id to :class:`Task`. A task's
dependencies are other task ids; each dependency's result reaches the task as
a keyword argument named after the dependency (or after the key of a
``deps={"arg": "dep-id"}`` mapping).

Each task is checked as it is added (id, policies, that its function takes
its arguments). Dependencies may name tasks added later; unknown ids and
cycles are reported by :meth:`Graph.validate`, which :func:`taskbeam.start`
calls. The graph remembers what is left to check: ids referenced but not yet
added, and whether a forward reference was resolved (only then can a cycle
exist), so validating a graph built in dependency order is O(1).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, overload

from taskbeam._errors import GraphError
from taskbeam.graph._task import Task
from taskbeam.graph._validate import check_task, find_cycle

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Deps", "Graph", "Links", "Task"]

Deps = Iterable[str] | Mapping[str, str]
_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})
_SPEC_ATTRS = ("kwargs", "retries", "backoff", "timeout", "priority", "tags", "label")
# A label is for people to read on a node: one line, short.
LABEL_CHARS = 200


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class Links:
    """A graph's dependencies as positions in task order, shared by all its runs.

    ``upstream[i]`` holds the positions of task ``i``'s dependencies (in the
    order of its ``deps``), ``dependants[i]`` those of the tasks that depend
    on it (in task order). ``prioritized`` says whether any task has a
    priority. A new graph version (after :meth:`Graph.add`) gets new links, so
    what is derived from a graph can be kept per ``Links`` object (compared by
    identity, weakly referable).
    """

    upstream: list[tuple[int, ...]]
    dependants: list[tuple[int, ...]]
    prioritized: bool


def links_of(tasks: Iterable[Task]) -> Links:
    """The :class:`Links` of ``tasks``, a closed set: every dependency is among them."""
    tasks = list(tasks)
    position = {t.id: i for i, t in enumerate(tasks)}
    upstream: list[tuple[int, ...]] = []
    down: list[list[int]] = [[] for _ in tasks]
    prioritized = False
    no_deps: tuple[int, ...] = ()
    for i, t in enumerate(tasks):
        if t.priority:
            prioritized = True
        if not t.deps:
            upstream.append(no_deps)
            continue
        up = tuple([position[d] for d in t.deps])
        upstream.append(up)
        for j in up:
            down[j].append(i)
    dependants = [tuple(d) if d else no_deps for d in down]
    return Links(upstream, dependants, prioritized)


def _check_id(task_id: object) -> str:
    if not isinstance(task_id, str) or not task_id:
        raise GraphError(f"task id must be a non-empty string, not {task_id!r}")
    if "/" in task_id:
        raise GraphError(
            f"task id {task_id!r} contains '/', which is reserved for children of "
            "expanded nodes (parent/child)"
        )
    return task_id


def _split_deps(task_id: str, deps: Deps | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if deps is None:
        return (), ()
    if isinstance(deps, str):
        raise GraphError(f"task {task_id!r}: deps must be a list of ids, not the string {deps!r}")
    if isinstance(deps, Mapping):
        args, ids = tuple(deps.keys()), tuple(deps.values())
    else:
        ids = tuple(deps)
        args = ids
    for dep in ids:
        if not isinstance(dep, str) or not dep:
            raise GraphError(f"task {task_id!r}: dependency ids must be strings, not {dep!r}")
    if len(set(ids)) != len(ids):
        raise GraphError(f"task {task_id!r} lists a dependency twice: {list(ids)}")
    return ids, args


def _check_policies(
    task_id: str, retries: int, backoff: float, timeout: float | None, priority: int
) -> None:
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise GraphError(f"task {task_id!r}: retries must be an int >= 0, not {retries!r}")
    if not isinstance(backoff, int | float) or not math.isfinite(backoff) or backoff < 0:
        raise GraphError(f"task {task_id!r}: backoff must be a number >= 0, not {backoff!r}")
    if timeout is not None and (
        not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0
    ):
        raise GraphError(f"task {task_id!r}: timeout must be a number > 0, not {timeout!r}")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise GraphError(f"task {task_id!r}: priority must be an int, not {priority!r}")


def _check_cache(task_id: str, cache: object, key: object, ttl: object) -> None:
    if not isinstance(cache, bool):
        raise GraphError(f"task {task_id!r}: cache must be True or False, not {cache!r}")
    if key is not None and not callable(key):
        raise GraphError(f"task {task_id!r}: cache_key must be a callable, not {key!r}")
    if ttl is not None and (
        not isinstance(ttl, int | float)
        or isinstance(ttl, bool)
        or not math.isfinite(ttl)
        or ttl < 0
    ):
        raise GraphError(f"task {task_id!r}: cache_ttl must be a number >= 0, not {ttl!r}")


def _check_label(task_id: str, label: object) -> str | None:
    if label is None:
        return None
    if not isinstance(label, str):
        raise GraphError(f"task {task_id!r}: label must be a string, not {label!r}")
    text = " ".join(label.split())  # one line: views draw it on a node
    if not text:
        return None
    if len(text) > LABEL_CHARS:
        raise GraphError(
            f"task {task_id!r}: label is {len(text)} characters, at most {LABEL_CHARS} are allowed"
        )
    return text


def _is_async(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


class Graph:
    """A directed acyclic graph of tasks.

    Parameters
    ----------
    name : str, optional
        Shown in views and stored with runs. Defaults to ``"graph"``.

    Examples
    --------
    >>> import taskbeam as tb
    >>> g = tb.Graph("report")
    >>> @g.task
    ... def load():
    ...     return [1, 2, 3]
    >>> @g.task(deps=["load"])
    ... def total(load):
    ...     return sum(load)
    >>> tb.start(g).wait().result("total")
    6
    """

    def __init__(self, name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise GraphError(f"graph name must be a string, not {name!r}")
        self.name = name or "graph"
        self._tasks: dict[str, Task] = {}
        self._missing: dict[str, str] = {}  # referenced id -> first task referencing it
        self._cycle_possible = False
        self._links: Links | None = None

    # -- building ---------------------------------------------------------
    def add(
        self,
        id: str,
        fn: Callable[..., Any],
        deps: Deps | None = None,
        *,
        kwargs: Mapping[str, Any] | None = None,
        retries: int = 0,
        backoff: float = 0.5,
        timeout: float | None = None,
        priority: int = 0,
        tags: Iterable[str] = (),
        label: str | None = None,
        cache: bool = True,
        cache_key: Callable[..., Any] | None = None,
        cache_ttl: float | None = None,
    ) -> Task:
        """Add a task and return its :class:`Task`.

        ``label`` is a display name for views (``"Summarise arXiv"``); the
        id stays the node's identity. Whitespace runs are folded into one
        space, an empty label is no label.

        Raises :class:`~taskbeam.GraphError` at once for a duplicate id, a
        non-callable ``fn``, a bad policy value or a label that is not a
        string of at most 200 characters.

        ``cache``, ``cache_key`` and ``cache_ttl`` apply to runs started with
        ``cache=True`` (see docs/cache.md): ``cache=False`` always runs the
        task (side effects); ``cache_key(**inputs) -> str`` stands for the
        inputs' digests (for values taskbeam cannot digest); ``cache_ttl``
        is how many seconds a cached result may be reused.
        """
        task_id = _check_id(id)
        if task_id in self._tasks:
            raise GraphError(f"duplicate task id {task_id!r} in graph {self.name!r}")
        if not callable(fn):
            raise GraphError(f"task {task_id!r}: {fn!r} is not callable")
        dep_ids, args = _split_deps(task_id, deps)
        _check_policies(task_id, retries, backoff, timeout, priority)
        _check_cache(task_id, cache, cache_key, cache_ttl)
        text = _check_label(task_id, label)
        if isinstance(tags, str):
            tags = (tags,)
        task = Task(
            id=task_id,
            fn=fn,
            deps=dep_ids,
            args=args,
            kwargs=dict(kwargs) if kwargs else _NO_KWARGS,
            retries=retries,
            backoff=float(backoff),
            timeout=None if timeout is None else float(timeout),
            priority=priority,
            tags=tuple(dict.fromkeys(tags)),  # a tag listed twice still takes one slot
            is_async=_is_async(fn),
            label=text,
            cache=cache,
            cache_key=cache_key,
            cache_ttl=None if cache_ttl is None else float(cache_ttl),
        )
        if task.kwargs:
            clash = set(task.kwargs) & set(args)
            if clash:
                raise GraphError(
                    f"task {task_id!r}: {sorted(clash)} given both as dependency and in kwargs"
                )
        check_task(task)
        tasks = self._tasks
        for dep in dep_ids:
            if dep not in tasks:
                self._missing.setdefault(dep, task_id)
        if self._missing.pop(task_id, None) is not None:
            self._cycle_possible = True  # a forward reference closed: a cycle may exist
        tasks[task_id] = task
        self._links = None
        return task

    @overload
    def task(self, fn: Callable[..., Any], /) -> Callable[..., Any]: ...
    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        id: str | None = None,
        deps: Deps | None = None,
        kwargs: Mapping[str, Any] | None = None,
        retries: int = 0,
        backoff: float = 0.5,
        timeout: float | None = None,
        priority: int = 0,
        tags: Iterable[str] = (),
        label: str | None = None,
        cache: bool = True,
        cache_key: Callable[..., Any] | None = None,
        cache_ttl: float | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...

    def task(self, fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        """Decorator form of :meth:`add`; the id defaults to the function's name.

        Usable bare (``@g.task``) or with options (``@g.task(deps=[...])``).
        The decorated function is returned unchanged.
        """

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            task_id = options.pop("id", None) or getattr(f, "__name__", None)
            self.add(task_id, f, **options)  # type: ignore[arg-type]
            return f

        return register if fn is None else register(fn)

    # -- reading ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks.values())

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def __getitem__(self, task_id: str) -> Task:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise KeyError(f"no task {task_id!r} in graph {self.name!r}") from None

    def __repr__(self) -> str:
        return f"<Graph {self.name!r}: {len(self)} tasks>"

    @property
    def tasks(self) -> Mapping[str, Task]:
        """Tasks by id, in the order they were added."""
        return self._tasks

    def edges(self) -> list[tuple[str, str]]:
        """``(dependency, dependant)`` pairs in task order."""
        return [(dep, t.id) for t in self._tasks.values() for dep in t.deps]

    def validate(self) -> Graph:
        """Check the whole graph; raise :class:`~taskbeam.GraphError` naming the culprit.

        Checks unknown dependencies and cycles (the message shows the cycle
        path); each task's own checks ran when it was added. Returns the graph
        so calls can be chained.
        """
        if self._missing:
            dep, task_id = next(iter(self._missing.items()))
            raise GraphError(
                f"task {task_id!r} depends on unknown task {dep!r} in graph {self.name!r}"
            )
        if self._cycle_possible:
            cycle = find_cycle(self._tasks)
            if cycle:
                raise GraphError(f"cycle in graph {self.name!r}: {' -> '.join(cycle)}")
            self._cycle_possible = False
        return self

    def links(self) -> Links:
        """The dependencies as positions (see :class:`Links`), for a validated graph.

        Computed on first use and kept until the next :meth:`add`, so every
        run of an unchanged graph shares one copy.
        """
        links = self._links
        if links is None:
            links = self._links = links_of(self._tasks.values())
        return links

    # -- networkx interop -------------------------------------------------
    def to_networkx(self) -> nx.DiGraph[str]:
        """A ``networkx.DiGraph``: node attributes ``fn`` and the task policies,
        edges ``dependency -> dependant`` with the keyword name in ``arg``."""
        import networkx as nx

        g: nx.DiGraph[str] = nx.DiGraph(name=self.name)
        for t in self._tasks.values():
            g.add_node(t.id, fn=t.fn, **{a: getattr(t, a) for a in _SPEC_ATTRS})
        for t in self._tasks.values():
            for dep, arg in zip(t.deps, t.args, strict=True):
                g.add_edge(dep, t.id, arg=arg)
        return g

    @classmethod
    def from_networkx(cls, g: nx.DiGraph[Any], name: str | None = None) -> Graph:
        """Build a graph from a ``networkx.DiGraph`` whose nodes carry ``fn``.

        Optional node attributes: ``kwargs``, ``retries``, ``backoff``,
        ``timeout``, ``priority``, ``tags``, ``label``. An edge ``u -> v`` makes ``u`` a
        dependency of ``v``; its ``arg`` attribute names the keyword (default:
        ``u``). Node ids are converted with ``str``.
        """
        import networkx as nx

        if not isinstance(g, nx.DiGraph):
            raise GraphError(f"from_networkx needs a networkx.DiGraph, not {type(g).__name__}")
        graph = cls(name or g.graph.get("name") or None)
        for node, data in g.nodes(data=True):
            if "fn" not in data:
                raise GraphError(f"networkx node {node!r} has no 'fn' attribute")
            deps = {str(edge.get("arg", u)): str(u) for u, _, edge in g.in_edges(node, data=True)}
            options = {a: data[a] for a in _SPEC_ATTRS if a in data}
            graph.add(str(node), data["fn"], deps, **options)
        return graph
