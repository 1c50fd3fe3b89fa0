"""Keep-alive latency: accepted connections have TCP_NODELAY, so no 40 ms Nagle stalls."""

from __future__ import annotations

import socket
import statistics
import time

from tests.adversarial._hostile_server import hostile
from tests.integration._server import http, start, wait_status

from taskbeam.server._listen import bind


def test_the_listening_socket_is_made_for_tcp() -> None:
    # asyncio sets TCP_NODELAY on accepted sockets only when proto is IPPROTO_TCP
    for host in ("127.0.0.1", "::1"):
        try:
            sock = bind(host, 0)
        except OSError:  # no IPv6 on this machine
            continue
        with sock:
            assert sock.proto == socket.IPPROTO_TCP
            assert sock.type == socket.SOCK_STREAM


def test_ten_keep_alive_requests_in_a_row_are_fast() -> None:
    with hostile() as (server, _), http(server) as api:
        project = start(api, "tiny", n=50)
        wait_status(api, project, {"done"})
        api.get("/api/health")  # the connection is open from here on
        for path in ("/api/projects", f"/api/projects/{project}/nodes?limit=50", "/api/health"):
            times = []
            for _ in range(10):
                started = time.perf_counter()
                assert api.get(path).status_code == 200
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            # with Nagle's algorithm each of these took 40 ms or more
            assert median < 0.02, f"{path}: median {median * 1000:.1f} ms over {times}"
