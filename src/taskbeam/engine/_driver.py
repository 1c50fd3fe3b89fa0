"""The driver of a run: its thread, its event loop, and everything done on them.

A :class:`~taskbeam.engine._run.Run` is a thin handle that any thread may
hold; the :class:`Driver` behind it owns the run's thread and loop, its
:class:`RunState`, its executor session, its recorder and its subscribers.

Threading rules
---------------
* The run's thread owns its event loop and its :class:`RunState`. Nothing
  else mutates that state: other threads reach it through
  ``loop.call_soon_threadsafe`` (see :meth:`Driver.call`), and worker threads
  of sync tasks report results through an inbox (see :meth:`Driver._post`).
* Async tasks run as asyncio Tasks on the run's loop; sync tasks run on the
  run's executor: by default a bounded thread pool private to the run (see
  :mod:`taskbeam.engine._executor` for processes and Dask).
* Subscribers are called on the run's thread, after a state change is
  complete, in event order. Whatever one raises (a BaseException too) is
  contained: logged once per subscriber and kind, then counted.
* Commands (pause, cancel, ...) called from another thread wait until the
  loop has applied them; called from the run's own thread (a task or a
  subscriber) they are queued and applied at the next loop step, so a state
  change never runs inside another.
* The loop is closed, and the thread has ended, when :meth:`Run.wait`
  returns or ``await run`` completes.

Timeouts and cancellation
-------------------------
An async task past its timeout is cancelled and the node fails with
:class:`~taskbeam.NodeTimeout` at once. A sync task cannot be interrupted
(Python has no way to stop a thread): the node fails at once and the thread
goes on until the function returns; its result is discarded and it holds one
pool worker until then. Worker threads are daemons, so such a thread never
keeps the interpreter from exiting; at exit each task left running is logged.

Results and previews
--------------------
The previews of a result (see :mod:`taskbeam.engine._preview`) are made
once, where it is produced; the run's thread never calls a user
``__repr__``: a value that needs one comes back from a preview thread
before its node is done.

Modules
-------
The life cycle, the pump and launching are here; what happens when an attempt
ends (results, failures and retries, timeouts, expansion, aggregation) is in
:mod:`._outcomes`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
import random
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from types import CoroutineType
from typing import Any, TypeVar

from taskbeam.engine import _registry
from taskbeam.engine._cache import resolve_cache
from taskbeam.engine._capture import current_output, install
from taskbeam.engine._contain import Contained
from taskbeam.engine._executor import Call, LocalExecutor, LoopThreads, RemoteResult, Session
from taskbeam.engine._fingerprint import fingerprints
from taskbeam.engine._loop import (
    as_coroutine,
    close_loop,
    eager_task,
    import_nest_asyncio2,
    new_loop,
)
from taskbeam.engine._meters import Meters
from taskbeam.engine._metrics import install_tqdm
from taskbeam.engine._options import RunOptions
from taskbeam.engine._outcomes import Outcomes
from taskbeam.engine._output import OutputFeed, install_logging
from taskbeam.engine._persist import Recorder, SavePolicy
from taskbeam.engine._preview import (
    CHEAP_TYPES,
)
from taskbeam.engine._questions import current_asker
from taskbeam.engine._rerun import Prior
from taskbeam.engine._reuse import Reuse
from taskbeam.engine._state import ErrorInfo, Node, RunState
from taskbeam.engine._status import Event, Status
from taskbeam.engine._waiting import Waiting
from taskbeam.graph import Graph

__all__ = ["Driver", "Subscriber"]

log = logging.getLogger("taskbeam")

T = TypeVar("T")
Subscriber = Callable[[Event], None]
# Most threads of a run's asyncio.to_thread pool: asyncio's own default,
# counted once (os.cpu_count() costs microseconds a call).
TO_THREAD_WORKERS = min(32, (os.cpu_count() or 1) + 4)
RUNNING = Status.RUNNING  # a module constant: looking a member up on its enum class is slow
DONE = Status.DONE
# Results a node is done with at once, in _launch: cheap to preview and immutable (a
# bytearray goes the long way, where the store's cache digests it before it can change).
_DIRECT = CHEAP_TYPES - {bytearray, memoryview}


def _new_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "run"
    return f"{slug}-{secrets.token_hex(4)}"


class Driver(Outcomes, Reuse):
    """Runs one graph on a thread and loop of its own; see the module's threading rules.

    ``handle`` is what the process-wide registry maps the run's id to (the
    :class:`~taskbeam.engine._run.Run`); the driver never calls it.
    ``options`` is the stored form of the run's options (what the recorder
    saves and ``resume`` reads back).
    """

    def __init__(
        self,
        graph: Graph,
        opts: RunOptions,
        handle: object,
        *,
        restore: Mapping[str, tuple[str | None, Any]] | None = None,
        restore_tree: Mapping[str, list[list[Any]]] | None = None,
        answers: Mapping[str, tuple[Any, str]] | None = None,
        metrics: Mapping[str, Any] | None = None,
        prior: Prior | None = None,
    ) -> None:
        if not isinstance(graph, Graph):
            raise TypeError(f"start() takes a taskbeam.Graph, not {type(graph).__name__}")
        graph.validate()
        executor = opts.executor
        if executor is None:
            executor = LocalExecutor(opts.sync_workers)
        max_concurrency = opts.max_concurrency
        if max_concurrency is None:
            max_concurrency = executor.default_concurrency()
        store = opts.store
        self.state = RunState(
            graph,
            max_concurrency=max_concurrency,
            limits=opts.limits,
            on_error=opts.on_error,
            max_depth=opts.max_depth,
            output_limit=opts.output_limit,
            fingerprint=fingerprints if store is not None else None,
            restore=restore,
            restore_tree=restore_tree,
        )
        self.handle = handle
        self.id = opts.run_id or _new_id(graph.name)
        self.created = time.time()
        self.options: dict[str, Any] = {
            "max_concurrency": max_concurrency,
            "limits": dict(opts.limits or {}),
            "on_error": opts.on_error,
            "max_depth": opts.max_depth,
        }
        self._nested = opts.nested_loops
        if opts.nested_loops:
            import_nest_asyncio2()  # fail here, in the caller's thread, if it is missing
        self.executor = executor
        self._remote = executor.remote
        # Holds nothing until the first sync task, so opening it here is free.
        self.session: Session = executor.open(self.id, self._post, self.state.max_concurrency)
        self.store = store
        # Questions (see engine/_questions.py): answers stored before a crash come back by key.
        self.waiting = Waiting(self, dict(answers or {}), durable=store is not None)
        self.asker = self.waiting.questions
        self.state.question_fields = self.waiting.fields
        # Progress, metrics, budgets (engine/_meters.py); tb.metric finds them through the asker.
        self.meters = Meters(self, dict(opts.budgets or {}), dict(metrics or {}))
        self.asker.meters = self.meters
        if opts.budgets:
            self.options["budgets"] = dict(opts.budgets)
        if hasattr(self.session, "asker"):  # threads of this run may ask_sync
            self.session.asker = self.asker
        if not isinstance(executor, LocalExecutor):
            self.options["executor"] = repr(executor)
        self._seed = opts.seed
        self._rng: random.Random | None = None  # made at the first retry: seeding costs
        if opts.project is not None:
            self.options["project"] = opts.project
        self.recorder: Recorder | None = None
        if store is not None:
            self.recorder = Recorder(
                self.state,
                graph,
                store,
                opts.save_policy or SavePolicy(),
                run_id=self.id,
                name=graph.name,
                options=self.options,
                created=self.created,
                resumed=restore is not None,
                watched=lambda: bool(self.subscribers),
            )
        self.subscribers: tuple[Subscriber, ...] = ()
        self.ended: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self._ident: int | None = None
        self._lock = threading.Lock()
        self._accepting = False
        self._inbox: deque[tuple[Node, int, Any, BaseException | ErrorInfo | None, bool]]
        self._inbox = deque()
        self._wake_pending = False
        self._tasks: dict[Node, asyncio.Task[None]] = {}
        self._timers: dict[Node, asyncio.TimerHandle] = {}
        self._aborted: set[asyncio.Task[None]] = set()
        self._finished: asyncio.Event | None = None
        self._resumed = restore is not None
        self._pumping = False
        self.t0 = 0.0
        self._crash: BaseException | None = None  # see _loop_error
        self.contained = Contained(self.id)  # what user callbacks raised
        self.output_feed = OutputFeed()  # who watches printed output live (engine/_output.py)
        self._reusing = self._setup_reuse(resolve_cache(opts.cache, store), prior, graph)

    # -- life cycle ----------------------------------------------------------
    def begin(self) -> None:
        install()
        install_tqdm()  # tqdm bars inside tasks feed tb.progress (if tqdm is imported)
        install_logging()
        if self.recorder is not None:  # stored before any node starts; raises StoreError
            keep = None
            if self._resumed:
                # Rows of nodes that run again are dropped; stored children are
                # kept until their parent expands again and may reuse them.
                keep = [n.id for n in self.state.restored]
                keep += [i for i in self.state.restore if "/" in i]
            self.recorder.create(keep)
        # The loop is made here and only run by the run's thread, so calls
        # from this thread may queue on it as soon as this returns, without
        # waiting for the new thread to get going.
        loop = self.loop = new_loop(self._nested)
        self.asker.loop = loop
        if self.recorder is not None:
            self.recorder.loop = loop
        # asyncio.to_thread from a task: daemon threads, never waited for at the end.
        threads = TO_THREAD_WORKERS
        loop.set_default_executor(LoopThreads(threads, f"taskbeam-{self.id}-to_thread"))
        self.thread = threading.Thread(
            target=self._thread_main, args=(loop,), name=f"taskbeam-run-{self.id}", daemon=True
        )
        self._accepting = True
        _registry.enter(self.id, self, self.handle)
        try:
            self.thread.start()
        except BaseException:
            if self.thread.ident is not None:
                # Interrupted (Ctrl-C) while waiting for a thread that did
                # start: the run exists and runs, so it is cancelled, not torn down.
                self.cancel()
                raise
            self._accepting = False
            _registry.leave(self)
            loop.close()
            raise

    def _thread_main(self, loop: asyncio.AbstractEventLoop) -> None:
        self._ident = threading.get_ident()
        try:
            asyncio.set_event_loop(loop)
            loop.set_exception_handler(self._loop_error)
            main = loop.create_task(self._main())
            while True:
                try:
                    loop.run_until_complete(main)
                    if self._crash is not None:
                        raise self._crash
                    break
                except (KeyboardInterrupt, SystemExit) as exc:
                    # asyncio records these on the Task that raised them, then
                    # lets them out of the loop. From a node's Task they fail
                    # the node (its done callback runs next) and the run goes on.
                    if not self._raised_by_node(exc):
                        raise
        except BaseException as exc:  # a bug in the engine: record it, never hang waiters
            log.exception("run %s crashed", self.id)
            with contextlib.suppress(Exception):  # every node still ends terminal
                self.state.cancel(time.monotonic())
                self.state.events.clear()
            self.ended.set_exception(exc)
        finally:
            with self._lock:
                self._accepting = False
            self.contained.report()
            loop.run_until_complete(close_loop(loop))
            loop.close()
            asyncio.set_event_loop(None)
            # Thread ids are reused once a thread ends: a later thread with
            # this id must not be taken for the run's own (see on_loop).
            self._ident = None
            self.session.close()
            self.prior = None  # the earlier run's results are not kept alive by this one
            _registry.leave(self)
            if not self.ended.done():
                self.ended.set_result(None)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The loop's exception handler: an error in one of the run's own callbacks ends the run.

        Such an error is a bug in the engine (user code it calls is
        contained where it is called). Left to asyncio's default handler it
        would be logged and the run would wait for ever for a node whose
        step never finished; instead every open node is cancelled, the run
        ends and ``wait()`` raises the error. Anything else (an error in a
        callback that a task scheduled itself) goes to the default handler.
        """
        exc = context.get("exception")
        handle = context.get("handle")
        callback = getattr(handle, "_callback", None)
        owner = getattr(callback, "__self__", None) or getattr(
            getattr(callback, "func", None), "__self__", None
        )
        if owner is not self or not isinstance(exc, BaseException) or self._crash is not None:
            loop.default_exception_handler(context)
            return
        self._crash = exc
        log.error("run %s: an engine step failed; the run ends", self.id, exc_info=exc)
        with contextlib.suppress(Exception):
            self.state.cancel(time.monotonic())
        self.state.events.clear()
        if self._finished is not None:
            self._finished.set()

    def _raised_by_node(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the outcome of a node's Task (a suspended one, so tracked)."""
        return any(
            t.done() and not t.cancelled() and t.exception() is exc for t in self._tasks.values()
        )

    async def _main(self) -> None:
        self._finished = asyncio.Event()
        self.t0 = now = time.monotonic()
        if self.recorder is not None:
            self.recorder.t0 = now
        self.state.start(now)
        if self._reusing:  # the store's cache says which functions have entries
            self._begin_reuse()
        if self.meters.seeds:  # a continued run: stored metrics come back, rolled up again
            self.meters.seed(list(self.state.nodes.values()))
        # Pumped from a plain callback rather than from this Task, so each
        # task started eagerly need not step out of this one and back.
        asyncio.get_running_loop().call_soon(self._pump)
        await self._finished.wait()
        self.meters.finish()
        self._pump()
        self._settle_cache()  # the store's cache: count what was not looked up
        recorder = self.recorder
        if recorder is not None:
            await recorder.final()
        self._cache_after(recorder is not None)  # its entries, once the final save landed
        flush = getattr(self.cache, "flush", None)
        if flush is not None:  # the store's cache: when its entries were last used (no wait)
            flush()
        if self._aborted:  # let cancelled tasks unwind before the loop closes
            await asyncio.wait(self._aborted, timeout=5)

    # -- the loop side -------------------------------------------------------
    def _pump(self) -> None:
        """Carry out what the state asks for, deliver events, notice the end.

        A task started eagerly may finish inside ``_launch``, which settles
        it there; what that made ready starts from this loop's next batch,
        so the stack never grows with the length of a chain of quick tasks.
        Re-entrant calls return at once and leave the work to the outer one.
        """
        if self._pumping:
            return
        self._pumping = True
        st = self.state
        # The asker is the run's own in every context of this thread: set once
        # per context the pump runs in and left there (each callback runs in a
        # copy of a context, so nothing outside the run sees it). A node's Task
        # copies it from here; an aggregate clears it for its own call only.
        if current_asker.get() is not self.asker:
            current_asker.set(self.asker)
        try:
            while True:
                if st.to_abort:
                    aborts, st.to_abort = st.to_abort, []
                    for node in aborts:
                        self._abort(node)
                if st.to_aggregate:
                    aggregates, st.to_aggregate = st.to_aggregate, []
                    for node in aggregates:
                        self._launch_aggregate(node)
                meters = self.meters
                if meters.pending and meters.budgets:  # budgets are checked before any start
                    meters.settle()
                batch = st.schedule(time.monotonic())
                if st.to_resume:
                    resumed, st.to_resume = st.to_resume, []
                    for node in resumed:
                        self.waiting.resumed(node)
                elif not batch:
                    break
                if self._reusing:  # hits of a batch are taken at once
                    batch = self._reuse_batch(batch)
                for node in batch:
                    self._launch(node)
            if st.cache_done:
                self._cache_put(st.cache_done)
            if st.events:
                self._deliver()
            if st.dirty and self.recorder is not None:
                assert self.loop is not None
                self.recorder.changed(self.loop)
        finally:
            self._pumping = False
        if st.open == 0 and self._finished is not None:
            self._finished.set()

    def _deliver(self) -> None:
        st = self.state
        events, st.events = st.events, []
        subscribers = self.subscribers
        if not subscribers:
            return
        rid = self.id
        new = tuple.__new__  # Event's own __new__ is a Python function: skip it
        made = [new(Event, (rid, *e)) for e in events]
        for sub in subscribers:
            for event in made:
                try:
                    sub(event)
                except BaseException as exc:  # KeyboardInterrupt too: user code never stops a run
                    self.contained.raised("subscriber", sub, exc)

    def _launch(self, node: Node) -> None:
        task = node.task
        if self._reusing and task.cache and self._reuse(node):
            return
        if self.output_feed.watches:  # someone watches output live: writes tell them
            node.output_feed = self.output_feed
        kwargs = dict(task.kwargs) if task.kwargs else {}
        if task.deps:
            group = node.group
            for arg, i in zip(task.args, node.up):  # noqa: B905 - equal by construction
                kwargs[arg] = group[i].result
        loop = self.loop
        assert loop is not None
        attempt = node.attempt
        if task.is_async:
            # The node's coroutine is the Task's own, with no wrapper: a Task
            # that finishes in its first step is settled right here, one that
            # suspends by its done callback. The Task copies the context it
            # is made in, so the node is set there just for the Task's
            # creation (its eager first step runs in the copy) and reset at
            # once, before anything else runs here.
            try:
                token = current_output.set(node)
                try:
                    if self._remote and RemoteResult in map(type, kwargs.values()):
                        coro = self.session.localized(task.fn, (), kwargs)
                    else:
                        coro = task.fn(**kwargs)
                        if type(coro) is not CoroutineType:
                            coro = as_coroutine(coro)
                    running = eager_task(loop, coro)
                finally:
                    current_output.reset(token)
            except BaseException as exc:  # e.g. an async __call__ that raises at once
                self._failed(node, attempt, exc)
                return
            if running.done():  # finished in its first step: nothing to track
                try:
                    result = running.result()
                except BaseException as exc:  # raised, or cancelled by the task itself
                    self._failed(node, attempt, exc)
                    return
                if node.status is RUNNING and node.attempt == attempt:
                    if type(result) in _DIRECT:  # the common case: None, a number, a str
                        self.state.succeed(node, result, time.monotonic())
                    else:
                        self._took(node, attempt, result)
                return
            self._tasks[node] = running
            running.add_done_callback(functools.partial(self._settled, node, attempt))
        else:
            try:
                self.session.submit(Call(node, attempt, task.fn, (), kwargs, False))
            except Exception as exc:  # e.g. arguments that cannot be sent to a worker
                self._failed(node, attempt, exc)
                return
        if task.timeout is not None:
            self._timers[node] = loop.call_later(task.timeout, self._on_timeout, node, attempt)

    def _settled(self, node: Node, attempt: int, running: asyncio.Task[Any]) -> None:
        """Done callback of a node's Task that suspended: take its outcome, carry on."""
        try:
            result = running.result()
        except BaseException as exc:  # raised, or cancelled (ignored if by the run)
            self._failed(node, attempt, exc)
        else:
            self._succeeded(node, attempt, result)
        self._pump()

    def _post(self, item: tuple[Node, int, Any, BaseException | ErrorInfo | None, bool]) -> None:
        # Any thread (the executor's). Wakes the loop once for any number of queued outcomes:
        # _drain clears the flag before it reads the inbox, so an item appended
        # after its last read always sees the flag clear and wakes it again.
        self._inbox.append(item)
        if not self._wake_pending:
            self._wake_pending = True
            loop = self.loop
            assert loop is not None
            # RuntimeError: the run has ended (a timed-out thread came back late).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._wake_pending = False
        inbox = self._inbox
        while inbox:
            node, attempt, result, error, agg = inbox.popleft()
            if agg:
                self._aggregated(node, result, error)
            elif error is None:
                self._succeeded(node, attempt, result)
            else:
                self._failed(node, attempt, error)
        self._pump()

    # -- crossing threads ----------------------------------------------------
    def on_loop(self) -> bool:
        return threading.get_ident() == self._ident

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the run's thread and return its result.

        Runs it directly once the loop has stopped taking calls (the run has
        ended, nothing mutates the state any more) or when already on the
        loop thread.
        """
        if self.on_loop():
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        with self._lock:
            queued = self._accepting
            if queued:
                assert self.loop is not None
                self.loop.call_soon_threadsafe(call)
        if not queued:  # outside the lock: fn may cross threads again (watch subscribes)
            call()
        return future.result()

    def command(self, fn: Callable[[float], None]) -> None:
        def apply() -> None:
            before = self.state.status
            fn(time.monotonic())
            self._pump()
            if self.recorder is not None and self.state.status is not before:
                self.recorder.flush()  # a change of the run's own status is saved at once

        if self.on_loop():
            assert self.loop is not None
            self.loop.call_soon(apply)
        elif self._accepting:
            self.call(apply)

    def subscribe(self, callback: Subscriber) -> None:
        """On the loop: call ``callback`` for every event from now on."""
        self.subscribers = (*self.subscribers, callback)
        self.state.record = True
        if self.recorder is not None and self.state.dirty and self.loop is not None:
            self.recorder.changed(self.loop)  # watched now: save sooner

    def unsubscribe(self, callback: Subscriber) -> None:
        self.subscribers = tuple(s for s in self.subscribers if s is not callback)
        self.state.record = bool(self.subscribers)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the run has ended and its thread is gone; ``TimeoutError`` on timeout."""
        if self.on_loop():
            raise RuntimeError("wait() from inside the run would wait for itself forever")
        self.ended.result(timeout)
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()

    def cancel(self) -> None:
        self.command(self.state.cancel)

    def local(self, values: list[Any]) -> list[Any]:
        """``values`` as the caller can use them: results kept remotely are fetched."""
        return self.session.fetch(values) if self._remote else values
