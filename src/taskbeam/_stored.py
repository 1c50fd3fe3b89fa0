"""StoredRun: a run read back from a store, frozen; ``open_run`` opens one.

A stored run offers what a live :class:`~taskbeam.Run` offers for reading
(``snapshot``, ``result``, ``results``, ``details``, ``status``, timings)
and is a source the broadcaster can show, so it displays in a notebook as
the same view as a live run, frozen. Its controls raise
:class:`~taskbeam.NotRunning`; :meth:`StoredRun.continue_run` continues
it with a graph (the same as :func:`taskbeam.continue_run`) and returns the
new, live run, which takes over the views of the stored one
(``continue_`` is its old name, deprecated).

Threading: a StoredRun holds the snapshot read when it was opened (or at
the last :meth:`StoredRun.refresh`) and never changes it; any thread may
call any method. Results are read from the store on first use, one node at
a time, and kept.
"""

from __future__ import annotations

import copy
import os
import pathlib
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from taskbeam._errors import NotRunning
from taskbeam.engine import NO_DEFAULT, Event, Question, Run, RunStatus
from taskbeam.engine._display import renderer
from taskbeam.engine._preview import preview
from taskbeam.engine._registry import BY_ID
from taskbeam.engine._start import continue_run, rerun
from taskbeam.engine._timeline import function_name
from taskbeam.engine._timeline import rows as timeline_rows
from taskbeam.engine._trace import write_trace
from taskbeam.graph import Graph
from taskbeam.store import SQLiteStore

__all__ = ["StoredResults", "StoredRun", "open_run"]

_MISSING = object()
# The run fields of a snapshot, as the run row has them.
_RUN_FIELDS = ("id", "name", "status", "counts", "total", "created", "ended", "error")


def _lineage(info: Mapping[str, Any]) -> dict[str, Any]:
    """``parent_run`` of a stored rerun, from its stored options (``{}`` for any other run):
    for the run's fields before its snapshot is read (which has it too)."""
    options = info.get("options")
    parent = options.get("parent_run") if isinstance(options, Mapping) else None
    return {"parent_run": parent} if isinstance(parent, str) and parent else {}


class StoredResults(Mapping[str, Any]):
    """The results of a stored run's done nodes, read from the store on first access."""

    def __init__(self, run: StoredRun) -> None:
        self._run = run

    def __getitem__(self, node_id: str) -> Any:
        if node_id not in self._run._done_ids():
            raise KeyError(node_id)
        return self._run.result(node_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._run._done_ids())

    def __len__(self) -> int:
        return len(self._run._done_ids())

    def __repr__(self) -> str:
        return f"<results of stored run {self._run.id}: {len(self)} done nodes, loaded on access>"


class StoredRun:
    """A stored run, read-only. Open one with :func:`open_run`.

    Attributes
    ----------
    id, name : str
    store : SQLiteStore
    graph : Graph or None
        The graph :meth:`continue_run` uses when given none.
    stored : bool
        Always true (a live ``Run`` has no such attribute); what the
        broadcaster looks at to let a continued run take over its room.
    """

    stored = True
    done = True  # nothing runs it here: a view of it never waits

    def __init__(self, run_id: str, store: SQLiteStore, graph: Graph | None = None) -> None:
        if graph is not None and not isinstance(graph, Graph):
            raise TypeError(f"graph must be a taskbeam.Graph, not {type(graph).__name__}")
        self.id = run_id
        self.store = store
        self.graph = graph
        self._lock = threading.Lock()
        self._results: dict[str, Any] = {}
        self._rows: dict[str, dict[str, Any]] | None = None
        self._view: Any = None  # the view shown for this run, reused when shown again
        self._snap_cache: dict[str, Any] | None = None
        self._fields: dict[str, Any] = {}
        self._info: dict[str, Any] = {}
        self.read_at = 0.0
        self.refresh()

    # -- reading -------------------------------------------------------------
    def refresh(self) -> StoredRun:
        """Read the run's row from the store again (it may have been continued
        elsewhere); its nodes are read again when next needed."""
        try:
            info = self.store.run_info(self.id)
        except KeyError:
            raise KeyError(f"no run {self.id!r} in the store at {self.store.path}") from None
        fields = {k: info[k] for k in _RUN_FIELDS if k in info}
        fields.update(_lineage(info))
        if self.graph is not None:
            fields["continuable"] = True
        with self._lock:
            self._fields, self._info, self._snap_cache = fields, info, None
            self._results, self._rows = {}, None
            self.read_at = time.monotonic()  # a later read takes over a view's room
        return self

    @property
    def _snap(self) -> dict[str, Any]:
        """The stored snapshot, read on first use (listing runs needs only their rows)."""
        snap = self._snap_cache
        if snap is None:
            try:
                snap = self.store.load(self.id)
            except KeyError:
                raise KeyError(f"no run {self.id!r} in the store at {self.store.path}") from None
            snap["run"].update(_lineage(self._info))
            if self.graph is not None:
                snap["run"]["continuable"] = True
            self._show_questions(snap)
            with self._lock:
                self._snap_cache, self._fields = snap, dict(snap["run"])
        return snap

    def _show_questions(self, snap: dict[str, Any]) -> None:
        """Give each waiting node the summary of its open question, as a live run's has.

        A view of the stored run shows the question (and takes no answer): its
        answer goes to the live run, or to the node when the run is continued.
        """
        waiting = [nid for nid, n in snap["nodes"].items() if n.get("status") == "waiting"]
        if not waiting:
            return
        latest: dict[str, dict[str, Any]] = {}
        for q in self.store.questions(self.id):
            if "answer" not in q and isinstance(q.get("node_id"), str):
                latest[q["node_id"]] = q
        for nid in waiting:
            record = latest.get(nid)
            if record is not None and isinstance(record.get("id"), str):
                snap["nodes"][nid]["question"] = _question(record).summary()

    @property
    def name(self) -> str:
        return str(self._fields["name"])

    @property
    def status(self) -> RunStatus:
        """As stored: ``done``, ``failed``, ``cancelled``; ``interrupted`` when the
        process that ran it is gone; ``running``/``paused`` while another process runs it."""
        return RunStatus(self._fields["status"])

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._fields["counts"])

    @property
    def created(self) -> float:
        return float(self._fields["created"])

    @property
    def ended(self) -> float | None:
        """Seconds from the run's start to its end, if it ended."""
        ended = self._fields.get("ended")
        return None if ended is None else float(ended)

    @property
    def project(self) -> str | None:
        project = self._info.get("project")
        return None if project is None else str(project)

    @property
    def options(self) -> dict[str, Any]:
        """The options the run was started with (as stored)."""
        return dict(self._info.get("options", {}))

    @property
    def store_error(self) -> str | None:
        error = self._fields.get("error")
        return None if error is None else str(error)

    def snapshot(self) -> dict[str, Any]:
        """The stored picture of the run, in the shape of ``Run.snapshot()`` (a copy)."""
        return copy.deepcopy(self._snap)

    def timings(self) -> dict[str, dict[str, float]]:
        """Per node that started: ``started``, ``ended`` (seconds from the run's
        start) and ``seconds`` (when it ended)."""
        out: dict[str, dict[str, float]] = {}
        for node_id, summary in self._snap["nodes"].items():
            if "started" not in summary:
                continue
            item = {"started": summary["started"]}
            if "ended" in summary:
                item["ended"] = summary["ended"]
                item["seconds"] = round(summary["ended"] - summary["started"], 3)
            out[node_id] = item
        return out

    def timeline(self) -> list[dict[str, Any]]:
        """One row per node, from the stored data, as ``Run.timeline()`` (docs/timeline.md).

        Functions are known for the top-level nodes when the run was
        opened with its graph; otherwise a row's ``function`` is ``None``.
        """
        return timeline_rows(self._snap, self.functions())

    def functions(self) -> dict[str, str]:
        """``{node id: function name}`` of the top-level nodes, when the run was
        opened with its graph (else empty)."""
        if self.graph is None:
            return {}
        return {t.id: function_name(t.fn) for t in self.graph}

    def to_trace(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Write the stored run as Chrome trace event JSON, as ``Run.to_trace``."""
        return write_trace(path, self.timeline(), self._snap["run"])

    def _done_ids(self) -> list[str]:
        return [i for i, n in self._snap["nodes"].items() if n.get("status") == "done"]

    def result(self, node_id: str) -> Any:
        """The stored result of one done node, read on first use.

        Raises ``KeyError`` if the run has no such node, ``LookupError`` if the
        node is not done or its result was not stored (only its preview).
        """
        if node_id not in self._snap["nodes"]:
            raise KeyError(f"run {self.id} has no node {node_id!r}")
        value = self._results.get(node_id, _MISSING)
        if value is _MISSING:
            value = self.store.stored_result(self.id, node_id)
            with self._lock:
                self._results[node_id] = value
        return value

    @property
    def results(self) -> StoredResults:
        """Results of the done nodes, by node id: a mapping that reads each on first access."""
        return StoredResults(self)

    def _node_rows(self) -> dict[str, dict[str, Any]]:
        rows = self._rows
        if rows is None:
            rows = self.store.node_rows(self.id)
            with self._lock:
                self._rows = rows
        return rows

    def details(self, node_id: str) -> dict[str, Any]:
        """Everything stored about one node, as ``Run.details`` gives it: summary,
        deps, result preview, traceback, captured output, children."""
        nodes = self._snap["nodes"]
        if node_id not in nodes:
            raise KeyError(f"run {self.id} has no node {node_id!r}")
        out: dict[str, Any] = copy.deepcopy(nodes[node_id])
        out["id"] = node_id
        out["deps"] = [a for a, b in self._snap["edges"] if b == node_id]
        if self.graph is not None and node_id in self.graph:
            out["function"] = function_name(self.graph[node_id].fn)
        row = self._node_rows().get(node_id, {})
        if out.get("status") == "done":
            try:
                out["result"] = preview(self.result(node_id), 4000)
            except LookupError:
                if row.get("preview") is not None:
                    out["result"] = row["preview"]
        if row.get("traceback") and "error" in out:
            out["error"]["traceback"] = row["traceback"]
        if row.get("output"):
            out["output"], out["output_from"] = row["output"], 0
        children = [i for i, n in nodes.items() if n.get("parent") == node_id]
        if children:
            out["children"] = children
        return out

    # -- as a broadcaster source ---------------------------------------------
    def watch(self, callback: Callable[[Event], None]) -> tuple[dict[str, Any], Callable[[], None]]:
        """The snapshot, and an unsubscribe that does nothing: a stored run never changes.

        Its run fields say ``"stored": true``, so that a view shows it frozen
        (no controls; its clock stopped) until a live run takes its room.
        """
        snap = self.snapshot()
        snap["run"]["stored"] = True
        return snap, _nothing

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        return _nothing

    def summaries(
        self, node_ids: Iterable[str], edges: bool = False
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[list[str]] | None]:
        ids = list(node_ids)
        if not ids and not edges:  # the run's fields only: no need to read its nodes
            return {**self._fields, "stored": True}, {}, None
        snap = self._snap
        nodes = {i: copy.deepcopy(snap["nodes"][i]) for i in ids if i in snap["nodes"]}
        run = {**snap["run"], "stored": True}
        return run, nodes, copy.deepcopy(snap["edges"]) if edges else None

    def _not_running(self, what: str) -> NotRunning:
        hint = (
            "continue it with stored.continue_run()"
            if self.graph is not None
            else "continue it with stored.continue_run(graph)"
        )
        return NotRunning(f"run {self.id} is stored, not running: cannot {what} it; {hint}")

    def pause(self) -> None:
        raise self._not_running("pause")

    def resume(self) -> None:
        """Stored runs are not paused: raises :class:`NotRunning` (see :meth:`continue_run`)."""
        raise self._not_running("resume")

    def cancel(self) -> None:
        raise self._not_running("cancel")

    def cancel_node(self, node_id: str) -> None:
        raise self._not_running("cancel a node of")

    # -- continuing ----------------------------------------------------------
    def continue_run(self, graph: Graph | None = None, **options: Any) -> Run:
        """Continue the run with ``graph`` (default: the graph it was opened with).

        The same as ``tb.continue_run(run_id, graph, store=...)``: done nodes whose
        task is unchanged are not run again. Returns the new live run (same id).

        Raises
        ------
        ValueError
            No graph was given here nor to :func:`open_run`.
        NotRunning
            The run is alive: in this process, or in another one (its lease holds).
        """
        graph = graph if graph is not None else self.graph
        if graph is None:
            raise ValueError(
                f"run {self.id} can only be continued with its graph: "
                "tb.open_run(run_id, store, graph=g) or stored.continue_run(g)"
            )
        live = BY_ID.get(self.id)
        if live is not None and not live.done:
            raise NotRunning(f"run {self.id} is {live.status.value} in this process already")
        status = RunStatus(self.store.load(self.id)["run"]["status"])
        if status in (RunStatus.RUNNING, RunStatus.PAUSED):
            raise NotRunning(
                f"run {self.id} is {status.value} in another process (its lease is held); "
                "it can be continued once that process is gone"
            )
        return continue_run(self.id, graph, store=self.store, **options)

    def rerun(
        self,
        nodes: str | Iterable[str] | None = None,
        *,
        graph: Graph | None = None,
        **options: Any,
    ) -> Run:
        """A new run that executes ``nodes`` and what they change, reusing this run's
        stored results: ``tb.rerun(run_id, graph, nodes=..., store=...)``.

        ``graph`` defaults to the graph the run was opened with; ``ValueError``
        without one.
        """
        graph = graph if graph is not None else self.graph
        if graph is None:
            raise ValueError(
                f"run {self.id} can only be rerun with its graph: "
                "tb.open_run(run_id, store, graph=g) or stored.rerun(graph=g)"
            )
        return rerun(self.id, graph, nodes=nodes, store=self.store, **options)

    def continue_(self, graph: Graph | None = None, **options: Any) -> Run:
        """Deprecated: the old name of :meth:`continue_run` (it goes in a later release)."""
        warnings.warn(
            "StoredRun.continue_() is deprecated: use StoredRun.continue_run()",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.continue_run(graph, **options)

    # -- display -------------------------------------------------------------
    def view(self, **options: Any) -> Any:
        """A view of this stored run for Jupyter, frozen: a :class:`taskbeam.GraphView`."""
        return renderer("view")(self, **options)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        view = self._view
        if view is None or view.comm is None:
            view = self._view = self.view()
        bundle = view._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            data["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        run = self._fields
        counts = run["counts"]
        finished = sum(counts.get(s, 0) for s in ("done", "failed", "cancelled", "skipped"))
        return (
            f"<StoredRun {self.id} {self.name!r} {run['status']}: "
            f"{finished}/{run['total']} finished>"
        )


def _question(record: dict[str, Any]) -> Question:
    """A stored question as :class:`Question` (what its record leaves out is left empty)."""
    choices = record.get("choices")
    schema = record.get("schema")
    deadline = record.get("deadline")
    return Question(
        id=record["id"],
        node_id=record["node_id"],
        prompt=str(record.get("prompt", "")),
        data=record.get("data"),
        choices=tuple(choices) if isinstance(choices, list) else None,
        schema=schema if isinstance(schema, dict) else None,
        default=record.get("default", NO_DEFAULT),
        asked=float(record.get("asked") or 0.0),
        deadline=float(deadline) if isinstance(deadline, int | float) else None,
        key=str(record.get("key", "")),
    )


def _nothing() -> None:
    return None


def open_run(
    run_id: str, store: SQLiteStore | None = None, *, graph: Graph | None = None
) -> StoredRun:
    """A read-only view of a stored run.

    Parameters
    ----------
    run_id : str
    store : SQLiteStore, optional
        Default: ``SQLiteStore()`` (``./.taskbeam/runs.db``).
    graph : Graph, optional
        The graph to continue the run with (:meth:`StoredRun.continue_run`, and
        the ``continue`` request of its views).

    Raises
    ------
    KeyError
        The store has no such run.

    Examples
    --------
    >>> import taskbeam as tb, tempfile, pathlib
    >>> store = tb.SQLiteStore(pathlib.Path(tempfile.mkdtemp()) / "runs.db")
    >>> g = tb.Graph("demo")
    >>> _ = g.add("a", lambda: 21)
    >>> run = tb.start(g, store=store).wait()
    >>> stored = tb.open_run(run.id, store)
    >>> stored.status.value, stored.result("a")
    ('done', 21)
    >>> store.close()
    """
    return StoredRun(run_id, store if store is not None else SQLiteStore(), graph)
