"""The questions of a ``taskbeam run``: answered from ``--answers FILE.json``,
asked on the terminal, or printed with how to answer them.

The watch loop of ``_cli_run`` drives a :class:`Questioner` on its own
thread (the main thread, never the run's loop): on each tick of the progress
bar it reads the run's open questions (only while some node is waiting, or
a question is in hand), and between ticks it waits on the terminal for the
line being typed instead of sleeping. So nothing polls the engine faster
than the bar already does, a Ctrl-C during a prompt lands where it always
does (the run is cancelled), and the other nodes run on meanwhile.

In a terminal the questions are asked one at a time, oldest first. The
live bar stops while one is asked (the typed line would fight its redraws)
and starts again after; a question that closes while it is asked (a
timeout, its node cancelled, an answer from elsewhere) is dropped with a
note. Prompts are Markdown; every user string is plain text, never rich
markup (see ``taskbeam._cli``).
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import pathlib
import select
import sys
import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.json import JSON
from rich.markdown import Markdown
from rich.progress import Progress
from rich.text import Text

from taskbeam._cli_common import USAGE, CliError
from taskbeam._errors import AnswerError, QuestionClosed
from taskbeam.engine import NO_DEFAULT, Question, Run

__all__ = ["Questioner", "load_answers", "terminal"]

_MISSING = object()
CLOSED = "it was closed (timed out, cancelled, or answered elsewhere)"


def load_answers(path: str | None) -> dict[str, Any]:
    """The ``--answers`` file: a JSON object of question key (or id) to answer.

    Raises
    ------
    CliError
        With ``USAGE`` when the file is missing, unreadable, not JSON, or
        not an object.
    """
    if path is None:
        return {}
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(USAGE, f"--answers: no file {path!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(USAGE, f"--answers: cannot read {path!r}: {exc}") from None
    try:
        answers = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(USAGE, f"--answers: {path!r} is not JSON: {exc}") from None
    if not isinstance(answers, dict):
        kind = type(answers).__name__
        raise CliError(
            USAGE, f"--answers: {path!r} holds a {kind}, not an object of question key to answer"
        )
    return answers


def terminal() -> bool:
    """Whether questions can be asked here: stdin and stdout are terminals (on POSIX)."""
    if os.name != "posix":
        return False
    try:
        return os.isatty(sys.stdin.fileno()) and os.isatty(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # closed, replaced, or no stdin at all
        return False


def _scalar(value: Any) -> str:
    """A choice or a default as a person reads it: strings as written, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


class Questioner:
    """Answers, asks or announces the questions of ``run`` as they open.

    ``answers`` come from ``--answers``; ``interactive`` asks on the
    terminal (stdin must be one), else each question is printed once on
    stderr with how to answer it.
    """

    def __init__(
        self,
        run: Run,
        console: Console,
        answers: Mapping[str, Any],
        interactive: bool,
        answers_file: str | None = None,
    ) -> None:
        self.run = run
        self.console = console
        self.answers = answers
        self.answers_file = answers_file
        self.interactive = interactive
        self._seen: set[str] = set()
        self._queue: collections.deque[Question] = collections.deque()
        self._current: Question | None = None
        self._buffer = b""
        self._progress: Progress | None = None

    # --- the watch loop's tick ------------------------------------------------

    def tick(self, waiting: int, progress: Progress) -> None:
        """Take in the questions opened and closed since the last tick.

        ``waiting`` is the run's count of waiting nodes, from the summaries
        the bar has just read: with none, and no question in hand, the run
        is not asked for its questions at all.
        """
        self._progress = progress
        if not waiting and self._current is None and not self._queue:
            return
        open_now = self.run.questions()
        ids = {q.id for q in open_now}
        for q in open_now:
            if q.id not in self._seen:
                self._seen.add(q.id)
                self._opened(q)
        for q in [q for q in self._queue if q.id not in ids]:
            self._queue.remove(q)
        if self._current is not None and self._current.id not in ids:
            self._drop(CLOSED)
        self._next()

    def wait(self, seconds: float) -> None:
        """Wait ``seconds`` for the next tick; while a question is asked, read what is typed."""
        if self._current is None:
            time.sleep(seconds)
            return
        fd = sys.stdin.fileno()
        readable, _, _ = select.select([fd], [], [], seconds)
        if not readable:
            return
        data = os.read(fd, 65536)
        if not data:  # end of input (Ctrl-D): ask nothing more here
            self._end_of_input()
            return
        self._buffer += data
        while self._current is not None and b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            self._typed(line.decode(errors="replace").rstrip("\r"))

    def stop(self, why: str = CLOSED) -> None:
        """The run ended or is being cancelled (``why``): drop what is asked, start the bar."""
        if self._current is not None:
            self._drop(why)
        self._queue.clear()
        self._restart_bar()

    # --- what happens to a question -------------------------------------------

    def _opened(self, q: Question) -> None:
        value = self.answers.get(q.key, _MISSING)
        if value is _MISSING:
            value = self.answers.get(q.id, _MISSING)
        if value is not _MISSING:
            try:
                self.run.answer(q.id, value)
                return
            except QuestionClosed:
                return
            except AnswerError as exc:
                self._say(
                    f"taskbeam: the answer to {q.key!r} in {self.answers_file} was refused: {exc}"
                )
        if self.interactive:
            self._queue.append(q)
        else:
            self._announce(q)

    def _next(self) -> None:
        if self._current is not None:
            return
        if not self._queue:
            self._restart_bar()
            return
        self._current = self._queue.popleft()
        if self._progress is not None:
            self._progress.stop()
        self._show(self._current)
        self._prompt()

    def _typed(self, line: str) -> None:
        q = self._current
        assert q is not None
        value = self._parse(q, line)
        if value is _MISSING:
            self._prompt()
            return
        try:
            self.run.answer(q.id, value)
        except QuestionClosed as exc:
            self._drop(str(exc))
        except AnswerError as exc:
            self.console.print(Text(f"not accepted: {exc}", style="bold red"))
            self._prompt()
        else:
            self.console.print(Text.assemble(("answered: ", "dim"), _scalar(value)))
            self._current = None
        self._next()

    def _parse(self, q: Question, line: str) -> Any:
        """The answer ``line`` stands for, or ``_MISSING`` (said why) to ask again."""
        text = line.strip()
        if not text and q.default is not NO_DEFAULT:
            return q.default
        if q.choices is not None:
            if text.isdigit() and 1 <= int(text) <= len(q.choices):
                return q.choices[int(text) - 1]
            for choice in q.choices:
                if _scalar(choice) == text:
                    return choice
            self.console.print(
                Text(f"type a number from 1 to {len(q.choices)}, or one of the choices", "red")
            )
            return _MISSING
        if q.schema is not None:
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                self.console.print(Text(f"not JSON: {exc}", style="bold red"))
                return _MISSING
        return line

    def _drop(self, why: str) -> None:
        q = self._current
        self._current = None
        self._flush_input()
        if q is not None:
            self.console.print(Text(f"question {q.key} dropped: {why}", style="yellow"))

    def _end_of_input(self) -> None:
        held = [q for q in (self._current, *self._queue) if q is not None]
        self._current = None
        self._queue.clear()
        self.interactive = False
        self.console.print()
        self._restart_bar()
        for q in held:
            self._announce(q)

    # --- the terminal ------------------------------------------------------------

    def _show(self, q: Question) -> None:
        parts: list[RenderableType] = [
            Text.assemble(("question from node ", "bold"), (q.node_id, "bold"), f" ({q.key})"),
            Markdown(q.prompt),
        ]
        if q.data is not None:
            parts.append(JSON.from_data(q.data))
        if q.choices is not None:
            for i, choice in enumerate(q.choices, 1):
                parts.append(Text.assemble(f"  {i}. ", _scalar(choice)))
        elif q.schema is not None:
            parts.append(Text("answer with JSON that fits this schema:", style="dim"))
            parts.append(JSON.from_data(q.schema))
        if q.default is not NO_DEFAULT:
            parts.append(Text.assemble(("an empty line answers ", "dim"), _scalar(q.default)))
        if q.deadline is not None:
            left = max(0, math.ceil(q.deadline - time.time()))
            parts.append(Text(f"open for {left} s more", style="dim"))
        self.console.print()
        self.console.print(Group(*parts))

    def _prompt(self) -> None:
        q = self._current
        if q is None:
            return
        if q.choices is not None:
            label = f"choose 1-{len(q.choices)}> "
        elif q.schema is not None:
            label = "JSON> "
        else:
            label = "answer> "
        self.console.print(Text(label, style="bold"), end="")

    def _announce(self, q: Question) -> None:
        lines = [f"taskbeam: node {q.node_id} asks (key {q.key}, id {q.id}):"]
        lines += [f"  {line}" for line in q.prompt.splitlines() or [""]]
        if q.data is not None:
            lines.append(f"  data: {json.dumps(q.data)}")
        if q.choices is not None:
            lines.append("  choices: " + ", ".join(json.dumps(c) for c in q.choices))
        if q.schema is not None:
            lines.append(f"  schema: {json.dumps(q.schema)}")
        if q.default is not NO_DEFAULT:
            lines.append(f"  default: {json.dumps(q.default)}")
        if q.deadline is not None:
            lines.append(f"  open for {max(0, math.ceil(q.deadline - time.time()))} s more")
        example = json.dumps({q.key: "<value>"}).replace('"<value>"', "<value>")
        lines.append(f"  answer with --answers FILE.json {example}")
        lines.append("  (a server or widget showing this run can answer it too)")
        self._say("\n".join(lines))

    def _say(self, text: str) -> None:
        if self.interactive:
            self.console.print(Text(text))
        else:
            print(text, file=sys.stderr, flush=True)

    def _flush_input(self) -> None:
        self._buffer = b""
        with contextlib.suppress(ImportError, OSError, ValueError, AttributeError):
            import termios

            termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)

    def _restart_bar(self) -> None:
        if self._progress is not None and not self._progress.live.is_started:
            self._progress.start()
