"""Fixtures of the hostile server tests: a hardened server per module, a client, a project."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.adversarial._hostile_server import hostile
from tests.integration._server import http, start, wait_status

from taskbeam.server import Server


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A server with the hostile tests' registry, on 127.0.0.1 (one per module)."""
    with hostile() as (srv, _):
        yield srv


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    """An authenticated HTTP client of the module's server."""
    with http(server) as client:
        yield client


@pytest.fixture(scope="module")
def project(server: Server) -> str:
    """A small project of the module's server that has run to done."""
    with http(server) as api:
        project_id = start(api, "tiny", n=3)
        wait_status(api, project_id, {"done"})
    return project_id
