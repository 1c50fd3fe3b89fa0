"""Executors: sync tasks in worker processes and on a real Dask LocalCluster."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
from pathlib import Path
from typing import Any

import dask
import pytest
from distributed import Client, LocalCluster
from tests.conftest import wait_until

import taskbeam as tb

# -- task functions (module level: worker processes import them) -------------


def square(x: int) -> int:
    print(f"squaring {x}")
    return x * x


def total(**parts: int) -> int:
    return sum(parts.values())


def boom() -> None:
    raise ValueError("bad input 42")


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def die_once(marker: str) -> str:
    """Kill the process running it the first time; succeed the next."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


def layered_graph(width: int, depth: int) -> tb.Graph:
    """``depth`` layers of ``width`` nodes; each takes the sum of up to 3 from the layer before."""
    g = tb.Graph("layers")
    for i in range(width):
        g.add(f"L0_{i}", square, kwargs={"x": i})
    for layer in range(1, depth):
        for i in range(width):
            deps = sorted({f"L{layer - 1}_{(i + k) % width}" for k in range(3)})
            g.add(f"L{layer}_{i}", total, deps=deps)
    return g


def _tracer_made(log: str, tag: str) -> Tracer:
    with open(log, "a") as f:
        f.write(f"{os.getpid()} {tag}\n")
    return Tracer(log, tag)


class Tracer:
    """A value that writes down the process of every copy made of it by unpickling."""

    def __init__(self, log: str, tag: str) -> None:
        self.log, self.tag = log, tag

    def __reduce__(self) -> tuple[Any, ...]:
        return (_tracer_made, (self.log, self.tag))

    def __repr__(self) -> str:
        return f"Tracer({self.tag!r}, made in {os.getpid()})"


def make_tracer(log: str, tag: str) -> Tracer:
    return Tracer(log, tag)


def read_tracer(make: Tracer) -> str:
    return f"{make.tag} read in {os.getpid()}"


def pids_that_unpickled(log: Path) -> set[int]:
    if not log.exists():
        return set()
    return {int(line.split()[0]) for line in log.read_text().splitlines()}


# -- ProcessExecutor ---------------------------------------------------------


@pytest.fixture(scope="module")
def processes() -> Any:
    with tb.ProcessExecutor(2) as ex:
        yield ex


def test_process_results_equal_a_local_run(processes: tb.ProcessExecutor) -> None:
    g = layered_graph(width=6, depth=4)
    local = tb.start(g).wait()
    remote = tb.start(g, executor=processes).wait()
    assert remote.status is tb.RunStatus.DONE
    assert remote.results == local.results
    assert remote.details("L0_3")["output"] == "squaring 3\n"  # printed in the worker, kept
    assert remote.options["executor"] == "ProcessExecutor(max_workers=2)"


def test_process_runs_in_other_processes(processes: tb.ProcessExecutor) -> None:
    g = tb.Graph("pids")
    for i in range(4):
        g.add(f"p{i}", os.getpid)
    run = tb.start(g, executor=processes).wait()
    pids = set(run.results.values())
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_process_notebook_style_functions_and_expand(processes: tb.ProcessExecutor) -> None:
    offset = 10  # a closure and lambdas: cloudpickle sends them by value

    def plan(n: int) -> tb.Expansion:
        sub = tb.Graph()
        for i in range(n):
            sub.add(f"c{i}", lambda i=i: i + offset)
        return tb.expand(sub, aggregate=lambda results: sorted(results.values()))

    g = tb.Graph("nb")
    g.add("plan", plan, kwargs={"n": 3})
    run = tb.start(g, executor=processes).wait()
    assert run.status is tb.RunStatus.DONE, run.snapshot()["nodes"]
    assert run.result("plan") == [10, 11, 12]


def test_process_errors_are_clear_and_lose_nothing(processes: tb.ProcessExecutor) -> None:
    import threading

    g = tb.Graph("bad")
    g.add("boom", boom)
    g.add("unsendable_arg", lambda lock: 1, kwargs={"lock": threading.Lock()})
    g.add("unsendable_result", threading.Lock)
    g.add("fine", square, kwargs={"x": 3})
    run = tb.start(g, executor=processes).wait()
    nodes = run.snapshot()["nodes"]
    assert nodes["boom"]["error"]["type"] == "ValueError"
    assert "bad input 42" in nodes["boom"]["error"]["message"]
    tb_text = run.details("boom")["error"]["traceback"]
    assert "in boom" in tb_text and "engine/_executor.py" not in tb_text
    assert nodes["unsendable_arg"]["error"]["type"] == "TypeError"
    assert "cannot be sent to a worker process" in nodes["unsendable_arg"]["error"]["message"]
    assert nodes["unsendable_result"]["error"]["type"] == "TypeError"
    assert "cannot be sent back" in nodes["unsendable_result"]["error"]["message"]
    assert run.result("fine") == 9


def test_process_worker_death_retries_and_pool_recovers(
    processes: tb.ProcessExecutor, tmp_path: Path
) -> None:
    g = tb.Graph("die")
    g.add("fragile", die_once, kwargs={"marker": str(tmp_path / "m")}, retries=2, backoff=0.05)
    g.add("after", lambda fragile: fragile + "!", deps=["fragile"])
    g.add("unlucky", die_once, kwargs={"marker": str(tmp_path / "n")})  # no retries
    run = tb.start(g, executor=processes, on_error="continue", max_concurrency=1).wait()
    nodes = run.snapshot()["nodes"]
    assert nodes["fragile"]["status"] == "done" and nodes["fragile"]["attempt"] == 2
    assert run.result("after") == "survived!"
    assert nodes["unlucky"]["error"]["type"] == "taskbeam.WorkerLost"
    g = tb.Graph("next")
    g.add("x", square, kwargs={"x": 5})
    assert tb.start(g, executor=processes).wait().result("x") == 25  # a new pool took over


def test_process_timeout_fails_at_once(processes: tb.ProcessExecutor) -> None:
    g = tb.Graph("slow")
    g.add("slow", nap, kwargs={"seconds": 3}, timeout=0.3)
    started = time.monotonic()
    run = tb.start(g, executor=processes).wait()
    assert time.monotonic() - started < 2.5
    assert run.snapshot()["nodes"]["slow"]["error"]["type"] == "taskbeam.NodeTimeout"


def test_executor_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        tb.ProcessExecutor(0)
    with pytest.raises(ValueError, match="start_method"):
        tb.ProcessExecutor(1, start_method="fork")
    with pytest.raises(TypeError, match="executor must be a taskbeam executor"):
        tb.start(tb.Graph("x"), executor="threads")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        tb.start(tb.Graph("x"), executor=tb.LocalExecutor(2), sync_workers=2)
    with pytest.raises(TypeError, match="distributed.Client"):
        tb.DaskExecutor(object())
    ex = tb.ProcessExecutor(1)
    ex.shutdown()
    g = tb.Graph("closed")
    g.add("x", square, kwargs={"x": 1})
    error = tb.start(g, executor=ex).wait().snapshot()["nodes"]["x"]["error"]
    assert "shut down" in error["message"]


# -- DaskExecutor on a LocalCluster -----------------------------------------


@pytest.fixture(scope="module")
def client() -> Any:
    # allowed-failures 0: a worker's death fails the Dask task at once, and
    # the node's own retry policy decides what happens next.
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def executor(client: Client) -> Any:
    ex = tb.DaskExecutor(client)
    yield ex
    ex.close()


@pytest.fixture
def dask_ex(executor: Any, client: Client) -> Any:
    """The executor, on a cluster with both workers up and no task of an earlier test left."""
    client.wait_for_workers(2, timeout=60)
    deadline = time.monotonic() + 60
    while left := scheduler_tasks(client):
        gc.collect()  # runs of earlier tests hold their results' futures until collected
        assert time.monotonic() < deadline, f"tasks of earlier tests left on the cluster: {left}"
        time.sleep(0.05)
    return executor


def scheduler_tasks(client: Client) -> dict[str, str]:
    return client.run_on_scheduler(  # type: ignore[no-any-return]
        lambda dask_scheduler: {str(k): ts.state for k, ts in dask_scheduler.tasks.items()}
    )


def test_dask_graph_of_thousands_equals_a_local_run(dask_ex: Any, client: Client) -> None:
    g = layered_graph(width=50, depth=60)  # 3,000 nodes
    local = tb.start(g).wait()
    run = tb.start(g, executor=dask_ex).wait(timeout=240)
    assert run.status is tb.RunStatus.DONE
    assert {k: v for k, v in run.counts.items() if v} == {"done": 3000}
    assert run.results == local.results
    assert run.details("L0_7")["output"] == "squaring 7\n"
    # the results live on the cluster until the run is dropped
    assert len(scheduler_tasks(client)) == 3000
    del run
    gc.collect()
    wait_until(lambda: not scheduler_tasks(client), timeout=30)


def test_dask_results_move_worker_to_worker_not_through_the_kernel(
    dask_ex: Any, tmp_path: Path
) -> None:
    log = tmp_path / "unpickled.log"
    g = tb.Graph("data")
    g.add("make", make_tracer, kwargs={"log": str(log), "tag": "big"})
    g.add("read", read_tracer, deps=["make"])
    run = tb.start(g, executor=dask_ex).wait(timeout=60)
    assert run.status is tb.RunStatus.DONE, run.snapshot()["nodes"]
    kernel = os.getpid()
    assert kernel not in pids_that_unpickled(log)
    preview = run.snapshot()["nodes"]["make"]["preview"]
    assert preview.startswith("Tracer('big', made in ") and str(kernel) not in preview
    assert isinstance(run._state.nodes["make"].result, tb.RemoteResult)
    assert run.result("read").startswith("big read in ")
    assert kernel not in pids_that_unpickled(log)
    assert run.result("make").tag == "big"  # asked for: now it comes here
    assert kernel in pids_that_unpickled(log)


def test_dask_mixes_with_async_tasks_expand_and_aggregates(dask_ex: Any) -> None:
    async def plus_one(total: int) -> int:
        await asyncio.sleep(0)
        return total + 1

    def plan(n: int) -> tb.Expansion:
        sub = tb.Graph()
        for i in range(n):
            sub.add(f"c{i}", square, kwargs={"x": i})
        return tb.expand(sub, aggregate=lambda results: sum(results.values()))

    async def agg_async(results: dict[str, int]) -> int:
        return max(results.values())

    def plan_async_agg(n: int) -> tb.Expansion:
        sub = tb.Graph()
        for i in range(n):
            sub.add(f"c{i}", square, kwargs={"x": i})
        return tb.expand(sub, aggregate=agg_async)

    g = tb.Graph("mixed")
    g.add("a", square, kwargs={"x": 3})
    g.add("b", square, kwargs={"x": 4})
    g.add("total", total, deps=["a", "b"])
    g.add("plus_one", plus_one, deps=["total"])
    g.add("plan", plan, kwargs={"n": 4})
    g.add("plan2", plan_async_agg, kwargs={"n": 4})
    run = tb.start(g, executor=dask_ex).wait(timeout=60)
    assert run.status is tb.RunStatus.DONE, run.snapshot()["nodes"]
    assert run.result("plus_one") == 26
    assert run.result("plan") == 0 + 1 + 4 + 9
    assert run.result("plan2") == 9
    assert run.snapshot()["nodes"]["plan/c3"]["preview"] == "9"


def test_dask_unsendable_arguments_fail_their_node_clearly(dask_ex: Any) -> None:
    import threading

    g = tb.Graph("unsendable")
    g.add("lock_arg", lambda lock: 1, kwargs={"lock": threading.Lock()})
    g.add("lock_result", threading.Lock)  # stays on the worker: nothing to send
    g.add("uses_it", lambda lock_result: type(lock_result).__name__, deps=["lock_result"])
    run = tb.start(g, executor=dask_ex).wait(timeout=60)
    error = run.snapshot()["nodes"]["lock_arg"]["error"]
    assert error["type"] == "TypeError"
    assert "'lock_arg' cannot be sent to the Dask cluster" in error["message"]
    assert "_thread.lock" in error["message"]
    assert run.result("uses_it") == "lock"


def test_dask_errors_keep_type_traceback_and_output(dask_ex: Any) -> None:
    def noisy_boom() -> None:
        print("about to fail")
        boom()

    g = tb.Graph("err")
    g.add("boom", noisy_boom)
    g.add("after", lambda boom: boom, deps=["boom"])
    run = tb.start(g, executor=dask_ex).wait(timeout=60)
    assert run.status is tb.RunStatus.FAILED
    details = run.details("boom")
    assert details["error"]["type"] == "ValueError"
    assert "in boom" in details["error"]["traceback"]
    assert "_dask.py" not in details["error"]["traceback"]
    assert details["output"] == "about to fail\n"
    assert run.snapshot()["nodes"]["after"]["status"] == "skipped"


def _worker_pids(client: Client) -> dict[str, int]:
    return client.run(os.getpid)  # type: ignore[no-any-return]


def test_dask_killed_worker_retries_by_the_nodes_policy(
    dask_ex: Any, client: Client, tmp_path: Path
) -> None:
    g = tb.Graph("kill")
    for i in range(6):
        g.add(f"slow{i}", nap, kwargs={"seconds": 0.3}, retries=2, backoff=0.05)
    g.add("victim", nap, kwargs={"seconds": 30}, retries=2, backoff=0.05, priority=5)
    g.add("unguarded", nap, kwargs={"seconds": 30}, priority=5)  # no retries
    g.add("sink", total, deps=[f"slow{i}" for i in range(6)])
    run = tb.start(g, executor=dask_ex, max_concurrency=8)
    wait_until(lambda: run.snapshot()["nodes"]["victim"]["status"] == "running", timeout=30)
    time.sleep(0.5)  # both long tasks are on a worker now
    for pid in _worker_pids(client).values():
        os.kill(pid, signal.SIGKILL)
    # the victim's second attempt would take 30 s: cancel it once it has retried
    wait_until(lambda: run.snapshot()["nodes"]["victim"]["attempt"] >= 2, timeout=60)
    wait_until(lambda: run.snapshot()["nodes"]["sink"]["status"] == "done", timeout=120)
    run.cancel_node("victim")
    run.wait(timeout=60)
    nodes = run.snapshot()["nodes"]
    assert nodes["unguarded"]["status"] == "failed"
    assert nodes["unguarded"]["error"]["type"] == "distributed.scheduler.KilledWorker"
    assert nodes["sink"]["status"] == "done"
    assert run.result("sink") == pytest.approx(6 * 0.3)
    assert max(nodes[f"slow{i}"]["attempt"] for i in range(6)) <= 3


def test_dask_cancel_leaves_no_tasks_on_the_cluster(dask_ex: Any, client: Client) -> None:
    g = tb.Graph("cancel")
    for i in range(40):
        g.add(f"n{i}", nap, kwargs={"seconds": 0.2})
    g.add("sink", total, deps=[f"n{i}" for i in range(40)])
    run = tb.start(g, executor=dask_ex, max_concurrency=10)
    wait_until(lambda: run.counts.get("done", 0) >= 4, timeout=60)
    run.cancel()
    run.wait(timeout=30)
    assert run.status is tb.RunStatus.CANCELLED
    done = run.counts.get("done", 0)

    def only_kept_results() -> bool:  # the scheduler hears of the cancel a moment later
        states = scheduler_tasks(client)
        return len(states) == done and set(states.values()) == {"memory"}

    wait_until(only_kept_results, timeout=10)
    run = None  # dropping the run releases the results it kept
    gc.collect()
    wait_until(lambda: not scheduler_tasks(client), timeout=30)


def test_dask_client_closed_mid_run_fails_the_open_nodes(dask_ex: Any, client: Client) -> None:
    own = Client(client.scheduler.address)
    g = tb.Graph("closing")
    for i in range(4):
        g.add(f"n{i}", nap, kwargs={"seconds": 1})
    run = tb.start(g, executor=tb.DaskExecutor(own))
    wait_until(lambda: run.counts.get("running") == 4, timeout=30)
    own.close()
    run.wait(timeout=30)
    nodes = run.snapshot()["nodes"]
    assert {n["status"] for n in nodes.values()} == {"failed"}
    assert "its client closed" in nodes["n0"]["error"]["message"]


def test_dask_timeout_cancels_the_future(dask_ex: Any, client: Client) -> None:
    g = tb.Graph("timeout")
    g.add("slow", nap, kwargs={"seconds": 5}, timeout=0.5)
    started = time.monotonic()
    run = tb.start(g, executor=dask_ex).wait(timeout=30)
    assert time.monotonic() - started < 4
    assert run.snapshot()["nodes"]["slow"]["error"]["type"] == "taskbeam.NodeTimeout"
    wait_until(lambda: not scheduler_tasks(client), timeout=10)


def test_dask_run_with_a_store_keeps_previews(dask_ex: Any, tmp_path: Path) -> None:
    store = tb.SQLiteStore(tmp_path / "runs.db")
    g = tb.Graph("stored")
    g.add("a", square, kwargs={"x": 6})
    g.add("b", lambda a: a + 1, deps=["a"])
    run = tb.start(g, executor=dask_ex, store=store).wait(timeout=60)
    assert run.status is tb.RunStatus.DONE and run.store_error is None
    saved = store.load(run.id)
    assert saved["nodes"]["a"]["preview"] == "36"
    assert next(r for r in store.runs() if r["id"] == run.id)["status"] == "done"
    again = tb.continue_run(run.id, g, store=store, executor=dask_ex).wait(timeout=60)
    assert again.result("b") == 37  # kept on the cluster, not in the store: ran again
    store.close()
