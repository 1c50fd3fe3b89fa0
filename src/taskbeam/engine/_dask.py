"""DaskExecutor: sync tasks on a ``dask.distributed`` cluster.

Each attempt of a sync node becomes one Dask task, keyed
``<node id>@<run id>#<attempt>``. Its result stays on the cluster: the run
keeps a :class:`~taskbeam.engine._executor.RemoteResult` (the Dask future, a
preview and the type name), and a dependant that also runs on the cluster
gets the future as its argument, so Dask moves the data from worker to
worker, never through the kernel.

What comes back to the kernel for each task is small: the worker computes
the preview (and collects the task's printed output) and sends it as a Dask
event on a topic of this executor's own; the run's node is marked done when
both the event and Dask's "finished" have arrived. Only three things bring a
value back: an async task (or async aggregator) in the kernel that needs it,
a task that returned ``expand(...)`` (the sub-graph is needed to go on), and
``run.result()`` / ``run.results``.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable
from typing import Any

from taskbeam._errors import WorkerLost
from taskbeam.engine._capture import TextSink, current_output, install, write_output
from taskbeam.engine._executor import Call, Executor, Post, RemoteResult, Session
from taskbeam.engine._failure import error_info
from taskbeam.engine._preview import previews_of
from taskbeam.engine._state import ErrorInfo, Node
from taskbeam.graph import Expansion

__all__ = ["DaskExecutor"]

# How long the callback thread waits for a finished task's event before it
# settles without it. The worker sends the event before it reports the task
# finished, over the same stream, so in practice it has always arrived.
META_WAIT = 5.0


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "DaskExecutor needs dask.distributed: pip install 'taskbeam[dask]'"
        ) from None
    return distributed


def _on_worker(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    topic: str,
    key: str,
    limit: int,
) -> Any:
    """Body of a Dask task: run ``fn``, send its preview and output home, return its value."""
    from distributed import get_worker

    install()
    sink = TextSink(limit)
    token = current_output.set(sink)
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        # Formatted here, where the frames are: the traceback Dask keeps is
        # cut at its own frames; the output rides along on the exception.
        info = error_info(exc)
        with contextlib.suppress(Exception):  # some exceptions take no attributes
            exc._taskbeam_error = (info.type, info.message, info.traceback, sink.text())  # type: ignore[attr-defined]
        raise
    finally:
        current_output.reset(token)
    get_worker().log_event(
        topic,
        {
            "key": key,
            "preview": previews_of(result).preview,
            "type": type(result).__qualname__,
            "output": sink.text(),
            "expand": isinstance(result, Expansion),
        },
    )
    return result


def _to_futures(value: Any, depth: int = 0) -> Any:
    """``value`` with each RemoteResult (also inside a dict, list or tuple) as its future."""
    if type(value) is RemoteResult:
        return value.future
    if depth < 2:
        if type(value) is dict:
            return {k: _to_futures(v, depth + 1) for k, v in value.items()}
        if type(value) in (list, tuple):
            return type(value)(_to_futures(v, depth + 1) for v in value)
    return value


class _Pending:
    __slots__ = ("arrived", "call", "future", "meta", "post")

    def __init__(self, call: Call, post: Post) -> None:
        self.call = call
        self.post = post
        self.future: Any = None
        self.meta: dict[str, Any] | None = None
        self.arrived = threading.Event()


class DaskExecutor(Executor):
    """Sync tasks (and sync aggregators) as tasks on a ``dask.distributed`` cluster.

    Async tasks still run on the run's loop in the kernel. Cancelling a node
    or a run, or a timeout, cancels its Dask future (a task already running
    on a worker thread finishes there; its result is dropped). A worker that
    dies fails the attempts it was running (Dask's ``KilledWorker``, once
    the scheduler's ``distributed.scheduler.allowed-failures`` are used up;
    set it to 0 to leave every retry to the node's own ``retries``).

    Parameters
    ----------
    client : distributed.Client
        A synchronous client; the executor does not close it.
    """

    remote = True

    def __init__(self, client: Any) -> None:
        distributed = _import_distributed()
        if not isinstance(client, distributed.Client):
            raise TypeError(f"DaskExecutor takes a distributed.Client, not {type(client).__name__}")
        if client.asynchronous:
            raise ValueError("DaskExecutor needs a synchronous Client (asynchronous=False)")
        self.client = client
        self.topic = f"taskbeam-{secrets.token_hex(4)}"
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        client.subscribe_topic(self.topic, self._on_event)

    def default_concurrency(self) -> int:
        # Two tasks per worker thread: each has the next one queued beside it.
        threads = int(sum(self.client.nthreads().values()))
        return max(8, 2 * threads)

    def open(self, run_id: str, post: Post, max_concurrency: int) -> Session:
        return _DaskSession(self, run_id, post)

    def close(self) -> None:
        """Stop listening for this executor's events (runs still using it get none)."""
        with contextlib.suppress(Exception):
            self.client.unsubscribe_topic(self.topic)

    # -- the client's threads ---------------------------------------------------
    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        # The client's event-loop thread: store and wake, never block.
        msg = event[1]
        with self._lock:
            pending = self._pending.get(msg.get("key", ""))
        if pending is not None:
            pending.meta = msg
            pending.arrived.set()

    def _done(self, future: Any) -> None:
        # Dask's callback thread: may block (fetching an expansion or an exception).
        with self._lock:
            pending = self._pending.pop(future.key, None)
        if pending is None:
            return  # cancelled by the run
        call, post = pending.call, pending.post
        node = call.node
        status = future.status
        if status == "finished":
            if not pending.arrived.wait(META_WAIT):
                pending.meta = {}
            meta = pending.meta or {}
            if meta.get("output"):
                write_output(node, meta["output"])
            if meta.get("expand"):
                try:
                    value = future.result()
                except Exception as exc:
                    post(call.failed(error_info(exc)))
                    return
                post(call.ok(value))
                return
            result = RemoteResult(
                future,
                meta.get("preview", "<result on the cluster>"),
                meta.get("type", "object"),
            )
            post(call.ok(result))
        elif status == "error":
            post(call.failed(self._error(node, future)))
        else:  # cancelled by someone else: the scheduler, a restart, a closed client
            lost = WorkerLost(
                f"the Dask task of {node.id!r} was cancelled on the cluster "
                "(its client closed, or the scheduler restarted or lost it)"
            )
            post(call.failed(error_info(lost)))

    def _error(self, node: Node, future: Any) -> ErrorInfo:
        try:
            exc = future.exception()
        except Exception as err:  # the exception itself could not be brought back
            return error_info(err)
        sent = getattr(exc, "_taskbeam_error", None)
        if sent is not None:
            kind, message, traceback, output = sent
            if output:
                write_output(node, output)
            return ErrorInfo(kind, message, traceback)
        with contextlib.suppress(Exception):
            exc = exc.with_traceback(future.traceback())
        return error_info(exc)

    def __repr__(self) -> str:
        return f"DaskExecutor({self.client!r})"


class _DaskSession(Session):
    def __init__(self, executor: DaskExecutor, run_id: str, post: Post) -> None:
        self._executor = executor
        self._run_id = run_id
        self._post = post
        self._keys: dict[Node, str] = {}

    def submit(self, call: Call) -> None:
        ex = self._executor
        node = call.node
        key = f"{node.id}@{self._run_id}#{call.attempt}"
        pending = _Pending(call, self._post)
        with ex._lock:  # known before the task can report
            ex._pending[key] = pending
        self._keys[node] = key
        try:
            future = ex.client.submit(
                _on_worker,
                call.fn,
                _to_futures(call.args),
                _to_futures(call.kwargs),
                ex.topic,
                key,
                node.output_limit,
                key=key,
                pure=False,
                priority=node.task.priority,
            )
        except BaseException as exc:
            with ex._lock:
                ex._pending.pop(key, None)
            self._keys.pop(node, None)
            if isinstance(exc, TypeError):  # Dask's own message names its graph, not the culprit
                cause = exc.__cause__ or exc.__context__ or exc
                raise TypeError(
                    f"task {node.id!r} cannot be sent to the Dask cluster "
                    f"(its function or arguments do not pickle): {cause}"
                ) from exc
            raise
        pending.future = future
        future.add_done_callback(ex._done)

    def cancel(self, node: Node) -> None:
        key = self._keys.pop(node, None)
        if key is None:
            return
        ex = self._executor
        with ex._lock:
            pending = ex._pending.pop(key, None)
        if pending is not None and pending.future is not None:
            pending.future.cancel()

    def close(self) -> None:
        ex = self._executor
        futures = []
        with ex._lock:
            for key in self._keys.values():
                pending = ex._pending.pop(key, None)
                if pending is not None and pending.future is not None:
                    futures.append(pending.future)
        self._keys.clear()
        if futures:
            with contextlib.suppress(Exception):
                ex.client.cancel(futures)
