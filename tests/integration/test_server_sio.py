"""Socket.IO on the server: auth, frames that rebuild the run's state, requests, slow readers.

Real uvicorn on 127.0.0.1 (port 0) in a thread; real python-socketio clients,
each test on its own event loop (``asyncio.run``), every wait bounded.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import psutil
import pytest
import socketio
from tests.integration._server import (
    Client,
    RawClient,
    http,
    running,
    start,
    wait_status,
)

import taskbeam as tb
from taskbeam.server import Server


def rest_state(api: httpx.Client, project_id: str) -> dict[str, Any]:
    state: dict[str, Any] = api.get(f"/api/projects/{project_id}", params={"full": 1}).json()
    return state["snapshot"]


async def ends_equal(client: Client, api: httpx.Client, project_id: str) -> None:
    """Wait until the run has ended and the client's state is the REST snapshot."""
    await asyncio.to_thread(wait_status, api, project_id, {"done", "failed", "cancelled"})
    expected = await asyncio.to_thread(rest_state, api, project_id)
    await client.until(lambda: client.state == expected, timeout=20)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_connecting_needs_the_token(server: Server, token: str | None) -> None:
    async def main() -> None:
        client = Client(server, token=token)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect()
        await client.sio.shutdown()

    asyncio.run(main())


def test_a_subscriber_rebuilds_the_run(server: Server, api: httpx.Client) -> None:
    async def main() -> None:
        client = await Client(server).connect()
        try:
            project_id = start(api, "slow", n=60, delay=0.01)
            answer = await client.subscribe(project_id)
            assert answer["type"] == "ok"
            await ends_equal(client, api, project_id)
            kinds = [f["type"] for f in client.frames]
            assert kinds[0] == "snapshot"
            assert "batch" in kinds
            assert all(f["room"] == answer["room"] for f in client.frames)
            assert client.gaps == 0
        finally:
            await client.close()

    asyncio.run(main())


def test_two_projects_never_mix(server: Server, api: httpx.Client) -> None:
    async def main() -> None:
        a, b = await Client(server).connect(), await Client(server).connect()
        try:
            pa, pb = start(api, "slow", n=40, delay=0.01), start(api, "tiny", n=50)
            room_a = (await a.subscribe(pa))["room"]
            room_b = (await b.subscribe(pb))["room"]
            await ends_equal(a, api, pa)
            await ends_equal(b, api, pb)
            assert {f["room"] for f in a.frames} == {room_a}
            assert {f["room"] for f in b.frames} == {room_b}
            assert a.state is not None and b.state is not None
            assert set(a.state["nodes"]).isdisjoint(b.state["nodes"])
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_reconnect_mid_run_and_resync(server: Server, api: httpx.Client) -> None:
    async def main() -> None:
        project_id = start(api, "slow", n=150, delay=0.01)
        first = await Client(server).connect()
        await first.subscribe(project_id)
        await first.until(lambda: any(f["type"] == "batch" for f in first.frames))
        await first.close()  # gone mid-run

        again = await Client(server).connect()
        try:
            await again.subscribe(project_id)
            await again.until(lambda: again.state is not None)
            before = sum(f["type"] == "snapshot" for f in again.frames)
            assert await again.call("resync", {"project_id": project_id, "id": 7}) == {
                "type": "ok",
                "id": 7,
            }
            await again.until(lambda: sum(f["type"] == "snapshot" for f in again.frames) > before)
            await ends_equal(again, api, project_id)
        finally:
            await again.close()

    asyncio.run(main())


def test_requests_are_answered(server: Server, api: httpx.Client) -> None:
    async def main() -> None:
        client = await Client(server).connect()
        try:
            done = start(api, "nested", breadth=2)
            await asyncio.to_thread(wait_status, api, done, {"failed"})
            details = await client.call("node_details", {"project_id": done, "node_id": "root/c1"})
            assert details["type"] == "node_details"
            assert details["details"]["parent"] == "root"
            page = await client.call("nodes", {"project_id": done, "limit": 2, "id": "p1"})
            assert page["id"] == "p1" and len(page["nodes"]) == 2 and page["cursor"]
            rest = await client.call("nodes", {"project_id": done, "cursor": page["cursor"]})
            assert set(page["nodes"]) | set(rest["nodes"]) == {
                "broken", "root", "root/c0", "root/c1"
            }  # fmt: skip

            running_id = start(api, "slow", n=400, delay=0.02)
            for event, status in [("pause", "paused"), ("resume", "running")]:
                assert (await client.call(event, {"project_id": running_id}))["type"] == "ok"
                await asyncio.to_thread(wait_status, api, running_id, {status})
            cancel = {"project_id": running_id, "node_id": "s0399"}
            assert (await client.call("cancel_node", cancel))["type"] == "ok"
            assert (await client.call("stop", {"project_id": running_id}))["type"] == "ok"
            await asyncio.to_thread(wait_status, api, running_id, {"cancelled"})
        finally:
            await client.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("event", "data", "says"),
    [
        ("subscribe", {"project_id": "nope"}, "no project 'nope'"),
        ("subscribe", {}, "project_id must be a non-empty string"),
        ("subscribe", {"project_id": 5}, "project_id must be"),
        ("subscribe", {"project_id": "x" * 300}, "longer than"),
        ("subscribe", ["a"], "takes one object"),
        ("subscribe", "text", "takes one object"),
        ("subscribe", None, "takes one object"),
        ("resync", {"project_id": "nope"}, "no project"),
        ("nodes", {"project_id": "nope"}, "no project"),
        ("pause", {"project_id": "nope"}, "no project"),
        ("launch_missiles", {"project_id": "nope"}, "unknown event 'launch_missiles'"),
        ("*", {"project_id": "nope"}, "unknown event '*'"),
        ("*", "text", "unknown event '*'"),
        ("*", None, "unknown event '*'"),
        ("connect", {"token": "x"}, None),
        ("disconnect", {}, None),
    ],
)
def test_bad_events_get_error_answers(
    server: Server, event: str, data: Any, says: str | None
) -> None:
    async def main() -> None:
        client = await Client(server).connect()
        try:
            answer = (
                await client.call(event, data) if data is not None else await client.call(event)
            )
            if says is None:  # reserved names reach no handler that answers
                return
            assert answer["type"] == "error"
            assert says in answer["error"]
        except socketio.exceptions.TimeoutError:
            assert says is None
        finally:
            await client.close()

    asyncio.run(main())


def test_bad_requests_about_a_real_project(server: Server, api: httpx.Client) -> None:
    async def main() -> None:
        client = await Client(server).connect()
        try:
            pid = start(api, "tiny")
            created = api.post("/api/projects", json={"graph": "tiny", "start": False}).json()
            cases = [
                ("resync", {"project_id": pid}, "not subscribed"),
                ("subscribe", {"project_id": created["id"]}, "has not been started"),
                ("node_details", {"project_id": pid}, "node_id must be"),
                ("node_details", {"project_id": pid, "node_id": "nope"}, "no node 'nope'"),
                ("nodes", {"project_id": pid, "limit": 0}, "limit must be"),
                ("nodes", {"project_id": pid, "limit": True}, "limit must be"),
                ("nodes", {"project_id": pid, "cursor": 3}, "cursor must be"),
                ("cancel_node", {"project_id": pid, "node_id": "\x00"}, "control characters"),
            ]
            for event, data, says in cases:
                answer = await client.call(event, data)
                assert answer["type"] == "error", (event, data)
                assert says in answer["error"], (event, data, answer)
            assert (await client.call("unsubscribe", {"project_id": pid}))["type"] == "ok"
        finally:
            await client.close()

    asyncio.run(main())


def test_unsubscribe_stops_frames(server: Server, api: httpx.Client) -> None:
    async def main() -> None:
        client = await Client(server).connect()
        try:
            pid = start(api, "slow", n=200, delay=0.01)
            await client.subscribe(pid)
            await client.until(lambda: len(client.frames) >= 2)
            await client.call("unsubscribe", {"project_id": pid})
            await asyncio.sleep(0.2)  # frames already on their way may still land
            count = len(client.frames)
            await asyncio.sleep(0.5)
            assert len(client.frames) == count
            await client.call("stop", {"project_id": pid})
        finally:
            await client.close()

    asyncio.run(main())


def test_a_new_run_of_the_project_reaches_its_subscribers(
    server: Server, api: httpx.Client
) -> None:
    async def main() -> None:
        client = await Client(server).connect()
        try:
            pid = start(api, "tiny", n=5)
            first = (await client.subscribe(pid))["room"]
            await ends_equal(client, api, pid)
            assert api.post(f"/api/projects/{pid}/execute").status_code == 202
            await client.until(lambda: client.frames[-1]["room"] != first)
            await ends_equal(client, api, pid)
            assert client.state is not None and client.state["run"]["id"] != first
        finally:
            await client.close()

    asyncio.run(main())


def test_a_client_that_never_reads_costs_bounded_memory() -> None:
    """While a 2,000-node run goes, a client subscribes, floods resyncs and never reads.

    The server keeps serving another client and the API, the never-reading
    client's frames stay bounded (a few queued here, one pending patch in
    the broadcaster), and the process does not grow with what it was sent.
    """
    broadcaster = tb.Broadcaster()
    with running(broadcaster=broadcaster) as (server, _), http(server) as api:
        proc = psutil.Process()
        pid = start(api, "wide", n=2000, delay=0.1)
        raw = RawClient(server)
        try:
            assert raw.connect(server.token).startswith("40")
            raw.emit("subscribe", {"project_id": pid})
            rss = proc.memory_info().rss

            async def main() -> tuple[float, int]:
                other = await Client(server).connect()
                worst = 0.0
                try:
                    await other.subscribe(pid)
                    for _burst in range(40):  # ~20 MB of snapshots, were they all sent
                        for _ in range(50):
                            raw.emit("resync", {"project_id": pid})
                        t0 = time.monotonic()
                        health = await asyncio.to_thread(api.get, "/api/health")
                        worst = max(worst, time.monotonic() - t0)
                        assert health.status_code == 200
                        await asyncio.sleep(0.05)
                    stats = await asyncio.to_thread(server.stats)
                    await ends_equal(other, api, pid)
                finally:
                    await other.close()
                return worst, [s for s in stats.values() if s["subscriptions"] == 1]

            worst, raw_stats = asyncio.run(main())
            subscribers = broadcaster.stats().subscribers
        finally:
            raw.close()
        assert worst < 2.0
        assert len(raw_stats) == 2  # the reader and the non-reader, both still connected
        assert max(s["queued"] for s in raw_stats) <= 16
        assert sum(s["overflows"] for s in raw_stats) == 0  # resyncs were coalesced
        assert all(s.pending_bytes <= 1 << 20 for s in subscribers)
        assert proc.memory_info().rss - rss < 150 * 2**20
    broadcaster.close()


def test_a_client_that_never_reads_its_answers_is_dropped() -> None:
    with running() as (server, _), http(server) as api:
        pid = start(api, "wide", n=2000, delay=0.0)
        wait_status(api, pid, {"done"})
        raw = RawClient(server)
        try:
            raw.connect(server.token)
            for i in range(3000):  # each asks for an answer it will not read
                try:
                    raw.emit("nodes", {"project_id": pid, "limit": 5000}, ack=i)
                except OSError:  # the server hung up: what we wanted
                    break
            deadline = time.monotonic() + 30
            while server.stats() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.stats() == {}
            assert api.get("/api/health").status_code == 200
        finally:
            raw.close()


def test_pages_of_other_origins_cannot_connect() -> None:
    allowed = "http://localhost:9999"
    with running(allow_origins=[allowed]) as (server, _), http(server) as api:

        async def connect(origin: str) -> bool:
            sio = socketio.AsyncClient(reconnection=False)
            try:
                await sio.connect(
                    server.url,
                    auth={"token": server.token},
                    headers={"Origin": origin},
                    transports=["websocket"],
                    wait_timeout=5,
                )
            except socketio.exceptions.ConnectionError:
                return False
            finally:
                await sio.disconnect()
                await sio.shutdown()
            return True

        async def main() -> None:
            assert not await connect("http://evil.example")
            assert await connect(allowed)
            assert await connect(server.url)  # its own page

        asyncio.run(main())
        handshake = {"EIO": "4", "transport": "polling"}  # the long-polling transport
        for origin, status in [("http://evil.example", 403), (allowed, 200), (server.url, 200)]:
            response = api.get("/socket.io/", params=handshake, headers={"Origin": origin})
            assert response.status_code == status, origin


def test_stopping_the_server_closes_live_connections() -> None:
    with running() as (server, _), http(server) as api:
        pid = start(api, "slow", n=2000, delay=0.01)

        async def main() -> None:
            client = await Client(server).connect()
            try:
                await client.subscribe(pid)
                await client.until(lambda: client.state is not None)
                t0 = time.monotonic()
                await asyncio.to_thread(server.stop)
                assert time.monotonic() - t0 < 8
                await client.until(lambda: not client.sio.connected, timeout=10)
            finally:
                await client.close()

        asyncio.run(main())
