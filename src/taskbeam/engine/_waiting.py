"""The run's side of questions: waiting nodes, their slots, timers and threads.

:class:`Waiting` is the :class:`~taskbeam.engine._questions.Host` of a run's
:class:`~taskbeam.engine._questions.Questions`. Every method runs on the
run's loop thread, except :meth:`Waiting.answer` and the ``save_*`` methods
(any thread).

* A node that asks moves RUNNING -> WAITING and gives up its slots; its
  task timeout is paused (the time left is kept and given back when it runs
  again); a sync node's pool grows by one thread meanwhile.
* When its questions are closed it queues for a slot; the state machine
  gives it the next free one (see ``RunState.resuming``) and the shell then
  calls :meth:`resumed`, which restarts its timer and lets its asks return.
* ``question`` / ``answered`` events are kept in a bounded list that the
  broadcaster reads from (:meth:`events`).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from taskbeam.engine._questions import Question, Questions, check_answer, check_json
from taskbeam.engine._status import Status

if TYPE_CHECKING:
    from taskbeam.engine._state import Node

__all__ = ["NOTES_KEPT", "Waiting"]

log = logging.getLogger("taskbeam")
NOTES_KEPT = 10_000  # question events kept for viewers that fall behind


class Waiting:
    """Questions of one run and what waiting costs (see the module docstring).

    ``run`` is the :class:`~taskbeam.engine._driver.Driver` it serves (typed
    loosely: that module imports this one).
    """

    def __init__(
        self, run: Any, answers: dict[str, tuple[Any, str]] | None, durable: bool = False
    ) -> None:
        self.run = run
        self.questions = Questions(run.id, self, answers)
        self.questions.durable = durable
        self.remaining: dict[Node, float] = {}  # task timeout left of waiting nodes
        self.notes: deque[dict[str, Any]] = deque(maxlen=NOTES_KEPT)
        self.noted = 0  # question events made so far
        self.sync_nodes: set[Node] = set()  # waiting sync nodes: each holds a pool thread

    # -- Host (loop thread) --------------------------------------------------
    def wait(self, node: Node) -> None:
        run = self.run
        loop = run.loop
        assert loop is not None
        run.state.wait(node, time.monotonic())
        timer = run._timers.pop(node, None)
        if timer is not None:
            self.remaining[node] = max(0.0, timer.when() - loop.time())
            timer.cancel()
        if not node.task.is_async:
            self.sync_nodes.add(node)
            run.session.grow(1)
        self._pump_soon()

    def answered(self, node: Node) -> None:
        self.run.state.answered(node)
        self._pump_soon()

    def touch(self, node: Node) -> None:
        self.run.state.touch(node, time.monotonic())
        self._pump_soon()

    def _pump_soon(self) -> None:
        """Have the run's pump carry out a change of its state.

        During a pump (a task that asks in its first step, started by the
        pump itself) that pump goes on until the state asks for nothing more,
        so it carries the change out: no other pump is queued. Otherwise one
        runs at the loop's next turn.
        """
        run = self.run
        if not run._pumping:
            assert run.loop is not None
            run.loop.call_soon(run._pump)

    def note(self, event: dict[str, Any]) -> None:
        self.notes.append(event)
        self.noted += 1

    def save_question(self, question: dict[str, Any]) -> None:
        store = self.run.store
        if store is not None:
            store.save_question(self.run.id, question)

    def save_answer(self, key: str, value: Any, by: str, at: float) -> None:
        store = self.run.store
        if store is not None:
            store.save_answer(self.run.id, key, value, by, at)

    # -- the shell (loop thread) ---------------------------------------------
    def resumed(self, node: Node) -> None:
        """``node`` is RUNNING again with a slot: its timer goes on, its asks return."""
        run = self.run
        self._unhold(node)
        left = self.remaining.pop(node, None)
        if left is not None and run.loop is not None:
            run._timers[node] = run.loop.call_later(left, run._on_timeout, node, node.attempt)
        self.questions.release(node)

    def _unhold(self, node: Node) -> None:
        if node in self.sync_nodes:
            self.sync_nodes.discard(node)
            self.run.session.grow(-1)

    def woke(self, node: Node) -> None:
        """A task went on without its question (or returned): RUNNING at once."""
        self.questions.withdraw(node)
        if node.status is not Status.WAITING:
            return
        self.run.state.wake(node, time.monotonic())
        self._unhold(node)
        left = self.remaining.pop(node, None)
        run = self.run
        if left is not None and run.loop is not None:
            run._timers[node] = run.loop.call_later(left, run._on_timeout, node, node.attempt)

    def withdraw(self, node: Node) -> None:
        """``node`` was cancelled: its questions close, its asks raise CancelledError."""
        if node in self.questions.by_node or node in self.questions.held:
            self.questions.withdraw(node)
        self.remaining.pop(node, None)
        self._unhold(node)

    def fields(self, node: Node) -> dict[str, Any]:
        """A waiting node's summary fields: its oldest open question, and how many are open."""
        open_ = self.questions.of(node)
        if not open_:
            return {}
        out: dict[str, Any] = {"question": open_[0].summary()}
        if len(open_) > 1:
            out["questions"] = len(open_)
        return out

    def events(self, after: int | None) -> tuple[int, list[dict[str, Any]]]:
        """``(count, events made after the first ``after``)``; ``None``: just the count.

        Any thread: the deque is appended to on the loop only, and copying
        it is one C-level step.
        """
        end = self.noted
        if after is None or after >= end:
            return end, []
        kept = list(self.notes)
        missing = end - after
        return end, kept[-missing:] if missing < len(kept) else kept

    # -- any thread ----------------------------------------------------------
    def answer(self, question_id: str, value: Any) -> None:
        """Validate, claim, save, deliver (see ``taskbeam.engine._questions``)."""
        run = self.run
        questions = self.questions
        if not isinstance(question_id, str):
            from taskbeam._errors import AnswerError

            raise AnswerError(f"a question id is a str, not {type(question_id).__name__}")
        question: Question = run.call(lambda: questions.get_open(question_id))
        check_answer(question, value)
        check_json(value, "the answer")
        import orjson

        plain = orjson.loads(orjson.dumps(value))
        run.call(lambda: questions.claim(question_id))
        try:
            self.save_answer(question.key, plain, "person", time.time())
        except Exception as exc:  # the live run still gets it; only a crash would lose it
            log.warning(
                "run %s: the answer to %s could not be stored: %s", run.id, question_id, exc
            )

        def deliver() -> None:
            questions.deliver(question_id, plain, "person")

        run.call(deliver)
