"""Executors: where a run's sync tasks run.

A run's loop always runs its async tasks and makes every decision (what is
ready, what failed, what retries). An executor only runs the sync functions
it is handed (sync tasks and sync aggregators) and reports each outcome back
through the run's inbox, as ``(node, attempt, result, error, aggregate)``.

* :class:`LocalExecutor` (the default): a thread pool private to each run.
* ``ProcessExecutor`` (in :mod:`taskbeam.engine._process`): a pool of worker
  processes shared by the runs given it, for CPU-bound Python code that holds
  the GIL.
* ``DaskExecutor`` (in :mod:`taskbeam.engine._dask`): a ``dask.distributed``
  cluster; results stay on the cluster (:class:`RemoteResult`).

Each run opens a :class:`Session` on its executor when it starts and closes
it when it ends; the session is called from the run's thread only, and
posts outcomes from whatever thread it learns them on.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Generic, NamedTuple, TypeAlias, TypeVar

from taskbeam.engine._capture import current_output
from taskbeam.engine._failure import error_info
from taskbeam.engine._preview import (
    Previewed,
    needs_previews,
    preview_then,
    register,
    safe_preview,
)
from taskbeam.engine._questions import current_asker
from taskbeam.engine._state import ErrorInfo, Node
from taskbeam.graph import Expansion

__all__ = [
    "Call",
    "Executor",
    "LocalExecutor",
    "LoopThreads",
    "Outcome",
    "RemoteResult",
    "Session",
    "abandoned",
    "fetch_all",
]

log = logging.getLogger("taskbeam")
T = TypeVar("T")

Outcome: TypeAlias = "tuple[Node, int, Any, BaseException | ErrorInfo | None, bool]"
Post: TypeAlias = "Callable[[Outcome], None]"


class Call(NamedTuple):
    """One attempt of a node: ``fn(*args, **kwargs)``; ``aggregate`` if ``fn`` is its aggregator."""

    node: Node
    attempt: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    aggregate: bool

    def ok(self, result: Any) -> Outcome:
        """The outcome to post when the call returned ``result``."""
        return (self.node, self.attempt, result, None, self.aggregate)

    def failed(self, error: BaseException | ErrorInfo) -> Outcome:
        """The outcome to post when the call failed."""
        return (self.node, self.attempt, None, error, self.aggregate)


class Session(abc.ABC):
    """One run's use of an executor. Called from the run's thread only."""

    @abc.abstractmethod
    def submit(self, call: Call) -> None:
        """Start the call (one attempt of its node).

        Raising fails the attempt with that error (e.g. arguments that cannot
        be sent to a worker).
        """

    def cancel(self, node: Node) -> None:  # noqa: B027 - threads cannot be stopped
        """Give up the node's current attempt (timed out or cancelled): stop it if possible."""

    def grow(self, n: int) -> None:  # noqa: B027 - only a thread pool needs it
        """``n`` more (or, negative, fewer) of the run's sync tasks block waiting for an answer.

        A thread pool grows by one thread per waiting task, so that other
        sync tasks never starve (at most :data:`WAITING_THREADS` extra).
        """

    @abc.abstractmethod
    def close(self) -> None:
        """The run has ended: cancel whatever is still queued or running."""

    # Results an executor keeps where they were computed (``Executor.remote``)
    # reach the run's own thread only through these two.
    def fetch(self, values: Iterable[Any]) -> list[Any]:
        """``values`` with each :class:`RemoteResult` replaced by its value (blocks).

        Usable after :meth:`close`: ``run.results`` reads through it once the run has ended.
        """
        return fetch_all(values)

    async def localized(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Await ``fn(*args, **kwargs)`` once the remote results among them are fetched.

        An async task runs in the kernel: a result kept on a cluster must come
        here first. The fetch runs in a thread, so the loop goes on meanwhile;
        a dict among ``args`` (an aggregator's results) is fetched value by value.
        """

        def fetch() -> tuple[tuple[Any, ...], dict[str, Any]]:
            local = tuple(
                dict(zip(a, self.fetch(a.values()), strict=True)) if type(a) is dict else a
                for a in self.fetch(args)
            )
            return local, dict(zip(kwargs, self.fetch(kwargs.values()), strict=True))

        args, kwargs = await asyncio.to_thread(fetch)
        return await fn(*args, **kwargs)


class Executor(abc.ABC):
    """Where sync tasks run. Pass one to :func:`taskbeam.start` as ``executor=``."""

    #: Results stay where they were computed (the run holds :class:`RemoteResult`).
    remote = False

    def default_concurrency(self) -> int:
        """``max_concurrency`` of a run that sets none."""
        return 8

    @abc.abstractmethod
    def open(self, run_id: str, post: Post, max_concurrency: int) -> Session:
        """A session for one run; ``post`` takes each outcome, from any thread."""


# -- threads -----------------------------------------------------------------


class LocalExecutor(Executor):
    """Sync tasks in a thread pool private to each run (the default).

    Parameters
    ----------
    max_workers : int, optional
        Threads per run; default ``min(max_concurrency, 32)``.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"max_workers must be an int >= 1, not {max_workers!r}")
        self.max_workers = max_workers

    def open(self, run_id: str, post: Post, max_concurrency: int) -> Session:
        return _ThreadSession(run_id, post, self.max_workers or min(max_concurrency, 32))

    def __repr__(self) -> str:
        return f"LocalExecutor(max_workers={self.max_workers})"


class _Workers(Generic[T]):
    """A pool of daemon threads: at interpreter exit nobody waits for them.

    ``concurrent.futures.ThreadPoolExecutor`` joins its threads when the
    interpreter exits, so one sync task that never returns (after its node
    timed out, or its run was cancelled) would keep the process alive for
    ever. These threads are daemons: a thread still inside an abandoned
    task is left behind at exit, and :func:`abandoned` names what it runs.

    Threads are made on demand, one per item while none is idle, up to
    ``size``; each runs ``body(item)``. :meth:`close` drops the items still
    queued; each thread ends after its current one.
    """

    def __init__(self, size: int, prefix: str, body: Callable[[T], None]) -> None:
        self._size = size
        self._prefix = prefix
        self._body = body
        self._queue: queue.SimpleQueue[T | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads = 0
        self._closed = False
        self.running: dict[int, T] = {}  # thread id -> its item (dict ops are atomic)
        _POOLS.add(self)

    def submit(self, item: T) -> None:
        self._queue.put(item)
        if self._idle.acquire(blocking=False):
            return  # an idle thread takes it
        with self._lock:
            if self._threads >= self._size or self._closed:
                return
            self._threads += 1
            name = f"{self._prefix}_{self._threads - 1}"
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        ident = threading.get_ident()
        get, running = self._queue.get, self.running
        while True:
            item = get()
            if item is None or self._closed:
                self._queue.put(None)  # wake the next thread: it ends too
                return
            running[ident] = item
            try:
                self._body(item)
            finally:
                running.pop(ident, None)
            self._idle.release()

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)


def post_result(call: Call, result: Any, post: Post, here: bool = False) -> None:
    """Post ``call``'s ``result`` with its previews, made off the run's thread (see ``_preview``).

    Plain values (None, bools, floats) and expansions go as they are; a
    value that needs its own ``__repr__`` is posted once its previews are
    made (on this thread with ``here``, else on a preview thread), or given
    up on after ``REPR_SECONDS``, whichever comes first.
    """
    if needs_previews(result) and not isinstance(result, Expansion):
        short = safe_preview(result)
        if short is None:
            preview_then(result, lambda made: post(call.ok(made)), here=here)
            return
        result = Previewed(result, short, None)
    post(call.ok(result))


_POOLS: weakref.WeakSet[_Workers[Any]] = weakref.WeakSet()


def abandoned() -> list[Call]:
    """The calls that threads of closed pools are still running (their tasks were given up)."""
    return [
        c
        for pool in list(_POOLS)
        if pool._closed
        for c in list(pool.running.values())
        if isinstance(c, Call)
    ]


def _run_job(job: Callable[[], None]) -> None:
    job()


class LoopThreads(concurrent.futures.ThreadPoolExecutor):
    """A run loop's default executor (``asyncio.to_thread``) on daemon threads.

    The loop waits for its default executor when it closes, and the
    interpreter joins ``ThreadPoolExecutor`` threads at exit: an async task
    that timed out inside ``to_thread(fn)`` with an ``fn`` that never
    returns would keep its run (and the process) from ending. This is a
    ``ThreadPoolExecutor`` only because asyncio requires one; ``submit`` and
    ``shutdown`` are its own (the base class's thread machinery is never
    used, so it is not set up), and shutting down waits for nothing: when
    a run's loop closes, every task that was waiting here has ended.
    """

    def __init__(self, size: int, prefix: str) -> None:  # the base init is skipped, see above
        self._workers: _Workers[Callable[[], None]] = _Workers(size, prefix, _run_job)

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

        self._workers.submit(job)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._workers.close()


WAITING_THREADS = 256  # most threads a run's pool adds for sync tasks waiting for answers


class _ThreadSession(Session):
    def __init__(self, run_id: str, post: Post, workers: int) -> None:
        self._run_id = run_id
        self._post = post
        self._workers = workers
        self._extra = 0  # sync tasks of the run blocked in ask_sync
        self._pool: _Workers[Call] | None = None
        self.asker: Any = None  # the run's questions, named in each call's context

    def grow(self, n: int) -> None:
        self._extra = max(0, self._extra + n)
        if self._pool is not None:
            with self._pool._lock:
                self._pool._size = self._workers + min(self._extra, WAITING_THREADS)

    def submit(self, call: Call) -> None:
        pool = self._pool
        if pool is None:  # made at the first sync task: most async graphs never need it
            pool = self._pool = _Workers(
                self._workers + min(self._extra, WAITING_THREADS),
                f"taskbeam-{self._run_id}-sync",
                self._call,
            )
        pool.submit(call)

    def _call(self, call: Call) -> None:
        """Body of a worker thread: call ``fn`` and post the outcome to the loop.

        Posted once the node's output is unset here: the loop's wake-up call
        copies this thread's context, and what runs in it (the pump, the
        subscribers) must not print into the node's output.
        """
        token = current_output.set(call.node)
        asking = current_asker.set(self.asker)
        try:
            result = call.fn(*call.args, **call.kwargs)
        except BaseException as exc:
            error: ErrorInfo | None = error_info(exc)
        else:
            error = None
        finally:
            current_asker.reset(asking)
            current_output.reset(token)
        if error is not None:
            self._post(call.failed(error))
            return
        if self._pool is not None:  # the task is over: a preview that hangs here is not it
            self._pool.running.pop(threading.get_ident(), None)
        post_result(call, result, self._post, here=True)  # the task's own thread

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


# -- results kept elsewhere --------------------------------------------------


class RemoteResult:
    """A result kept where it was computed (a Dask cluster), with its preview.

    Dependants that run there receive the value without it passing through
    the kernel. :meth:`fetch` (or ``run.result(node_id)``) brings it here.
    """

    __slots__ = ("future", "preview", "type")

    def __init__(self, future: Any, preview: str, type_name: str) -> None:
        self.future = future
        self.preview = preview
        self.type = type_name

    def fetch(self, timeout: float | None = None) -> Any:
        """The value (copied from the cluster)."""
        return self.future.result(timeout=timeout)

    def __repr__(self) -> str:
        return self.preview

    def __reduce__(self) -> Any:
        raise TypeError(
            "a result kept on a Dask cluster is not pickled with the run; "
            "fetch it with run.result(node_id)"
        )


register(RemoteResult, lambda remote: remote.preview)


def fetch_all(values: Iterable[Any]) -> list[Any]:
    """``values`` with every :class:`RemoteResult` replaced by its value, one gather per client."""
    out = list(values)
    by_client: dict[int, tuple[Any, list[int]]] = {}
    for i, value in enumerate(out):
        if type(value) is RemoteResult:
            client = value.future.client
            by_client.setdefault(id(client), (client, []))[1].append(i)
    for client, indices in by_client.values():
        got = client.gather([out[i].future for i in indices])
        for i, value in zip(indices, got, strict=True):
            out[i] = value
    return out
