"""ExecutionService: many runs at once, each in its own thread, by project id.

The registry is a dict behind one lock, so two threads starting the same
project cannot both get in (no check-then-insert race). Runs that have ended
have their threads joined when the service next looks at its registry.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from taskbeam.engine import Question, Run, RunStatus
from taskbeam.engine._options import RunOptions, checked
from taskbeam.engine._start import continue_run, launch, rerun
from taskbeam.graph import Graph

if TYPE_CHECKING:
    from taskbeam.store import SQLiteStore

__all__ = ["ExecutionService", "finished"]

# A run's status turns final a moment before its thread ends (the final save
# comes after it): seconds a start waits for that rather than refusing.
ENDING_GRACE = 10.0
# (project id, question) pairs; named here because ``list`` is a method of the service.
OpenQuestions = list[tuple[str, Question]]
_FINAL = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED})


def finished(run: Run, grace: float = ENDING_GRACE) -> bool:
    """Whether ``run`` has ended: its thread is gone, or its status is final
    and its thread ends within ``grace`` seconds (so a project shown ``done``
    can be started again at once)."""
    if run.done:
        return True
    if run.status not in _FINAL:
        return False
    try:
        run.wait(grace)
    except TimeoutError:
        return False
    return True


class ExecutionService:
    """Start, watch and stop runs by project id.

    Parameters
    ----------
    **defaults
        Options of :func:`taskbeam.start` for every run unless overridden in
        :meth:`start`; kept as a mapping of :class:`RunOptions` fields and
        merged with each call's options into one ``RunOptions``.

    Examples
    --------
    >>> import taskbeam as tb
    >>> g = tb.Graph("hello")
    >>> _ = g.add("hi", lambda: "hi")
    >>> with tb.ExecutionService() as svc:
    ...     run = svc.start("project-a", g)
    ...     svc.get("project-a").wait().status.value
    'done'
    """

    def __init__(self, **defaults: Any) -> None:
        self._defaults = checked(defaults, "ExecutionService")
        self._runs: dict[str, Run] = {}
        self._lock = threading.RLock()
        self._closed = False

    def start(self, project_id: str, graph: Graph, **options: Any) -> Run:
        """Start ``graph`` as ``project_id``; a previous run of it must have ended."""
        if not isinstance(project_id, str) or not project_id:
            raise ValueError(f"project id must be a non-empty string, not {project_id!r}")
        with self._lock:
            if self._closed:
                raise RuntimeError("this ExecutionService has been shut down")
            current = self._runs.get(project_id)
            if current is not None and not finished(current):
                raise RuntimeError(
                    f"project {project_id!r} is still running (run {current.id}); "
                    "stop it or wait for it first"
                )
            if current is not None:
                current.wait()  # ended: join its thread
            merged = {**self._defaults, **checked(options, "start"), "project": project_id}
            run = launch(graph, RunOptions(**merged))
            self._runs[project_id] = run
            return run

    def continue_run(self, project_id: str, graph: Graph, **options: Any) -> Run:
        """Continue the project's latest stored run with ``graph``; return the new run.

        The run is read from the service's store (see :func:`taskbeam.continue_run`:
        done nodes whose task is unchanged are not run again), so the service
        needs one (``ExecutionService(store=...)``). The project's current run,
        if any, must have ended.
        """
        store = {**self._defaults, **options}.get("store")
        if store is None:
            raise ValueError(
                "continue_run needs a store: ExecutionService(store=tb.SQLiteStore(...))"
            )
        with self._lock:
            if self._closed:
                raise RuntimeError("this ExecutionService has been shut down")
            current = self._runs.get(project_id)
            if current is not None and not finished(current):
                raise RuntimeError(f"project {project_id!r} is still running (run {current.id})")
            stored = [r for r in store.runs() if r.get("project") == project_id]
            if not stored:
                raise KeyError(f"no stored run of project {project_id!r} in {store.path}")
            run = continue_run(stored[0]["id"], graph, **{**self._defaults, **options})
            self._runs[project_id] = run
            return run

    def rerun(
        self,
        project_id: str,
        nodes: str | Iterable[str] | None = None,
        *,
        graph: Graph | None = None,
        **options: Any,
    ) -> Run:
        """Rerun the project's latest run: execute ``nodes`` and what they change, reuse
        the rest (see :meth:`taskbeam.Run.rerun`); the new run becomes the project's.

        The latest run is the one in memory, or else the newest in the
        service's store (which then needs ``graph``). It must have ended.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("this ExecutionService has been shut down")
            current = self._runs.get(project_id)
            if current is not None:
                if not finished(current):
                    raise RuntimeError(
                        f"project {project_id!r} is still running (run {current.id})"
                    )
                current.wait()
                run = current.rerun(nodes, graph=graph, **options)
            else:
                store = {**self._defaults, **options}.get("store")
                runs = store.runs() if store is not None else []
                stored = [r for r in runs if r.get("project") == project_id]
                if not stored:
                    raise KeyError(f"no project {project_id!r} in this service or its store")
                merged = {**self._defaults, **options, "project": project_id}
                run = rerun(stored[0]["id"], graph, nodes=nodes, **merged)
            self._runs[project_id] = run
            return run

    def resume(self, project_id: str, graph: Graph | None = None, **options: Any) -> Run:
        """Un-pause the project's current run; return it.

        With ``graph`` (deprecated; it goes in a later release): the same as
        :meth:`continue_run`, which continues the project's latest stored run.
        """
        if graph is not None:
            warnings.warn(
                "ExecutionService.resume(project_id, graph) is deprecated: "
                "use ExecutionService.continue_run(project_id, graph)",
                DeprecationWarning,
                stacklevel=2,
            )
            return self.continue_run(project_id, graph, **options)
        run = self.get(project_id)
        run.resume()
        return run

    @property
    def store(self) -> SQLiteStore | None:
        """The store the service's runs are saved in (its ``store`` default), or ``None``."""
        store: SQLiteStore | None = self._defaults.get("store")
        return store

    def get(self, project_id: str) -> Run:
        """The latest run of ``project_id``."""
        with self._lock:
            try:
                return self._runs[project_id]
            except KeyError:
                raise KeyError(f"no project {project_id!r} in this service") from None

    def list(self) -> dict[str, Run]:
        """Latest run per project id, in the order projects were first started."""
        with self._lock:
            for run in self._runs.values():
                if run.done:
                    run.wait()
            return dict(self._runs)

    def forget(self, project_id: str) -> Run:
        """Drop a project whose run has ended from the service (the store keeps its runs).

        Raises ``KeyError`` for an unknown project and ``RuntimeError`` for
        one still running.
        """
        with self._lock:
            run = self.get(project_id)
            if not finished(run):
                raise RuntimeError(f"project {project_id!r} is still running (run {run.id})")
            run.wait()
            del self._runs[project_id]
            return run

    def pause(self, project_id: str) -> None:
        self.get(project_id).pause()

    def questions(self) -> OpenQuestions:
        """Open questions across the service's projects: ``(project_id, Question)`` pairs.

        Projects in the order they were first started, each project's
        questions in the order they were asked. A list rather than a dict, so
        it reads in one order whatever the number of projects.
        """
        with self._lock:
            runs = list(self._runs.items())
        out: list[tuple[str, Question]] = []
        for project_id, run in runs:
            if not run.done:
                out.extend((project_id, q) for q in run.questions())
        return out

    def answer(self, project_id: str, question_id: str, value: Any) -> None:
        """Answer a question of the project's latest run (see :meth:`taskbeam.Run.answer`).

        ``KeyError`` for an unknown project; :class:`~taskbeam.AnswerError`
        for a value that does not fit, or a question that is not open.
        """
        self.get(project_id).answer(question_id, value)

    def stop(self, project_id: str, timeout: float | None = None) -> Run:
        """Cancel the project's run and wait for it to end."""
        run = self.get(project_id)
        run.cancel()
        return run.wait(timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel every run and wait for all of them; the service takes no new runs."""
        with self._lock:
            self._closed = True
            runs = list(self._runs.values())
        for run in runs:
            run.cancel()
        for run in runs:
            run.wait(timeout)

    def __enter__(self) -> ExecutionService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        with self._lock:
            return f"<ExecutionService: {len(self._runs)} projects>"
