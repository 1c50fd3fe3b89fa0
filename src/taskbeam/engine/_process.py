"""ProcessExecutor: a run's sync tasks in a pool of worker processes (see
:mod:`taskbeam.engine._executor` for what an executor does).

A call travels to a worker as one pickle (cloudpickle for what plain pickle
refuses: lambdas, functions made in a task); its result comes back pickled,
its exception as text, its output as captured text.
"""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import os
import pickle
import threading
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from taskbeam._errors import WorkerLost
from taskbeam.engine._capture import TextSink, current_output, install, write_output
from taskbeam.engine._executor import Call, Executor, Post, Session, post_result
from taskbeam.engine._failure import error_info
from taskbeam.engine._node import ErrorInfo, Node

__all__ = ["ProcessExecutor"]


def _cloudpickle() -> Any:
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - a dependency of taskbeam
        raise ImportError("ProcessExecutor needs cloudpickle: pip install cloudpickle") from None
    return cloudpickle


def _dump_result(value: Any) -> bytes:
    """Pickle a result to send back; functions made in the task (an ``expand``) need cloudpickle."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return bytes(_cloudpickle().dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _in_process(payload: bytes, limit: int) -> tuple[str, Any, str]:
    """Body of a worker process: ``("ok", pickled result, output)`` or ``("error", info, output)``.

    The exception never crosses back as an object: its type name, message
    and traceback travel as text, so one that cannot be pickled (or whose
    class the parent cannot import) still fails the node clearly.
    """
    install()
    sink = TextSink(limit)
    token = current_output.set(sink)
    try:
        fn, args, kwargs = pickle.loads(payload)
        result = fn(*args, **kwargs)
        try:
            body = _dump_result(result)
        except Exception as exc:
            raise TypeError(
                f"the result ({type(result).__qualname__}) cannot be sent back "
                f"from the worker process: {exc}"
            ) from exc
    except BaseException as exc:
        info = error_info(exc)
        return "error", (info.type, info.message, info.traceback), sink.text()
    finally:
        current_output.reset(token)
    return "ok", body, sink.text()


class ProcessExecutor(Executor):
    """Sync tasks in a pool of worker processes, for CPU-bound Python code.

    Functions and arguments go to the workers with cloudpickle, so functions
    defined in a notebook work; results come back pickled. Workers start
    with ``forkserver`` (never ``fork``: the kernel has threads). The pool is
    shared by every run given this executor and made at first use; close it
    with :meth:`shutdown` or a ``with`` block (it is also closed at exit).

    A worker process that dies fails the attempts it was running with
    :class:`~taskbeam.WorkerLost` (retried by the node's retry policy), and
    a new pool replaces the broken one. A task that times out is failed at
    once; a queued one is cancelled, a running one finishes in its worker
    and its result is dropped.

    Parameters
    ----------
    max_workers : int, optional
        Worker processes; default the number of usable cores.
    start_method : str
        ``"forkserver"`` (default) or ``"spawn"``.
    """

    def __init__(self, max_workers: int | None = None, *, start_method: str = "forkserver") -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"max_workers must be an int >= 1, not {max_workers!r}")
        if start_method not in ("forkserver", "spawn"):
            raise ValueError(f"start_method must be 'forkserver' or 'spawn', not {start_method!r}")
        self.max_workers = max_workers or len(os.sched_getaffinity(0)) or 1
        self.start_method = start_method
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        _cloudpickle()  # fail here, not at the first task

    def default_concurrency(self) -> int:
        # One queued task per worker keeps each busy while an outcome travels back.
        return 2 * self.max_workers

    def open(self, run_id: str, post: Post, max_concurrency: int) -> Session:
        return _ProcessSession(self, post)

    def pool(self) -> concurrent.futures.ProcessPoolExecutor:
        """The live pool (made now if there is none, or the last one broke)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this ProcessExecutor has been shut down")
            if self._pool is None:
                context = multiprocessing.get_context(self.start_method)
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self.max_workers, mp_context=context
                )
            return self._pool

    def _broken(self, pool: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the worker processes; queued tasks are cancelled."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"ProcessExecutor(max_workers={self.max_workers})"


class _ProcessSession(Session):
    def __init__(self, executor: ProcessExecutor, post: Post) -> None:
        self._executor = executor
        self._post = post
        self._futures: dict[Node, concurrent.futures.Future[Any]] = {}
        self._dumps = _cloudpickle().dumps

    def submit(self, call: Call) -> None:
        node = call.node
        try:
            payload = self._dumps(call[2:5], protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TypeError(
                f"task {node.id!r} cannot be sent to a worker process "
                f"(its function or arguments do not pickle): {exc}"
            ) from exc
        pool = self._executor.pool()
        future = pool.submit(_in_process, payload, node.output_limit)
        self._futures[node] = future
        future.add_done_callback(functools.partial(self._done, call, pool))

    def _done(
        self,
        call: Call,
        pool: concurrent.futures.ProcessPoolExecutor,
        future: concurrent.futures.Future[Any],
    ) -> None:
        # The pool's own thread: unpickling happens here, not on the run's loop.
        node = call.node
        if self._futures.get(node) is future:  # before posting: a retry submits anew
            self._futures.pop(node, None)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            if isinstance(exc, BrokenProcessPool):
                self._executor._broken(pool)
                exc = WorkerLost(f"the worker process running task {node.id!r} died: {exc}")
            self._post(call.failed(error_info(exc)))
            return
        status, body, output = future.result()
        if output:
            write_output(node, output)
        if status == "ok":
            try:
                result = pickle.loads(body)
            except Exception as err:
                self._post(call.failed(error_info(err)))
                return
            post_result(call, result, self._post)
        else:
            self._post(call.failed(ErrorInfo(*body)))

    def cancel(self, node: Node) -> None:
        future = self._futures.pop(node, None)
        if future is not None:
            future.cancel()  # only a queued task stops; a running one finishes unseen

    def close(self) -> None:
        futures, self._futures = self._futures, {}
        for future in futures.values():
            future.cancel()
