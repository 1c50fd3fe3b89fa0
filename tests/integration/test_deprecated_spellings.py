"""The old spellings of continuing a stored run still work, and say they are deprecated.

``resume`` now only un-pauses; continuing a stored run is ``continue_run``
(Python), ``POST /api/projects/{id}/continue`` (REST) and ``continue``
(Socket.IO). Each old spelling still continues the run, with a
``DeprecationWarning`` in Python, the ``Deprecation`` and ``Link`` headers
in REST and a ``deprecated`` field in the Socket.IO ack. Servers are real,
on 127.0.0.1 port 0; clients are httpx and python-socketio.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.integration._server import Client, http, registry, start, wait_status

import taskbeam as tb
from taskbeam.server import Server, serve
from taskbeam.server._sio import DEPRECATED_RESUME

# The nodes that raise this time: read by the tasks at run time, so that the graph
# built again to continue a run is the same graph (a value a task closes over is
# part of its fingerprint; a global it reads is not).
FAILING: set[str] = set()


def counted(calls: Counter[str], fail: set[str] | None = None) -> tb.Graph:
    """a -> b -> c, counting the calls of each; the nodes in ``fail`` raise."""
    FAILING.clear()
    FAILING.update(fail or ())

    def step(name: str, **_: int) -> int:
        calls[name] += 1
        if name in FAILING:
            raise RuntimeError(f"{name} fails this time")
        return len(name)

    g = tb.Graph("counted")
    g.add("a", step, kwargs={"name": "a"})
    g.add("b", step, deps={"up": "a"}, kwargs={"name": "b"})
    g.add("c", step, deps={"up": "b"}, kwargs={"name": "c"})
    return g


def failed_once(store: tb.SQLiteStore, calls: Counter[str], project: str | None = None) -> tb.Run:
    """A stored run of ``counted`` whose ``b`` failed (so ``c`` was skipped)."""
    run = tb.start(counted(calls, {"b"}), store=store, project=project).wait(10)
    assert run.status is tb.RunStatus.FAILED
    calls.clear()
    return run


# -- Python ---------------------------------------------------------------------


def test_tb_resume_warns_and_still_continues_reusing_done_nodes(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        first = failed_once(store, calls)
        with pytest.warns(
            DeprecationWarning,
            match=r"taskbeam\.resume\(\) is deprecated: use taskbeam\.continue_run",
        ) as caught:
            again = tb.resume(first.id, counted(calls), store=store)
        assert again.wait(10).status is tb.RunStatus.DONE and again.id == first.id
        assert [Path(w.filename).name for w in caught] == [Path(__file__).name]  # the caller
    assert calls == Counter({"b": 1, "c": 1})  # a was done: reused, not run again


def test_continue_run_does_not_warn(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        first = failed_once(store, calls)
        again = tb.continue_run(first.id, counted(calls), store=store).wait(
            10
        )  # errors: no warning
        assert again.status is tb.RunStatus.DONE
        assert tb.continue_run is tb.engine.continue_run
    assert calls == Counter({"b": 1, "c": 1})


def test_service_resume_with_a_graph_warns_and_continues(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        failed_once(store, calls, "proj")
        with tb.ExecutionService(store=store) as svc:
            with pytest.warns(
                DeprecationWarning, match=r"ExecutionService\.resume\(project_id, graph\) is dep"
            ) as caught:
                run = svc.resume("proj", counted(calls))
            assert run.wait(10).status is tb.RunStatus.DONE
            assert svc.get("proj") is run
            assert [Path(w.filename).name for w in caught] == [Path(__file__).name]
    assert calls == Counter({"b": 1, "c": 1})


def test_service_resume_without_a_graph_only_unpauses(tmp_path: Path) -> None:
    async def step(**_: float) -> float:
        await asyncio.sleep(0.01)
        return 0.01

    chain = tb.Graph("chain")
    for i in range(300):
        chain.add(f"s{i:03d}", step, deps=[f"s{i - 1:03d}"] if i else [])
    with tb.ExecutionService(store=tb.SQLiteStore(tmp_path / "runs.db")) as svc:
        run = svc.start("p", chain)
        svc.pause("p")
        poll(lambda: run.status is tb.RunStatus.PAUSED)
        assert svc.resume("p") is run  # no warning (pytest would turn one into an error)
        poll(lambda: run.status is tb.RunStatus.RUNNING)
        assert svc.stop("p", timeout=10).status is tb.RunStatus.CANCELLED
        again = svc.continue_run("p", chain)  # no warning either
        assert again.wait(30).status is tb.RunStatus.DONE and again.id == run.id


def test_stored_run_continue_underscore_warns_and_continues(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        first = failed_once(store, calls)
        stored = tb.open_run(first.id, store, graph=counted(calls))
        with pytest.warns(
            DeprecationWarning, match=r"StoredRun\.continue_\(\) is deprecated: use .*continue_run"
        ) as caught:
            again = stored.continue_()
        assert again.wait(10).status is tb.RunStatus.DONE
        assert [Path(w.filename).name for w in caught] == [Path(__file__).name]
        with pytest.raises(tb.NotRunning, match=r"continue it with stored\.continue_run\(\)"):
            tb.open_run(first.id, store, graph=counted(calls)).resume()
    assert calls == Counter({"b": 1, "c": 1})


# -- the server -------------------------------------------------------------------


@contextlib.contextmanager
def stored_server(tmp: Path) -> Iterator[Server]:
    """A server on 127.0.0.1, port 0, over a service that saves to a store."""
    store = tb.SQLiteStore(tmp / "runs.db")
    service = tb.ExecutionService(store=store, max_concurrency=64)
    server = serve(service, registry())
    try:
        yield server
    finally:
        server.stop()
        service.shutdown(timeout=10)
        store.close()


def cancelled(api: httpx.Client, n: int = 40) -> tuple[str, str]:
    """A project of ``slow`` stopped after a few nodes: its id and its run's id."""
    pid = start(api, "slow", n=n, delay=0.02)
    poll(lambda: api.get(f"/api/projects/{pid}").json()["run"]["counts"].get("done", 0) >= 2)
    assert api.post(f"/api/projects/{pid}/stop").status_code == 202
    project = wait_status(api, pid, {"cancelled"})
    return pid, project["run_id"]


def poll(check: Callable[[], bool], tries: int = 1500) -> None:
    """Wait for ``check()``, bounded (about 30 s)."""
    for _ in range(tries):
        if check():
            return
        time.sleep(0.02)
    raise AssertionError("the condition was never met")


def test_rest_continue_and_the_old_resume_on_a_stored_run(tmp_path: Path) -> None:
    with stored_server(tmp_path) as server, http(server) as api:
        pid, run_id = cancelled(api)
        old = api.post(f"/api/projects/{pid}/resume")  # the old meaning: continue it
        assert old.status_code == 202, old.text
        assert old.headers["Deprecation"] == "true"
        assert old.headers["Link"] == f'</api/projects/{pid}/continue>; rel="successor-version"'
        done = wait_status(api, pid, {"done"})
        assert done["run_id"] == run_id and done["run"]["counts"]["done"] == 40

        pid, run_id = cancelled(api)
        new = api.post(f"/api/projects/{pid}/continue")
        assert new.status_code == 202, new.text
        assert "deprecation" not in new.headers and "link" not in new.headers
        done = wait_status(api, pid, {"done"})
        assert done["run_id"] == run_id and done["run"]["counts"]["done"] == 40
        assert api.post(f"/api/projects/{pid}/continue").status_code == 409  # done
        assert api.post(f"/api/projects/{pid}/resume").status_code == 409
        assert api.post("/api/projects/p-nope-1/continue").status_code == 404
        with http(server, None) as anonymous:  # the same token as the other controls
            assert anonymous.post(f"/api/projects/{pid}/continue").status_code == 401


def test_rest_resume_on_a_paused_run_carries_no_deprecation(tmp_path: Path) -> None:
    with stored_server(tmp_path) as server, http(server) as api:
        pid = start(api, "slow", n=400, delay=0.02)
        assert api.post(f"/api/projects/{pid}/pause").status_code == 202
        wait_status(api, pid, {"paused"})
        assert api.post(f"/api/projects/{pid}/continue").status_code == 409  # resume it
        resumed = api.post(f"/api/projects/{pid}/resume")
        assert resumed.status_code == 202
        assert "deprecation" not in resumed.headers and "link" not in resumed.headers
        wait_status(api, pid, {"running"})
        assert api.post(f"/api/projects/{pid}/stop").status_code == 202


def test_socketio_continue_and_the_old_resume_on_a_stored_run(tmp_path: Path) -> None:
    with stored_server(tmp_path) as server, http(server) as api:

        async def main() -> None:
            client = await Client(server).connect()
            try:
                # continue: the continued run takes over the room of the stored one
                pid, run_id = await asyncio.to_thread(cancelled, api)
                assert (await client.subscribe(pid))["room"] == run_id
                answer = await client.call("continue", {"project_id": pid, "id": 1})
                assert answer == {"type": "ok", "id": 1}
                await client.until(
                    lambda: client.state is not None and client.state["run"]["status"] == "done"
                )
                assert client.state is not None and client.state["run"]["counts"]["done"] == 40

                # the old resume on a stored run: continued, and the ack says it is deprecated
                pid, run_id = await asyncio.to_thread(cancelled, api)
                answer = await client.call("resume", {"project_id": pid})
                assert answer == {"type": "ok", "deprecated": DEPRECATED_RESUME}
                assert "use continue" in answer["deprecated"]
                done = await asyncio.to_thread(wait_status, api, pid, {"done"})
                assert done["run_id"] == run_id

                # resume on a paused run un-pauses it, with no deprecated field
                live = await asyncio.to_thread(lambda: start(api, "slow", n=400, delay=0.02))
                assert (await client.call("pause", {"project_id": live}))["type"] == "ok"
                await asyncio.to_thread(wait_status, api, live, {"paused"})
                refused = await client.call("continue", {"project_id": live})
                assert refused["type"] == "error" and "paused: resume it" in refused["error"]
                assert await client.call("resume", {"project_id": live}) == {"type": "ok"}
                await asyncio.to_thread(wait_status, api, live, {"running"})
                assert (await client.call("stop", {"project_id": live}))["type"] == "ok"
                by_run = await client.call("continue", {"run_id": run_id})
                assert by_run["type"] == "error" and "takes a project_id" in by_run["error"]
            finally:
                await client.close()

        asyncio.run(main())
