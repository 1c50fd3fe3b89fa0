"""A run: one graph executing in its own thread, on its own event loop.

Threading rules
---------------
* The run's thread owns its event loop and its :class:`RunState`. Nothing
  else mutates that state: other threads reach it through
  ``loop.call_soon_threadsafe`` (see :meth:`Run._call`), and worker threads
  of sync tasks report results through an inbox (see :meth:`Run._post`).
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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.thread  # its exit hook must be registered before ours (see end)
import contextlib
import functools
import inspect
import logging
import os
import random
import re
import secrets
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from types import CoroutineType
from typing import TYPE_CHECKING, Any, TypeVar

from taskbeam._errors import DepthError, GraphError, NodeTimeout
from taskbeam.engine._capture import OUTPUT_LIMIT, current_output, install
from taskbeam.engine._executor import (
    Call,
    Executor,
    LocalExecutor,
    LoopThreads,
    RemoteResult,
    Session,
    abandoned,
    fetch_all,
)
from taskbeam.engine._failure import error_info
from taskbeam.engine._fingerprint import fingerprints
from taskbeam.engine._loop import eager_task, import_nest_asyncio2, new_loop
from taskbeam.engine._persist import Recorder, SavePolicy
from taskbeam.engine._preview import (
    CHEAP_TYPES,
    DETAIL_CHARS,
    Previewed,
    needs_previews,
    preview,
    preview_then,
    safe_preview,
)
from taskbeam.engine._questions import Question, current_asker
from taskbeam.engine._state import ErrorInfo, Node, RunState, short_id
from taskbeam.engine._status import TERMINAL, Event, RunStatus, Status
from taskbeam.engine._waiting import Waiting
from taskbeam.graph import Expansion, Graph

if TYPE_CHECKING:
    from taskbeam.store._base import Store
    from taskbeam.widget import GraphView

__all__ = ["Run", "resume", "start"]

log = logging.getLogger("taskbeam")

T = TypeVar("T")
Subscriber = Callable[[Event], None]
_LIVE: weakref.WeakSet[Run] = weakref.WeakSet()
RUNNING = Status.RUNNING  # a module constant: looking a member up on its enum class is slow


_BY_ID: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()


def live_run(run_id: str) -> Run:
    """The run with this id, while any code in this process still holds it."""
    run = _BY_ID.get(run_id)
    if run is not None:
        return run
    raise KeyError(
        f"no run {run_id!r} in this process; pass the Run or its ExecutionService instead"
    )


def _new_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "run"
    return f"{slug}-{secrets.token_hex(4)}"


async def _coroutine(awaitable: Awaitable[T]) -> T:
    """A coroutine awaiting ``awaitable``: an asyncio Task runs coroutines only."""
    return await awaitable


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
        *,
        max_concurrency: int | None = None,
        limits: Mapping[str, int] | None = None,
        on_error: str = "continue",
        max_depth: int = 8,
        nested_loops: bool = False,
        run_id: str | None = None,
        sync_workers: int | None = None,
        output_limit: int = OUTPUT_LIMIT,
        seed: int | None = None,
        store: Store | None = None,
        save_policy: SavePolicy | None = None,
        project: str | None = None,
        executor: Executor | None = None,
        restore: Mapping[str, tuple[str | None, Any]] | None = None,
        restore_tree: Mapping[str, list[list[Any]]] | None = None,
        answers: Mapping[str, tuple[Any, str]] | None = None,
    ) -> None:
        if not isinstance(graph, Graph):
            raise TypeError(f"start() takes a taskbeam.Graph, not {type(graph).__name__}")
        graph.validate()
        if executor is None:
            executor = LocalExecutor(sync_workers)
        elif sync_workers is not None:
            raise ValueError("pass sync_workers or executor, not both")
        elif not isinstance(executor, Executor):
            raise TypeError(
                "executor must be a taskbeam executor (LocalExecutor, ProcessExecutor, "
                f"DaskExecutor), not {type(executor).__name__}"
            )
        if max_concurrency is None:
            max_concurrency = executor.default_concurrency()
        self._state = RunState(
            graph,
            max_concurrency=max_concurrency,
            limits=limits,
            on_error=on_error,
            max_depth=max_depth,
            output_limit=output_limit,
            fingerprint=fingerprints if store is not None else None,
            restore=restore,
            restore_tree=restore_tree,
        )
        self.graph = graph
        self.id = run_id or _new_id(graph.name)
        self.name = graph.name
        self.created = time.time()
        self.options: dict[str, Any] = {
            "max_concurrency": max_concurrency,
            "limits": dict(limits or {}),
            "on_error": on_error,
            "max_depth": max_depth,
        }
        self._nested = nested_loops
        if nested_loops:
            import_nest_asyncio2()  # fail here, in the caller's thread, if it is missing
        self.executor = executor
        self._remote = executor.remote
        # Holds nothing until the first sync task, so opening it here is free.
        self._session: Session = executor.open(self.id, self._post, self._state.max_concurrency)
        # Questions (see engine/_questions.py): answers stored before a crash come back by key.
        self._waiting = Waiting(self, dict(answers or {}), durable=store is not None)
        self._asker = self._waiting.questions
        self._state.question_fields = self._waiting.fields
        if hasattr(self._session, "asker"):  # threads of this run may ask_sync
            self._session.asker = self._asker
        if not isinstance(executor, LocalExecutor):
            self.options["executor"] = repr(executor)
        self._seed = seed
        self._rng: random.Random | None = None  # made at the first retry: seeding costs
        self.project = project
        if project is not None:
            self.options["project"] = project
        self._recorder: Recorder | None = None
        if store is not None:
            self._recorder = Recorder(
                self._state,
                graph,
                store,
                save_policy or SavePolicy(),
                run_id=self.id,
                name=self.name,
                options=self.options,
                created=self.created,
                resumed=restore is not None,
                watched=lambda: bool(self._subscribers),
            )
        self._subscribers: tuple[Subscriber, ...] = ()
        self._view: GraphView | None = None
        self._done: concurrent.futures.Future[Run] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
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
        self._t0 = 0.0
        self._crash: BaseException | None = None  # see _loop_error
        # (role, id(callback), exception type) -> [callback, count]; see _callback_raised.
        self._raised: dict[tuple[str, int, type[BaseException]], list[Any]] = {}

    # -- life cycle ----------------------------------------------------------
    def _begin(self) -> Run:
        install()
        if self._recorder is not None:  # stored before any node starts; raises StoreError
            keep = None
            if self._resumed:
                # Rows of nodes that run again are dropped; stored children are
                # kept until their parent expands again and may reuse them.
                keep = [n.id for n in self._state.restored]
                keep += [i for i in self._state.restore if "/" in i]
            self._recorder.create(keep)
        # The loop is made here and only run by the run's thread, so calls
        # from this thread may queue on it as soon as this returns, without
        # waiting for the new thread to get going.
        loop = self._loop = new_loop(self._nested)
        self._asker.loop = loop
        if self._recorder is not None:
            self._recorder.loop = loop
        # asyncio.to_thread from a task: daemon threads, never waited for at the end.
        threads = min(32, (os.cpu_count() or 1) + 4)  # as asyncio's own default
        loop.set_default_executor(LoopThreads(threads, f"taskbeam-{self.id}-to_thread"))
        self._thread = threading.Thread(
            target=self._thread_main, args=(loop,), name=f"taskbeam-run-{self.id}", daemon=True
        )
        self._accepting = True
        _LIVE.add(self)
        _BY_ID[self.id] = self
        try:
            self._thread.start()
        except BaseException:
            if self._thread.ident is not None:
                # Interrupted (Ctrl-C) while waiting for a thread that did
                # start: the run exists and runs, so it is cancelled, not torn down.
                self.cancel()
                raise
            self._accepting = False
            _LIVE.discard(self)
            loop.close()
            raise
        return self

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
                self._state.cancel(time.monotonic())
                self._state.events.clear()
            self._done.set_exception(exc)
        finally:
            with self._lock:
                self._accepting = False
            self._report_callback_errors()
            loop.run_until_complete(_close(loop))
            loop.close()
            asyncio.set_event_loop(None)
            # Thread ids are reused once a thread ends: a later thread with
            # this id must not be taken for the run's own (see _on_loop).
            self._ident = None
            self._session.close()
            _LIVE.discard(self)
            if not self._done.done():
                self._done.set_result(self)

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
            self._state.cancel(time.monotonic())
        self._state.events.clear()
        if self._finished is not None:
            self._finished.set()

    def _report_callback_errors(self) -> None:
        for (role, _, kind), (callback, count) in self._raised.items():
            if count > 1:
                log.warning(
                    "%s %s of run %s raised %s %d times in all",
                    role,
                    _describe(callback),
                    self.id,
                    kind.__qualname__,
                    count,
                )

    def _raised_by_node(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the outcome of a node's Task (a suspended one, so tracked)."""
        return any(
            t.done() and not t.cancelled() and t.exception() is exc for t in self._tasks.values()
        )

    async def _main(self) -> None:
        self._finished = asyncio.Event()
        self._t0 = now = time.monotonic()
        if self._recorder is not None:
            self._recorder.t0 = now
        self._state.start(now)
        # Pumped from a plain callback rather than from this Task, so each
        # task started eagerly need not step out of this one and back.
        asyncio.get_running_loop().call_soon(self._pump)
        await self._finished.wait()
        if self._recorder is not None:
            await self._recorder.final()
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
        st = self._state
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
                batch = st.schedule(time.monotonic())
                if st.to_resume:
                    resumed, st.to_resume = st.to_resume, []
                    for node in resumed:
                        self._waiting.resumed(node)
                elif not batch:
                    break
                for node in batch:
                    self._launch(node)
            if st.events:
                self._deliver()
            if st.dirty and self._recorder is not None:
                assert self._loop is not None
                self._recorder.changed(self._loop)
        finally:
            self._pumping = False
        if st.open == 0 and self._finished is not None:
            self._finished.set()

    def _deliver(self) -> None:
        st = self._state
        events, st.events = st.events, []
        subscribers = self._subscribers
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
                    self._callback_raised("subscriber", sub, exc)

    def _callback_raised(self, role: str, callback: object, exc: BaseException) -> None:
        """Contain an exception from user code the run calls (a subscriber): log it once.

        The first exception of each kind from each callback is logged with
        its traceback; the rest are only counted (:attr:`callback_errors`),
        so a subscriber that raises on every event neither floods the log
        nor slows the run down.
        """
        key = (role, id(callback), type(exc))
        seen = self._raised.get(key)
        if seen is not None:
            seen[1] += 1
            return
        self._raised[key] = [callback, 1]
        log.error(
            "%s %s of run %s raised %s; the run goes on (it is logged once, then counted)",
            role,
            _describe(callback),
            self.id,
            type(exc).__qualname__,
            exc_info=exc,
        )

    @property
    def callback_errors(self) -> list[dict[str, Any]]:
        """Exceptions contained from user callbacks: ``{role, callback, type, count}`` each."""
        return [
            {"role": role, "callback": _describe(cb), "type": kind.__qualname__, "count": n}
            for (role, _, kind), (cb, n) in list(self._raised.items())
        ]

    def _launch(self, node: Node) -> None:
        task = node.task
        kwargs = dict(task.kwargs) if task.kwargs else {}
        if task.deps:
            group = node.group
            for arg, i in zip(task.args, node.up):  # noqa: B905 - equal by construction
                kwargs[arg] = group[i].result
        loop = self._loop
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
                asking = current_asker.set(self._asker)
                try:
                    if self._remote and RemoteResult in map(type, kwargs.values()):
                        coro = _localized(task.fn, (), kwargs)
                    else:
                        coro = task.fn(**kwargs)
                        if type(coro) is not CoroutineType:
                            coro = _coroutine(coro)
                    running = eager_task(loop, coro)
                finally:
                    current_asker.reset(asking)
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
                    if type(result) in CHEAP_TYPES:  # the common case: None, a number, a str
                        self._state.succeed(node, result, time.monotonic())
                    else:
                        self._took(node, attempt, result)
                return
            self._tasks[node] = running
            running.add_done_callback(functools.partial(self._settled, node, attempt))
        else:
            try:
                self._session.submit(Call(node, attempt, task.fn, (), kwargs, False))
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
            loop = self._loop
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

    def _current(self, node: Node, attempt: int) -> bool:
        if node.status is not RUNNING or node.attempt != attempt:
            if node.status is not Status.WAITING or node.attempt != attempt:
                return False  # a late outcome of a timed-out or cancelled attempt
            self._waiting.woke(node)  # it ended without waiting for its question
        if self._tasks:
            self._tasks.pop(node, None)
        timer = self._timers.pop(node, None) if self._timers else None
        if timer is not None:
            timer.cancel()
        return True

    def _succeeded(self, node: Node, attempt: int, result: Any) -> None:
        if self._current(node, attempt):
            self._took(node, attempt, result)

    def _took(self, node: Node, attempt: int, result: Any) -> None:
        """The current attempt of ``node`` returned ``result``: expand, or be done."""
        cls = type(result)
        if cls not in CHEAP_TYPES:
            if cls is Previewed:
                node.preview, node.detail, result = result.preview, result.detail, result.value
            elif isinstance(result, Expansion):
                self._expand(node, result)
                return
            elif needs_previews(result) and self._preview_later(node, attempt, result, False):
                return
        self._state.succeed(node, result, time.monotonic())

    def _preview_later(self, node: Node, attempt: int, result: Any, agg: bool) -> bool:
        """Make the previews of a result that came back on the loop, if they need user code.

        A ``__repr__`` may be slow, huge or hang: it runs on a thread of its
        own (at most ``REPR_SECONDS``), never here, where the broadcaster and
        every other caller wait. The node keeps its state meanwhile; the
        result comes back through the inbox with its previews. Returns
        whether it went there (``False``: the previews need no user code
        and are made, cheaply, when asked for).
        """
        short = safe_preview(result)
        if short is not None:
            node.preview = short
            return False
        post = self._post
        preview_then(result, lambda made: post((node, attempt, made, None, agg)))
        return True

    def _failed(self, node: Node, attempt: int, error: BaseException | ErrorInfo) -> None:
        if self._current(node, attempt):
            self._fail(node, error if isinstance(error, ErrorInfo) else error_info(error))

    def _fail(self, node: Node, info: ErrorInfo) -> None:
        if self._rng is None:
            self._rng = random.Random(self._seed)
        delay = self._state.fail(node, info, time.monotonic(), self._rng.random())
        if delay is not None:
            assert self._loop is not None
            self._loop.call_later(delay, self._retry, node)

    def _retry(self, node: Node) -> None:
        self._state.retry(node, time.monotonic())
        self._pump()

    def _on_timeout(self, node: Node, attempt: int) -> None:
        self._timers.pop(node, None)
        if node.status is not RUNNING or node.attempt != attempt:
            return
        task = self._tasks.pop(node, None)
        if task is not None:
            task.cancel()
            self._aborted.add(task)
            task.add_done_callback(self._aborted.discard)
        else:
            self._session.cancel(node)
        exc = NodeTimeout(f"task {short_id(node.id)!r} timed out after {node.task.timeout:g} s")
        self._fail(node, error_info(exc))
        self._pump()

    def _abort(self, node: Node) -> None:
        self._waiting.withdraw(node)
        task = self._tasks.pop(node, None)
        if task is not None:
            task.cancel()
            self._aborted.add(task)
            task.add_done_callback(self._aborted.discard)
        else:
            self._session.cancel(node)
        timer = self._timers.pop(node, None)
        if timer is not None:
            timer.cancel()

    def _expand(self, node: Node, expansion: Expansion) -> None:
        st = self._state
        now = time.monotonic()
        if not st.can_expand(node):
            msg = f"task {short_id(node.id)!r} expanded beyond max_depth={st.max_depth}"
            self._fail(node, error_info(DepthError(msg)))
            return
        try:
            expansion.graph.validate()
        except GraphError as exc:
            self._fail(node, error_info(exc))
            return
        st.expand(node, expansion.graph, expansion.aggregate, now)

    def _launch_aggregate(self, node: Node) -> None:
        fn = node.aggregate
        assert fn is not None
        results = self._state.child_results(node)
        if inspect.iscoroutinefunction(fn):
            assert self._loop is not None
            if self._remote and RemoteResult in map(type, results.values()):
                fn = functools.partial(_localized_results, fn)  # fetched first
            self._tasks[node] = self._loop.create_task(self._run_aggregate(node, fn, results))
        else:
            try:
                self._session.submit(Call(node, node.attempt, fn, (results,), {}, True))
            except Exception as exc:
                self._aggregated(node, None, exc)

    async def _run_aggregate(
        self, node: Node, fn: Callable[..., Any], results: dict[str, Any]
    ) -> None:
        token = current_output.set(node)
        try:
            result = await fn(results)
        except asyncio.CancelledError as exc:
            if node.status is not Status.AGGREGATING:
                return  # cancelled by the run
            outcome: tuple[Any, BaseException | None] = (None, exc)  # raised by the aggregator
        except BaseException as exc:
            outcome = (None, exc)
        else:
            outcome = (result, None)
        finally:
            current_output.reset(token)  # what the pump calls is not the aggregate's output
        self._tasks.pop(node, None)
        self._aggregated(node, *outcome)
        self._pump()

    def _aggregated(self, node: Node, result: Any, error: BaseException | ErrorInfo | None) -> None:
        if node.status is not Status.AGGREGATING:
            return  # cancelled while aggregating
        if error is None and isinstance(result, Expansion):
            error = TypeError(
                f"the aggregator of {node.id!r} returned expand(); expand from a child task instead"
            )
        if error is None:
            if type(result) is Previewed:
                node.preview, node.detail, result = result.preview, result.detail, result.value
            elif needs_previews(result) and self._preview_later(node, node.attempt, result, True):
                return
            self._state.succeed(node, result, time.monotonic())
        else:
            info = error if isinstance(error, ErrorInfo) else error_info(error)
            self._state.fail(node, info, time.monotonic())

    # -- crossing threads ----------------------------------------------------
    def _on_loop(self) -> bool:
        return threading.get_ident() == self._ident

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the run's thread and return its result.

        Runs it directly once the loop has stopped taking calls (the run has
        ended, nothing mutates the state any more) or when already on the
        loop thread.
        """
        if self._on_loop():
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
                assert self._loop is not None
                self._loop.call_soon_threadsafe(call)
        if not queued:  # outside the lock: fn may cross threads again (watch subscribes)
            call()
        return future.result()

    def _command(self, fn: Callable[[float], None]) -> None:
        def apply() -> None:
            before = self._state.status
            fn(time.monotonic())
            self._pump()
            if self._recorder is not None and self._state.status is not before:
                self._recorder.flush()  # a change of the run's own status is saved at once

        if self._on_loop():
            assert self._loop is not None
            self._loop.call_soon(apply)
        elif self._accepting:
            self._call(apply)

    # -- public API ----------------------------------------------------------
    @property
    def status(self) -> RunStatus:
        """``running``, ``paused``, ``done``, ``failed`` or ``cancelled``."""
        return self._state.status

    @property
    def done(self) -> bool:
        """True once the run has ended and its thread and loop are gone."""
        return self._done.done()

    @property
    def counts(self) -> dict[str, int]:
        """Nodes per status (a copy; safe from any thread)."""
        return {s.value: n for s, n in self._state.counts.copy().items()}

    def pause(self) -> None:
        """Start no new node until :meth:`resume`; running nodes finish."""
        self._command(self._state.pause)

    def resume(self) -> None:
        self._command(self._state.resume)

    def cancel(self) -> None:
        """Cancel running async tasks; every open node ends ``cancelled``."""
        self._command(self._state.cancel)

    def cancel_node(self, node_id: str) -> None:
        """Cancel one node (and its children); what depends on it is skipped."""
        node = self._node(node_id)
        self._command(lambda now: self._state.cancel_node(node, now))

    def wait(self, timeout: float | None = None) -> Run:
        """Block until the run ends; return the run. Raise ``TimeoutError`` on timeout."""
        if self._on_loop():
            raise RuntimeError("wait() from inside the run would wait for itself forever")
        self._done.result(timeout)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        return self

    def __await__(self) -> Generator[Any, None, Run]:
        if self._on_loop():
            raise RuntimeError("a run cannot be awaited from its own loop")
        yield from asyncio.wrap_future(self._done).__await__()
        return self

    @property
    def results(self) -> dict[str, Any]:
        """Results of the nodes that are done, by node id.

        With a :class:`~taskbeam.DaskExecutor` the values are fetched from
        the cluster (one gather), which may take a while for large data.
        """
        done = self._call(
            lambda: {n.id: n.result for n in self._state.nodes.values() if n.status is Status.DONE}
        )
        if self._remote:
            done = dict(zip(done, fetch_all(done.values()), strict=True))
        return done

    def result(self, node_id: str) -> Any:
        """The result of one done node; ``KeyError`` if unknown, ``LookupError`` if not done."""
        node = self._node(node_id)
        status = node.status
        if status is not Status.DONE:
            detail = f": {node.error.type}: {node.error.message}" if node.error else ""
            raise LookupError(f"node {node_id!r} has no result, it is {status.value}{detail}")
        result = node.result
        if type(result) is RemoteResult:
            return result.fetch()
        return result

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready picture of the run: ``run``, ``nodes`` by id, ``edges``."""
        return self._call(self._snapshot)

    def _snapshot(self) -> dict[str, Any]:
        snap = self._state.snapshot(self.id, self._t0, self.created)
        if self.store_error:
            snap["run"]["error"] = self.store_error
        return snap

    def _run_fields(self) -> dict[str, Any]:
        run = self._state.run_fields(self.id, self._t0, self.created)
        if self.store_error:
            run["error"] = self.store_error
        return run

    def watch(self, callback: Subscriber) -> tuple[dict[str, Any], Callable[[], None]]:
        """Subscribe and take a snapshot in one step, so no change falls between them.

        Returns the snapshot and the function that unsubscribes. Viewers use
        it: the snapshot, then every event after it.
        """
        unsubscribe: list[Callable[[], None]] = []

        def both() -> dict[str, Any]:
            unsubscribe.append(self.subscribe(callback))
            return self._snapshot()

        snap = self._call(both)
        return snap, unsubscribe[0]

    def summaries(
        self, node_ids: Iterable[str], edges: bool = False
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[list[str]] | None]:
        """The run's fields and the summaries of ``node_ids`` now (and the edges, if asked).

        What a viewer needs to bring its copy of the snapshot up to date
        after those nodes changed; costs O(len(node_ids)) on the run's thread.
        """

        def read() -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[list[str]] | None]:
            st, t0 = self._state, self._t0
            nodes = {i: st.node_summary(st.nodes[i], t0) for i in node_ids if i in st.nodes}
            return self._run_fields(), nodes, st.edges() if edges else None

        return self._call(read)

    @property
    def store_error(self) -> str | None:
        """Why the run could not be saved (and where its backup went), if it could not."""
        return None if self._recorder is None else self._recorder.error

    @property
    def store(self) -> Store | None:
        return None if self._recorder is None else self._recorder.store

    def details(self, node_id: str) -> dict[str, Any]:
        """Everything known about one node: its summary, traceback, captured output."""
        node = self._node(node_id)

        def read() -> dict[str, Any]:
            out = self._state.node_summary(node, self._t0)
            out["id"] = node.id
            out["deps"] = [d for d in node.task.deps]
            if node.status is Status.DONE:
                detail = node.detail
                out["result"] = preview(node.result, DETAIL_CHARS) if detail is None else detail
            if node.error is not None and node.status in (Status.FAILED, Status.RETRYING):
                out["error"]["traceback"] = node.error.traceback
            if node.output is not None:
                text = node.output.getvalue()
                if text:
                    out["output"] = text
            if node.children:
                out["children"] = [c.id for c in node.children]
            asked = self._asker.of(node)
            if asked:
                out["questions"] = [q.to_dict() for q in asked]
            return out

        return self._call(read)

    def questions(self) -> list[Question]:
        """The open questions of the run, in the order they were asked."""
        return self._call(self._asker.all_open)

    def answer(self, question_id: str, value: Any) -> None:
        """Answer an open question, from any thread.

        The value is validated against the question (choices, schema, or
        text): :class:`~taskbeam.AnswerError` says what is wrong and the
        question stays open. An unknown, already answered or withdrawn id
        raises :class:`~taskbeam.AnswerError` too. The answer is stored
        before the task sees it.
        """
        self._waiting.answer(question_id, value)

    def question_events(self, after: int | None) -> tuple[int, list[dict[str, Any]]]:
        """``question`` / ``answered`` events for viewers: ``(count, those after ``after``)``."""
        return self._waiting.events(after)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every state change from now on.

        Called on the run's thread, in order. Returns a function that
        unsubscribes.
        """
        if not callable(callback):
            raise TypeError("subscribe() needs a callable")

        def add() -> None:
            self._subscribers = (*self._subscribers, callback)
            self._state.record = True
            if self._recorder is not None and self._state.dirty and self._loop is not None:
                self._recorder.changed(self._loop)  # watched now: save sooner

        def remove() -> None:
            self._subscribers = tuple(s for s in self._subscribers if s is not callback)
            self._state.record = bool(self._subscribers)

        self._call(add)
        return lambda: self._call(remove)

    def _node(self, node_id: str) -> Node:
        try:
            return self._state.nodes[node_id]
        except KeyError:
            raise KeyError(f"run {self.id} has no node {node_id!r}") from None

    def view(self, *, height: int = 0, **options: Any) -> GraphView:
        """A new live view of this run for Jupyter (see :class:`taskbeam.GraphView`).

        ``height`` in pixels; 0 (the default) fits the graph, up to a limit.
        """
        from taskbeam.widget import GraphView

        return GraphView(self, height=height, **options)

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
        # date when the run ends (see taskbeam.widget.display_run).
        from taskbeam.widget._view import display_run

        display_run(self, self._done)

    def __repr__(self) -> str:
        c = self._state.counts
        finished = sum(c.get(s, 0) for s in TERMINAL)
        total = len(self._state.nodes)
        return f"<Run {self.id} {self.name!r} {self.status.value}: {finished}/{total} finished>"


def _describe(callback: object) -> str:
    """A short, safe name for a user callback (its ``repr`` may be long or raise)."""
    name = getattr(callback, "__qualname__", None)
    if not isinstance(name, str):
        name = type(callback).__qualname__
    return name[:200]


async def _localized(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Await ``fn(*args, **kwargs)`` once the remote results among them are fetched.

    An async task runs in the kernel: a result kept on a cluster must come
    here first. The fetch runs in a thread, so the loop goes on meanwhile.
    """

    def fetch() -> tuple[tuple[Any, ...], dict[str, Any]]:
        local = tuple(
            dict(zip(a, fetch_all(a.values()), strict=True)) if type(a) is dict else a
            for a in fetch_all(args)
        )
        return local, dict(zip(kwargs, fetch_all(kwargs.values()), strict=True))

    args, kwargs = await asyncio.to_thread(fetch)
    return await fn(*args, **kwargs)


async def _localized_results(fn: Callable[..., Any], results: dict[str, Any]) -> Any:
    return await _localized(fn, (results,), {})


async def _close(loop: asyncio.AbstractEventLoop) -> None:
    await asyncio.sleep(0)  # run the handles queued before the door closed (see Run._call)
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


def start(
    graph: Graph,
    *,
    max_concurrency: int | None = None,
    limits: Mapping[str, int] | None = None,
    on_error: str = "continue",
    max_depth: int = 8,
    nested_loops: bool = False,
    run_id: str | None = None,
    sync_workers: int | None = None,
    output_limit: int = OUTPUT_LIMIT,
    seed: int | None = None,
    store: Store | None = None,
    save_policy: SavePolicy | None = None,
    project: str | None = None,
    executor: Executor | None = None,
) -> Run:
    """Validate ``graph`` and start running it in a background thread; return at once.

    Parameters
    ----------
    graph : Graph
    max_concurrency : int, optional
        Most nodes running at once (expanded parents do not count). Default
        8, or what the executor suggests (``ProcessExecutor``: twice its
        workers; ``DaskExecutor``: twice the cluster's threads).
    limits : mapping of tag to int
        Most running nodes with that tag at once, e.g. ``{"llm": 2}``.
    on_error : {"continue", "fail_fast"}
        ``continue``: what depends on a failure is skipped, the rest runs.
        ``fail_fast``: the first failure cancels everything still open.
    max_depth : int
        Most levels of nested ``expand``.
    nested_loops : bool
        Apply ``nest-asyncio2`` to this run's private loop, so an async task
        may call a library that runs ``asyncio.run()`` itself.
    run_id : str, optional
    sync_workers : int, optional
        Threads for sync tasks; default ``min(max_concurrency, 32)``. Same as
        ``executor=LocalExecutor(sync_workers)``.
    output_limit : int
        Characters of printed output kept per node (the last ones).
    seed : int, optional
        Seeds the retry jitter, for reproducible runs.
    store : SQLiteStore, optional
        Persist the run there (see ``docs/persistence.md``); its creation is
        stored before this returns, so it can be resumed after a crash.
    save_policy : SavePolicy, optional
        How often changes are saved; default 0.5 s watched, 5 s unwatched.
    project : str, optional
        A name to find the run's latest run by (``ExecutionService.resume``).
    executor : Executor, optional
        Where sync tasks run: ``LocalExecutor()`` (default: threads of the
        run's own), ``ProcessExecutor(n)`` or ``DaskExecutor(client)`` (see
        ``docs/scale.md``). Async tasks always run on the run's loop.

    Returns
    -------
    Run
    """
    return Run(
        graph,
        max_concurrency=max_concurrency,
        limits=limits,
        on_error=on_error,
        max_depth=max_depth,
        nested_loops=nested_loops,
        run_id=run_id,
        sync_workers=sync_workers,
        output_limit=output_limit,
        seed=seed,
        store=store,
        save_policy=save_policy,
        project=project,
        executor=executor,
    )._begin()


def resume(
    run_id: str,
    graph: Graph,
    *,
    store: Store | None = None,
    **options: Any,
) -> Run:
    """Continue a stored run of ``graph``; return the new, running Run (same id).

    A node stored as done whose task is unchanged (same fingerprint) and
    whose dependencies are all reused is not run again: its stored result
    feeds its dependants. Every other node runs, so a node that was running
    at the crash runs again (at-least-once). The run's stored options apply
    unless ``options`` overrides them.

    Parameters
    ----------
    run_id : str
    graph : Graph
        The graph to continue; it may have changed since.
    store : SQLiteStore, optional
        Default: ``SQLiteStore()`` (``./.taskbeam/runs.db``).
    """
    from taskbeam.store import SQLiteStore

    store = store or SQLiteStore()
    saved = store.load_for_resume(run_id)
    stored = {k: v for k, v in saved["options"].items() if k in _RESUMABLE}
    restore = {nid: (fp, result) for nid, (_, fp, result) in saved["done"].items()}
    # Answers given before: a node that asks the same key again gets its answer at once.
    answers = {q["key"]: (q["answer"], q["by"]) for q in store.questions(run_id) if "answer" in q}
    return Run(
        graph,
        run_id=run_id,
        store=store,
        restore=restore,
        restore_tree=saved["structure"],
        answers=answers,
        **{**stored, **options},
    )._begin()


_RESUMABLE = ("max_concurrency", "limits", "on_error", "max_depth", "project")


def _shutdown_all() -> None:
    """At interpreter exit: cancel every live run, wait a little for each, name what is left.

    Threads still inside sync tasks that were given up are daemons: the
    interpreter exits without them, and each task left running is logged.
    """
    runs = list(_LIVE)
    for run in runs:
        run.cancel()
    deadline = time.monotonic() + 10
    for run in runs:
        try:
            run.wait(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            log.warning("run %s did not stop within 10 s of interpreter exit", run.id)
    for call in abandoned():
        log.warning(
            "task %r was still running at interpreter exit (its node was cancelled or "
            "timed out); its thread is left behind",
            short_id(call.node.id),
        )


# Hooks run in reverse order of registration: ours (registered after the thread
# pool module's, imported above) cancels runs before the pools stop taking work.
try:
    threading._register_atexit(_shutdown_all)  # type: ignore[attr-defined]
except (AttributeError, RuntimeError):  # pragma: no cover
    import atexit

    atexit.register(_shutdown_all)
