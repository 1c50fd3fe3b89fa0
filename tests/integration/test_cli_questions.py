"""``taskbeam run`` and a run's questions: --answers, plain lines without a
terminal, a prompt in a terminal (driven through a pseudo-terminal)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import wait_until
from tests.integration.test_cli import taskbeam

MODULE = textwrap.dedent(
    """
    import time

    import taskbeam as tb

    SIZE = {
        "type": "object",
        "properties": {"w": {"type": "integer"}},
        "required": ["w"],
    }

    g = tb.Graph("asks")

    @g.task
    async def pick():
        return await tb.ask(
            "Pick **one** of [bold]x[/bold]", choices=["red", "green", 3], data={"n": [1, 2]}
        )

    @g.task(deps=["pick"])
    def form(pick):
        return tb.ask_sync("Give a size", schema=SIZE, key="size")

    @g.task(deps=["pick", "form"])
    def both(pick, form):
        return f"got {pick}/{form['w']}"

    busy = tb.Graph("busy")

    @busy.task
    async def gate():
        return await tb.ask("Open the gate?", choices=["yes", "no"])

    @busy.task
    def other():
        for i in range(3):
            with open(f"other-{i}", "w"):
                pass
            time.sleep(0.2)
        return "ran"

    patient = tb.Graph("patient")

    @patient.task
    async def later():
        return await tb.ask("Go on?", choices=["yes", "no"], default="no", timeout=0.5)
    """
)
COMMAND = [sys.executable, "-m", "taskbeam"]
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-B]|[=>])")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "asking.py").write_text(MODULE)
    return tmp_path


def test_answers_from_a_file_reach_the_tasks_without_a_terminal(project: Path) -> None:
    (project / "answers.json").write_text(json.dumps({"pick:0": "green", "size": {"w": 4}}))
    proc = taskbeam("run", "asking:g", "--answers", "answers.json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "'got green/4'" in proc.stdout
    assert proc.stderr == ""


def test_an_answers_file_may_name_a_question_by_its_id(project: Path) -> None:
    (project / "first.json").write_text(json.dumps({"pick:0": "red"}))
    first = subprocess.Popen(
        [*COMMAND, "run", "asking:g", "--store", "runs.db", "--answers", "first.json"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TERM": "dumb", "COLUMNS": "120"},
    )
    try:
        assert first.stderr is not None
        line = first.stderr.readline()  # blocks until the form's question is printed
        assert line.startswith("taskbeam: node form asks (key size, id q-"), line
        qid = line.rpartition("id ")[2].rstrip("):\n")
        first.send_signal(signal.SIGINT)
        out, _ = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    assert first.returncode == 130, out
    run_id = out.split(" as ")[-1].strip()
    # A continued run keeps its id, so the question asked again keeps its id too.
    (project / "again.json").write_text(json.dumps({qid: {"w": 5}}))
    again = taskbeam(
        "run", "asking:g", "--store", "runs.db", "--continue", run_id, "--answers", "again.json",
        cwd=project,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "'got red/5'" in again.stdout


def test_without_a_terminal_a_question_is_printed_once_with_how_to_answer_it(
    project: Path,
) -> None:
    proc = taskbeam("run", "asking:patient", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("Go on?") == 1
    assert "taskbeam: node later asks (key later:0, id q-" in proc.stderr
    assert 'choices: "yes", "no"' in proc.stderr
    assert 'default: "no"' in proc.stderr
    assert 'answer with --answers FILE.json {"later:0": <value>}' in proc.stderr
    assert "server or widget" in proc.stderr
    assert "'no'" in proc.stdout  # the default, once the timeout passed


def test_a_refused_answer_without_a_terminal_is_said_and_the_question_stays_open(
    project: Path,
) -> None:
    (project / "answers.json").write_text(json.dumps({"later:0": "maybe"}))
    proc = taskbeam("run", "asking:patient", "--answers", "answers.json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "the answer to 'later:0' in answers.json was refused: " in proc.stderr
    assert "'maybe' is not one of the choices" in proc.stderr
    assert "Go on?" in proc.stderr
    assert "'no'" in proc.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "taskbeam: --answers: no file 'answers.json'"),
        ("{nope", "taskbeam: --answers: 'answers.json' is not JSON: "),
        ("[1, 2]", "taskbeam: --answers: 'answers.json' holds a list, not an object"),
    ],
)
def test_a_bad_answers_file_is_a_usage_error(
    project: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (project / "answers.json").write_text(content)
    proc = taskbeam("run", "asking:g", "--answers", "answers.json", cwd=project)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "run " not in proc.stdout  # no run started


class Terminal:
    """A ``taskbeam`` command whose stdin, stdout and stderr are a pseudo-terminal."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
        env = {"PATH": "/usr/bin:/bin", "TERM": "xterm", "COLUMNS": "100", "LINES": "40"}
        self.proc = subprocess.Popen(
            [*COMMAND, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.seen = ""

    def read_until(self, text: str, timeout: float = 30) -> str:
        """Read until ``text`` shows (escape codes left out), or fail at ``timeout``."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never showed; the terminal shows:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # the command ended and closed the terminal
                    data = b""
                if not data:
                    assert text in self.seen, f"{text!r} never showed:\n{self.seen}"
                self.seen += ANSI.sub("", data.decode(errors="replace")).replace("\r", "")
        return self.seen

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 30) -> int:
        """The exit code, reading what is left so the command never blocks on a full terminal."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"still running:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                with contextlib.suppress(OSError):
                    data = os.read(self.master, 65536)
                    self.seen += ANSI.sub("", data.decode(errors="replace")).replace("\r", "")
        return self.proc.returncode


@contextlib.contextmanager
def terminal(args: list[str], cwd: Path) -> Iterator[Terminal]:
    term = Terminal(args, cwd)
    try:
        yield term
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
            term.proc.wait(10)
        os.close(term.master)


def test_a_terminal_asks_a_menu_then_a_form_and_the_run_ends_done(project: Path) -> None:
    with terminal(["run", "asking:g"], project) as term:
        shown = term.read_until("choose 1-3> ")
        assert "question from node pick (pick:0)" in shown
        assert "[bold]x[/bold]" in shown  # rich markup in a prompt shows as written
        assert "1. red" in shown and "3. 3" in shown
        assert '"n"' in shown  # the data, as JSON
        term.type("1\n")
        shown = term.read_until("JSON> ")
        assert "question from node form (size)" in shown
        term.type('{"w": "wide"}\n')
        shown = term.read_until("not accepted: ")
        term.read_until("JSON> ", timeout=10)
        term.type('{"w": 7}\n')
        assert term.finish() == 0, term.seen
    assert "answered: red" in term.seen
    assert "'got red/7'" in term.seen
    assert "run done" in term.seen


def test_other_nodes_run_on_while_a_question_is_asked(project: Path) -> None:
    with terminal(["run", "asking:busy"], project) as term:
        term.read_until("choose 1-2> ")
        wait_until((project / "other-2").exists, timeout=30)  # while the prompt waits
        term.type("2\n")
        assert term.finish() == 0, term.seen
    assert "answered: no" in term.seen
    assert re.search(r"│ other\s+│ done\s+│.*'ran'", term.seen), term.seen
    assert re.search(r"│ gate\s+│ done\s+│.*'no'", term.seen), term.seen


def test_a_terminal_takes_a_choice_by_its_text_and_an_empty_line_as_the_default(
    project: Path,
) -> None:
    (project / "answers.json").write_text(json.dumps({"size": {"w": 2}}))
    with terminal(["run", "asking:g", "--answers", "answers.json"], project) as term:
        term.read_until("choose 1-3> ")
        term.type("purple\n")
        term.read_until("type a number from 1 to 3, or one of the choices")
        term.type("green\n")
        assert term.finish() == 0, term.seen
    assert "'got green/2'" in term.seen
    assert "JSON> " not in term.seen  # the form was answered from the file


def test_a_question_that_times_out_while_asked_is_dropped(project: Path) -> None:
    with terminal(["run", "asking:patient"], project) as term:
        term.read_until("choose 1-2> ")
        assert term.finish() == 0, term.seen
    assert "question later:0 dropped: it was closed" in term.seen
    assert "'no'" in term.seen


def test_ctrl_c_at_a_prompt_cancels_the_run(project: Path) -> None:
    with terminal(["run", "asking:g"], project) as term:
        term.read_until("choose 1-3> ")
        term.proc.send_signal(signal.SIGINT)
        assert term.finish() == 130, term.seen
    assert "question pick:0 dropped: the run is cancelled" in term.seen
    assert "run cancelled" in term.seen
