"""A sync task that never returns does not keep the interpreter alive once it is given up."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tests.adversarial._hostile_engine import child_env, python
from tests.conftest import wait_until

STUCK = """
    import asyncio, threading, time, taskbeam as tb

    def stuck():
        threading.Event().wait()  # never returns

    async def stuck_in_a_thread():
        await asyncio.to_thread(stuck)
"""


@pytest.mark.parametrize(
    "ending",
    [
        "g.add('hang', stuck)\nrun = tb.start(g)\ntime.sleep(0.2)\nrun.cancel()",
        "g.add('hang', stuck, timeout=0.2)\nrun = tb.start(g)",
        "g.add('hang', stuck_in_a_thread, timeout=0.2)\nrun = tb.start(g)",
        "g.add('hang', stuck)\nrun = tb.start(g)\ntime.sleep(0.2)\nrun.cancel_node('hang')",
    ],
    ids=["cancelled", "timed-out", "to_thread-timed-out", "node-cancelled"],
)
def test_a_script_whose_stuck_sync_task_was_given_up_exits(ending: str, tmp_path: Path) -> None:
    code = STUCK + textwrap.indent(
        "g = tb.Graph('stuck')\n" + ending + "\nrun.wait(10)\nprint('ended', run.status.value)\n",
        "    ",
    )
    proc, seconds = python(code, tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "ended" in proc.stdout
    assert seconds < 5, seconds  # was still alive 40 s later


def test_exit_names_the_tasks_left_running(tmp_path: Path) -> None:
    code = STUCK + textwrap.indent(
        "g = tb.Graph('stuck')\ng.add('hang', stuck, timeout=0.1)\n"
        "g.add('fine', lambda: 1)\ntb.start(g).wait(10)\n",
        "    ",
    )
    proc, seconds = python(code, tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "task 'hang' was still running at interpreter exit" in proc.stderr
    assert "'fine'" not in proc.stderr
    assert seconds < 5


def test_an_unfinished_run_is_cancelled_at_exit_and_the_script_exits(tmp_path: Path) -> None:
    code = STUCK + textwrap.indent(
        "g = tb.Graph('left')\ng.add('hang', stuck)\nrun = tb.start(g)\ntime.sleep(0.2)\n",
        "    ",
    )
    proc, seconds = python(code, tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "task 'hang' was still running at interpreter exit" in proc.stderr
    assert seconds < 5


def test_taskbeam_run_exits_after_ctrl_c_with_a_stuck_sync_task(tmp_path: Path) -> None:
    started = tmp_path / "started"
    (tmp_path / "graphs.py").write_text(
        textwrap.dedent(STUCK)
        + "def hang():\n"
        + f"    open({str(started)!r}, 'w').close()\n"
        + "    stuck()\n"
        + "g = tb.Graph('stuck')\ng.add('hang', hang)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskbeam._cli", "run", "graphs:g"],
        cwd=tmp_path,
        env={**child_env(), "COLUMNS": "120", "TERM": "dumb"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(started.exists, timeout=20)  # the task is running (and stuck)
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=20)
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # 130: cancelled (the terminal holds Ctrl-C back while the run starts,
    # so the signal always reaches a run it can cancel).
    assert proc.returncode == 130, err[-3000:]
    assert "Cannot close a running event loop" not in err
    assert "Traceback" not in err
    assert "cancelled" in out
    assert seconds < 5, seconds
