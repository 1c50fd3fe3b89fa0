"""Outcomes of attempts, for :class:`~taskbeam.engine._driver.Driver` (a mixin, on
the run's loop): a result taken (its previews made off the loop when they need
user code), an expansion checked and applied, a failure and its retry after the
backoff, a timeout, an abort, and the aggregation of an expanded node.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskbeam._errors import DepthError, GraphError, NodeTimeout
from taskbeam.engine._capture import current_output
from taskbeam.engine._executor import Call, RemoteResult, Session
from taskbeam.engine._failure import error_info
from taskbeam.engine._meters import Meters
from taskbeam.engine._node import ErrorInfo, Node, short_id
from taskbeam.engine._preview import (
    CHEAP_TYPES,
    Previewed,
    needs_previews,
    preview_then,
    safe_preview,
)
from taskbeam.engine._questions import current_asker
from taskbeam.engine._state import RunState
from taskbeam.engine._status import Status
from taskbeam.engine._waiting import Waiting
from taskbeam.graph import Expansion

RUNNING = Status.RUNNING  # a module constant: looking a member up on its enum class is slow


class Outcomes:
    """What the driver does when an attempt of a node ends, however it ends."""

    state: RunState
    loop: asyncio.AbstractEventLoop | None
    session: Session
    waiting: Waiting
    meters: Meters
    _remote: bool
    _seed: int | None
    _rng: random.Random | None
    _tasks: dict[Node, asyncio.Task[None]]
    _timers: dict[Node, asyncio.TimerHandle]
    _aborted: set[asyncio.Task[None]]
    _later: Callable[..., None] | None

    if TYPE_CHECKING:

        def _post(
            self, item: tuple[Node, int, Any, BaseException | ErrorInfo | None, bool]
        ) -> None: ...

        def _pump(self) -> None: ...

        def _expanded(self) -> None: ...

        def _digest_now(self, node: Node, result: Any) -> None: ...

    def _current(self, node: Node, attempt: int) -> bool:
        if node.status is not RUNNING or node.attempt != attempt:
            if node.status is not Status.WAITING or node.attempt != attempt:
                return False  # a late outcome of a timed-out or cancelled attempt
            self.waiting.woke(node)  # it ended without waiting for its question
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
            if self._later is not None:  # the store's cache: before any dependant runs
                self._digest_now(node, result)
        self.state.succeed(node, result, time.monotonic())

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
        delay = self.state.fail(node, info, time.monotonic(), self._rng.random())
        if delay is not None:
            assert self.loop is not None
            self.loop.call_later(delay, self._retry, node)

    def _retry(self, node: Node) -> None:
        self.state.retry(node, time.monotonic())
        self._pump()

    def _on_timeout(self, node: Node, attempt: int) -> None:
        self._timers.pop(node, None)
        if node.status is not RUNNING or node.attempt != attempt:
            return
        self._stop_attempt(node)
        exc = NodeTimeout(f"task {short_id(node.id)!r} timed out after {node.task.timeout:g} s")
        self._fail(node, error_info(exc))
        self._pump()

    def _abort(self, node: Node) -> None:
        self.waiting.withdraw(node)
        self._stop_attempt(node)
        timer = self._timers.pop(node, None)
        if timer is not None:
            timer.cancel()

    def _stop_attempt(self, node: Node) -> None:
        """Cancel the node's asyncio Task, or ask its executor to give up a sync call."""
        task = self._tasks.pop(node, None)
        if task is not None:
            task.cancel()
            self._aborted.add(task)
            task.add_done_callback(self._aborted.discard)
        else:
            self.session.cancel(node)

    def _expand(self, node: Node, expansion: Expansion) -> None:
        st = self.state
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
        children = st.expand(node, expansion.graph, expansion.aggregate, now)
        node.expansion = expansion
        self._expanded()  # a run that looked nothing up looks these up
        meters = self.meters
        if meters.seeds:  # children (and restored grandchildren) get their stored metrics
            meters.seed_under(node, children)
        if expansion.budgets:
            meters.add_budgets(node, expansion.budgets)

    def _launch_aggregate(self, node: Node) -> None:
        fn = node.aggregate
        assert fn is not None
        results = self.state.child_results(node)
        if inspect.iscoroutinefunction(fn):
            assert self.loop is not None
            if self._remote and RemoteResult in map(type, results.values()):
                fn = functools.partial(_fetched_first, self.session, fn)
            self._tasks[node] = self.loop.create_task(self._run_aggregate(node, fn, results))
        else:
            try:
                self.session.submit(Call(node, node.attempt, fn, (results,), {}, True))
            except Exception as exc:
                self._aggregated(node, None, exc)

    async def _run_aggregate(
        self, node: Node, fn: Callable[..., Any], results: dict[str, Any]
    ) -> None:
        token = current_output.set(node)
        asking = current_asker.set(None)  # an aggregator cannot ask (see tb.ask)
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
            current_asker.reset(asking)
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
            if self._later is not None:  # the store's cache: before any dependant runs
                self._digest_now(node, result)
            self.state.succeed(node, result, time.monotonic())
        else:
            info = error if isinstance(error, ErrorInfo) else error_info(error)
            self.state.fail(node, info, time.monotonic())


async def _fetched_first(session: Session, fn: Callable[..., Any], results: dict[str, Any]) -> Any:
    """An async aggregator's call once the remote results it takes are here."""
    return await session.localized(fn, (results,), {})
