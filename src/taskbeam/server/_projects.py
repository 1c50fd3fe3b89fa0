"""Projects: a graph name and its params, run by an ExecutionService under one id.

The server creates projects from the registry; a service handed to
:func:`taskbeam.serve` may also hold projects started from Python, which
are listed too (their graph is the one they ran with). Every method here may
block briefly (starting a run writes its creation to the store, reading a
run's fields is a short call on the run's thread), so the HTTP and Socket.IO
handlers call them from a worker thread.

Finished projects are not kept for ever: of the server's own projects whose
run has ended, the ``keep_finished`` started last stay in memory and the
others are released (dropped from the service, their broadcaster room
closed through ``on_release``). Their runs stay in the store: with a store
the project stays listed and shows its latest stored run (see _restore);
without one, asking for a released project raises :class:`Released`, whose
message says so. A project
started from Python in a service handed to the server belongs to its caller
and is never released here.

Params are checked by :func:`~taskbeam.server._limits.check_json` and
encoded once before a project is kept, so a record that cannot be encoded is
never kept, and :meth:`Projects.describe_all` skips (and logs) a project it
cannot describe rather than failing the whole list.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from taskbeam._errors import NotRunning
from taskbeam._service import ExecutionService, finished
from taskbeam._stored import StoredRun
from taskbeam.engine import Run
from taskbeam.graph import Graph
from taskbeam.server._limits import check_json
from taskbeam.server._registry import BadParams, Registry
from taskbeam.server._restore import (
    Conflict,
    Controlled,
    continue_project,
    latest_stored,
    rerun_project,
    resume_project,
    stored_projects,
)

__all__ = ["Conflict", "Project", "Projects", "Released", "UnknownProject"]

log = logging.getLogger("taskbeam.server")
KEEP_FINISHED = 100
_RELEASED_MEMORY = 10_000  # released ids remembered, for the message of their 404


class UnknownProject(KeyError):
    """No project has that id."""


class Released(UnknownProject):
    """The project finished and was released from memory (its runs are in the store)."""

    def __str__(self) -> str:
        return (
            f"project {str(self.args[0])[:200]!r} finished and was released from the "
            "server's memory; its runs are in the store"
        )


@dataclass
class Project:
    id: str
    graph: str
    params: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)


class Projects:
    """The server's projects over an :class:`ExecutionService`."""

    def __init__(
        self,
        service: ExecutionService,
        registry: Registry,
        *,
        keep_finished: int = KEEP_FINISHED,
        on_release: Callable[[str, Run], None] | None = None,
    ) -> None:
        self.service = service
        self.registry = registry
        self.keep_finished = keep_finished
        self.on_release = on_release
        self._own: dict[str, Project] = {}  # in creation order
        self._started: dict[str, None] = {}  # own projects, in the order they were last started
        self._released: OrderedDict[str, None] = OrderedDict()
        self._released_total = 0
        self._lock = threading.Lock()  # two creates never pick one id; two starts never race
        self.store = service.store
        self._elsewhere: list[str] = []  # stored projects started from Python
        if self.store is not None:  # restore the projects of the store (see _restore)
            for stored in stored_projects(self.store):
                if stored["registered"]:
                    self._own[stored["id"]] = Project(
                        stored["id"], stored["graph"], stored["params"], stored["created"]
                    )
                else:
                    self._elsewhere.append(stored["id"])

    def create(self, graph: str, params: dict[str, Any], start: bool = True) -> Project:
        """A new project of registered ``graph``; params are checked by building it now."""
        try:
            check_json(params, what="'params'")
            orjson.dumps(params)
        except (TypeError, ValueError) as exc:  # JSONLimitError, orjson.JSONEncodeError
            raise BadParams(str(exc)) from None
        built = self.registry.build(graph, params)  # UnknownGraph, BadParams
        with self._lock:
            # "p-": a project id never looks like a run id (<graph name>-<8 hex>).
            project = Project(f"p-{graph}-{secrets.token_hex(4)}", graph, params)
            while project.id in self._own or project.id in self.service.list():
                project.id = f"p-{graph}-{secrets.token_hex(4)}"
            self._own[project.id] = project
        if self.store is not None:
            self.store.save_project(project.id, graph, params, project.created)
        if start:
            self._start(project.id, built)
        self.release_finished()
        return project

    @property
    def released_count(self) -> int:
        """Projects released since the server started."""
        return self._released_total

    def release_finished(self) -> list[str]:
        """Release the server's finished projects beyond the ``keep_finished`` started last."""
        released: list[tuple[str, Run]] = []
        with self._lock:
            runs = self.service.list()
            ended = [p for p in self._started if p in runs and runs[p].done]
            for project_id in ended[: max(0, len(ended) - self.keep_finished)]:
                try:
                    run = self.service.forget(project_id)
                except (KeyError, RuntimeError):  # restarted or forgotten meanwhile
                    continue
                del self._started[project_id]
                self._released_total += 1
                released.append((project_id, run))
                if self.store is not None:  # still listed and shown: from the store
                    continue
                del self._own[project_id]
                self._released[project_id] = None
                if len(self._released) > _RELEASED_MEMORY:
                    self._released.popitem(last=False)
        for project_id, run in released:
            if self.on_release is not None:
                self.on_release(project_id, run)
        return [project_id for project_id, _ in released]

    def execute(self, project_id: str) -> Run:
        """Start the project's graph anew (its current run must have ended)."""
        project = self._own.get(project_id)
        run = self.run(project_id)
        if project is not None:
            graph = self.registry.build(project.graph, project.params)
        elif isinstance(run, Run):
            graph = run.graph
        else:
            raise UnknownProject(project_id)
        return self._start(project_id, graph)

    def _start(self, project_id: str, graph: Graph) -> Run:
        with self._lock:
            current = self.run(project_id)
            if current is not None and not (
                current.done if isinstance(current, StoredRun) else finished(current)
            ):
                raise Conflict(f"project {project_id!r} is {current.status.value}: stop it first")
            try:
                run = self.service.start(project_id, graph)
            except RuntimeError as exc:  # started meanwhile from Python, or the service is shut
                raise Conflict(str(exc)) from None
            if project_id in self._own:  # the last started is the last released
                self._started.pop(project_id, None)
                self._started[project_id] = None
            return run

    def run(
        self, project_id: str, latest: dict[str, str | None] | None = None
    ) -> Run | StoredRun | None:
        """The project's latest run, if it has one (``UnknownProject`` if no such project).

        With a store, a project with no run in memory has its latest stored
        run, read-only (see _restore); ``latest`` (project id to run id, as
        read for a whole listing) saves looking it up.
        """
        try:
            return self.service.get(project_id)
        except KeyError:
            stored = None
            if self.store is not None:
                stored = latest_stored(self.store, project_id, latest)
            if stored is not None:
                return stored
            if project_id in self._own:
                return None
            if project_id in self._released:
                raise Released(project_id) from None
            raise UnknownProject(project_id) from None

    def started(self, project_id: str) -> Run | StoredRun:
        """The project's latest run; ``Conflict`` if it was never started."""
        run = self.run(project_id)
        if run is None:
            raise Conflict(f"project {project_id!r} has not been started: execute it first")
        return run

    def control(self, project_id: str, command: str) -> Controlled:
        """``pause``, ``resume``, ``continue`` or ``stop`` (cancel) the project's run;
        returns at once.

        ``resume`` un-pauses (on a stored run it still continues it, deprecated:
        see :func:`resume_project`); ``continue`` continues a stored run (see
        :func:`continue_project`).
        """
        if command == "resume":
            return resume_project(self, project_id)
        if command == "continue":
            return Controlled(continue_project(self, project_id), continued=True)
        run = self.started(project_id)
        try:
            {"pause": run.pause, "stop": run.cancel}[command]()
        except NotRunning as exc:
            raise Conflict(str(exc)) from None
        return Controlled(run)

    def rerun(self, project_id: str, nodes: list[str] | None) -> Run:
        """A new run of the project reusing its latest run (see :func:`rerun_project`)."""
        return rerun_project(self, project_id, nodes)

    def ids(self) -> list[str]:
        """Every project: the server's in creation order, then the service's others."""
        with self._lock:
            own = list(self._own)
        known = set(own)
        others = [p for p in self.service.list() if p not in known]
        return own + others + [p for p in self._elsewhere if p not in known and p not in others]

    def describe_all(self) -> list[dict[str, Any]]:
        """Every project described (the store read once for all); one that cannot be
        (released meanwhile, broken) is left out."""
        self.release_finished()
        latest = None
        if self.store is not None:
            latest = {p["id"]: p["latest"] for p in stored_projects(self.store)}
        out = []
        for project_id in self.ids():
            try:
                described = self.describe(project_id, latest=latest)
                orjson.dumps(described)
            except UnknownProject:
                continue
            except Exception:
                log.exception("project %r cannot be listed; it is left out", project_id[:200])
                continue
            out.append(described)
        return out

    def describe(
        self, project_id: str, full: bool = False, latest: dict[str, str | None] | None = None
    ) -> dict[str, Any]:
        """The project as the API shows it: id, graph, params, status, run fields."""
        run = self.run(project_id, latest)
        project = self._own.get(project_id)
        out: dict[str, Any] = {
            "id": project_id,
            "graph": project.graph
            if project is not None
            else (getattr(run, "name", "") if run else ""),
            "params": project.params if project is not None else {},
            "status": "created",
            "created": project.created
            if project is not None
            else (getattr(run, "created", 0) if run else 0),
        }
        if run is not None:
            if full:
                out["snapshot"] = run.snapshot()
                out["run"] = out["snapshot"]["run"]
            else:
                out["run"] = run.summaries(())[0]
            out["status"] = out["run"]["status"]
            out["run_id"] = run.id
        return out
