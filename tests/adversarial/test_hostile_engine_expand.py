"""Deep expansion: every run ends, propagation needs no recursion, errors stay bounded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.adversarial._hostile_engine import all_terminal, always_expand

import taskbeam as tb
from taskbeam.engine._failure import MESSAGE_CHARS


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_always_expanding_task_at_max_depth_600_ends_failed(kind: str) -> None:
    run = tb.start(always_expand(kind), max_depth=600).wait(30)
    assert run.status is tb.RunStatus.FAILED
    assert all_terminal(run)
    assert run.counts["failed"] == 601  # every level, the deepest with DepthError
    error = run.snapshot()["nodes"]["a"]["error"]
    assert error["type"] == "ChildFailed"
    assert "600 levels down" in error["message"]
    assert "DepthError" in error["message"]
    assert len(error["message"]) <= MESSAGE_CHARS


def test_a_chain_of_expansions_deeper_than_the_recursion_limit_ends() -> None:
    depth = sys.getrecursionlimit() * 3
    run = tb.start(always_expand("async"), max_depth=depth).wait(60)
    assert run.status is tb.RunStatus.FAILED
    assert all_terminal(run)
    assert run.counts["failed"] == depth + 1


def test_the_root_error_message_is_the_same_size_at_any_depth() -> None:
    sizes = {}
    for depth in (10, 100, 400):
        run = tb.start(always_expand("async"), max_depth=depth).wait(30)
        sizes[depth] = len(run.snapshot()["nodes"]["a"]["error"]["message"])
    assert sizes[400] < 700, sizes  # was 254,000 characters at depth 400
    assert sizes[400] - sizes[100] < 10, sizes  # ids are quoted by their last 200 characters


def test_the_message_names_the_child_and_the_deepest_failure() -> None:
    def boom() -> None:
        raise ValueError("the real cause")

    def level(n: int) -> tb.Expansion:
        sub = tb.Graph("level")
        if n:
            sub.add("a", lambda: level(n - 1))
        else:
            sub.add("bad", boom)
        return tb.expand(sub, aggregate=lambda results: results)

    g = tb.Graph("named")
    g.add("top", lambda: level(3))
    run = tb.start(g).wait(10)
    nodes = run.snapshot()["nodes"]
    assert nodes["top/a/a/a/bad"]["error"]["message"] == "the real cause"
    assert nodes["top/a/a/a"]["error"]["message"] == (
        "child 'top/a/a/a/bad' failed: ValueError: the real cause"
    )
    assert nodes["top"]["error"]["message"] == (
        "child 'top/a' failed; the deepest failure is 'top/a/a/a/bad', 4 levels down: "
        "ValueError: the real cause"
    )


def test_cancelling_a_deep_expansion_ends_every_level() -> None:
    import threading

    gate = threading.Event()

    def level(n: int) -> tb.Expansion:
        sub = tb.Graph("level")
        sub.add("a", (lambda: level(n - 1)) if n else gate.wait)
        return tb.expand(sub, aggregate=lambda results: results)

    g = tb.Graph("cancel-deep")
    g.add("a", lambda: level(1500))
    run = tb.start(g, max_depth=2000)
    from tests.conftest import wait_until

    wait_until(lambda: len(run.snapshot()["nodes"]) > 1500, timeout=30)
    run.cancel()
    gate.set()
    run.wait(30)
    assert run.status is tb.RunStatus.CANCELLED
    assert all_terminal(run)


def test_a_finished_expansion_deeper_than_the_recursion_limit_resumes(tmp_path: Path) -> None:
    depth = sys.getrecursionlimit() + 500

    def level(n: int = depth) -> object:
        if n == 0:
            return 1
        sub = tb.Graph("level")
        sub.add("a", lambda: level(n - 1))
        return tb.expand(sub, aggregate=lambda results: results["a"])

    g = tb.Graph("deep-resume")
    g.add("a", level)
    store = tb.SQLiteStore(tmp_path / "runs.db")
    run = tb.start(g, store=store, max_depth=depth + 1).wait(60)
    assert run.status is tb.RunStatus.DONE
    again = tb.continue_run(run.id, g, store=store).wait(60)
    assert again.status is tb.RunStatus.DONE
    assert again.counts["done"] == depth + 1  # every level restored, none run again
    assert again.result("a") == 1
    store.close()
