"""Server benchmark: many Socket.IO clients over running projects, and one that never reads.

The server (``tb.serve`` over an ExecutionService, in its own process, on
127.0.0.1 only) runs 10 projects of 2,000 nodes each: 20 independent
chains of 100 async steps of 0.1 s, so every project streams changes for
about 10 s. 200 reading clients (python-socketio ``AsyncClient``, 50 per
event loop, one loop per worker process) follow them, 20 per project; each
applies the frames as the front ends do, with ``taskbeam.testing.Follower``
(snapshot, batches whose ``base_seq`` must match, a resync on a gap or a
stale heartbeat).

Phases, interleaved (A B A B), each with 10 fresh projects:

* **without**: the 200 reading clients;
* **with stalled**: the same, plus one client that subscribes to all 10
  projects and never reads (a bare TCP socket with a 4 KiB receive buffer).
  It writes an Engine.IO pong every 5 s, so the server keeps it, as a
  frozen browser tab's connection stays open. With ``--flood`` it also
  asks for a fresh snapshot of every project twice a second, as a client
  that keeps seeing gaps would;
* once first, **runs only**: no subscriber at all, the server's own cost.

Measured per phase:

* **convergence**: after the runs end, every reading client's state must
  equal the run's state from REST (``GET /api/projects/{id}?full=1``);
* **frame latency**: each node returns ``time.time()`` when it ends, which
  the frames carry as its preview; a client that receives a frame marking
  the node done records ``receive time - preview``. So a sample covers the
  engine, the broadcaster's batching (50 ms windows, 20 frames/s per
  client), the server's outbox, Socket.IO over the loopback and the
  client's event loop (shared by 50 clients), on one clock (one machine);
* **server CPU** (cores, from ``psutil`` on the server process, while the
  runs go) and **resident memory** (sampled every 0.25 s: at the phase's
  start, peak, and after it);
* **the stalled client**: frames queued for it in its outbox and packets
  waiting in Engine.IO (the hub's counters), and the largest pending patch
  the broadcaster composes for a subscriber, sampled every second;
* **in-process subscribers**: one subscriber per project on the
  broadcaster itself, in the server process, timed the same way: the part
  of the latency spent before the server's event loop and the network;
* **other work on the machine**: busy CPU from ``/proc/stat`` minus the
  benchmark's own processes, in cores: near 0 on a quiet machine.

Run alone (``python bench/server.py [--quick]``) it prints the markdown
section; ``bench/run.py`` includes it in RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import socketio
import wsproto
import wsproto.events as ev

import taskbeam as tb
from taskbeam.broadcast import decode
from taskbeam.testing import Follower

HERE = Path(__file__).resolve()
ENDED = {"done", "failed", "cancelled"}
CONNECT_CHUNK = 25  # clients connecting (or subscribing) at once, per worker
CONVERGE_TIMEOUT = 30.0
# Verdicts: the stalled client may hold this much, and must not slow the others by more.
STALLED_QUEUE_LIMIT = 16  # the outbox's hard limit
PENDING_LIMIT = 1 << 20  # the broadcaster's max_pending_bytes
SLOWDOWN = 1.25  # median over the rounds of p99 with the stalled client ÷ p99 without


@dataclass(frozen=True)
class Config:
    clients: int
    projects: int
    lanes: int
    steps: int
    step: float
    procs: int
    rounds: int  # A B pairs

    @property
    def nodes(self) -> int:
        return self.lanes * self.steps


FULL = Config(clients=200, projects=10, lanes=20, steps=100, step=0.1, procs=4, rounds=3)
QUICK = Config(clients=40, projects=4, lanes=10, steps=50, step=0.1, procs=2, rounds=1)


# -- the server process --------------------------------------------------------


def lanes(lanes: int = 20, steps: int = 100, step: float = 0.1) -> tb.Graph:
    """``lanes`` independent chains of ``steps`` async steps; each returns when it ended.

    The first step of lane ``i`` takes ``i / lanes`` of a step longer, so the
    lanes' steps end spread over time, not all at once.
    """

    async def work(delay: float, **_: Any) -> float:
        await asyncio.sleep(delay)
        return time.time()

    g = tb.Graph("lanes")
    for lane in range(lanes):
        for s in range(steps):
            deps = [f"l{lane:02d}s{s - 1:03d}"] if s else []
            delay = step * (1 + lane / lanes) if s == 0 else step
            g.add(f"l{lane:02d}s{s:03d}", work, deps=deps, kwargs={"delay": delay})
    return g


class Probe:
    """A subscriber on the broadcaster itself, in the server process: frame latency
    without the server's event loop, Socket.IO or the network."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.batches = 0

    def send(self, message: dict[str, Any], buffers: list[bytes]) -> None:
        received = time.time()
        frame = decode(message, buffers)
        if frame["type"] == "batch":
            self.batches += 1
            for fields in (frame["patch"].get("nodes") or {}).values():
                if fields and fields.get("status") == "done" and "preview" in fields:
                    self.latencies.append(received - float(fields["preview"]))


def serve_main() -> None:
    """The server: prints ``{url, token, pid}``, then answers lines on stdin until EOF:
    ``stats``; ``probe PROJECT`` (a :class:`Probe` on the project's run); ``probes``
    (their latencies in ms and their batches per probe; the probes are closed)."""
    broadcaster = tb.Broadcaster()
    service = tb.ExecutionService(max_concurrency=64)
    registry = tb.Registry()
    registry.register("lanes", lanes)
    # Every client of the load comes from 127.0.0.1: the per-address bound (a
    # defence against one host opening sessions without end) is lifted for it.
    server = tb.serve(service, registry, broadcaster=broadcaster, max_connections_per_client=1000)
    probes: list[tuple[Probe, tb.Subscription]] = []
    print(json.dumps({"url": server.url, "token": server.token, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        out: Any = None
        if command == "stats":
            subscribers = broadcaster.stats().subscribers
            out = {
                "clients": server.stats(),
                "max_pending_bytes": max((s.pending_bytes for s in subscribers), default=0),
                "subscribers": len(subscribers),
            }
        elif command == "probe":
            probe, run = Probe(), service.get(arg)
            broadcaster.attach(run)
            probes.append((probe, broadcaster.subscribe(run.id, probe.send)))
            out = {"ok": True}
        elif command == "probes":
            out = {
                "latencies": [x * 1000 for probe, _ in probes for x in probe.latencies],
                "batches": sum(probe.batches for probe, _ in probes) / max(len(probes), 1),
            }
            for _, sub in probes:
                sub.close()
            probes = []
        print(json.dumps(out), flush=True)
    server.stop()
    service.shutdown(timeout=10)
    broadcaster.close()


class ServerProcess:
    """``serve_main`` in a child process; ``stats()`` asks it for its counters."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        hello = json.loads(self.proc.stdout.readline())
        self.url: str = hello["url"]
        self.token: str = hello["token"]
        self.ps = psutil.Process(hello["pid"])
        self._lock = threading.Lock()

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self._lock:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.ask("stats")
        return stats

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the reading clients (worker processes) ------------------------------------


class Reader:
    """A Socket.IO client that keeps one run's state and times the frames it gets."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.project = ""
        # Frames decoded for this client alone: patches may be applied in place.
        self.follower = Follower(room="", in_place=True)
        self.latencies = array("d")
        for event in ("snapshot", "batch_update", "heartbeat"):
            self.sio.on(event, self._frame)

    @property
    def room(self) -> str:
        return self.follower.room or ""

    @property
    def state(self) -> dict[str, Any] | None:
        return self.follower.state

    @property
    def counts(self) -> dict[str, int]:
        f = self.follower
        return {
            "frames": f.frames,
            "batches": f.batches,
            "snapshots": f.snapshots,
            "gaps": f.gaps,
            "other_rooms": f.other_rooms,  # runs of another phase: ignored
        }

    async def connect(self) -> None:
        await self.sio.connect(
            self.url, auth={"token": self.token}, transports=["websocket"], wait_timeout=30
        )

    def follow(self, project: str, room: str) -> None:
        self.project = project
        self.follower.reset(room)
        self.latencies = array("d")

    async def subscribe(self) -> None:
        answer = await self.sio.call("subscribe", {"project_id": self.project}, timeout=60)
        if answer.get("type") != "ok":
            raise RuntimeError(f"subscribe: {answer}")

    async def unsubscribe(self) -> None:
        if self.project:
            await self.sio.call("unsubscribe", {"project_id": self.project}, timeout=60)
        self.project = ""
        self.follower.room = ""

    async def _frame(self, message: dict[str, Any], buffer: bytes | None = None) -> None:
        received = time.time()
        step = self.follower.feed(message, [buffer] if buffer is not None else [])
        if step.applied and step.frame["type"] == "batch":
            for fields in (step.frame["patch"].get("nodes") or {}).values():
                if fields and fields.get("status") == "done" and "preview" in fields:
                    self.latencies.append(received - float(fields["preview"]))
        elif step.resync:  # a lost frame: ask for the whole state again
            await self.sio.emit("resync", {"project_id": self.project})


def worker_main(conn: Any, url: str, token: str, n: int) -> None:
    asyncio.run(_worker(conn, url, token, n))


async def _chunked(coros: list[Any]) -> None:
    for i in range(0, len(coros), CONNECT_CHUNK):
        await asyncio.gather(*coros[i : i + CONNECT_CHUNK])


async def _worker(conn: Any, url: str, token: str, n: int) -> None:
    readers = [Reader(url, token) for _ in range(n)]
    await _chunked([r.connect() for r in readers])
    conn.send({"ready": True})
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as api:
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command["cmd"] == "follow":
                active = readers[: len(command["assign"])]
                for reader, (project, room) in zip(active, command["assign"], strict=True):
                    reader.follow(project, room)
                await _chunked([r.subscribe() for r in active])
                conn.send({"subscribed": len(active)})
            elif command["cmd"] == "finish":
                conn.send(await _finish(api, active))
            else:
                await _chunked([r.sio.disconnect() for r in readers])
                conn.send({"stopped": True})
                return


async def _finish(api: httpx.AsyncClient, readers: list[Reader]) -> dict[str, Any]:
    """Wait until every reader's state is its run's state from REST; what they saw."""
    expected = {}
    for project in {r.project for r in readers}:
        answer = (await api.get(f"/api/projects/{project}", params={"full": 1})).json()
        expected[project] = answer["snapshot"]
    start = time.monotonic()
    waiting = set(range(len(readers)))
    while waiting and time.monotonic() - start < CONVERGE_TIMEOUT:
        waiting = {i for i in waiting if readers[i].state != expected[readers[i].project]}
        if waiting:
            await asyncio.sleep(0.05)
    latencies = array("d")
    counts: dict[str, int] = {}
    for r in readers:
        latencies.extend(r.latencies)
        for k, v in r.counts.items():
            counts[k] = counts.get(k, 0) + v
    await _chunked([r.unsubscribe() for r in readers])
    return {
        "readers": len(readers),
        "converged": len(readers) - len(waiting),
        "converge_s": time.monotonic() - start,
        "latencies": latencies.tobytes(),
        "counts": counts,
    }


class Workers:
    """``procs`` worker processes holding ``clients`` connected readers between them."""

    def __init__(self, server: ServerProcess, clients: int, procs: int) -> None:
        ctx = mp.get_context("spawn")
        sizes = [clients // procs + (i < clients % procs) for i in range(procs)]
        self.sizes = [s for s in sizes if s]
        self.conns = []
        self.procs = []
        for size in self.sizes:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=worker_main, args=(theirs, server.url, server.token, size), daemon=True
            )
            proc.start()
            self.conns.append(mine)
            self.procs.append(proc)
        for conn in self.conns:
            self._recv(conn, 120)
        self.ps = [psutil.Process(p.pid) for p in self.procs]

    @staticmethod
    def _recv(conn: Any, timeout: float) -> Any:
        if not conn.poll(timeout):
            raise TimeoutError("a client worker did not answer")
        return conn.recv()

    def follow(self, targets: list[tuple[str, str]]) -> None:
        """Reader ``g`` (over all workers) follows ``targets[g]``; waits for the snapshots."""
        at = 0
        for conn, size in zip(self.conns, self.sizes, strict=True):
            conn.send({"cmd": "follow", "assign": targets[at : at + size]})
            at += size
        for conn in self.conns:
            self._recv(conn, 120)

    def finish(self) -> list[dict[str, Any]]:
        for conn in self.conns:
            conn.send({"cmd": "finish"})
        return [self._recv(conn, CONVERGE_TIMEOUT + 60) for conn in self.conns]

    def cpu(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.ps)

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send({"cmd": "stop"})
        for conn in self.conns:
            with contextlib.suppress(OSError, EOFError, TimeoutError):
                self._recv(conn, 30)
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


# -- the client that never reads -----------------------------------------------


class Stalled:
    """Engine.IO over a bare socket that stops reading once subscribed.

    Its receive buffer is 4 KiB. Every 5 s it writes an Engine.IO pong
    without reading the ping it answers, so the server keeps the
    connection, as it keeps a frozen tab's. With ``flood``, it also asks
    for a resync of each project it follows every 0.5 s (no acknowledgement
    asked, so no answers pile up), as a client that keeps seeing gaps
    would: snapshots, not just small batches, head its way.
    """

    def __init__(self, url: str, token: str, flood: bool = False) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.flood = flood
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((host, int(port)))
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self._lock = threading.Lock()  # the pestering thread writes too
        target = "/socket.io/?EIO=4&transport=websocket"
        self.sock.sendall(self.ws.send(ev.Request(host=f"{host}:{port}", target=target)))
        self._read_until("0")  # Engine.IO open
        self._send(f"40{json.dumps({'token': token})}")
        self._read_until("40")  # Socket.IO connected
        self.projects: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pester, daemon=True)
        self._thread.start()

    def _read_until(self, prefix: str) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.ws.receive_data(self.sock.recv(65536))
            for event in self.ws.events():
                if isinstance(event, ev.TextMessage) and event.data.startswith(prefix):
                    return
        raise TimeoutError(f"no {prefix!r} packet from the server")

    def _send(self, text: str) -> None:
        with self._lock:
            self.sock.sendall(self.ws.send(ev.Message(data=text)))

    def subscribe(self, projects: list[str]) -> None:
        for project in projects:
            self._send(f"42{json.dumps(['subscribe', {'project_id': project}])}")
        self.projects = projects

    def _pester(self) -> None:
        tick = 0
        while not self._stop.wait(0.5):
            tick += 1
            with contextlib.suppress(OSError):
                if tick % 10 == 0:
                    self._send("3")  # pong
                for project in self.projects if self.flood else ():
                    self._send(f"42{json.dumps(['resync', {'project_id': project}])}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(OSError):
            self.sock.close()


# -- the coordinator -------------------------------------------------------------


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    name: str
    readers: int
    other_load: float = 0.0  # cores used by other processes during the phase
    seconds: float = 0.0  # from the subscriptions to the end of the last run
    converged: int = 0
    converge_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    probe_ms: list[float] = field(default_factory=list)  # in-process subscribers
    probe_fps: float = 0.0  # batches per second each in-process subscriber got
    counts: dict[str, int] = field(default_factory=dict)
    server_cpu: float = 0.0  # cores, while the runs went
    client_cpu: float = 0.0  # cores, all worker processes
    rss_start: int = 0
    rss_peak: int = 0
    rss_end: int = 0
    stalled_queued: int = 0  # most frames seen queued for the stalled client
    stalled_backlog: int = 0  # most packets waiting in Engine.IO for it
    stalled_connected: bool = True  # still connected at the phase's end
    readers_queued: int = 0  # most frames queued for any reading client
    overflows: int = 0
    pending_bytes: int = 0  # largest pending patch of any subscriber

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Sampler:
    """Samples the server's RSS every 0.25 s and its counters every second, in a thread."""

    def __init__(self, server: ServerProcess, phase: Phase, projects: int) -> None:
        self.server, self.phase, self.projects = server, phase, projects
        self._stop = threading.Event()
        phase.rss_start = phase.rss_peak = server.ps.memory_info().rss
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        tick = 0
        while not self._stop.wait(0.25):
            self.phase.rss_peak = max(self.phase.rss_peak, self.server.ps.memory_info().rss)
            tick += 1
            if tick % 4 == 0:
                self.sample()

    def sample(self) -> dict[str, Any]:
        stats = self.server.stats()
        p = self.phase
        clients = list(stats["clients"].values())
        stalled = [c for c in clients if c["subscriptions"] == self.projects]
        readers = [c for c in clients if c["subscriptions"] == 1]
        p.stalled_queued = max([p.stalled_queued] + [c["queued"] for c in stalled])
        p.stalled_backlog = max([p.stalled_backlog] + [c["backlog"] for c in stalled])
        p.readers_queued = max([p.readers_queued] + [c["queued"] for c in readers])
        p.overflows = max(p.overflows, sum(c["overflows"] for c in clients))
        p.pending_bytes = max(p.pending_bytes, stats["max_pending_bytes"])
        return stats

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.phase.rss_end = self.server.ps.memory_info().rss


def run_phase(
    cfg: Config,
    server: ServerProcess,
    workers: Workers,
    name: str,
    readers: int,
    stalled: bool,
    flood: bool = False,
) -> Phase:
    phase = Phase(name=name, readers=readers)
    headers = {"Authorization": f"Bearer {server.token}"}
    stall = Stalled(server.url, server.token, flood) if stalled else None
    me = psutil.Process()
    params = {"lanes": cfg.lanes, "steps": cfg.steps, "step": cfg.step}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as api:
        projects = []
        for _ in range(cfg.projects):
            created = api.post("/api/projects", json={"graph": "lanes", "params": params})
            created.raise_for_status()
            projects.append((created.json()["id"], created.json()["run"]["id"]))
        for project, _ in projects:
            server.ask(f"probe {project}")
        if stall is not None:
            stall.subscribe([p for p, _ in projects])
        workers.follow([projects[g % cfg.projects] for g in range(readers)])
        sampler = Sampler(server, phase, cfg.projects)
        cpu0, clients0, t0 = sum(server.ps.cpu_times()[:2]), workers.cpu(), time.monotonic()
        busy0, own0 = _machine_busy(), sum(me.cpu_times()[:2])
        for project, _ in projects:
            while api.get(f"/api/projects/{project}").json()["status"] not in ENDED:
                time.sleep(0.2)
        phase.seconds = time.monotonic() - t0
        phase.server_cpu = (sum(server.ps.cpu_times()[:2]) - cpu0) / phase.seconds
        phase.client_cpu = (workers.cpu() - clients0) / phase.seconds
        own = phase.server_cpu + phase.client_cpu + (sum(me.cpu_times()[:2]) - own0) / phase.seconds
        phase.other_load = max(0.0, (_machine_busy() - busy0) / phase.seconds - own)
        results = workers.finish() if readers else []
        probes = server.ask("probes")
        phase.probe_ms = probes["latencies"]
        phase.probe_fps = probes["batches"] / phase.seconds
        last = sampler.sample()
        sampler.stop()
    if stall is not None:
        phase.stalled_connected = any(
            c["subscriptions"] == cfg.projects for c in last["clients"].values()
        )
        stall.close()
    for r in results:
        phase.converged += r["converged"]
        phase.converge_s = max(phase.converge_s, r["converge_s"])
        phase.latencies_ms.extend(x * 1000 for x in array("d", r["latencies"]))
        for k, v in r["counts"].items():
            phase.counts[k] = phase.counts.get(k, 0) + v
    return phase


@dataclass
class ServerBench:
    config: Config
    phases: list[Phase]
    seconds: float
    connect_s: float
    flood: bool = False


def run_benchmark(quick: bool = False, flood: bool = False) -> ServerBench:
    cfg = QUICK if quick else FULL
    t0 = time.monotonic()
    server = ServerProcess()
    try:
        workers = Workers(server, cfg.clients, cfg.procs)
        connect_s = time.monotonic() - t0
        try:
            phases = [run_phase(cfg, server, workers, "runs only", 0, False)]
            print(f"server bench: {phases[-1].name} done", file=sys.stderr)
            for _ in range(cfg.rounds):
                for name, stalled in (("without", False), ("with stalled", True)):
                    phases.append(
                        run_phase(cfg, server, workers, name, cfg.clients, stalled, flood)
                    )
                    print(f"server bench: {name} done", file=sys.stderr)
        finally:
            workers.close()
    finally:
        server.close()
    return ServerBench(cfg, phases, time.monotonic() - t0, connect_s, flood)


# -- the report -------------------------------------------------------------------


def _pooled(phases: list[Phase], name: str) -> Phase:
    """The phases called ``name`` as one: latencies pooled, the worst of everything else."""
    same = [p for p in phases if p.name == name]
    out = Phase(name=name, readers=same[0].readers)
    for p in same:
        out.latencies_ms.extend(p.latencies_ms)
    out.converged = min(p.converged for p in same)
    out.stalled_queued = max(p.stalled_queued for p in same)
    out.stalled_backlog = max(p.stalled_backlog for p in same)
    out.stalled_connected = all(p.stalled_connected for p in same)
    out.pending_bytes = max(p.pending_bytes for p in same)
    out.overflows = max(p.overflows for p in same)
    out.rss_peak = max(p.rss_peak - p.rss_start for p in same)  # the largest growth
    for p in same:
        out.probe_ms.extend(p.probe_ms)
    out.server_cpu = statistics.median(p.server_cpu for p in same)
    return out


def render(bench: ServerBench) -> str:
    cfg = bench.config
    mib = 2**20
    lines = [
        "## Server",
        "",
        f"`tb.serve` in its own process on 127.0.0.1: {cfg.projects} projects of "
        f"{cfg.nodes:,} nodes each ({cfg.lanes} chains of {cfg.steps} async steps of "
        f"{cfg.step:g} s) run at once, followed by {cfg.clients} python-socketio clients "
        f"({cfg.clients // cfg.projects} per project, {cfg.procs} worker processes, one event "
        "loop each), with and without one more client that subscribes to every project and "
        "never reads"
        + (" (and asks for a resync of each twice a second)" if bench.flood else "")
        + f". Phases interleaved ({cfg.rounds} of each), fresh projects each time; "
        f"{bench.seconds:.0f} s in all. Frame latency: from a node's end (its result is "
        "`time.time()`, carried in the frames as its preview) to the frame marking it done "
        "reaching a client's handler. See [README.md](README.md#server).",
        "",
        "| phase | reading clients | converged to REST | streamed (s) | frames/s per client "
        "| latency p50 / p90 / p99 / max (ms) | in-process: frames/s, p50 / p99 (ms) | gaps "
        "| server CPU (cores) | clients' CPU | other work (cores) "
        "| server RSS at start, growth to peak (MiB) "
        "| stalled: frames queued / packets unsent | largest pending patch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in bench.phases:
        latency = (
            " / ".join(f"{p.percentile(q):.0f}" for q in (50, 90, 99, 100))
            if p.latencies_ms
            else "–"
        )
        stalled = (
            f"{p.stalled_queued} / {p.stalled_backlog}"
            + ("" if p.stalled_connected else " (dropped)")
            if p.name == "with stalled"
            else "–"
        )
        lines.append(
            f"| {p.name} | {p.readers} | {p.converged} / {p.readers} | {p.seconds:.1f} "
            f"| {p.counts.get('frames', 0) / max(p.readers, 1) / p.seconds:.1f} "
            f"| {latency} | {p.probe_fps:.1f}, {percentile(p.probe_ms, 50):.0f} / "
            f"{percentile(p.probe_ms, 99):.0f} "
            f"| {p.counts.get('gaps', 0)} | {p.server_cpu:.2f} | {p.client_cpu:.2f} "
            f"| {p.other_load:.2f} "
            f"| {p.rss_start / mib:.0f}, {(p.rss_peak - p.rss_start) / mib:+.1f} "
            f"| {stalled} | {p.pending_bytes / 1024:,.0f} KiB |"
        )
    without, withs = _pooled(bench.phases, "without"), _pooled(bench.phases, "with stalled")
    p99_without, p99_with = without.percentile(99), withs.percentile(99)
    base = next(p for p in bench.phases if p.name == "runs only")
    all_converged = all(p.converged == p.readers for p in bench.phases)
    bounded = (
        withs.stalled_queued <= STALLED_QUEUE_LIMIT
        and withs.pending_bytes <= PENDING_LIMIT
        and withs.stalled_connected
    )
    # Each round's "with" against the "without" just before it: other work on the
    # machine drifts, so neighbours compare better than pools.
    without_phases = [p for p in bench.phases if p.name == "without"]
    with_phases = [p for p in bench.phases if p.name == "with stalled"]
    pairs = [
        b.percentile(99) / a.percentile(99)
        for a, b in zip(without_phases, with_phases, strict=True)
    ]
    pair_ratio = statistics.median(pairs)
    slowed = pair_ratio <= SLOWDOWN

    def verdict(ok: bool) -> str:
        return "**PASS**" if ok else "**MISS**"

    lines += [
        "",
        f"Pooled over the phases: latency p50 {without.percentile(50):.0f} ms without the "
        f"stalled client, {withs.percentile(50):.0f} ms with it; p99 {p99_without:.0f} ms and "
        f"{p99_with:.0f} ms ({p99_with / p99_without:.2f}×). Server CPU: "
        f"{base.server_cpu:.2f} cores running the projects alone, {without.server_cpu:.2f} "
        f"serving {cfg.clients} clients, {withs.server_cpu:.2f} with the stalled one too. "
        f"In-process subscribers on the broadcaster (no event loop, no network): p50 "
        f"{percentile(base.probe_ms, 50):.0f} ms and p99 {percentile(base.probe_ms, 99):.0f} ms "
        f"with no clients, {percentile(without.probe_ms, 50):.0f} and "
        f"{percentile(without.probe_ms, 99):.0f} ms while serving them. The server's RSS "
        f"grew by at most {without.rss_peak / mib:.1f} MiB during a phase without the stalled "
        f"client and {withs.rss_peak / mib:.1f} MiB with it (each phase's projects stay "
        "in memory afterwards, as projects live as long as the server: hence the rising "
        f"start). Connecting {cfg.clients} clients and starting the server took "
        f"{bench.connect_s:.1f} s.",
        "",
        "| Target | Measured | |",
        "|---|---|---|",
        f"| every reading client ends with the REST state | "
        f"{min(p.converged for p in bench.phases if p.readers)} of {cfg.clients} (worst phase) "
        f"| {verdict(all_converged)} |",
        f"| the stalled client holds ≤ {STALLED_QUEUE_LIMIT} frames and a pending patch ≤ "
        f"{PENDING_LIMIT // 1024:,} KiB, and stays connected "
        f"| {withs.stalled_queued} frames, {withs.pending_bytes / 1024:,.0f} KiB "
        f"| {verdict(bounded)} |",
        f"| p99 latency with it ≤ {SLOWDOWN:g}× without (median over the rounds) "
        f"| {pair_ratio:.2f}× ({', '.join(f'{r:.2f}' for r in pairs)}) | {verdict(slowed)} |",
    ]
    if cfg is QUICK:
        lines.insert(
            2,
            "*Quick run: fewer clients, projects and nodes, not the targets' sizes; what is "
            "sent to the stalled client may fit in the kernel's socket buffers, so the server "
            "may never hold anything for it.*\n",
        )
    return "\n".join(lines) + "\n"


def to_json(bench: ServerBench) -> dict[str, Any]:
    """The results without the samples: percentiles stand for the latencies."""
    phases = []
    for p in bench.phases:
        data = asdict(p)
        for key, values in (("latencies_ms", p.latencies_ms), ("probe_ms", p.probe_ms)):
            data[key] = {str(q): percentile(values, q) for q in (50, 90, 99, 100)}
            data[key]["samples"] = len(values)
        phases.append(data)
    return {
        "config": asdict(bench.config),
        "flood": bench.flood,
        "seconds": bench.seconds,
        "phases": phases,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Socket.IO server benchmark (loopback only).")
    p.add_argument("--quick", action="store_true", help="40 clients, 4 projects of 500 nodes")
    p.add_argument(
        "--flood", action="store_true", help="the stalled client also asks for resyncs, 2/s"
    )
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server process
    args = p.parse_args(argv)
    if args.serve:
        serve_main()
        return 0
    print(render(run_benchmark(quick=args.quick, flood=args.flood)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
