"""What the server tests share: test graphs, a running server, Socket.IO clients.

No tests here. :class:`Client` is a python-socketio ``AsyncClient`` that
keeps its state with :class:`taskbeam.testing.Follower`, as the front ends
do (snapshot, then batches whose ``base_seq`` must match; a gap or a stale
heartbeat asks for a resync).
:class:`RawClient` speaks Engine.IO over a bare socket and can stop reading,
to play a client that never reads. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import socketio
import wsproto
import wsproto.events as ev

import taskbeam as tb
from taskbeam.server import Registry, Server, serve
from taskbeam.testing import Follower


def tiny(n: int = 3) -> tb.Graph:
    """n independent nodes that return at once."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 200:
        raise ValueError("n must be an integer from 1 to 200")
    g = tb.Graph("tiny")
    for i in range(n):
        g.add(f"n{i:03d}", lambda i=i: i * i)
    return g


def slow(n: int = 20, delay: float = 0.05) -> tb.Graph:
    """A chain of n async nodes, each sleeping ``delay`` seconds."""
    if not 1 <= n <= 5000 or not 0 <= delay <= 1:
        raise ValueError("1 <= n <= 5000 and 0 <= delay <= 1")

    async def step(**_: Any) -> float:
        await asyncio.sleep(delay)
        return delay

    g = tb.Graph("slow")
    for i in range(n):
        g.add(f"s{i:04d}", step, deps=[f"s{i - 1:04d}"] if i else [])
    return g


def wide(n: int = 2000, delay: float = 0.002) -> tb.Graph:
    """n independent async nodes with a long, hard to compress preview each."""

    async def work(i: int) -> str:
        await asyncio.sleep(delay)
        return "".join(hashlib.sha256(f"{i}{salt}".encode()).hexdigest() for salt in "ab")

    g = tb.Graph("wide")
    for i in range(n):
        g.add(f"w{i:05d}", work, kwargs={"i": i})
    return g


def nested(breadth: int = 2) -> tb.Graph:
    """A root that expands into children (ids ``root/c0``...), then a failing node."""

    def root() -> tb.Expansion:
        sub = tb.Graph("children")
        for i in range(breadth):
            sub.add(f"c{i}", lambda i=i: i)
        return tb.expand(sub, aggregate=lambda results: sum(results.values()))

    def broken() -> None:
        raise RuntimeError("this node always fails")

    g = tb.Graph("nested")
    g.add("root", root)
    g.add("broken", broken)
    return g


def not_a_graph() -> Any:
    return 42


def registry(more: Mapping[str, Callable[..., Any]] | None = None) -> Registry:
    """The test graphs by name, and ``more`` of them."""
    r = Registry()
    for name, factory in [
        ("tiny", tiny),
        ("slow", slow),
        ("wide", wide),
        ("nested", nested),
        ("not-a-graph", not_a_graph),
        *(more or {}).items(),
    ]:
        r.register(name, factory)
    return r


@contextlib.contextmanager
def running(**options: Any) -> Iterator[tuple[Server, tb.ExecutionService]]:
    """A server on 127.0.0.1, port 0, over a fresh service; stopped afterwards."""
    service = tb.ExecutionService(max_concurrency=64)
    server = serve(service, options.pop("registry", registry()), **options)
    try:
        yield server, service
    finally:
        server.stop()
        service.shutdown(timeout=10)


def http(server: Server, token: str | None = "") -> httpx.Client:
    headers = {}
    token = server.token if token == "" else token
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=server.url, headers=headers, timeout=10)


def start(api: httpx.Client, graph: str, **params: Any) -> str:
    """Create and start a project of ``graph``; its id."""
    response = api.post("/api/projects", json={"graph": graph, "params": params})
    assert response.status_code == 201, response.text
    project_id: str = response.json()["id"]
    return project_id


def wait_status(
    api: httpx.Client, project_id: str, statuses: set[str], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        project: dict[str, Any] = api.get(f"/api/projects/{project_id}").json()
        if project["status"] in statuses:
            return project
        if time.monotonic() > deadline:
            raise AssertionError(f"project {project_id} is {project['status']}, not {statuses}")
        time.sleep(0.02)


def open_questions(api: httpx.Client, project_id: str, n: int = 1) -> list[dict[str, Any]]:
    """The project's open questions over REST, once there are ``n`` (bounded wait)."""
    deadline = time.monotonic() + 30
    while True:
        response = api.get(f"/api/projects/{project_id}/questions")
        assert response.status_code == 200, response.text
        questions: list[dict[str, Any]] = response.json()["questions"]
        if len(questions) >= n:
            return questions
        assert time.monotonic() < deadline, f"{len(questions)} of {n} questions asked"
        time.sleep(0.02)


class Client:
    """A Socket.IO client that keeps the state of the rooms it follows."""

    def __init__(self, server: Server, token: str | None = "") -> None:
        self.url = server.url
        self.token = server.token if token == "" else token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.follower = Follower()
        self.project: str | None = None
        self.frames: list[dict[str, Any]] = []  # decoded, in arrival order
        self.sio.on("snapshot", self._frame)
        self.sio.on("batch_update", self._frame)
        self.sio.on("heartbeat", self._frame)

    async def connect(self) -> Client:
        auth = {"token": self.token} if self.token is not None else None
        await asyncio.wait_for(
            self.sio.connect(self.url, auth=auth, transports=["websocket"], wait_timeout=10), 15
        )
        return self

    async def close(self) -> None:
        await self.sio.disconnect()
        await self.sio.shutdown()

    async def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        if data is None:
            return await self.sio.call(event, timeout=timeout)
        return await self.sio.call(event, data, timeout=timeout)

    async def subscribe(self, project_id: str) -> dict[str, Any]:
        self.project = project_id
        answer: dict[str, Any] = await self.call("subscribe", {"project_id": project_id})
        return answer

    @property
    def state(self) -> dict[str, Any] | None:
        return self.follower.state

    @property
    def seq(self) -> int | None:
        return self.follower.seq

    @property
    def gaps(self) -> int:
        return self.follower.gaps

    async def _frame(self, message: dict[str, Any], buffer: bytes | None = None) -> None:
        step = self.follower.feed(message, [buffer] if buffer is not None else [])
        self.frames.append(step.frame)
        if step.resync and self.project is not None:  # a lost frame: ask for the whole state
            await self.sio.emit("resync", {"project_id": self.project})

    async def until(self, predicate: Any, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.01)


class RawClient:
    """Engine.IO over a bare socket with a tiny receive buffer; it can stop reading."""

    def __init__(self, server: Server) -> None:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((host, int(port)))
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        target = "/socket.io/?EIO=4&transport=websocket"
        self.sock.sendall(self.ws.send(ev.Request(host=f"{host}:{port}", target=target)))
        self.texts: list[str] = []
        self.closed = False
        self._read_until(lambda: any(t.startswith("0") for t in self.texts))

    def _read_until(self, done: Any, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer; got {self.texts[-5:]}")
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                self.closed = True
                return
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, ev.TextMessage):
                    self.texts.append(event.data)
                    if event.data == "2":  # Engine.IO ping
                        self.send("3")
                elif isinstance(event, ev.CloseConnection):
                    self.closed = True
                    return

    def send(self, text: str) -> None:
        self.sock.sendall(self.ws.send(ev.Message(data=text)))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(self.ws.send(ev.Message(data=data)))

    def connect(self, token: str | None) -> str:
        """The Socket.IO CONNECT packet; returns the server's answer packet."""
        auth = json.dumps({"token": token}) if token is not None else ""
        self.send(f"40{auth}")
        self._read_until(lambda: any(t.startswith("4") for t in self.texts))
        return next(t for t in self.texts if t.startswith("4"))

    def emit(self, event: str, data: Any, ack: int | None = None) -> None:
        self.send(f"42{'' if ack is None else ack}{json.dumps([event, data])}")

    def answer(self, ack: int, timeout: float = 10) -> Any:
        """The acknowledgement ``ack``; ``ConnectionError`` if the server hung up first."""
        prefix = f"43{ack}"
        self._read_until(lambda: any(t.startswith(prefix) for t in self.texts), timeout)
        for text in self.texts:
            if text.startswith(prefix):
                return json.loads(text[len(prefix) :])
        raise ConnectionError("the server closed the connection")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
