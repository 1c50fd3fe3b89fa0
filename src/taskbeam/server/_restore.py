"""What a server with a store finds there: projects, their stored runs, continuing them.

At start, the server's projects are those of its store (the graph's name and
params of each project it created, and the projects of runs started from
Python). A project with no run in memory is shown by its latest stored run,
frozen (a :class:`~taskbeam.StoredRun`); one whose run was going when the
server died is ``interrupted``, and ``POST /api/projects/{id}/continue``
continues it: the graph is built again from the registry with the stored
params and the stored run goes on (done nodes are not run again).
``POST /api/projects/{id}/resume`` un-pauses a paused run; on a stored run
it still continues it, the old meaning, deprecated (it goes in a later
release).

Every function here may block (it reads the store), so handlers call them
from a worker thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from taskbeam._errors import NotRunning
from taskbeam._service import ExecutionService, finished
from taskbeam._stored import StoredRun
from taskbeam.engine import Run, RunStatus
from taskbeam.graph import Graph
from taskbeam.server._registry import Registry
from taskbeam.store import SQLiteStore
from taskbeam.store._stored import check, page

__all__ = [
    "Conflict",
    "Controlled",
    "Table",
    "UnknownRun",
    "BadNodes",
    "continue_project",
    "rerun_project",
    "find_run",
    "latest_stored",
    "list_runs",
    "resume_project",
    "stored_projects",
]

_GOING = (RunStatus.RUNNING, RunStatus.PAUSED)


class UnknownRun(KeyError):
    """No run has that id, in memory or in the store."""


class Conflict(RuntimeError):
    """The project is not in a state that allows the command."""


@dataclass(frozen=True, slots=True)
class Controlled:
    """What a control did to a project: its run afterwards, whether that is a new
    run continuing the stored one (it takes over the stored run's room), and
    whether ``resume`` was used in its old, deprecated meaning of continuing."""

    run: Run | StoredRun
    continued: bool = False
    deprecated: bool = False


class _Own(Protocol):
    """What a project created by the server remembers: its graph's name and params."""

    graph: str
    params: dict[str, Any]


class Table(Protocol):
    """What these helpers read of the server's projects table (``Projects``): its
    service and store, the graphs it can build, the projects it created, and the
    lock under which it starts runs. Typed here so that this module, which the
    table imports, does not import it back."""

    @property
    def service(self) -> ExecutionService: ...
    @property
    def store(self) -> SQLiteStore | None: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def _own(self) -> Mapping[str, _Own]: ...
    @property
    def _lock(self) -> threading.Lock: ...

    def started(self, project_id: str) -> Run | StoredRun: ...


def find_run(projects: Table, run_id: str) -> Run | StoredRun:
    """A run by its id: the live one if the service holds it, else the stored one."""
    for run in projects.service.list().values():
        if run.id == run_id:
            return run
    if projects.store is not None:
        with contextlib.suppress(KeyError):  # not in the store either
            return StoredRun(run_id, projects.store)
    raise UnknownRun(run_id)


def list_runs(
    projects: Table,
    *,
    name: str | None = None,
    status: str | None = None,
    project: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """A page of runs, newest first (see ``SQLiteStore.history``): the store's, or
    without a store the service's runs in memory. ``ValueError`` for bad filters."""
    from taskbeam._history import describe

    if projects.store is not None:
        return projects.store.history(
            name=name, status=status, cursor=cursor, limit=limit, project=project
        )
    wanted, after = check(status, cursor, limit)
    runs = [describe(r) for r in projects.service.list().values()]
    runs = [
        r
        for r in runs
        if (not project or r["project"] == project)
        and (not name or name.lower() in str(r["name"]).lower())
    ]
    runs.sort(key=lambda r: (r["created"], r["id"]), reverse=True)
    return page(runs, wanted, after, limit)


def stored_projects(store: SQLiteStore) -> list[dict[str, Any]]:
    """Every project the store knows, oldest first (see ``SQLiteStore.projects``)."""
    return store.projects()


def latest_stored(
    store: SQLiteStore, project_id: str, latest: dict[str, str | None] | None = None
) -> StoredRun | None:
    """The project's newest stored run, opened read-only; ``None`` if it has none.

    ``latest`` maps project ids to their newest run ids, as read once for a
    whole listing (see ``SQLiteStore.projects``).
    """
    if latest is not None and project_id in latest:
        run_id = latest[project_id]
    else:
        page = store.history(project=project_id, limit=1)
        run_id = page["runs"][0]["id"] if page["runs"] else None
    if run_id is None:
        return None
    try:
        return StoredRun(run_id, store)
    except KeyError:  # deleted meanwhile
        return None


def resume_project(projects: Table, project_id: str) -> Controlled:
    """``resume``: un-pause the project's paused run.

    On a run that has ended, or a stored one, ``resume`` keeps its old
    meaning for now: it continues the run (as :func:`continue_project`) and
    says so (``deprecated``); that meaning goes in a later release.
    Raises ``UnknownProject``; ``Conflict`` when the run is not paused.
    """
    run = projects.started(project_id)
    if isinstance(run, Run) and not finished(run):
        if run.status is RunStatus.PAUSED:
            run.resume()
            return Controlled(run)
        raise Conflict(f"project {project_id!r} is {run.status.value}: there is nothing to resume")
    return Controlled(continue_project(projects, project_id), continued=True, deprecated=True)


def continue_project(projects: Table, project_id: str) -> Run:
    """``continue``: continue the project's stored run (interrupted, failed or cancelled).

    The graph is built again from the registry with the project's params;
    done nodes whose task is unchanged are not run again. Raises
    ``UnknownProject``; ``Conflict`` when the project is running, paused or
    done, was never started, or its graph is not registered any more.
    """
    run = projects.started(project_id)
    status = run.status
    if isinstance(run, Run) and not finished(run):
        if status is RunStatus.PAUSED:
            raise Conflict(f"project {project_id!r} is paused: resume it; nothing to continue")
        raise Conflict(f"project {project_id!r} is {status.value}: there is nothing to continue")
    if status in _GOING:
        raise Conflict(
            f"project {project_id!r} is {status.value} in another process: "
            "it cannot be continued here"
        )
    if status is RunStatus.DONE:
        raise Conflict(f"project {project_id!r} is done: execute it to run it again")
    graph = _graph_of(
        projects, project_id, run, "continue its run from Python "
        "(tb.open_run(run_id, store, graph=g).continue_run())"
    )  # fmt: skip
    with projects._lock:
        try:
            return projects.service.continue_run(project_id, graph)
        except (RuntimeError, NotRunning) as exc:  # started meanwhile, or the service is shut
            raise Conflict(str(exc)) from None
        except KeyError as exc:
            raise Conflict(str(exc.args[0] if exc.args else exc)) from None


def _graph_of(projects: Table, project_id: str, run: Run | StoredRun, instead: str) -> Graph:
    """The project's graph: built again from the registry with its params, or its run's own;
    ``Conflict`` saying what to do ``instead`` when neither is known."""
    project = projects._own.get(project_id)
    if project is not None:
        return projects.registry.build(project.graph, project.params)
    if isinstance(run, Run):
        return run.graph
    raise Conflict(f"project {project_id!r} was not started from a registered graph: {instead}")


class BadNodes(ValueError):
    """A rerun names a node its run does not have."""


def rerun_project(projects: Table, project_id: str, nodes: list[str] | None) -> Run:
    """``rerun``: a new run of the project that executes ``nodes`` and what they change
    (all that changed when ``nodes`` is None) and reuses the rest of its latest run.

    The graph is built again from the registry with the project's params (or
    taken from its run in memory). Raises ``UnknownProject``; ``Conflict``
    when the run has not ended or was never started, or its graph is not
    known; :class:`BadNodes` for a node id the run does not have.
    """
    run = projects.started(project_id)
    if isinstance(run, Run) and not finished(run):
        raise Conflict(
            f"project {project_id!r} is {run.status.value}: rerun it once its run has ended"
        )
    if run.status in _GOING:
        raise Conflict(f"project {project_id!r} is {run.status.value} in another process")
    graph = _graph_of(
        projects, project_id, run, "rerun it from Python (tb.rerun(run_id, graph, store=...))"
    )
    with projects._lock:
        try:
            return projects.service.rerun(project_id, nodes, graph=graph)
        except KeyError as exc:
            message = str(exc.args[0] if exc.args else exc)
            if message.startswith("no node"):
                raise BadNodes(message) from None
            raise Conflict(message) from None
        except (RuntimeError, NotRunning) as exc:  # started meanwhile, or the service is shut
            raise Conflict(str(exc)) from None
