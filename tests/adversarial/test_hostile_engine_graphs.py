"""Pathological graphs and misbehaving task code: every run ends terminal, nothing else lost."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.adversarial._hostile_engine import all_terminal, chain

import taskbeam as tb
from taskbeam.engine._failure import MESSAGE_CHARS


def test_a_very_wide_graph_with_a_sink_of_20000_arguments() -> None:
    n = 20_000
    g = tb.Graph("wide")
    for i in range(n):
        g.add(f"n{i}", lambda: 1)

    def sink(**parts: int) -> int:
        return sum(parts.values())

    g.add("sink", sink, deps=[f"n{i}" for i in range(n)])
    run = tb.start(g).wait(60)
    assert run.status is tb.RunStatus.DONE
    assert run.result("sink") == n


def test_a_chain_of_10000_runs_to_the_end() -> None:
    run = tb.start(chain(10_000)).wait(60)
    assert run.status is tb.RunStatus.DONE
    assert run.result("n9999") == 9999


def test_a_failure_at_the_head_of_a_chain_of_10000_skips_it_all() -> None:
    def boom() -> int:
        raise ValueError("head")

    run = tb.start(chain(10_000, boom)).wait(60)
    assert run.status is tb.RunStatus.FAILED
    assert run.counts["skipped"] == 9_999
    assert all_terminal(run)


def test_cancelling_a_long_chain_midway_ends_every_node() -> None:
    gate = threading.Event()

    def head() -> int:
        gate.wait(5)
        return 0

    run = tb.start(chain(10_000, head))
    run.cancel()
    gate.set()
    run.wait(30)
    assert run.status is tb.RunStatus.CANCELLED
    assert run.counts["cancelled"] == 10_000
    assert all_terminal(run)


def test_an_expansion_into_5000_children_and_one_into_none() -> None:
    def many() -> tb.Expansion:
        sub = tb.Graph("many")
        for i in range(5_000):
            sub.add(f"c{i}", lambda: 1)
        return tb.expand(sub, aggregate=lambda results: len(results))

    def empty() -> tb.Expansion:
        return tb.expand(tb.Graph("empty"), aggregate=lambda results: dict(results))

    g = tb.Graph("expansions")
    g.add("many", many)
    g.add("empty", empty)
    run = tb.start(g).wait(60)
    assert run.status is tb.RunStatus.DONE
    assert run.result("many") == 5_000
    assert run.result("empty") == {}


def test_values_that_do_not_serialise_or_refer_to_themselves(tmp_path: Path) -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    looped: dict[str, Any] = {}
    looped["self"] = looped

    def gen() -> Any:
        yield 1

    g = tb.Graph("odd-values")
    g.add("lock", threading.Lock)
    g.add("generator", gen)
    g.add("cyclic", lambda: cyclic)
    g.add("looped", lambda: looped)
    g.add("after", lambda cyclic: len(cyclic), deps=["cyclic"])
    store = tb.SQLiteStore(tmp_path / "runs.db")
    run = tb.start(g, store=store).wait(30)
    assert run.status is tb.RunStatus.DONE
    nodes = run.snapshot()["nodes"]
    assert nodes["cyclic"]["preview"] == "[1, [1, [1, [1, [1, [1, [...]]]]]]]"
    assert "lock" in nodes["lock"]["preview"]
    assert run.result("after") == 2
    assert run.result("looped") is looped
    store.close()


@pytest.mark.parametrize("style", ["sync", "async"])
def test_a_task_that_prints_50_mb_keeps_only_its_tail(style: str) -> None:
    line = "y" * 999 + "\n"

    def sync_chatty() -> str:
        for _ in range(50_000):
            print(line, end="")
            sys.stderr.write(line)
        return "spoke"

    async def async_chatty() -> str:
        return sync_chatty()

    g = tb.Graph("chatty")
    g.add("talk", sync_chatty if style == "sync" else async_chatty)
    run = tb.start(g, output_limit=10_000).wait(60)
    assert run.result("talk") == "spoke"
    assert len(run.details("talk")["output"]) == 10_000


def test_timeouts_fail_only_their_nodes() -> None:
    async def sleeps() -> None:
        await asyncio.sleep(30)

    g = tb.Graph("timeouts")
    g.add("async", sleeps, timeout=0.1)
    g.add("sync", lambda: time.sleep(0.5), timeout=0.1)
    g.add("fine", lambda: "ok")
    g.add("after", lambda fine: fine, deps=["fine"])
    run = tb.start(g).wait(10)
    nodes = run.snapshot()["nodes"]
    assert nodes["async"]["error"]["type"] == "taskbeam.NodeTimeout"
    assert nodes["sync"]["error"]["type"] == "taskbeam.NodeTimeout"
    assert run.result("after") == "ok"
    assert all_terminal(run)


def test_exceptions_whose_str_is_broken_or_huge_give_a_clear_bounded_error() -> None:
    class NoStr(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    class Huge(Exception):
        def __str__(self) -> str:
            return "h" * 10_000_000

    def no_str() -> None:
        raise NoStr

    def huge() -> None:
        raise Huge

    g = tb.Graph("bad-errors")
    g.add("no_str", no_str)
    g.add("huge", huge)
    run = tb.start(g).wait(10)
    nodes = run.snapshot()["nodes"]
    assert nodes["no_str"]["error"]["message"] == "<str() of the exception failed>"
    assert len(nodes["huge"]["error"]["message"]) == MESSAGE_CHARS
    assert all_terminal(run)
