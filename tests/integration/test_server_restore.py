"""A server restores its projects from its store: kill it mid-run, start it again, continue.

The server is ``taskbeam serve`` in a subprocess (SIGKILLed, so nothing is
closed cleanly); clients are httpx and python-socketio on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from tests.integration._server import Client, http, registry, wait_status

import taskbeam as tb
from taskbeam.server import serve as tb_serve

APP = textwrap.dedent(
    """
    import time
    import taskbeam as tb
    from taskbeam.server import Registry

    def chain(effects: str, n: int = 30, delay: float = 0.1) -> tb.Graph:
        '''n nodes in a row; each appends its id to the file effects.'''
        def step(node: str, **_: int) -> int:
            with open(effects, "a") as f:
                f.write(node + "\\n")
            time.sleep(delay)
            return len(node)

        g = tb.Graph("chain")
        for i in range(n):
            deps = {"up": f"s{i - 1}"} if i else {}
            g.add(f"s{i}", step, deps=deps, kwargs={"node": f"s{i}"})
        return g

    registry = Registry()
    registry.register("chain", chain)
    """
)


def serve(tmp: Path) -> tuple[subprocess.Popen[str], SimpleNamespace]:
    command = [sys.executable, "-m", "taskbeam._cli", "serve", "--port", "0", "--app",
               "storeapp:registry", "--store", str(tmp / "runs.db")]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp)}
    proc = subprocess.Popen(
        command, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    banner = "".join(proc.stdout.readline() for _ in range(3))
    found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", banner)
    assert found, banner + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
    url, token = found.groups()
    return proc, SimpleNamespace(url=url, token=token)


def api_of(server: SimpleNamespace) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=10
    )


def effects(tmp: Path) -> Counter[str]:
    path = tmp / "effects.txt"
    return Counter(path.read_text().split()) if path.exists() else Counter()


def test_a_killed_server_restores_its_projects_and_continues_one(tmp_path: Path) -> None:
    (tmp_path / "storeapp.py").write_text(APP)
    params = {"effects": str(tmp_path / "effects.txt")}
    proc, server = serve(tmp_path)
    try:
        with api_of(server) as api:
            done_first = api.post(
                "/api/projects", json={"graph": "chain", "params": {**params, "n": 2, "delay": 0}}
            )
            finished = wait_status(api, done_first.json()["id"], {"done"})
            created = api.post("/api/projects", json={"graph": "chain", "params": params})
            assert created.status_code == 201
            pid = created.json()["id"]
            assert pid.startswith("p-chain-")
            run_id = wait_status(api, pid, {"running"})["run_id"]
            assert not run_id.startswith("p-")

            async def watch_until_saved() -> None:
                client = await Client(server).connect()  # watched: saved within 0.5 s
                try:
                    await client.subscribe(pid)
                    with tb.SQLiteStore(tmp_path / "runs.db") as store:
                        await client.until(
                            lambda: store.runs()[0]["counts"].get("done", 0) >= 5, timeout=30
                        )
                finally:
                    await client.close()

            asyncio.run(watch_until_saved())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        stored = tb.open_run(run_id, store)
        assert stored.status is tb.RunStatus.INTERRUPTED
        done_before = {n for n, s in stored.snapshot()["nodes"].items() if s["status"] == "done"}
    before = effects(tmp_path)

    proc, server = serve(tmp_path)
    try:
        with api_of(server) as api:
            listed = {p["id"]: p for p in api.get("/api/projects").json()["projects"]}
            assert listed[pid]["status"] == "interrupted"
            assert listed[finished["id"]]["status"] == "done"
            runs = api.get("/api/runs").json()
            assert runs["total"] == 2 and runs["runs"][0]["id"] == run_id  # newest first
            assert runs["runs"][0]["status"] == "interrupted"
            assert api.get("/api/runs", params={"status": "interrupted"}).json()["total"] == 1
            page = api.get("/api/runs", params={"limit": 1}).json()
            rest = api.get("/api/runs", params={"limit": 1, "cursor": page["next"]}).json()
            assert [r["id"] for r in page["runs"] + rest["runs"]] == [r["id"] for r in runs["runs"]]
            assert rest["next"] is None
            snap = api.get(f"/api/runs/{run_id}").json()
            assert snap["run"]["status"] == "interrupted"
            assert api.get("/api/runs/nope-00000000").status_code == 404
            full = api.get(f"/api/projects/{pid}", params={"full": 1}).json()
            assert full["snapshot"]["nodes"] == snap["nodes"]
            node = api.get(f"/api/projects/{pid}/nodes/s0").json()
            assert node["status"] == "done"
            assert api.post(f"/api/projects/{pid}/pause").status_code == 409  # stored
            assert api.post(f"/api/projects/{finished['id']}/continue").status_code == 409  # done
            assert api.post("/api/projects/p-nope-1/continue").status_code == 404

            async def follow_and_continue() -> dict[str, Any]:
                client = await Client(server).connect()
                try:
                    answer = await client.subscribe(pid)
                    assert answer["room"] == run_id
                    await client.until(lambda: client.state is not None)
                    assert client.state is not None
                    assert client.state["run"]["status"] == "interrupted"
                    other = await Client(server).connect()
                    try:
                        ok = await other.call("subscribe", {"run_id": run_id})
                        assert ok["room"] == run_id
                        await other.until(lambda: other.state is not None)
                    finally:
                        await other.close()
                    continued = await asyncio.to_thread(api.post, f"/api/projects/{pid}/continue")
                    assert continued.status_code == 202, continued.text
                    assert "deprecation" not in continued.headers
                    await client.until(
                        lambda: (
                            client.state is not None and client.state["run"]["status"] == "done"
                        ),
                        timeout=60,
                    )
                    return client.state
                finally:
                    await client.close()

            final = asyncio.run(follow_and_continue())
            assert final["run"]["counts"]["done"] == 30
            assert wait_status(api, pid, {"done"})["run"]["counts"]["done"] == 30
            assert api.post(f"/api/projects/{pid}/continue").status_code == 409  # done now
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    after = effects(tmp_path)
    assert {n for n in done_before if after[n] != before[n]} == set()  # done nodes not rerun
    assert set(after) == {f"s{i}" for i in range(30)} | {"s0", "s1"}


def test_a_served_service_lists_stored_projects_of_an_earlier_server(tmp_path: Path) -> None:

    store = tb.SQLiteStore(tmp_path / "runs.db")
    first = tb.ExecutionService(store=store)
    server = tb_serve(first, registry())
    try:
        with http(server) as api:
            created = api.post("/api/projects", json={"graph": "tiny", "params": {"n": 4}})
            pid = created.json()["id"]
            run_id = wait_status(api, pid, {"done"})["run_id"]
        python = tb.Graph("from-python")
        python.add("a", lambda: 1)
        first.start("mine", python).wait()
    finally:
        server.stop()
        first.shutdown(timeout=10)
    # A new service over the same store: nothing in memory, everything in the store.
    second = tb.ExecutionService(store=store)
    server = tb_serve(second, registry())
    try:
        with http(server) as api:
            listed = {p["id"]: p for p in api.get("/api/projects").json()["projects"]}
            assert listed[pid]["status"] == "done" and listed[pid]["params"] == {"n": 4}
            assert listed[pid]["graph"] == "tiny" and listed[pid]["run_id"] == run_id
            assert listed["mine"]["status"] == "done"
            nodes = api.get(f"/api/projects/{pid}/nodes").json()["nodes"]
            assert len(nodes) == 4
            runs = api.get("/api/runs", params={"project": pid}).json()
            assert [r["id"] for r in runs["runs"]] == [run_id]
            assert api.get("/api/runs", params={"name": "PYTHON"}).json()["total"] == 1
            assert api.get("/api/runs", params={"status": "bogus"}).status_code == 422
            assert api.get("/api/runs", params={"cursor": "x"}).status_code == 422
            # Executed again: a fresh graph from the registry with the stored params.
            again = api.post(f"/api/projects/{pid}/execute")
            assert again.status_code == 202
            new_run = wait_status(api, pid, {"done"})
            assert new_run["run_id"] != run_id and new_run["run"]["total"] == 4
            assert api.post("/api/projects/mine/continue").status_code == 409  # done
    finally:
        server.stop()
        second.shutdown(timeout=10)
        store.close()
