"""The npm socket.io-client under node against a real server.

uvicorn on 127.0.0.1 (port 0) in a thread; ``node/follow.mjs`` connects
with socket.io-client and applies the frames with the web page's own
channel and store (js/src), then prints what it ended with. Its final
state must be the run's state as REST gives it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration._server import start, wait_status

from taskbeam.server import Server

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "js"
SCRIPT = Path(__file__).resolve().parent / "node" / "follow.mjs"
ENDED = {"done", "failed", "cancelled"}


@pytest.fixture(scope="module")
def server(server: Server) -> Server:
    """The shared server, once node and the npm client are known to be there."""
    node = shutil.which("node")
    assert node is not None, "these tests need node (20 or newer) on PATH"
    assert (JS / "node_modules" / "socket.io-client").is_dir(), "run `cd js && npm ci` first"
    return server


def options(
    server: Server, projects: list[str], drop_after: int | None, timeout: float
) -> dict[str, Any]:
    return {
        "url": server.url,
        "token": server.token,
        "projects": projects,
        "js": str(JS),
        "dropAfterBatches": drop_after,
        "timeout": timeout,
    }


def follow(
    server: Server, projects: list[str], drop_after: int | None = None, timeout: float = 60
) -> list[dict[str, Any]]:
    """Run follow.mjs until every project's run has ended; what it saw, per project."""
    done = subprocess.run(
        ["node", str(SCRIPT), json.dumps(options(server, projects, drop_after, timeout))],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        check=False,
    )
    assert done.stdout, f"node printed nothing; stderr:\n{done.stderr[-3000:]}"
    out = json.loads(done.stdout.splitlines()[-1])
    summary = [{k: v for k, v in p.items() if k != "state"} for p in out["projects"]]
    assert done.returncode == 0 and not out["timedOut"], (summary, done.stderr[-3000:])
    result: list[dict[str, Any]] = out["projects"]
    return result


def rest_state(api: httpx.Client, project_id: str) -> dict[str, Any]:
    project = wait_status(api, project_id, ENDED)
    full: dict[str, Any] = api.get(f"/api/projects/{project_id}", params={"full": 1}).json()
    assert full["run"]["id"] == project["run"]["id"]
    return full["snapshot"]


def test_node_client_rebuilds_the_run_across_a_reconnection(
    server: Server, api: httpx.Client
) -> None:
    """2,000 nodes with long previews (gzip frames); the connection is cut mid-run."""
    project_id = start(api, "wide", n=2000, delay=0.1)
    [seen] = follow(server, [project_id], drop_after=8)
    assert seen["state"] == rest_state(api, project_id)
    assert seen["dropped"] and seen["connections"] == 2  # cut once, reconnected once
    assert seen["reconnectSnapshot"]  # the new subscription brought a snapshot
    assert seen["resyncAnswer"]["type"] == "ok"
    assert seen["resyncSnapshot"]  # and the explicit resync another
    assert seen["channel"]["subscriptions"] == 2
    assert seen["channel"]["compressed"] > 0  # gzip attachments were decoded
    assert seen["store"]["batches"] > 8
    assert seen["store"]["snapshots"] >= 3
    assert seen["store"]["decodeErrors"] == 0
    assert seen["rooms"] == [seen["room"]]
    assert seen["state"]["run"]["status"] == "done"


def test_node_clients_of_two_projects_never_get_each_others_frames(
    server: Server, api: httpx.Client
) -> None:
    first = start(api, "slow", n=100, delay=0.02)  # about 2 s each
    second = start(api, "wide", n=300, delay=0.4)
    a, b = follow(server, [first, second])
    assert a["state"] == rest_state(api, first)
    assert b["state"] == rest_state(api, second)
    assert a["rooms"] == [a["room"]] and b["rooms"] == [b["room"]]
    assert a["room"] != b["room"]
    assert a["channel"]["dropped"] == b["channel"]["dropped"] == 0
    assert set(a["state"]["nodes"]).isdisjoint(b["state"]["nodes"])
    assert a["frames"]["batch_update"] > 0 and b["frames"]["batch_update"] > 0


def test_node_client_follows_the_project_to_its_next_run(server: Server, api: httpx.Client) -> None:
    """Run again while subscribed: the new run's snapshot arrives on the same connection."""
    project_id = start(api, "slow", n=30, delay=0.01)
    first_run = rest_state(api, project_id)["run"]["id"]
    proc = subprocess.Popen(
        ["node", str(SCRIPT), json.dumps(options(server, [project_id], None, 40))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        subscribed = json.loads(proc.stdout.readline())
        assert subscribed == {"event": "subscribed", "project": project_id, "room": first_run}
        assert api.post(f"/api/projects/{project_id}/execute").status_code == 202
        out, err = proc.communicate(timeout=70)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    [seen] = json.loads(out.splitlines()[-1])["projects"]
    second = rest_state(api, project_id)
    assert second["run"]["id"] != first_run
    assert seen["state"] == second
    assert seen["room"] == second["run"]["id"]
    assert seen["rooms"] == [first_run, second["run"]["id"]]
    assert seen["connections"] == 1
