"""``taskbeam serve``, run as a user runs it, and the registry it serves by default."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from tests.integration._server import http, running, wait_status

from taskbeam._cli import main
from taskbeam.server._command import demo_registry

APP = textwrap.dedent(
    """
    import taskbeam as tb
    from taskbeam.server import Registry

    def pair(first: int = 1) -> tb.Graph:
        '''Two nodes.'''
        g = tb.Graph("pair")
        g.add("a", lambda: first)
        g.add("b", lambda a: a + 1, deps=["a"])
        return g

    registry = Registry()
    registry.register("pair", pair)
    """
)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--no-auth", "--host", "0.0.0.0"], "only on a loopback host"),
        (["--no-auth", "--token", "t"], "token was given"),
        (["--app", "nomodule"], "MODULE:REGISTRY"),
        (["--app", "taskbeam:Graph"], "not a taskbeam.Registry"),
    ],
)
def test_serve_refuses_bad_options(args: list[str], says: str) -> None:
    with pytest.raises(SystemExit, match=says):
        main(["serve", "--port", "0", *args])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_until_interrupted(tmp_path: Path, stop: signal.Signals) -> None:
    (tmp_path / "myapp.py").write_text(APP)
    command = [sys.executable, "-m", "taskbeam._cli", "serve", "--port", "0", "--app",
               "myapp:registry", "--store", str(tmp_path / "runs.db")]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            banner = "".join(proc.stdout.readline() for _ in range(3))
            found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", banner)
            assert found, banner
            url, token = found.groups()
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=url, headers=headers, timeout=10) as api:
                assert httpx.get(f"{url}/api/graphs").status_code == 401
                assert [g["name"] for g in api.get("/api/graphs").json()["graphs"]] == ["pair"]
                created = api.post("/api/projects", json={"graph": "pair", "params": {"first": 4}})
                assert created.status_code == 201
                done = wait_status(api, created.json()["id"], {"done"})
                assert done["run"]["counts"]["done"] == 2
        finally:
            proc.send_signal(stop)
            _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr
    assert (tmp_path / "runs.db").exists()


def test_the_default_registry_runs_the_example() -> None:
    registry = demo_registry()
    assert list(registry) == ["research"]
    with running(registry=registry) as (server, _), http(server) as api:
        bad = api.post("/api/projects", json={"graph": "research", "params": {"depth": 9}})
        assert bad.status_code == 422
        assert "depth must be an integer from 1 to 5" in bad.json()["error"]
        created = api.post(
            "/api/projects", json={"graph": "research", "params": {"depth": 1, "delay": 0}}
        )
        assert created.status_code == 201
        done = wait_status(api, created.json()["id"], {"done"})
        assert done["run"]["total"] >= 5
