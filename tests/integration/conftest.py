"""Fixtures shared by the server tests: one server per test module, an HTTP client per test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.integration._server import http, running

from taskbeam.server import Server


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A server on 127.0.0.1 with the test registry (a module may override it)."""
    with running() as (srv, _):
        yield srv


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    """An authenticated HTTP client of the module's server."""
    with http(server) as client:
        yield client
