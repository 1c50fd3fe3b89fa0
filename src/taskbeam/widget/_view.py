"""GraphView: a run, live, in a Jupyter notebook.

The view is a subscriber of the broadcaster whose transport is the widget's
comm: frames go as custom messages, a compressed frame's gzip as a binary
buffer. Threading follows two rules (see docs/widget.md):

* Only the broadcaster thread sends. Comm handlers (``on_msg``, trait
  observers) run on whichever thread the kernel uses for comm messages; they
  copy the message and hand the work to the broadcaster with ``submit``,
  nothing else. There a request is checked and answered through the request
  table (``taskbeam.broadcast._requests``), as every transport does it. So
  a busy cell, a busy run or a slow browser never make two threads write to
  one comm.
* Nothing depends on messages sent before the view is displayed: the front
  end asks for a snapshot (``resync``) when it renders. The view also
  subscribes when it is displayed, and sends a fresh snapshot a few times
  until its front end first speaks: while a cell keeps the kernel busy
  (``await run`` in the next cell), some ipykernel versions hold messages
  from the browser until the cell ends, so the front end's own request
  may not arrive in time to show the run going.
"""

from __future__ import annotations

import concurrent.futures
import functools
import pathlib
import threading
from collections.abc import Mapping
from typing import Any

import anywidget
import traitlets

from taskbeam._compare import Comparison
from taskbeam._compare_view import ComparisonSource
from taskbeam._history import describe, listing
from taskbeam._service import ExecutionService
from taskbeam._stored import StoredRun
from taskbeam.broadcast import Broadcaster, Subscription
from taskbeam.broadcast._requests import BadRequest, parse, rerun_of, with_request_id
from taskbeam.broadcast._source import Source
from taskbeam.engine import Run
from taskbeam.engine._run import live_run
from taskbeam.graph import Graph
from taskbeam.store import SQLiteStore

__all__ = ["GraphView", "display_run"]

STATIC = pathlib.Path(__file__).parent / "static"
# The requests of the table a view answers itself (their methods, below; a
# test checks them against the entries the table marks as the comm's own).
# Every other one the comm offers goes to the broadcaster, for the room of
# the current run.
OWN = {"resync": "_resync", "runs": "_runs_page", "rerun": "_rerun"}
# Seconds after display at which a view that has not heard from its front
# end yet sends it a fresh snapshot (its first one may have arrived before
# the front end's code had loaded).
NUDGES = (0.5, 1.5, 4.0)


@functools.cache
def _assets() -> tuple[str, str]:
    """The bundled front end (JS, CSS), read once per process."""
    out = []
    for name in ("widget.js", "widget.css"):
        path = STATIC / name
        if not path.is_file():
            raise RuntimeError(
                f"the widget's front end is not built ({path} is missing): "
                "run `make js` (or `npm ci && npm run build` in js/) in the source tree"
            )
        out.append(path.read_text(encoding="utf-8"))
    return out[0], out[1]


def _check_height(height: object) -> int:
    """``height`` if it is 0 (fit the graph) or 100 to 10,000 pixels, else a ValueError."""
    if (
        not isinstance(height, int)
        or isinstance(height, bool)
        or not (height == 0 or 100 <= height <= 10_000)
    ):
        raise ValueError(
            f"height must be 0 (fit the graph) or an int of 100 to 10000 pixels, not {height!r}"
        )
    return height


def display_run(run: Run, ended: concurrent.futures.Future[Any]) -> None:
    """Display ``run`` as its view, and its text line as it is when it ends.

    The view's output carries a display id. Once ``ended`` is done, the
    output's ``text/plain`` (``<Run … done: 27/27 finished>``: what a
    front end without widgets shows, and what a notebook saved without
    widget state shows when it is opened again) is replaced by the run's
    final line. Front ends apply such an update to every output with that
    display id (nbclient and nbconvert do, whichever cell is running); a
    front end that does not know the id ignores it, and the live view is a
    widget that follows the run anyway.
    """
    from IPython import get_ipython
    from IPython.display import display, update_display

    bundle = run._repr_mimebundle_()
    data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
    # Only a kernel's front ends update an output in place; a terminal would print it again.
    in_kernel = getattr(get_ipython(), "kernel", None) is not None
    handle = display(  # type: ignore[no-untyped-call]
        data, metadata=metadata, raw=True, display_id=True if in_kernel else None
    )
    if not in_kernel or handle is None:
        return

    def final(_: concurrent.futures.Future[Any]) -> None:
        update_display(  # type: ignore[no-untyped-call]
            {**data, "text/plain": repr(run)},
            metadata=metadata,
            raw=True,
            display_id=handle.display_id,
        )

    ended.add_done_callback(final)


def view_state(value: Any) -> dict[str, Any]:
    """What a front end may keep in ``view_state``: the known keys of the right types.

    Anything else (an unknown key, a wrong type, an id over 200 characters) is
    left out rather than refused: the state is a convenience, never a reason
    to break the view.
    """
    out: dict[str, Any] = {}
    if not isinstance(value, dict):
        return out
    if isinstance(value.get("timeline"), bool):
        out["timeline"] = value["timeline"]
    details = value.get("details")
    if isinstance(details, str) and 0 < len(details) <= 200:
        out["details"] = details
    return out


class GraphView(anywidget.AnyWidget):
    """A live view of a run (or of the runs of an ExecutionService).

    Parameters
    ----------
    source : Run, StoredRun, ExecutionService, SQLiteStore, Comparison or str
        A run; a stored run (:func:`taskbeam.open_run`: shown frozen); a
        service (the view lists its runs and switches between them); a store
        (the history: the view lists its runs, newest first, and shows the
        one chosen); a comparison (:func:`taskbeam.compare`: the two runs as
        one frozen graph coloured by difference, both sides in the details);
        or the id of a run alive in this process.
    broadcaster : Broadcaster, optional
        Defaults to :meth:`Broadcaster.shared`.
    height : int
        Height of the view in pixels, 100 to 10,000; 0 (the default) fits
        the graph, between 240 and 640 pixels. A trait: setting it resizes
        every display of the view, and dragging the handle at the view's
        bottom edge sets it.
    graphs : mapping of graph name to Graph, optional
        History mode: the graphs that stored runs of those names continue with
        (the view's ``continue`` request).

    Examples
    --------
    In a notebook, a run shows itself: ``run = tb.start(g); run``. Or
    ``view = tb.GraphView(run)`` / ``run.view()``; ``tb.GraphView(service)``
    shows the service's runs with a selector; ``tb.GraphView(tb.compare(a, b))``
    shows what changed from run ``a`` to run ``b``.
    """

    run_id = traitlets.Unicode("").tag(sync=True)
    mode = traitlets.Unicode("run").tag(sync=True)
    height = traitlets.Int(0).tag(sync=True)
    # What the person did to the view that a new view of it should keep (JupyterLab
    # draws an output anew when its display is updated, as at a run's end): the
    # timeline mode, the node whose details are open. Set by the front end.
    view_state = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        source: Run | StoredRun | ExecutionService | SQLiteStore | Comparison | str,
        *,
        broadcaster: Broadcaster | None = None,
        height: int = 0,
        graphs: Mapping[str, Graph] | None = None,
    ) -> None:
        # Read here, not at import, so a missing build is a clear error rather
        # than a blank output in the browser.
        GraphView._esm, GraphView._css = _assets()
        self._service: ExecutionService | None = None
        self._run: Source | None = None
        self._store: SQLiteStore | None = None
        self._graphs = dict(graphs or {})
        self._stored: StoredRun | None = None  # history mode: the stored run shown
        if isinstance(source, SQLiteStore):
            self._store, mode, run_id = source, "history", ""
        elif isinstance(source, StoredRun):
            self._run, mode, run_id = source, "run", source.id
        elif isinstance(source, ExecutionService):
            self._service, mode, run_id = source, "service", ""
            latest = list(source.list().values())
            if latest:
                run_id = latest[-1].id
        elif isinstance(source, Run):
            self._run, mode, run_id = source, "run", source.id
        elif isinstance(source, Comparison):
            compared = ComparisonSource(source)
            self._run, mode, run_id = compared, "compare", compared.id
        elif isinstance(source, str):
            self._run, mode, run_id = live_run(source), "run", source
        else:
            raise TypeError(
                "GraphView takes a Run, a StoredRun, an ExecutionService, a SQLiteStore, "
                "a Comparison or a run id, "
                f"not {type(source).__name__}"
            )
        _check_height(height)
        self._broadcaster = broadcaster or Broadcaster.shared()
        # Touched only on the broadcaster thread (see the module docstring).
        self._sub: Subscription | None = None
        self._heard = False  # the front end has sent something
        self._closed = threading.Event()  # last: close() from __del__ needs the rest
        super().__init__(run_id=run_id, mode=mode, height=height)
        self.on_msg(self._on_msg)
        self.observe(self._on_run_id, names="run_id")

    @traitlets.validate("height")
    def _valid_height(self, proposal: dict[str, Any]) -> int:
        return _check_height(proposal["value"])

    @traitlets.validate("view_state")
    def _valid_view_state(self, proposal: dict[str, Any]) -> dict[str, Any]:
        return view_state(proposal["value"])

    # -- any thread: check and enqueue ---------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        self._submit(self._on_display)
        return bundle

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        self._heard = True
        request = dict(content) if isinstance(content, dict) else content
        self._submit(lambda: self._answer(request))

    def _on_run_id(self, change: dict[str, Any]) -> None:
        self._submit(self._switch)

    def _submit(self, fn: Any) -> None:
        if not self._closed.is_set():
            self._broadcaster.submit(fn)

    def close(self) -> None:
        """Close the view: leave the run's room and close the widget's comm."""
        closed = getattr(self, "_closed", None)  # None: __init__ failed early
        if closed is not None and not closed.is_set():
            self._broadcaster.submit(self._unsubscribe)
            self._closed.set()
        super().close()

    # -- the broadcaster thread ----------------------------------------------
    def _answer(self, request: Any) -> None:
        """Answer a request through the request table (see docs/protocol.md)."""
        try:
            entry, fields = parse("comm", request)
        except BadRequest as exc:
            self._reply({"type": "error", "error": str(exc)}, request)
            return
        if entry.type in OWN:
            getattr(self, OWN[entry.type])(request, fields)
            return
        run = self._current()
        if run is None:
            self._reply({"type": "error", "error": "no run to ask"}, request)
            return
        self._broadcaster.attach(run)
        self._reply(self._broadcaster.answer(run.id, entry, fields, self._sub), request)

    def _resync(self, request: dict[str, Any], fields: dict[str, Any]) -> None:
        """``resync``: a fresh snapshot, of the run ``run_id`` names (it may have changed)."""
        self._reply({"type": "ok"}, request)
        if self._sub is None or self._sub.room != self.run_id:
            self._switch()
        else:
            self._sub.resync()

    def _rerun(self, request: dict[str, Any], fields: dict[str, Any]) -> None:
        """``rerun``: a new run of the one shown (see ``Run.rerun``), which the view follows.

        A service's view reruns the run's project through the service (so it
        lists the new run); a single run's view shows the new run from then on.
        """
        run = self._current()
        if run is None:
            self._reply({"type": "error", "error": "no run to rerun"}, request)
            return
        try:
            project = getattr(run, "project", None)
            if self._service is not None and isinstance(run, Run) and project is not None:
                try:
                    new = self._service.rerun(project, fields["nodes"])
                except KeyError as exc:
                    raise BadRequest(str(exc.args[0] if exc.args else exc)) from None
                except RuntimeError as exc:
                    raise BadRequest(str(exc)) from None
            else:
                new = rerun_of(run, fields["nodes"])
        except BadRequest as exc:
            self._reply({"type": "error", "error": str(exc)}, request)
            return
        if self._store is None and self._service is None:
            self._run = new
        self._reply({"type": "rerun", "run_id": new.id, "parent_run": run.id}, request)
        self.run_id = new.id  # the view follows it (a snapshot of the new run follows)

    def _runs_page(self, request: dict[str, Any], fields: dict[str, Any]) -> None:
        """``runs``: a page of the history, or of the runs this view knows."""
        self._reply(self._listing(fields), request)

    def _on_display(self) -> None:
        if self._sub is None or self._sub.room != self.run_id:
            self._switch()  # sends a snapshot now
        if not self._heard:
            for delay in NUDGES:
                timer = threading.Timer(delay, self._submit, args=(self._nudge,))
                timer.daemon = True
                timer.start()

    def _nudge(self) -> None:
        if not self._heard and self._sub is not None:
            self._sub.resync()

    def _switch(self) -> None:
        """Follow ``run_id``: leave the old room, join the new one (a snapshot follows)."""
        self._unsubscribe()
        if self._closed.is_set():
            return
        run = self._current()
        if run is None:
            return
        self._broadcaster.attach(run)
        self._sub = self._broadcaster.subscribe(run.id, self._send_frame, kind="comm")

    def _unsubscribe(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    def _current(self) -> Source | None:
        run_id = self.run_id
        if self._store is not None:
            return self._history_run(run_id)
        if self._service is None:
            return self._run if self._run is not None and self._run.id == run_id else None
        for run in self._service.list().values():
            if run.id == run_id:
                return run
        return None

    def _history_run(self, run_id: str) -> Source | None:
        """History mode: the run going on in this process with that id, else the stored one.

        A run that ran here and has ended is shown as stored (the same
        picture, and one that can be continued); a stored read older than
        that end is read again.
        """
        if not run_id:
            return None
        assert self._store is not None
        ended: Run | None = None
        try:
            live: Run | None = live_run(run_id)
        except KeyError:
            live = None  # not alive in this process
        here = self._store.path.resolve()
        # The same run only if it is stored in this store.
        if live is not None and live.store is not None and live.store.path.resolve() == here:
            if not live.done:
                return live
            ended = live
        stored = self._stored
        if stored is None or stored.id != run_id:
            try:
                stored = StoredRun(
                    run_id, self._store, self._graphs.get(_name(self._store, run_id))
                )
            except KeyError:
                return None
            self._stored = stored
        elif ended is not None and stored.status.value != ended.status.value:
            stored.refresh()  # read before the run was continued here and ended
        return stored

    def _listing(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The answer to ``runs``: a page of the history, or of the runs this view knows."""
        if self._store is not None:
            return listing(fields, self._store.history)
        runs = self._runs()
        return listing(fields, None, runs)

    def _runs(self) -> list[dict[str, Any]]:
        runs: list[Source]
        if self._service is None:
            runs = [self._run] if self._run is not None else []
        else:
            runs = list(self._service.list().values())
        listed = [describe(r) for r in runs]
        if self._service is not None and not self.run_id and runs:
            self.run_id = runs[-1].id  # the observer switches to it
        return listed

    def _send_frame(self, message: dict[str, Any], buffers: list[bytes]) -> None:
        self.send(message, buffers or None)

    def _reply(self, answer: dict[str, Any], request: Any = None) -> None:
        self.send(with_request_id(answer, request) if request is not None else answer)

    def __repr__(self) -> str:
        rid = self.run_id
        if self.mode == "compare" and rid and rid.count(":") == 2:  # the room "compare:A:B"
            _, a, b = rid.split(":")
            return f"<GraphView of the comparison {a} → {b}>"
        return f"<GraphView of {self.mode} {rid or '(none yet)'}>"


def _name(store: SQLiteStore, run_id: str) -> str:
    """The stored run's graph name ("" if there is no such run)."""
    try:
        return str(store.run_info(run_id)["name"])
    except KeyError:
        return ""
