"""Hostile Socket.IO sessions: never authenticating, too many, binary floods, log floods.

The attacker runs in this process, so the server's RSS is this process's;
each test sends a bounded amount and checks what it cost.
"""

from __future__ import annotations

import gc
import time
import tracemalloc

import httpx
import pytest
from tests.adversarial._hostile_server import (
    LogBytes,
    RawClient,
    hostile,
    polling_handshake,
    raw_http,
    rss,
)
from tests.conftest import wait_until
from tests.integration._server import http

MB = 1 << 20


def _session_closed(client: RawClient, timeout: float) -> bool:
    try:
        client._read_until(lambda: False, timeout=timeout)
    except AssertionError:
        return False
    return client.closed


def test_a_session_that_never_authenticates_is_closed_at_the_deadline() -> None:
    with hostile(connect_timeout=0.5) as (server, _):
        client = RawClient(server)  # Engine.IO open; no Socket.IO connect, pings answered
        try:
            started = time.monotonic()
            assert _session_closed(client, timeout=10)
            assert 0.4 < time.monotonic() - started < 5
        finally:
            client.close()
        wait_until(lambda: server.security_stats()["sessions"] == 0)
        assert server.security_stats()["connect_timeouts"] == 1


def test_a_refused_connect_does_not_reset_the_deadline() -> None:
    with hostile(connect_timeout=0.5) as (server, _):
        client = RawClient(server)
        try:
            assert client.connect("wrong").startswith("44")
            assert _session_closed(client, timeout=10)
        finally:
            client.close()


def test_an_authenticated_session_outlives_the_deadline() -> None:
    with hostile(connect_timeout=0.3) as (server, _):
        client = RawClient(server)
        try:
            assert client.connect(server.token).startswith("40")
            assert not _session_closed(client, timeout=1.0)
            client.emit("nodes", {"project_id": "nope"}, ack=1)
            assert client.answer(1)[0]["type"] == "error"
        finally:
            client.close()


def test_polling_sessions_are_capped_per_client_address_and_closed_at_the_deadline() -> None:
    with hostile(connect_timeout=2, max_connections_per_client=5) as (server, _):
        answers = [polling_handshake(server.url).status_code for _ in range(8)]
        assert answers == [200] * 5 + [401] * 3
        assert server.security_stats()["refused_per_client"] == 3
        # another address is still served while this one is at its cap
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=other, timeout=5) as c:
            response = c.get(
                f"{server.url}/socket.io/", params={"EIO": "4", "transport": "polling"}
            )
        assert response.status_code == 200
        # the sessions that never authenticated are closed, and their room given back
        wait_until(lambda: server.security_stats()["sessions"] == 0, timeout=10)
        assert polling_handshake(server.url).status_code == 200


def test_sessions_are_capped_in_total() -> None:
    with hostile(connect_timeout=5, max_connections=3) as (server, _):
        clients = [RawClient(server) for _ in range(3)]
        try:
            assert polling_handshake(server.url).status_code == 401
            assert server.security_stats()["refused_total"] == 1
        finally:
            for c in clients:
                c.close()
        wait_until(lambda: server.security_stats()["sessions"] == 0)
        assert polling_handshake(server.url).status_code == 200


def test_many_polling_handshakes_leave_nothing_behind() -> None:
    # Python's heap, traced: RSS would mostly show the allocator's high-water mark.
    with hostile(connect_timeout=0.5) as (server, _):
        with httpx.Client(timeout=5) as c:
            for _ in range(100):  # warm up
                c.get(f"{server.url}/socket.io/", params={"EIO": "4", "transport": "polling"})
            wait_until(lambda: server.security_stats()["sessions"] == 0, timeout=10)
            gc.collect()
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                params = {"EIO": "4", "transport": "polling"}
                for _ in range(300):  # each session is closed unauthenticated, or refused
                    assert c.get(f"{server.url}/socket.io/", params=params).status_code in (
                        200,
                        401,
                    )
                wait_until(lambda: server.security_stats()["sessions"] == 0, timeout=10)
                gc.collect()
                kept = (tracemalloc.get_traced_memory()[0] - before) / MB
            finally:
                tracemalloc.stop()
        assert kept < 1, f"{kept:.2f} MB still held after 300 handshakes were closed"


def test_binary_attachments_are_refused_and_never_kept() -> None:
    with hostile() as (server, _):
        client = RawClient(server)
        try:
            assert client.connect(server.token).startswith("40")
            chunk = b"\x00" * (512 << 10)
            gc.collect()
            before = rss()
            # python-socketio would keep every attachment until the 1,000 announced came
            client.send('451000-0["nodes",{"project_id":"p","x":{"_placeholder":true,"num":0}}]')
            assert client.answer(0) == [
                {"type": "error", "error": "events take no binary attachments"}
            ]
            for _ in range(60):  # 30 MB
                client.send_bytes(chunk)
            client.emit("nodes", {"project_id": "nope"}, ack=999)
            assert client.answer(999)[0]["type"] == "error"  # still connected, still answering
            gc.collect()
            grown = (rss() - before) / MB
            assert grown < 10, f"{grown:.1f} MB kept after 30 MB of attachments"
            stats = server.security_stats()
            assert stats["binary_refused"] == 1
            assert stats["attachments_dropped"] == 60
        finally:
            client.close()


def test_an_attachment_nobody_announced_closes_the_session() -> None:
    with hostile() as (server, _):
        client = RawClient(server)
        try:
            assert client.connect(server.token).startswith("40")
            client.send_bytes(b"\x01" * 1000)
            assert _session_closed(client, timeout=5)
        finally:
            client.close()
        assert server.security_stats()["protocol_errors"] == 1


def test_a_packet_over_the_message_limit_closes_the_connection() -> None:
    with hostile(max_message_bytes=64 << 10) as (server, _):
        client = RawClient(server)
        try:
            assert client.connect(server.token).startswith("40")
            client.send_bytes(b"\x02" * (128 << 10))
            assert _session_closed(client, timeout=5)
        finally:
            client.close()
        with http(server) as api:
            response = api.post(
                "/socket.io/?EIO=4&transport=polling&sid=x", content=b"4" + b"0" * (128 << 10)
            )
        assert response.status_code in (400, 413)


@pytest.mark.parametrize("junk", ["4garbage", "49", "7", "4" + "\x00" * 10, "47"])
def test_junk_packets_from_unauthenticated_sessions_barely_touch_the_log(junk: str) -> None:
    with (
        hostile(connect_timeout=5, max_connections_per_client=10_000) as (server, _),
        LogBytes().installed() as logged,
    ):
        for _ in range(100):
            client = RawClient(server)
            try:
                for _ in range(20):  # 2,000 junk packets in all
                    if client.closed:
                        break
                    client.send(junk)
            except OSError:
                pass  # closed while sending
            finally:
                client.close()
        wait_until(lambda: server.security_stats()["sessions"] == 0, timeout=20)
        assert logged.bytes < 2000, f"{logged.bytes} bytes in {logged.records} log lines"
        stats = server.security_stats()
        assert stats.get("protocol_errors", 0) + stats["library_log_lines_suppressed"] >= 1


def test_junk_http_requests_barely_touch_the_log() -> None:
    with hostile() as (server, _), LogBytes().installed() as logged:
        for _ in range(200):
            raw_http(server, b"\x16\x03\x01 not http at all\r\n\r\n", timeout=2)
        assert logged.bytes < 2000, f"{logged.bytes} bytes in {logged.records} log lines"
        assert server.security_stats()["uvicorn_log_lines_suppressed"] >= 150
