"""ExecutionService: many runs at once, one registry, clean shutdown."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from tests.conftest import wait_until

import taskbeam as tb


def gated_graph(name: str, gate: threading.Event) -> tb.Graph:
    g = tb.Graph(name)
    g.add("wait", lambda: gate.wait(10) and name)
    g.add("after", lambda wait: f"{wait}!", deps=["wait"])
    return g


def test_two_runs_at_once_in_one_service() -> None:
    gate_a, gate_b = threading.Event(), threading.Event()
    with tb.ExecutionService(max_concurrency=2) as svc:
        a = svc.start("project-a", gated_graph("a", gate_a))
        b = svc.start("project-b", gated_graph("b", gate_b))
        assert svc.get("project-a") is a and svc.get("project-b") is b
        assert list(svc.list()) == ["project-a", "project-b"]
        assert a._thread is not b._thread
        gate_b.set()
        assert b.wait(5).result("after") == "b!"
        assert a.status == "running"
        svc.pause("project-a")
        assert a.status == "paused"
        svc.resume("project-a")
        gate_a.set()
        assert a.wait(5).result("after") == "a!"


def test_a_project_runs_once_at_a_time_even_under_a_race() -> None:
    gate = threading.Event()
    svc = tb.ExecutionService()
    errors: list[Exception] = []
    started: list[tb.Run] = []
    barrier = threading.Barrier(8)

    def go() -> None:
        barrier.wait()
        try:
            started.append(svc.start("same", gated_graph("same", gate)))
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 1 and len(errors) == 7
    assert "still running" in str(errors[0])
    gate.set()
    started[0].wait(5)
    again = svc.start("same", gated_graph("same", gate))  # ended: may start again
    assert again.wait(5).status == "done"
    svc.shutdown()


def test_stop_and_shutdown_cancel_and_join() -> None:
    async def forever() -> None:
        await asyncio.sleep(60)

    g = tb.Graph("forever")
    g.add("f", forever)
    svc = tb.ExecutionService()
    one = svc.start("one", g)
    two = svc.start("two", g)
    wait_until(lambda: one.counts.get("running") == 1 and two.counts.get("running") == 1)
    assert svc.stop("one", timeout=5).status == "cancelled"
    svc.shutdown(timeout=5)
    assert two.status == "cancelled"
    assert not any(r._thread and r._thread.is_alive() for r in (one, two))
    with pytest.raises(RuntimeError, match="shut down"):
        svc.start("three", g)


def test_unknown_project_and_bad_id() -> None:
    svc = tb.ExecutionService()
    with pytest.raises(KeyError, match="no project 'nope'"):
        svc.get("nope")
    with pytest.raises(ValueError, match="non-empty string"):
        svc.start("", tb.Graph())


def test_interpreter_exit_cancels_live_runs(tmp_path: Path) -> None:
    marker = tmp_path / "cancelled.txt"
    script = textwrap.dedent(
        f"""
        import asyncio, taskbeam as tb
        async def forever():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                open({str(marker)!r}, "w").write("cancelled")
                raise
        g = tb.Graph("exit")
        g.add("f", forever)
        run = tb.start(g)
        while run.counts.get("running") != 1:
            pass
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert marker.read_text() == "cancelled"


def test_a_project_whose_run_reads_done_can_be_started_again_at_once() -> None:
    # A run's status turns final a moment before its thread ends; a start made
    # in that moment waits for the thread instead of calling the run "still running".
    gate = threading.Event()
    g = gated_graph("quick", gate)
    seen_done = threading.Event()

    def slow_goodbye(event: tb.Event) -> None:
        if event.node_id is None and event.new == "done":
            seen_done.set()
            threading.Event().wait(0.3)  # holds the run's thread after its status is final

    with tb.ExecutionService() as svc:
        first = svc.start("p", g)
        first.subscribe(slow_goodbye)  # before the gate opens: it sees the run end
        gate.set()
        assert seen_done.wait(10)
        assert first.status is tb.RunStatus.DONE
        second = svc.start("p", g)  # would have raised "still running" (the gate is open)
        assert second is not first
        assert second.wait(10).status is tb.RunStatus.DONE
        assert first.done
