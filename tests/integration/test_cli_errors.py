"""A user's mistakes: one line on stderr, a distinct exit code, the traceback with --debug."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.conftest import wait_until
from tests.integration.test_cli import taskbeam as cli

MODULE = textwrap.dedent(
    """
    import time

    import taskbeam as tb

    def cycle():
        g = tb.Graph("cycle")
        g.add("a", lambda b: b, deps=["b"])
        g.add("b", lambda a: a, deps=["a"])
        return g

    def unknown():
        g = tb.Graph("unknown")
        g.add("a", lambda ghost: ghost, deps=["ghost"])
        return g

    def raises():
        raise RuntimeError("the factory broke\\nsecond line")

    def needs(size, depth=2):
        return tb.Graph("needs")

    good = tb.Graph("good")
    good.add("a", lambda: 1)

    def _slow(i):
        open(f"started-{i}", "w").close()
        time.sleep(0.2)

    slow = tb.Graph("slow")
    for i in range(50):
        slow.add(f"s{i}", _slow, kwargs={"i": i})
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "graphs.py").write_text(MODULE)
    (tmp_path / "broken.py").write_text("import taskbeam\nraise OSError('no config file')\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "graphs:cycle"], 3, "taskbeam: graphs:cycle: cycle in graph 'cycle': "),
        (
            ["run", "graphs:unknown"],
            3,
            "taskbeam: graphs:unknown: task 'a' depends on unknown task 'ghost'",
        ),
        (
            ["run", "graphs:raises"],
            3,
            "taskbeam: graphs:raises() raised RuntimeError: the factory broke",
        ),
        (["run", "graphs:needs"], 3, "taskbeam: graphs:needs needs arguments (size, depth=2)"),
        (["run", "broken:g"], 3, "taskbeam: importing 'broken' raised OSError: no config file"),
        (["run", "graphs:missing"], 3, "taskbeam: 'graphs' has no attribute 'missing'"),
        (["run", "graphs:good", "--continue", "nope"], 4, "taskbeam: no run 'nope' in "),
        (["run", "graphs:good", "--continue", "nope", "--store", "x.db"], 4, "taskbeam: no run"),
        (["show", "nope", "--store", "x.db"], 4, "taskbeam: "),
        (["run", "graphs:good", "--limit", "llm"], 2, "taskbeam: --limit takes TAG=N"),
        (["run", "graphs:good", "--max-concurrency", "0"], 2, "taskbeam: --max-concurrency"),
        (["run", "graphs:good", "--save-every", "-1"], 2, "taskbeam: --save-every"),
        (["run", "graphs:good", "--processes", "0"], 2, "taskbeam: --processes takes N >= 1"),
        (["run", "graphs:good", "--dask", "tcp://127.0.0.1:9"], 5, "taskbeam: cannot reach"),
    ],
)
def test_a_mistake_is_one_line_and_its_own_exit_code(
    project: Path, args: list[str], code: int, message: str
) -> None:
    proc = cli(*args, cwd=project)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(message), lines[0]


def test_debug_shows_the_traceback(project: Path) -> None:
    for args in (["--debug", "run", "graphs:raises"], ["run", "graphs:raises", "--debug"]):
        proc = cli(*args, cwd=project)
        assert proc.returncode == 3
        assert "Traceback (most recent call last)" in proc.stderr
        assert 'raise RuntimeError("the factory broke' in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("taskbeam: graphs:raises() raised")


def test_a_run_that_fails_and_one_that_succeeds(project: Path) -> None:
    assert cli("run", "graphs:good", cwd=project).returncode == 0
    usage = cli("run", "graphs:good", "--on-error", "never", cwd=project)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def test_ctrl_c_cancels_the_run_and_exits_130(project: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskbeam._cli", "run", "graphs:slow", "--max-concurrency", "2"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin", "TERM": "dumb"},
    )
    try:
        wait_until(lambda: (project / "started-0").exists(), timeout=30, interval=0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "run cancelled" in out
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--port", "99999"],
        ["serve", "--port", "-1"],
        ["serve", "--max-connections", "0"],
        ["serve", "--keep-finished", "many"],
        ["lab", "--port", "x"],
    ],
)
def test_out_of_range_options_are_usage_mistakes(argv: list[str], tmp_path: Path) -> None:
    proc = cli(*argv, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "error: argument" in proc.stderr
