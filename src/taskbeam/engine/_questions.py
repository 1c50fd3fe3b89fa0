"""Questions inside a run: a task asks a person and waits for the answer.

The model (see ``docs/questions.md``)
-------------------------------------
A task calls ``await tb.ask(...)`` (async) or ``tb.ask_sync(...)`` (sync, on
the run's own threads). The question gets a ``key`` (by default
``"<node id>:<index>"``, the index counting asks within the current attempt)
and an ``id`` derived from the run id and the key, so a retry, or a re-run
after a crash that asks again in the same order, finds the same question.
One question per key per run: a key with an answer (given in this process,
or stored before a crash) is answered at once, without asking anyone.

While a node has an open question it is ``waiting`` and holds no slot. When
its last open question closes it queues for a slot again and takes the next
free one before any ready node; only then does its ask return (or raise), so
``max_concurrency`` is never exceeded by answered nodes.

Threading
---------
:class:`Questions` belongs to one run and is touched on the run's loop
thread only. ``ask`` runs there (async tasks) or is sent there from the
task's thread (``ask_sync``). ``run.answer`` from any thread reads the open
question on the loop, validates the value in its own thread, claims the
question on the loop, saves the answer, then delivers it on the loop.

What is pure, the :class:`Question` record, ids, and the validation of
questions and answers (the ``jsonschema`` library, Draft 2020-12), is in
:mod:`._question`; this module re-exports it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol

from taskbeam._errors import QuestionClosed, QuestionTimeout
from taskbeam.engine._capture import current_output
from taskbeam.engine._node import Node
from taskbeam.engine._question import MAX_DEPTH as MAX_DEPTH
from taskbeam.engine._question import MAX_ITEMS as MAX_ITEMS
from taskbeam.engine._question import NO_DEFAULT as NO_DEFAULT
from taskbeam.engine._question import Question as Question
from taskbeam.engine._question import check_answer as check_answer
from taskbeam.engine._question import check_json as check_json
from taskbeam.engine._question import make_question as make_question
from taskbeam.engine._question import question_id as question_id
from taskbeam.engine._status import Status

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "NO_DEFAULT",
    "Question",
    "Questions",
    "check_answer",
    "check_json",
    "current_asker",
    "make_question",
    "question_id",
]

log = logging.getLogger("taskbeam")
# Module constants: looking a member up on its enum class costs more than the check.
RUNNING, WAITING = Status.RUNNING, Status.WAITING

# -- the run's side ----------------------------------------------------------


class Host(Protocol):
    """What :class:`Questions` needs of its run (all called on the run's loop)."""

    def wait(self, node: Node) -> None:
        """``node`` has its first open question: it waits and gives up its slot."""

    def answered(self, node: Node) -> None:
        """``node``'s last open question closed: it queues for a slot again."""

    def touch(self, node: Node) -> None:
        """``node``'s open questions changed while it waits (its summary changed)."""

    def woke(self, node: Node) -> None:
        """``node``'s task went on without waiting for its questions: it runs at once."""

    def note(self, event: dict[str, Any]) -> None:
        """A ``question`` or ``answered`` event for the run's viewers."""

    def save_question(self, question: dict[str, Any]) -> None:
        """Store the question now (may be a no-op; called off the loop)."""

    def save_answer(self, key: str, value: Any, by: str, at: float) -> None:
        """Store the answer now (may be a no-op; called off the loop)."""


class _Open:
    """An open question: its record, its node, and the future its asks await."""

    __slots__ = ("claimed", "future", "node", "question", "timer")

    def __init__(self, question: Question, node: Any, future: asyncio.Future[Any]) -> None:
        self.question = question
        self.node: Node = node  # None for a question the run asks itself (open_for_run)
        self.future = future
        self.timer: asyncio.TimerHandle | None = None
        self.claimed = False  # an answer is on its way (being saved); nobody else may give one


class Questions:
    """The questions of one run. Loop thread only (see the module's docstring)."""

    def __init__(
        self,
        run_id: str,
        host: Host,
        answers: dict[str, tuple[Any, str]] | None = None,
    ) -> None:
        self.run_id = run_id
        self.host = host
        self.loop: asyncio.AbstractEventLoop | None = None
        self.open: dict[str, _Open] = {}  # by question id, in asked order
        self.by_node: dict[Node, list[str]] = {}
        self.answers: dict[str, tuple[Any, str]] = dict(answers or {})  # key -> (value, by)
        self.closed: dict[str, str] = {}  # question id -> "answered" | "withdrawn"
        # What a node's asks return once it has a slot again: (future, value, error).
        self.held: dict[Node, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        self._index: dict[Node, tuple[int, int]] = {}  # node -> (attempt, next index)
        self.durable = False  # the run has a store: questions are stored before they open
        # Questions the run asks itself (budgets): what to do with each answer, by id.
        self.callbacks: dict[str, Callable[[Any, str], None]] = {}
        self.meters: Any = None  # the run's metrics (engine/_meters.py), found by tb.metric

    # -- asking (loop) -------------------------------------------------------
    def next_key(self, node: Node) -> str:
        attempt, index = self._index.get(node, (node.attempt, 0))
        if attempt != node.attempt:
            index = 0
        self._index[node] = (node.attempt, index + 1)
        return f"{node.id}:{index}"

    async def ask(self, node: Node, prompt: Any, **options: Any) -> Any:
        """Ask on behalf of ``node`` (its Task, or a thread of it waiting on this)."""
        if node.status is not RUNNING and node.status is not WAITING:
            # A thread of an attempt given up (timed out, cancelled) that asks late.
            raise RuntimeError(f"node {node.id!r} is {node.status.value}: it cannot ask any more")
        key = options.pop("key", None)
        if key is None:
            key = self.next_key(node)
        elif not isinstance(key, str) or not key or len(key) > 1000:
            raise TypeError("key must be a non-empty str of at most 1,000 characters")
        question = make_question(self.run_id, node.id, key, prompt, now=time.time(), **options)
        stored = self.answers.get(key)
        if stored is not None:
            self.host.note(
                {"kind": "answered", "node_id": node.id, "question_id": question.id, "by": "stored"}
            )
            return stored[0]
        pending = self.open.get(question.id)
        if pending is None and self.durable:
            # Stored before anyone sees it: a question shown is a question kept.
            await self._stored(question)
            if node.status is not RUNNING and node.status is not WAITING:
                raise asyncio.CancelledError  # cancelled while it was being stored
            stored = self.answers.get(key)
            if stored is not None:  # answered meanwhile under the same key
                self.host.note(
                    {"kind": "answered", "node_id": node.id, "question_id": question.id,
                     "by": "stored"}
                )  # fmt: skip
                return stored[0]
            pending = self.open.get(question.id)  # or asked meanwhile: shared
        if pending is None:
            pending = self._open(question, node)
        try:
            return await asyncio.shield(pending.future)
        except asyncio.CancelledError:
            if self.open.get(question.id) is pending and not pending.claimed:
                # The task gave up its own ask (asyncio.wait_for, a cancel
                # scope) and goes on: the question is withdrawn and the node
                # runs again at once.
                self._close(pending, "withdrawn", "withdrawn")
                ids = self.by_node.get(node, [])
                if question.id in ids:
                    ids.remove(question.id)
                if not ids:
                    self.by_node.pop(node, None)
                    self.host.woke(node)
                else:
                    self.host.touch(node)
            raise

    def _open(self, question: Question, node: Node) -> _Open:
        loop = self.loop
        assert loop is not None
        pending = _Open(question, node, loop.create_future())
        self.open[question.id] = pending
        ids = self.by_node.setdefault(node, [])
        ids.append(question.id)
        if len(ids) == 1:
            self.host.wait(node)
        else:
            self.host.touch(node)
        self.host.note(
            {
                "kind": "question",
                "node_id": node.id,
                "question_id": question.id,
                "prompt": question.prompt,
            }
        )
        if question.deadline is not None:
            delay = max(0.0, question.deadline - time.time())
            pending.timer = loop.call_later(delay, self._expire, question.id)
        return pending

    async def _stored(self, question: Question) -> None:
        """Store ``question`` on a thread (the loop never waits on the disk); errors are logged."""
        loop = self.loop
        assert loop is not None
        try:
            await loop.run_in_executor(None, self.host.save_question, question.to_dict())
        except Exception as exc:
            log.warning("question %s could not be stored: %s", question.key, exc)

    def _save(self, fn: Callable[..., None], *args: Any) -> None:
        """Write through the store now, on a thread: the loop never waits on the disk."""
        loop = self.loop
        assert loop is not None
        future = loop.run_in_executor(None, fn, *args)
        future.add_done_callback(_log_failure)

    def _expire(self, question_id: str) -> None:
        pending = self.open.get(question_id)
        if pending is None or pending.claimed:
            return
        q = pending.question
        if q.default is not NO_DEFAULT:
            self.claim(question_id)
            self._save(self.host.save_answer, q.key, q.default, "default", time.time())
            self.deliver(question_id, q.default, "default")
            return
        timeout = (q.deadline or q.asked) - q.asked
        error = QuestionTimeout(f"question {q.key!r} had no answer after {timeout:g} s")
        self._close(pending, "withdrawn", "withdrawn")
        self._hold(pending.node, q.id, pending.future, None, error)

    def open_for_run(self, question: Question, on_answer: Callable[[Any, str], None]) -> None:
        """Open a question no task waits for (the run asks it: a budget was passed).

        ``on_answer(value, by)`` is called on the loop when it is answered; a
        key answered before (stored before a crash) calls it at once.
        """
        stored = self.answers.get(question.key)
        if stored is not None:
            self.host.note(
                {"kind": "answered", "node_id": question.node_id, "question_id": question.id,
                 "by": "stored"}
            )  # fmt: skip
            on_answer(stored[0], "stored")
            return
        loop = self.loop
        assert loop is not None
        self.open[question.id] = _Open(question, None, loop.create_future())
        self.callbacks[question.id] = on_answer
        self.host.note(
            {"kind": "question", "node_id": question.node_id, "question_id": question.id,
             "prompt": question.prompt}
        )  # fmt: skip
        if self.durable:
            self._save(self.host.save_question, question.to_dict())

    def close_for_run(self, question_id: str) -> None:
        """Withdraw a question of :meth:`open_for_run` that is still open."""
        pending = self.open.get(question_id)
        if pending is not None and question_id in self.callbacks and not pending.claimed:
            del self.callbacks[question_id]
            self._close(pending, "withdrawn", "withdrawn")

    # -- answering (loop) ----------------------------------------------------
    def get_open(self, question_id: str) -> Question:
        """The open question ``question_id``; :class:`AnswerError` saying why if there is none."""
        pending = self.open.get(question_id)
        if pending is not None and not pending.claimed:
            return pending.question
        raise self._why_not(question_id, pending is not None)

    def _why_not(self, question_id: str, claimed: bool) -> QuestionClosed:
        reason = "answered" if claimed else self.closed.get(question_id)
        if reason == "answered":
            return QuestionClosed(f"question {question_id!r} is already answered", "answered")
        if reason == "withdrawn":
            return QuestionClosed(
                f"question {question_id!r} was withdrawn (its node was cancelled or it timed out)",
                "withdrawn",
            )
        return QuestionClosed(f"run {self.run_id} has no question {question_id!r}", "unknown")

    def claim(self, question_id: str) -> Question:
        """Take the right to answer ``question_id`` (one answer wins); raise if not open."""
        question = self.get_open(question_id)
        self.open[question_id].claimed = True
        return question

    def deliver(self, question_id: str, value: Any, by: str) -> None:
        """Close a claimed question with ``value``; its node resumes when it has a slot."""
        pending = self.open.get(question_id)
        if pending is None:
            return  # withdrawn while the answer was being saved
        self.answers[pending.question.key] = (value, by)
        self._close(pending, "answered", by)
        on_answer = self.callbacks.pop(question_id, None)
        if on_answer is not None:  # the run's own question: no task waits for it
            on_answer(value, by)
            return
        self._hold(pending.node, question_id, pending.future, value, None)

    def _close(self, pending: _Open, reason: str, by: str) -> None:
        q = pending.question
        self.open.pop(q.id, None)
        self.closed[q.id] = reason
        if pending.timer is not None:
            pending.timer.cancel()
        self.host.note({"kind": "answered", "node_id": q.node_id, "question_id": q.id, "by": by})

    def _hold(
        self,
        node: Node,
        question_id: str,
        future: asyncio.Future[Any],
        value: Any,
        error: BaseException | None,
    ) -> None:
        self.held.setdefault(node, []).append((future, value, error))
        ids = self.by_node.get(node, [])
        if question_id in ids:
            ids.remove(question_id)
        if ids:
            self.host.touch(node)
        else:
            self.by_node.pop(node, None)
            self.host.answered(node)

    def release(self, node: Node) -> None:
        """``node`` has its slot again: its asks return (or raise) now."""
        for future, value, error in self.held.pop(node, ()):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

    def withdraw(self, node: Node) -> None:
        """``node`` was cancelled: close its open questions; its asks raise CancelledError."""
        for qid in self.by_node.pop(node, ()):
            pending = self.open.get(qid)
            if pending is not None:
                self._close(pending, "withdrawn", "withdrawn")
                pending.future.cancel()
        for future, _, _ in self.held.pop(node, ()):
            future.cancel()

    def withdraw_all(self) -> None:
        for node in list(self.by_node):
            self.withdraw(node)

    # -- reading (loop) ------------------------------------------------------
    def of(self, node: Node) -> list[Question]:
        """The open questions of ``node``, oldest first."""
        return [self.open[i].question for i in self.by_node.get(node, ()) if i in self.open]

    def all_open(self) -> list[Question]:
        """The open questions, oldest first (one whose answer is being stored is not open)."""
        return [p.question for p in self.open.values() if not p.claimed]


def _log_failure(future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.warning("a question or answer could not be stored: %s", exc)


# -- the task's side ---------------------------------------------------------


current_asker: ContextVar[Questions | None] = ContextVar("taskbeam_asker", default=None)


def _where() -> tuple[Questions, Node]:
    questions = current_asker.get()
    sink = current_output.get()
    if questions is None or not isinstance(sink, Node):
        if isinstance(sink, Node) and sink.status is Status.AGGREGATING:
            raise RuntimeError("an aggregator cannot ask: ask in a task of the graph")
        if sink is not None:
            raise RuntimeError(
                "ask_sync() cannot ask from a worker process or a Dask worker: run the "
                "task on the default LocalExecutor or make it async and use await tb.ask(), "
                "or ask in an earlier task and pass the answer on (see docs/scale.md)"
            )
        raise RuntimeError("tb.ask() and tb.ask_sync() work only inside a task of a running run")
    return questions, sink


async def ask(
    prompt: str,
    *,
    data: Any = None,
    choices: list[Any] | None = None,
    schema: dict[str, Any] | None = None,
    default: Any = NO_DEFAULT,
    timeout: float | None = None,
    key: str | None = None,
) -> Any:
    """Ask a person and wait for the answer, from an async task.

    Parameters
    ----------
    prompt : str
        Markdown.
    data : JSON value, optional
        Shown with the prompt; the starting value of a form.
    choices : list of JSON scalars, optional
        The answer is one of them.
    schema : dict, optional
        A JSON Schema (Draft 2020-12) the answer must fit. Without ``choices``
        or ``schema`` the answer is free text (a str).
    default : optional
        The answer when ``timeout`` passes (it must fit the question itself).
    timeout : float, optional
        Seconds from asking; without a default the ask raises
        :class:`~taskbeam.QuestionTimeout` then.
    key : str, optional
        What identifies the question in the run (default
        ``"<node id>:<index>"``); a key already answered returns at once.

    Returns
    -------
    The answer (JSON data).
    """
    questions, node = _where()
    loop = asyncio.get_running_loop()
    if loop is not questions.loop:
        raise RuntimeError("await tb.ask() on the run's own loop (in the task itself)")
    options = {"data": data, "choices": choices, "schema": schema, "default": default}
    return await questions.ask(node, prompt, timeout=timeout, key=key, **options)


def ask_sync(
    prompt: str,
    *,
    data: Any = None,
    choices: list[Any] | None = None,
    schema: dict[str, Any] | None = None,
    default: Any = NO_DEFAULT,
    timeout: float | None = None,
    key: str | None = None,
) -> Any:
    """:func:`ask` for a sync task: blocks its thread until the answer comes.

    The thread is kept while it waits; the run's pool grows by one thread
    per waiting sync node so that other sync tasks still run (see
    ``docs/questions.md``).
    """
    questions, node = _where()
    loop = questions.loop
    assert loop is not None
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:
        raise RuntimeError("ask_sync() inside an event loop would block it: await tb.ask()")
    options = {"data": data, "choices": choices, "schema": schema, "default": default}
    coro = questions.ask(node, prompt, timeout=timeout, key=key, **options)
    try:
        future = asyncio.run_coroutine_threadsafe(coro, loop)
    except RuntimeError:  # the loop is closed: the run ended while this thread went on
        coro.close()
        raise RuntimeError(f"node {node.id!r} cannot ask any more: its run has ended") from None
    return future.result()
