"""tb.dask.get against what Dask expects of a ``get`` function, and against Dask itself.

The first part holds a foreign scheduler to what Dask's own scheduler tests
check (dask/utils_test.py's GetFunctionTestMixin, dask/tests/test_local.py,
dask/tests/test_threaded.py): these are our own tests of the same
expectations. The second runs real collections and compares them with
Dask's threaded scheduler.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import signal
import threading
import time
import warnings
from typing import Any

import pytest

dask = pytest.importorskip("dask")
np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")

import dask.array as da  # noqa: E402
import dask.bag as db  # noqa: E402
import dask.dataframe as dd  # noqa: E402
from dask._task_spec import Alias, DataNode, List, Task, TaskRef  # noqa: E402
from dask.highlevelgraph import HighLevelGraph  # noqa: E402

import taskbeam as tb  # noqa: E402
from taskbeam.dask import convert, readable  # noqa: E402

get = tb.dask.get


def inc(x: int) -> int:
    return x + 1


def add(x: int, y: int) -> int:
    return x + y


# -- what a get function must do ------------------------------------------------------


def test_single_keys_and_literals() -> None:
    graph = {"a": 10, "b": (inc, "a"), "c": (add, "a", "b")}
    assert get(graph, "a") == 10
    assert get(graph, "b") == 11
    assert get(graph, "c") == 21


def test_a_key_the_graph_lacks_is_a_key_error() -> None:
    graph = {"a": 1, "b": (inc, "a")}
    with pytest.raises(KeyError):
        get(graph, "nope")
    with pytest.raises(KeyError):
        get(graph, [["nope"], "b"])


def test_lists_of_keys_come_back_as_tuples_nested_alike() -> None:
    graph = {"a": 1, "b": 2, "s": (sum, ["a", "b"])}
    assert get(graph, ["a", "b"]) == (1, 2)
    assert get(graph, [["a"], "b"]) == ((1,), 2)
    assert get(graph, [[["s"]], ["a", ["b"]]]) == (((3,),), (1, (2,)))
    assert get(graph, []) == ()


def test_tuple_keys_are_keys_not_lists() -> None:
    graph = {("x", 0): 1, ("x", 1): (inc, ("x", 0)), "total": (sum, [("x", 0), ("x", 1)])}
    assert get(graph, ("x", 1)) == 2
    assert get(graph, [("x", 0), ("x", 1)]) == (1, 2)
    assert get(graph, "total") == 3


def test_a_task_may_read_data_that_is_no_key() -> None:
    assert get({"a": 1, "b": (add, "a", 10)}, "b") == 11


def test_lists_in_the_graph_are_values_tasks_or_keys() -> None:
    graph = {
        "a": [1, 2, 3],
        "b": "a",
        "c": [1, (inc, 1)],
        "d": [(sum, "a")],
        "e": ["a", "b"],
        "f": [[[(sum, "a"), "c"], (sum, "b")], 2],
    }
    assert get(graph, "a") == [1, 2, 3]
    assert get(graph, "b") == [1, 2, 3]
    assert get(graph, "c") == [1, 2]
    assert get(graph, "d") == [6]
    assert get(graph, "e") == [[1, 2, 3], [1, 2, 3]]
    assert get(graph, "f") == [[[6, [1, 2]], 6], 2]


def test_unhashable_values_in_tasks() -> None:
    assert get({"a": 2, "b": (lambda x, s: x * len(s), "a", {4, 5, 6})}, "b") == 6
    assert get({"a": 2, "b": (lambda x, d: x + d["k"], "a", {"k": 5})}, "b") == 7


def test_tasks_nested_in_arguments() -> None:
    graph = {"a": 1, "b": (inc, "a"), "c": (add, (inc, "a"), "b")}
    assert get(graph, "c") == 4


def test_a_long_chain() -> None:
    graph: dict[Any, Any] = {f"x{i + 1}": (inc, f"x{i}") for i in range(10_000)}
    graph["x0"] = 0
    assert get(graph, "x10000") == 10_000


def test_a_high_level_graph() -> None:
    layers = {"one": {"a": 1, "b": (inc, "a")}, "two": {"c": (add, (inc, "a"), "b")}}
    graph = HighLevelGraph(layers, {"one": set(), "two": {"one"}})
    assert get(graph, "c") == 4
    assert get(graph, ["b", "c"]) == (2, 4)


def test_task_spec_objects() -> None:
    graph = {
        "a": DataNode("a", 3),
        "b": Task("b", inc, TaskRef("a")),
        "c": Alias("c", "b"),
        "d": Task("d", add, TaskRef("c"), Task(None, inc, TaskRef("b"))),
        "e": Task("e", sorted, List(TaskRef("d"), TaskRef("a"))),
    }
    assert get(graph, "c") == 4
    assert get(graph, "d") == 9
    assert get(graph, ["e", "a"]) == ([3, 9], 3)


def test_aliases_and_chains_of_them() -> None:
    graph = {"x": 1, "y": "x", "z": "y", "w": (inc, "z"), "v": "w"}
    assert get(graph, "z") == 1
    assert get(graph, ["v", "w", "y"]) == (2, 2, 1)
    converted = convert(graph, ["v"])
    assert [t.id for t in converted.graph] == ["w"]  # no node for data or aliases


def test_only_what_the_keys_need_runs() -> None:
    calls: list[str] = []

    def once(name: str) -> int:
        calls.append(name)
        return 1

    graph = {
        "x1": Task("x1", once, "x1"),
        "x2": Task("x2", once, "x2"),
        "y": Task("y", add, 1, TaskRef("x2")),
    }
    assert get(graph, "y") == 2
    assert calls == ["x2"]


def test_known_values_and_missing_dependencies() -> None:
    graph = {"y": Task("y", inc, TaskRef("x"))}
    with pytest.raises(ValueError, match="Missing dependency"):
        get(graph, "y")
    assert get(graph, "y", cache={"x": 1}) == 2
    assert get({"b": (inc, "a")}, "b", cache={"a": 5}) == 6


def test_dask_keywords_are_taken_and_unknown_ones_ignored() -> None:
    graph = {"x": (inc, 1)}
    assert get(graph, "x", num_workers=2) == 2
    assert tb.dask.get.last_run is not None
    assert tb.dask.get.last_run.options["max_concurrency"] == 2
    assert get(graph, "x", pool=None, rerun_exceptions_locally=False, chunksize=1) == 2


def test_exceptions_rise_as_the_tasks_raised_them() -> None:
    class Custom(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(a, b)
            self.a, self.b = a, b

        def __str__(self) -> str:
            return "custom failure"

    def fail() -> None:
        raise Custom(1, 2)

    with pytest.raises(Custom) as caught:
        get({"ok": (inc, 1), ("bad", 3): (fail,), "end": (add, "ok", ("bad", 3))}, "end")
    exc = caught.value
    assert (exc.a, exc.b, str(exc)) == (1, 2, "custom failure")
    assert any("('bad', 3)" in note and "bad[3]" in note for note in exc.__notes__)
    run = tb.dask.get.last_run
    assert run is not None and run.status == "failed"

    def bad(x: int) -> int:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        get({"x": 1, "y": (bad, "x")}, "y")


def test_context_variables_of_the_caller_reach_the_tasks() -> None:
    var: contextvars.ContextVar[int] = contextvars.ContextVar("dask_get_test", default=42)
    graph = {"x": (var.get,)}
    assert get(graph, "x") == 42
    token = var.set(43)
    try:
        assert get(graph, "x") == 43
    finally:
        var.reset(token)


def test_warnings_from_tasks_reach_the_caller() -> None:
    def warn() -> int:
        warnings.warn("from a task", RuntimeWarning, stacklevel=1)
        return 1

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert get({"x": (warn,)}, "x") == 1
    assert [str(w.message) for w in seen] == ["from a task"]


def test_many_callers_at_once() -> None:
    graph = {"x": (time.sleep, 0.05), "y": (lambda _: 1, "x")}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: get(graph, "y"), range(16)))
    assert results == [1] * 16


def test_called_from_other_threads() -> None:
    before = threading.active_count()
    out: list[int] = []
    for i in range(10):
        t = threading.Thread(target=lambda i=i: out.append(get({"x": (lambda: i,)}, "x")))
        t.start()
        t.join()
    assert out == list(range(10))
    deadline = time.monotonic() + 10
    while threading.active_count() > before + 10:  # the runs' threads end
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_ctrl_c_while_waiting_cancels_the_run() -> None:
    main = threading.get_ident()
    barrier = threading.Barrier(4)
    release = threading.Event()

    def hold() -> None:
        barrier.wait(10)
        release.wait(10)

    def interrupt() -> None:
        barrier.wait(10)
        signal.pthread_kill(main, signal.SIGINT)

    graph: dict[Any, Any] = {("hold", i): (hold,) for i in range(3)}
    graph["interrupt"] = (interrupt,)
    scheduler = tb.dask.scheduler(max_concurrency=4)
    try:
        with pytest.raises(KeyboardInterrupt):
            scheduler(graph, list(graph))
        run = scheduler.last_run
        assert run is not None and run.done and run.status == "cancelled"
    finally:
        release.set()


def test_a_progress_bar_outside_jupyter(tmp_path: Any) -> None:
    import subprocess
    import sys

    script = tmp_path / "bar.py"
    script.write_text(
        "import dask.bag as db\n"
        "import taskbeam as tb\n"
        "bag = db.from_sequence(range(100), npartitions=10).map(lambda v: v + 1)\n"
        "print(bag.sum().compute(scheduler=tb.dask.scheduler(name='bar', progress=True)))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "5050"
    last = done.stderr.strip().splitlines()[-1]
    tasks = len(convert(*graph_of(db.from_sequence(range(100), npartitions=10).sum())).graph)
    assert last.startswith("bar ") and f"{tasks}/{tasks}" in last


def test_dask_config_and_compute_take_it() -> None:
    total = dask.delayed(sum)([dask.delayed(inc)(i) for i in range(5)])
    assert total.compute(scheduler=get) == 15
    with dask.config.set(scheduler=get):
        assert dask.compute(total, dask.delayed(inc)(1)) == (15, 2)


# -- readable graphs ------------------------------------------------------------------


def test_node_ids_come_from_keys() -> None:
    token = "ff47399641d0ebd6c8020780ea758552"
    assert readable(f"sum-aggregate-{token}") == "sum-aggregate"
    assert readable("inc-0e0b4c6a-1f2d-4a5b-9c3e-123456789abc") == "inc"
    assert readable("x-1") == "x-1"
    assert readable("hello-world") == "hello-world"
    assert readable(token) == token
    graph = {
        (f"sum-aggregate-{token}", 3): (inc, 1),
        (f"grid-{token}", 0, 2): (inc, 2),
        "plain": (inc, 3),
        "with/slash": (inc, 4),
    }
    converted = convert(graph, list(graph))
    assert sorted(converted.key_of) == ["grid[0,2]", "plain", "sum-aggregate[3]", "with∕slash"]
    for node_id, key in converted.key_of.items():
        assert converted.node_of[key] == node_id  # reversible


def test_ids_of_colliding_names_stay_unique() -> None:
    graph = {
        ("add-aaaaaaaa1111", 0): (inc, 1),
        ("add-bbbbbbbb2222", 0): (inc, 2),
        ("a", 1): (inc, 3),
        "a[1]": (inc, 4),
        "add~2[0]": (inc, 5),
    }
    converted = convert(graph, list(graph))
    ids = converted.node_of
    assert ids[("add-aaaaaaaa1111", 0)] == "add[0]"
    assert ids[("add-bbbbbbbb2222", 0)] == "add~2[0]"
    assert len(set(ids.values())) == len(graph)
    assert ids[("a", 1)] == "a[1]" and ids["a[1]"] == "a[1]~2"
    assert get(graph, ["a[1]", ("add-bbbbbbbb2222", 0)]) == (5, 3)


def test_a_layer_is_grouped_and_its_function_named() -> None:
    x = da.ones((8, 8), chunks=(2, 2))
    scheduler = tb.dask.scheduler(view=False)
    assert float((x + 1).sum().compute(scheduler=scheduler)) == 128.0
    run = scheduler.last_run
    assert run is not None
    nodes = run.snapshot()["nodes"]
    tags = {s["tags"][0] for s in nodes.values()}
    assert {"sum", "sum-aggregate"} <= {t.split("-finalize")[0] for t in tags}
    functions = run.functions()
    assert "sum" in functions.values()
    for node_id, summary in nodes.items():
        assert summary["tags"][0] in node_id  # the group is the id's readable name
    assert run.details(next(iter(nodes)))["function"] in functions.values()


def test_a_delayed_computation_reads_like_its_functions() -> None:
    @dask.delayed
    def load(i: int) -> list[int]:
        return [i] * 3

    @dask.delayed
    def merge(pairs: list[list[list[int]]]) -> int:
        return sum(sum(sum(part) for part in pair) for pair in pairs)

    out = merge([[load(i), load(i + 1)] for i in range(3)])  # nested lists of delayed
    scheduler = tb.dask.scheduler(view=False)
    assert out.compute(scheduler=scheduler) == out.compute(scheduler="threads") == 27
    run = scheduler.last_run
    assert run is not None
    ids = set(run.snapshot()["nodes"])
    assert "merge" in ids and "load" in ids and len([i for i in ids if i.startswith("load")]) == 6
    assert {s["tags"][0] for s in run.snapshot()["nodes"].values()} == {"load", "merge"}


def test_a_hundred_thousand_tasks_convert_in_seconds() -> None:
    graph: dict[Any, Any] = {("leaf", i): (inc, i) for i in range(100_000)}
    graph["total"] = (sum, [("leaf", i) for i in range(100_000)])
    began = time.perf_counter()
    converted = convert(graph, "total")
    took = time.perf_counter() - began
    assert len(converted.graph) == 100_001
    assert took < 30, f"{took:.1f} s"  # about 2 s on a busy 2-core machine


# -- real collections, against Dask's threaded scheduler ------------------------------


def graph_of(collection: Any) -> tuple[Any, list[Any]]:
    """The graph and keys ``dask.compute`` gives a scheduler for ``collection``."""
    from dask._expr import FinalizeCompute
    from dask.base import collections_to_expr

    expr = FinalizeCompute(collections_to_expr([collection], True)).optimize()
    keys = expr.__dask_keys__()
    return expr.__dask_graph__(), keys if isinstance(keys, list) else [keys]


def threaded(*collections: Any) -> Any:
    return dask.compute(*collections, scheduler="threads")


def ours(*collections: Any) -> Any:
    return dask.compute(*collections, scheduler=tb.dask.scheduler(view=False))


def test_array_reduction_and_rechunk() -> None:
    x = da.random.default_rng(5).random((600, 400), chunks=(100, 100))
    reductions = (x.sum(), x.mean(axis=0), (x @ x.T).std(), x.rechunk((200, 50)).max(axis=1))
    for mine, theirs in zip(ours(*reductions), threaded(*reductions), strict=True):
        np.testing.assert_allclose(mine, theirs)
    rechunked = x.rechunk((120, 100))
    (mine,) = ours(rechunked)
    np.testing.assert_array_equal(mine, x.compute(scheduler="sync"))
    persisted = rechunked.persist(scheduler=tb.dask.scheduler(view=False))
    np.testing.assert_array_equal(persisted.compute(scheduler="sync"), mine)


@pytest.fixture(scope="module")
def frames() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    n = 1_000_000
    left = pd.DataFrame({"k": rng.integers(0, 1000, n), "v": rng.random(n)})
    right = pd.DataFrame({"k": np.arange(1000), "w": rng.random(1000)})
    return dd.from_pandas(left, npartitions=8), dd.from_pandas(right, npartitions=2)


def test_dataframe_groupby_agg_on_a_million_rows(frames: tuple[Any, Any]) -> None:
    left, _ = frames
    agg = left.groupby("k").v.agg(["sum", "mean", "count"])
    (mine,), (theirs,) = ours(agg), threaded(agg)
    pd.testing.assert_frame_equal(mine.sort_index(), theirs.sort_index())
    assert int(mine["count"].sum()) == 1_000_000


def test_dataframe_merge_on_a_million_rows(frames: tuple[Any, Any]) -> None:
    left, right = frames
    merged = left.merge(right, on="k")
    (mine,), (theirs,) = ours(merged), threaded(merged)
    assert len(mine) == 1_000_000
    order = ["k", "v", "w"]
    pd.testing.assert_frame_equal(
        mine.sort_values(order).reset_index(drop=True),
        theirs.sort_values(order).reset_index(drop=True),
    )


def test_bag_fold() -> None:
    bag = db.from_sequence(range(10_000), npartitions=16)
    folded = bag.map(lambda v: v % 97).fold(lambda a, b: a + b, lambda a, b: a + b, initial=0)
    frequencies = bag.map(lambda v: v % 5).frequencies()
    assert ours(folded, frequencies) == threaded(folded, frequencies)


def test_a_failing_chunk() -> None:
    def boom(block: Any, block_id: tuple[int, ...] | None = None) -> Any:
        if block_id == (2, 1):
            raise ZeroDivisionError(f"block {block_id}")
        return block

    x = da.ones((40, 40), chunks=(10, 10)).map_blocks(boom, dtype=float).sum()
    with pytest.raises(ZeroDivisionError, match=r"block \(2, 1\)") as theirs:
        x.compute(scheduler="threads")
    scheduler = tb.dask.scheduler(view=False)
    with pytest.raises(ZeroDivisionError, match=r"block \(2, 1\)") as mine:
        x.compute(scheduler=scheduler)
    assert type(mine.value) is type(theirs.value)
    assert any("[2,1]" in note for note in mine.value.__notes__)
    run = scheduler.last_run
    assert run is not None and run.status == "failed"
    failed = [i for i, s in run.snapshot()["nodes"].items() if s["status"] == "failed"]
    assert len(failed) == 1 and failed[0].endswith("[2,1]")


def test_cancel_through_the_run_handle() -> None:
    release = threading.Event()

    def slow(i: int) -> int:
        release.wait(10)
        return i

    total = dask.delayed(sum)([dask.delayed(slow)(i) for i in range(6)])
    scheduler = tb.dask.scheduler(view=False, max_concurrency=2)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(total.compute, scheduler=scheduler)
        deadline = time.monotonic() + 10
        while scheduler.last_run is None or not scheduler.last_run.counts.get("running"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        scheduler.last_run.cancel()
        with pytest.raises(concurrent.futures.CancelledError):
            future.result(10)
        release.set()
    assert scheduler.last_run.status == "cancelled"


def test_cancel_from_the_view() -> None:
    from tests.integration.test_widget import FrontEnd

    release = threading.Event()

    def slow(i: int) -> int:
        release.wait(10)
        return i

    total = dask.delayed(sum)([dask.delayed(slow)(i) for i in range(4)])
    scheduler = tb.dask.scheduler(max_concurrency=2)
    with (
        tb.Broadcaster(max_delay_ms=10) as broadcaster,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        future = pool.submit(total.compute, scheduler=scheduler)
        deadline = time.monotonic() + 10
        while scheduler.last_run is None or not scheduler.last_run.counts.get("running"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        front = FrontEnd(tb.GraphView(scheduler.last_run, broadcaster=broadcaster))
        assert front.answer(front.ask({"type": "cancel"}))["type"] == "ok"  # the view's button
        with pytest.raises(concurrent.futures.CancelledError):
            future.result(10)
        release.set()


def test_cancel_one_task() -> None:
    release = threading.Event()

    def slow(i: int) -> int:
        if i == 0:
            release.wait(10)
        return i

    parts = [dask.delayed(slow, pure=True)(i) for i in range(3)]
    scheduler = tb.dask.scheduler(view=False, max_concurrency=3)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(dask.compute, *parts, scheduler=scheduler)
        deadline = time.monotonic() + 10
        while scheduler.last_run is None or scheduler.last_run.counts.get("done", 0) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        run = scheduler.last_run
        (first,) = [i for i, s in run.snapshot()["nodes"].items() if s["status"] == "running"]
        run.cancel_node(first)
        with pytest.raises(concurrent.futures.CancelledError, match=first.replace("[", r"\[")):
            future.result(10)
        release.set()


def test_the_result_cache_reruns_only_what_changed() -> None:
    calls: list[int] = []

    def load(i: int, scale: int) -> int:
        calls.append(i)
        return i * scale

    def build(scales: list[int]) -> Any:
        parts = [dask.delayed(load, pure=True)(i, s) for i, s in enumerate(scales)]
        return dask.delayed(sum, pure=True)(parts)

    scheduler = tb.dask.scheduler(view=False, cache=tb.MemoryCache())
    assert build([1, 1, 1, 1]).compute(scheduler=scheduler) == 6
    assert sorted(calls) == [0, 1, 2, 3]
    calls.clear()
    assert build([1, 1, 1, 1]).compute(scheduler=scheduler) == 6
    assert calls == []
    assert build([1, 1, 5, 1]).compute(scheduler=scheduler) == 14
    assert calls == [2]
    run = scheduler.last_run
    assert run is not None
    assert run.snapshot()["run"]["cache"] == {"hits": 3, "misses": 2, "uncacheable": 0}
