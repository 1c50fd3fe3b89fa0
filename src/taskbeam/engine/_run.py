"""A run: the handle a caller holds on one graph executing in its own thread.

:class:`Run` is thin and safe to use from any thread: every read and every
command goes to its :class:`~taskbeam.engine._driver.Driver`, which owns the
run's thread, its event loop and its :class:`~taskbeam.engine._state.RunState`
(see that module for the threading rules, timeouts and previews). A read
runs on the run's loop (``Driver.call``) and returns plain data; a command
(pause, cancel, ...) is applied there between two steps.

:func:`~taskbeam.engine._start.start` and its siblings (``_start.py``)
make runs; this module is the handle alone.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import pathlib
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from taskbeam.engine._display import renderer
from taskbeam.engine._driver import Driver, Subscriber
from taskbeam.engine._executor import Executor, RemoteResult
from taskbeam.engine._observers import subscribers_for
from taskbeam.engine._options import RunOptions
from taskbeam.engine._output import OutputWatch, check_offset, follow
from taskbeam.engine._preview import DETAIL_CHARS, preview
from taskbeam.engine._questions import Question
from taskbeam.engine._registry import BY_ID as _BY_ID
from taskbeam.engine._rerun import Prior, node_ids
from taskbeam.engine._state import Node, RunState
from taskbeam.engine._status import TERMINAL, RunStatus, Status
from taskbeam.engine._timeline import function_name
from taskbeam.engine._timeline import rows as timeline_rows
from taskbeam.engine._trace import write_trace
from taskbeam.graph import Graph

if TYPE_CHECKING:
    import concurrent.futures
    import threading

    from taskbeam.store._base import Store

__all__ = ["Run", "live_run"]


def live_run(run_id: str) -> Run:
    """The run with this id, while any code in this process still holds it."""
    run: Run | None = _BY_ID.get(run_id)
    if run is not None:
        return run
    raise KeyError(
        f"no run {run_id!r} in this process; pass the Run or its ExecutionService instead"
    )


class Run:
    """One execution of a graph. Create it with :func:`start`.

    Attributes
    ----------
    id : str
        Unique id, ``<graph-name>-<8 hex>``.
    name : str
        The graph's name.
    """

    def __init__(
        self,
        graph: Graph,
        opts: RunOptions | None = None,
        *,
        restore: Mapping[str, tuple[str | None, Any]] | None = None,
        restore_tree: Mapping[str, list[list[Any]]] | None = None,
        answers: Mapping[str, tuple[Any, str]] | None = None,
        metrics: Mapping[str, Any] | None = None,
        prior: Prior | None = None,
        **options: Any,
    ) -> None:
        if opts is None:
            opts = RunOptions(**options)
        elif options:
            raise TypeError("pass a RunOptions or keyword options, not both")
        driver = self._driver = Driver(
            graph,
            opts,
            self,
            restore=restore,
            restore_tree=restore_tree,
            answers=answers,
            metrics=metrics,
            prior=prior,
        )
        self.graph = graph
        self.id = driver.id
        self.name = graph.name
        self.created = driver.created
        self.options: dict[str, Any] = driver.options
        self.executor: Executor = driver.executor
        self.project = opts.project
        self._opts = opts
        self._view: Any = None  # the view shown for this run, reused when shown again

    def _begin(self) -> Run:
        driver = self._driver
        for subscriber in subscribers_for(self, self._opts):
            driver.subscribe(subscriber)  # before the thread starts: no event is missed
        driver.begin()
        return self

    # What the driver owns, for the engine's own tests and the command line.
    @property
    def _state(self) -> RunState:
        return self._driver.state

    @property
    def _done(self) -> concurrent.futures.Future[None]:
        return self._driver.ended

    @property
    def _thread(self) -> threading.Thread | None:
        return self._driver.thread

    @property
    def _subscribers(self) -> tuple[Subscriber, ...]:
        return self._driver.subscribers

    @_subscribers.setter
    def _subscribers(self, subscribers: tuple[Subscriber, ...]) -> None:
        self._driver.subscribers = subscribers

    # -- public API ----------------------------------------------------------
    @property
    def status(self) -> RunStatus:
        """``running``, ``paused``, ``done``, ``failed`` or ``cancelled``."""
        return self._driver.state.status

    @property
    def done(self) -> bool:
        """True once the run has ended and its thread and loop are gone."""
        return self._driver.ended.done()

    @property
    def counts(self) -> dict[str, int]:
        """Nodes per status (a copy; safe from any thread)."""
        return {s.value: n for s, n in self._driver.state.counts.copy().items()}

    def pause(self) -> None:
        """Start no new node until :meth:`resume`; running nodes finish."""
        self._driver.command(self._driver.state.pause)

    def resume(self) -> None:
        """Un-pause the run: new nodes start again (a stored run is continued with
        :func:`continue_run`)."""
        self._driver.command(self._driver.state.resume)

    def cancel(self) -> None:
        """Cancel running async tasks; every open node ends ``cancelled``."""
        self._driver.cancel()

    def cancel_node(self, node_id: str) -> None:
        """Cancel one node (and its children); what depends on it is skipped."""
        node = self._node(node_id)
        state = self._driver.state
        self._driver.command(lambda now: state.cancel_node(node, now))

    def rerun(
        self,
        nodes: str | Iterable[str] | None = None,
        *,
        graph: Graph | None = None,
        **options: Any,
    ) -> Run:
        """A new run that executes ``nodes`` and what they change, reusing this run's results.

        A node is executed if it is one of ``nodes`` (or a child of one), if
        its task changed (function, kwargs, dependencies) or if one of its
        inputs differs from the one it had here; every other node takes its
        result from this run (see docs/cache.md, "Rerun from a node"). ``nodes=None``:
        execute only what changed. ``graph`` defaults to this run's graph
        (edit a task and pass the new graph); ``options`` override this
        run's options. The new run's fields name this one as ``parent_run``.

        Raises ``RuntimeError`` while this run has not ended and ``KeyError``
        for a node id it does not have.
        """
        if not self._driver.ended.done():
            raise RuntimeError(
                f"run {self.id} has not ended: wait() for it (or cancel() it) before rerun()"
            )
        prior = Prior.from_state(self.id, self._driver.state, node_ids(nodes))
        opts = self._opts.replace(run_id=None, **options)
        return Run(graph if graph is not None else self.graph, opts, prior=prior)._begin()

    def wait(self, timeout: float | None = None) -> Run:
        """Block until the run ends; return the run. Raise ``TimeoutError`` on timeout."""
        self._driver.wait(timeout)
        return self

    def __await__(self) -> Generator[Any, None, Run]:
        if self._driver.on_loop():
            raise RuntimeError("a run cannot be awaited from its own loop")
        yield from asyncio.wrap_future(self._driver.ended).__await__()
        return self

    @property
    def results(self) -> dict[str, Any]:
        """Results of the nodes that are done, by node id.

        With a :class:`~taskbeam.DaskExecutor` the values are fetched from
        the cluster (one gather), which may take a while for large data.
        """
        nodes = self._driver.state.nodes
        done = self._driver.call(
            lambda: {n.id: n.result for n in nodes.values() if n.status is Status.DONE}
        )
        return dict(zip(done, self._driver.local(list(done.values())), strict=True))

    def result(self, node_id: str) -> Any:
        """The result of one done node; ``KeyError`` if unknown, ``LookupError`` if not done."""
        node = self._node(node_id)
        status = node.status
        if status is not Status.DONE:
            detail = f": {node.error.type}: {node.error.message}" if node.error else ""
            raise LookupError(f"node {node_id!r} has no result, it is {status.value}{detail}")
        result = node.result
        if type(result) is RemoteResult:
            return self._driver.local([result])[0]
        return result

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready picture of the run: ``run``, ``nodes`` by id, ``edges``."""
        return self._driver.call(self._snapshot)

    def _snapshot(self) -> dict[str, Any]:
        self._driver.meters.settle()
        snap = self._driver.state.snapshot(self.id, self._driver.t0, self.created)
        if self.store_error:
            snap["run"]["error"] = self.store_error
        return snap

    def _run_fields(self) -> dict[str, Any]:
        run = self._driver.state.run_fields(self.id, self._driver.t0, self.created)
        if self.store_error:
            run["error"] = self.store_error
        return run

    def summary_here(self, node_id: str) -> dict[str, Any] | None:
        """A node's summary, read without crossing threads: only for code on the
        run's own thread (a subscriber); ``None`` for an unknown id."""
        st = self._driver.state
        node = st.nodes.get(node_id)
        return None if node is None else st.node_summary(node, self._driver.t0)

    def functions(self) -> dict[str, str]:
        """``{node id: function name}`` of every node (what a timeline groups by)."""
        st = self._driver.state
        return self._driver.call(
            lambda: {n.id: function_name(n.task.fn) for n in st.nodes.values()}
        )

    def timeline(self) -> list[dict[str, Any]]:
        """One row per node: when it ran, its attempts and waits (see docs/timeline.md)."""

        def read() -> list[dict[str, Any]]:
            st = self._driver.state
            functions = {n.id: function_name(n.task.fn) for n in st.nodes.values()}
            return timeline_rows(self._snapshot(), functions)

        return self._driver.call(read)

    def to_trace(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Write the run as Chrome trace event JSON (Perfetto, ``chrome://tracing``)."""
        return write_trace(path, self.timeline(), self._run_fields())

    def watch(self, callback: Subscriber) -> tuple[dict[str, Any], Callable[[], None]]:
        """Subscribe and take a snapshot in one step, so no change falls between them.

        Returns the snapshot and the function that unsubscribes. Viewers use
        it: the snapshot, then every event after it.
        """
        unsubscribe: list[Callable[[], None]] = []

        def both() -> dict[str, Any]:
            unsubscribe.append(self.subscribe(callback))
            return self._snapshot()

        snap = self._driver.call(both)
        return snap, unsubscribe[0]

    def summaries(
        self, node_ids: Iterable[str], edges: bool = False
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[list[str]] | None]:
        """The run's fields and the summaries of ``node_ids`` now (and the edges, if asked).

        What a viewer needs to bring its copy of the snapshot up to date
        after those nodes changed; costs O(len(node_ids)) on the run's thread.
        """
        driver = self._driver

        def read() -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[list[str]] | None]:
            st, t0 = driver.state, driver.t0
            driver.meters.settle()
            nodes = {i: st.node_summary(st.nodes[i], t0) for i in node_ids if i in st.nodes}
            return self._run_fields(), nodes, st.edges() if edges else None

        return driver.call(read)

    @property
    def store_error(self) -> str | None:
        """Why the run could not be saved (and where its backup went), if it could not."""
        recorder = self._driver.recorder
        return None if recorder is None else recorder.error

    @property
    def store(self) -> Store | None:
        recorder = self._driver.recorder
        return None if recorder is None else recorder.store

    @property
    def callback_errors(self) -> list[dict[str, Any]]:
        """Exceptions contained from user callbacks: ``{role, callback, type, count}`` each."""
        return self._driver.contained.listed()

    def details(self, node_id: str, offset: int | None = None) -> dict[str, Any]:
        """Everything known about one node: its summary, traceback, captured output.

        ``output`` is what is kept of what the node printed (the last
        ``output_limit`` characters) and ``output_from`` the position of its
        first character in everything it printed; with ``offset``, only the
        output from that position on (a view that has the rest). An offset
        past what the node printed raises ``ValueError``.
        """
        node = self._node(node_id)
        driver = self._driver
        check_offset(node, offset)

        def read() -> dict[str, Any]:
            driver.meters.settle()
            out = driver.state.node_summary(node, driver.t0)
            out["id"] = node.id
            out["deps"] = [d for d in node.task.deps]
            out["function"] = function_name(node.task.fn)
            if node.status is Status.DONE:
                detail = node.detail
                out["result"] = preview(node.result, DETAIL_CHARS) if detail is None else detail
            if node.error is not None and node.status in (Status.FAILED, Status.RETRYING):
                out["error"]["traceback"] = node.error.traceback
            if node.output is not None:
                start, text = node.output.tail(offset or 0)
                if text or offset is not None:
                    out["output"], out["output_from"] = text, start
            if node.children:
                out["children"] = [c.id for c in node.children]
            asked = driver.asker.of(node)
            if asked:
                out["questions"] = [q.to_dict() for q in asked]
            return out

        return driver.call(read)

    def metrics(self, *, as_frame: bool = False) -> Any:
        """The run's metrics as a table: a row per node and metric, then the run's totals.

        Each row is ``{"node", "name", "value", "own", "unit", "agg"}``:
        ``value`` is the node's rolled-up value (its own and its children's),
        ``own`` what the node's own task reported (``None`` for a parent
        that reported nothing itself); the run's totals have ``node`` None.
        Nodes come in the run's order. ``as_frame=True`` returns the same
        rows as a ``pandas.DataFrame`` (pandas must be installed).
        """
        meters = self._driver.meters
        table = self._driver.call(meters.table)
        if not as_frame:
            return table
        try:
            pd = importlib.import_module("pandas")
        except ImportError:
            raise ImportError(
                "run.metrics(as_frame=True) needs pandas: pip install pandas"
            ) from None
        columns = ["node", "name", "value", "own", "unit", "agg"]
        return pd.DataFrame(table, columns=columns)

    def output(self, node_id: str, offset: int = 0, limit: int | None = None) -> tuple[int, str]:
        """``(start, text)``: what node ``node_id`` printed from ``offset`` on, from any thread.

        At most the last ``limit`` characters; ``start`` is the position of
        the first one (later than ``offset`` when some are no longer kept or
        left out). Reads the node's buffer, not the run's loop.
        """
        node = self._driver.state.nodes.get(node_id)
        if node is None or node.output is None:
            return offset, ""
        return node.output.tail(offset, limit)

    def watch_output(self, wake: Callable[[], None]) -> tuple[OutputWatch, Callable[[], None]]:
        """Watch what the run's nodes print: ``(watch, stop)``; see engine/_output.py.

        ``wake()`` is called on the printing thread when a node writes and
        the watch holds no unread node; ``watch.take()`` gives the ids of the
        nodes that wrote since it was last called.
        """
        driver = self._driver
        watch = OutputWatch(wake)
        driver.call(lambda: follow(driver.output_feed, driver.state.nodes.values(), watch))

        def stop() -> None:
            driver.output_feed.remove(watch)

        return watch, stop

    def questions(self) -> list[Question]:
        """The open questions of the run, in the order they were asked."""
        return self._driver.call(self._driver.asker.all_open)

    def answer(self, question_id: str, value: Any) -> None:
        """Answer an open question, from any thread.

        The value is validated against the question (choices, schema, or
        text): :class:`~taskbeam.AnswerError` says what is wrong and the
        question stays open. An unknown, already answered or withdrawn id
        raises :class:`~taskbeam.AnswerError` too. The answer is stored
        before the task sees it.
        """
        self._driver.waiting.answer(question_id, value)

    def question_events(self, after: int | None) -> tuple[int, list[dict[str, Any]]]:
        """``question`` / ``answered`` events for viewers: ``(count, those after ``after``)``."""
        return self._driver.waiting.events(after)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every state change from now on.

        Called on the run's thread, in order. Returns a function that
        unsubscribes.
        """
        if not callable(callback):
            raise TypeError("subscribe() needs a callable")
        driver = self._driver
        driver.call(lambda: driver.subscribe(callback))
        return lambda: driver.call(lambda: driver.unsubscribe(callback))

    def _node(self, node_id: str) -> Node:
        try:
            return self._driver.state.nodes[node_id]
        except KeyError:
            raise KeyError(f"run {self.id} has no node {node_id!r}") from None

    def view(self, *, height: int = 0, **options: Any) -> Any:
        """A new live view of this run for Jupyter: a :class:`taskbeam.GraphView`.

        ``height`` in pixels; 0 (the default) fits the graph, up to a limit.
        """
        return renderer("view")(self, height=height, **options)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # A run shown in a notebook is its live view. Showing it again reuses
        # the same widget model, so both outputs share one subscription.
        view = self._view
        if view is None or view.comm is None:
            view = self._view = self.view()
        bundle = view._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):  # where widgets don't render: the run's own line
            data["text/plain"] = repr(self)
        return bundle

    def _ipython_display_(self) -> None:
        # The view with a display id, so that its text line is brought up to
        # date when the run ends (the widget's display_run).
        renderer("display")(self, self._done)

    def __repr__(self) -> str:
        c = self._state.counts
        finished = sum(c.get(s, 0) for s in TERMINAL)
        total = len(self._state.nodes)
        return f"<Run {self.id} {self.name!r} {self.status.value}: {finished}/{total} finished>"
