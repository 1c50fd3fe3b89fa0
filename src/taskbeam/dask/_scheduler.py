"""``get(dsk, keys, **kwargs)``: a Dask scheduler that runs the graph as a taskbeam run.

:class:`Scheduler` is the callable (``tb.dask.get`` is one with the default
options, ``tb.dask.scheduler(...)`` makes others). Each call converts the
graph (:mod:`taskbeam.dask._convert`), starts a run (or continues the
stored run of the same name that did not finish), shows it (the live view
in a notebook cell, a progress bar in a terminal when asked), waits for it
and answers as Dask's schedulers do: the value of a key, a tuple for a list
of keys (nested lists as nested tuples), the task's own exception when one
fails, ``KeyError`` for a key the graph does not have.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import signal
import sys
import threading
import time
from collections.abc import Hashable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from taskbeam.dask._convert import Converted, convert
from taskbeam.engine import Run, RunStatus, continue_run, start
from taskbeam.engine._status import TERMINAL

if TYPE_CHECKING:
    from taskbeam.engine import Executor
    from taskbeam.store._base import Store

__all__ = ["Scheduler", "get", "scheduler"]

# Stored runs of a name that a new computation of that name continues.
CONTINUABLE = frozenset({"interrupted", "failed", "cancelled"})
# How often a waiting caller looks at the run (a progress bar's tick, Ctrl-C).
TICK = 0.1


class Scheduler:
    """A Dask scheduler (a ``get`` function) that runs each computation as a taskbeam run.

    Use it as ``dask.compute(x, scheduler=s)``, ``x.compute(scheduler=s)`` or
    ``dask.config.set(scheduler=s)``. Make one with :func:`scheduler`; the
    attributes are its options. ``last_run`` is the run of the latest
    computation (also while it runs, from another thread): cancel or pause
    it there, or read its snapshot.
    """

    __name__ = "get"  # what Dask and tracebacks call it

    def __init__(
        self,
        name: str | None = None,
        store: Store | None = None,
        executor: Executor | None = None,
        view: bool = True,
        progress: bool = False,
        **run_options: Any,
    ) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string, not {name!r}")
        for option in ("run_id", "graph"):
            if option in run_options:
                raise TypeError(f"scheduler() takes no {option!r}: each computation is a run")
        self.name = name
        self.store = store
        self.executor = executor
        self.view = view
        self.progress = progress
        self.run_options = run_options
        self.last_run: Run | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        shown = {"name": self.name, "store": self.store, "executor": self.executor}
        parts = [f"{k}={v!r}" for k, v in shown.items() if v is not None]
        parts += [f"{k}={v!r}" for k, v in self.run_options.items()]
        return f"taskbeam.dask.scheduler({', '.join(parts)})"

    def __call__(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        """Compute ``keys`` of ``dsk``; what Dask's ``get`` functions do.

        Keyword arguments Dask's schedulers take: ``cache`` (a mapping of
        values already computed, by key), ``num_workers`` (the most tasks
        running at once, unless the scheduler's options set
        ``max_concurrency``); the others (``pool``, callbacks, ...) are
        accepted and ignored.
        """
        known = kwargs.get("cache")
        if known is not None and not isinstance(known, Mapping):
            raise TypeError(f"cache= of a Dask get is a mapping of known values, not {known!r}")
        name = self.name or "dask"
        converted = convert(
            dsk,
            keys,
            name=name,
            known=known,
            context=contextvars.copy_context(),
            # Tokens by content only where another run compares with this one's nodes.
            content=self.store is not None or self.run_options.get("cache") not in (None, False),
        )
        if not len(converted.graph):  # nothing to run: every wanted key is data
            return _pack(keys, {k: v for k, (_, v) in converted.answer.items()})
        with _ctrl_c_deferred() as held:  # Ctrl-C lands on a started run, never inside a start
            run = self._start(converted, kwargs.get("num_workers"))
            with self._lock:
                self.last_run = run
        if held:
            run.cancel()
            run.wait()
            raise KeyboardInterrupt
        self._show(run)
        self._wait(run)
        return self._answer(run, converted, keys)

    # -- starting --------------------------------------------------------------
    def _options(self, num_workers: Any) -> dict[str, Any]:
        options = dict(self.run_options)
        options.setdefault("on_error", "fail_fast")  # Dask stops at the first error
        if "max_concurrency" not in options and "sync_workers" not in options:
            options["max_concurrency"] = _workers(num_workers)
        if self.executor is not None:
            options["executor"] = self.executor
        if self.name is not None:
            options.setdefault("project", self.name)
        return options

    def _start(self, converted: Converted, num_workers: Any) -> Run:
        options = self._options(num_workers)
        store = self.store
        if store is None:
            return start(converted.graph, **options)
        previous = _latest(store, options.get("project"))
        if previous is not None and previous["status"] in CONTINUABLE:
            options.pop("project", None)  # kept with the stored run
            return continue_run(previous["id"], converted.graph, store=store, **options)
        return start(converted.graph, store=store, **options)

    # -- showing and waiting ---------------------------------------------------
    def _show(self, run: Run) -> None:
        if not self.view or threading.current_thread() is not threading.main_thread():
            return  # shown from another thread, the view would land in whichever cell runs
        shell = _kernel_shell()
        if shell is None:
            return
        from IPython.display import display

        display(run)  # type: ignore[no-untyped-call]

    def _wait(self, run: Run) -> None:
        bar = self.progress and (not self.view or _kernel_shell() is None)
        try:
            if bar:
                _progress(run)
            else:
                while not run.done:
                    try:
                        run.wait(
                            timeout=TICK
                            if threading.current_thread() is threading.main_thread()
                            else None
                        )
                    except TimeoutError:
                        continue
        except BaseException:  # Ctrl-C (KeyboardInterrupt), or the thread is being torn down
            run.cancel()
            run.wait()
            raise

    # -- answering -------------------------------------------------------------
    def _answer(self, run: Run, converted: Converted, keys: Any) -> Any:
        status = run.status
        if status is RunStatus.FAILED:
            raise _failure(run, converted)
        nodes = {ref for how, ref in converted.answer.values() if how == "node"}
        results = {} if status is RunStatus.CANCELLED else _results(run, nodes)
        if status is RunStatus.CANCELLED or len(results) < len(nodes):
            raise _cancelled(run)
        found = {n: results[n] for n in nodes}
        values = {
            key: found[ref] if how == "node" else ref
            for key, (how, ref) in converted.answer.items()
        }
        return _pack(keys, values)


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[list[int]]:
    """Hold Ctrl-C back while a run starts; yields the signals held (main thread only)."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    except ValueError:  # signals cannot be handled here (an embedded interpreter)
        yield held
        return
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)


def _cancelled(run: Run) -> concurrent.futures.CancelledError:
    """What Dask raises for a computation cancelled before its end, naming the tasks."""
    states = run.snapshot()["nodes"]
    cancelled = sorted(i for i, s in states.items() if s.get("status") == "cancelled")
    shown = ", ".join(cancelled[:5]) + (
        f" and {len(cancelled) - 5} more" if len(cancelled) > 5 else ""
    )
    return concurrent.futures.CancelledError(
        f"taskbeam run {run.id} was cancelled before it computed the wanted keys"
        + (f" (cancelled: {shown})" if shown else "")
    )


def _results(run: Run, nodes: set[str]) -> dict[str, Any]:
    if len(nodes) > 8:  # one read of the run for all of them
        done = run.results
        return {n: done[n] for n in nodes if n in done}
    out = {}
    for node_id in nodes:
        try:
            out[node_id] = run.result(node_id)
        except LookupError:  # not done
            continue
    return out


def _pack(keys: Any, values: Mapping[Hashable, Any]) -> Any:
    """What Dask's ``get`` returns for ``keys``: lists become tuples, nested alike."""
    if isinstance(keys, list):
        return tuple(_pack(k, values) for k in keys)
    return values[keys]


def _failure(run: Run, converted: Converted) -> BaseException:
    """The exception of the first task that failed, naming its key, as Dask raises it."""
    snapshot = run.snapshot()["nodes"]
    failed = sorted(
        (s.get("ended", 0.0), node_id)
        for node_id, s in snapshot.items()
        if s.get("status") == "failed"
    )
    by_key = {key: exc for key, exc in converted.errors}
    for _, node_id in failed:
        key = converted.key_of.get(node_id)
        exc = by_key.get(key)
        if exc is None:
            continue
        _note(exc, key, node_id, run)
        return exc
    if not failed:  # a failed run with no failed node: its store failed
        return RuntimeError(f"taskbeam run {run.id} failed: {run.store_error or run.status}")
    node_id = failed[0][1]
    error = snapshot[node_id].get("error", {})
    made = _rebuild(error.get("type", "Exception"), error.get("message", ""))
    _note(made, converted.key_of.get(node_id), node_id, run)
    return made


def _note(exc: BaseException, key: Any, node_id: str, run: Run) -> None:
    note = f"raised by the Dask task {key!r} (node {node_id!r} of taskbeam run {run.id})"
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def _rebuild(kind: str, message: str) -> BaseException:
    """An exception of the type a task raised elsewhere (another process, a cluster)."""
    import builtins

    cls = getattr(builtins, kind, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:
            pass
    return RuntimeError(f"{kind}: {message}")


def _latest(store: Store, project: str | None) -> dict[str, Any] | None:
    if project is None:
        return None
    history = getattr(store, "history", None)
    if history is None:
        return None
    runs = history(project=project, limit=1)["runs"]
    return runs[0] if runs else None


def _workers(num_workers: Any) -> int:
    if num_workers:
        return int(num_workers)
    from dask import config
    from dask.system import CPU_COUNT

    return int(config.get("num_workers", None) or CPU_COUNT)


def _kernel_shell() -> Any:
    """The IPython shell of a Jupyter kernel this code runs in, else None."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return shell


def _progress(run: Run) -> None:
    """A progress bar on the terminal (stderr) until the run ends."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr)
    columns = (
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}", markup=False),
        TimeElapsedColumn(),
    )
    terminal = {s.value for s in TERMINAL}
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(run.name, total=None, detail="")
        while True:
            counts = run.counts
            total = sum(counts.values())
            finished = sum(n for k, n in counts.items() if k in terminal)
            busy = " ".join(
                f"{k}={v}" for k, v in sorted(counts.items()) if v and k not in terminal
            )
            progress.update(bar, total=total, completed=finished, detail=busy)
            if run.done:
                break
            time.sleep(TICK)


def scheduler(
    name: str | None = None,
    store: Store | None = None,
    executor: Executor | None = None,
    view: bool = True,
    **run_options: Any,
) -> Scheduler:
    """A Dask scheduler with options: each computation becomes a taskbeam run.

    Parameters
    ----------
    name : str, optional
        The runs' name (default ``"dask"``) and, with a ``store``, the name
        a computation is continued by: when the latest stored run of that
        name did not finish (interrupted, failed or cancelled), the next
        computation continues it, reusing the chunks it had stored.
    store : SQLiteStore, optional
        Persist each run there. Dask's chunks (arrays, frames) are stored
        only by ``tb.SQLiteStore(path, serializer="pickle")``.
    executor : Executor, optional
        Where tasks run (default: threads of the run's own).
    view : bool
        In a notebook, show the live view in the output of the computing
        cell (default True).
    progress : bool
        Outside a notebook (or with ``view=False``), draw a progress bar on
        stderr while the computation runs.
    **run_options
        Options of :func:`taskbeam.start`: ``cache=True`` (reuse results of
        unchanged tasks), ``max_concurrency``, ``limits`` (by layer name),
        ``on_error`` (default ``"fail_fast"``, as Dask), ``save_policy``, ...
    """
    return Scheduler(name, store, executor, view, **run_options)


#: ``tb.dask.get``: the scheduler with default options.
get = Scheduler()
