"""Projects: a graph name and its params, run by an ExecutionService under one id.

The server creates projects from the registry; a service handed to
:func:`taskbeam.serve` may also hold projects started from Python, which
are listed too (their graph is the one they ran with). Every method here may
block briefly (starting a run writes its creation to the store, reading a
run's fields is a short call on the run's thread), so the HTTP and Socket.IO
handlers call them from a worker thread.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from taskbeam._errors import NotRunning
from taskbeam._service import ExecutionService
from taskbeam._stored import StoredRun
from taskbeam.engine import Run
from taskbeam.graph import Graph
from taskbeam.server._registry import Registry
from taskbeam.server._restore import continue_project, latest_stored, stored_projects

__all__ = ["Conflict", "Project", "Projects", "UnknownProject"]


class UnknownProject(KeyError):
    """No project has that id."""


class Conflict(RuntimeError):
    """The project is not in a state that allows the command."""


@dataclass
class Project:
    id: str
    graph: str
    params: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)


class Projects:
    """The server's projects over an :class:`ExecutionService`."""

    def __init__(self, service: ExecutionService, registry: Registry) -> None:
        self.service = service
        self.registry = registry
        self._own: dict[str, Project] = {}
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
        return project

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
            if current is not None and not current.done:
                raise Conflict(f"project {project_id!r} is {current.status.value}: stop it first")
            try:
                return self.service.start(project_id, graph)
            except RuntimeError as exc:  # started meanwhile from Python, or the service is shut
                raise Conflict(str(exc)) from None

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
            raise UnknownProject(project_id) from None

    def started(self, project_id: str) -> Run | StoredRun:
        """The project's latest run; ``Conflict`` if it was never started."""
        run = self.run(project_id)
        if run is None:
            raise Conflict(f"project {project_id!r} has not been started: execute it first")
        return run

    def control(self, project_id: str, command: str) -> Run | StoredRun:
        """``pause``, ``resume`` or ``stop`` (cancel) the project's run; returns at once.

        ``resume`` also continues a stored run (see :func:`continue_project`).
        """
        if command == "resume":
            return continue_project(self, project_id)
        run = self.started(project_id)
        try:
            {"pause": run.pause, "stop": run.cancel}[command]()
        except NotRunning as exc:
            raise Conflict(str(exc)) from None
        return run

    def ids(self) -> list[str]:
        """Every project: the server's in creation order, then the service's others."""
        with self._lock:
            own = list(self._own)
        known = set(own)
        others = [p for p in self.service.list() if p not in known]
        return own + others + [p for p in self._elsewhere if p not in known and p not in others]

    def describe_all(self) -> list[dict[str, Any]]:
        """Every project as :meth:`describe` shows it (the store read once for all)."""
        latest = None
        if self.store is not None:
            latest = {p["id"]: p["latest"] for p in stored_projects(self.store)}
        return [self.describe(p, latest=latest) for p in self.ids()]

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
