"""The taskbeam command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MODULE = textwrap.dedent(
    """
    import taskbeam as tb

    good = tb.Graph("good")
    good.add("a", lambda: 1)
    good.add("b", lambda a: a + 1, deps=["a"])

    def make_bad():
        g = tb.Graph("bad")
        g.add("boom", lambda: 1 / 0)
        g.add("after", lambda boom: boom, deps=["boom"])
        return g

    not_a_graph = 42
    """
)


def taskbeam(*args: str, cwd: Path, columns: int = 120) -> subprocess.CompletedProcess[str]:
    """``taskbeam ARGS`` in ``cwd``, as a terminal of ``columns`` with no colours."""
    return subprocess.run(
        [sys.executable, "-m", "taskbeam._cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={"COLUMNS": str(columns), "PATH": "/usr/bin:/bin", "TERM": "dumb"},
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "graphs.py").write_text(MODULE)
    return tmp_path


def test_run_success_prints_a_table_and_exits_zero(project: Path) -> None:
    proc = taskbeam("run", "graphs:good", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "run done" in proc.stdout
    assert "│ b " in proc.stdout and "2" in proc.stdout


def test_run_failure_exits_non_zero_and_shows_the_error(project: Path) -> None:
    proc = taskbeam("run", "graphs:make_bad", cwd=project)
    assert proc.returncode == 1
    assert "ZeroDivisionError: division by zero" in proc.stdout
    assert "skipped" in proc.stdout
    assert "run failed" in proc.stdout


def test_run_on_worker_processes(project: Path) -> None:
    proc = taskbeam("run", "graphs:good", "--processes", "2", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "run done" in proc.stdout


def test_run_on_a_dask_cluster(project: Path) -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        proc = taskbeam("run", "graphs:good", "--dask", cluster.scheduler_address, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "run done" in proc.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--dask", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler tcp://127.0.0.1:9"),
        (["--processes", "0"], "--processes takes N >= 1"),
        (["--processes", "2", "--dask", "x"], "not allowed with argument"),
    ],
)
def test_run_executor_flags_are_checked(project: Path, flags: list[str], message: str) -> None:
    proc = taskbeam("run", "graphs:good", *flags, cwd=project)
    assert proc.returncode != 0
    assert message in proc.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("graphs", "expected MODULE:GRAPH"),
        ("nosuchmodule:g", "cannot import 'nosuchmodule'"),
        ("graphs:missing", "has no attribute 'missing'"),
        ("graphs:not_a_graph", "is a int, not a taskbeam.Graph"),
    ],
)
def test_bad_specs_are_clear_errors(project: Path, spec: str, message: str) -> None:
    proc = taskbeam("run", spec, cwd=project)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_demo_runs_the_recursive_example(tmp_path: Path) -> None:
    proc = taskbeam("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "run done" in proc.stdout
    assert "root/q1/q1/q1" in proc.stdout or "more nodes" in proc.stdout


def test_lab_refuses_a_missing_notebook(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "taskbeam._cli", "lab", str(tmp_path / "nope.ipynb")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no notebook" in proc.stderr


@pytest.mark.timeout(120)
def test_lab_serves_the_notebook_on_loopback_with_a_token(tmp_path: Path) -> None:
    import json
    import signal
    import urllib.error
    import urllib.parse
    import urllib.request

    nb = tmp_path / "hello.ipynb"
    nb.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskbeam._cli", "lab", str(nb)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:  # bounded: the command gives up after 60 s
            if "/lab/tree/hello.ipynb?token=" in line:
                url = line.strip()
                break
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        token = urllib.parse.parse_qs(parts.query)["token"][0]
        assert len(token) >= 32
        api = f"{parts.scheme}://{parts.netloc}/api/contents/hello.ipynb"
        with urllib.request.urlopen(f"{api}?token={token}", timeout=10) as resp:
            assert json.load(resp)["name"] == "hello.ipynb"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(api, timeout=10)
        assert denied.value.code == 403
        denied.value.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_failed_run_is_continued_with_continue_and_the_old_resume_still_works(
    project: Path,
) -> None:
    failed = taskbeam("run", "graphs:make_bad", "--store", "runs.db", cwd=project)
    assert failed.returncode == 1
    run_id = failed.stdout.split(" as ")[-1].strip()
    shown = taskbeam("show", run_id, "--store", "runs.db", cwd=project)
    assert f"continue it: taskbeam run MODULE:GRAPH --store runs.db --continue {run_id}" in (
        shown.stdout
    )
    assert "--resume" not in shown.stdout
    again = taskbeam(
        "run", "graphs:make_bad", "--store", "runs.db", "--continue", run_id, cwd=project
    )
    assert again.returncode == 1
    assert again.stderr == ""
    assert f"as {run_id}" in again.stdout
    old = taskbeam("run", "graphs:make_bad", "--store", "runs.db", "--resume", run_id, cwd=project)
    assert old.returncode == 1
    assert old.stderr == "taskbeam: --resume is deprecated: use --continue\n"
    assert f"as {run_id}" in old.stdout and "ZeroDivisionError" in old.stdout
    both = taskbeam("run", "graphs:good", "--continue", "a", "--resume", "b", cwd=project)
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr
