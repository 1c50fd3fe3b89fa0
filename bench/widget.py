"""Live Jupyter view benchmark: a real JupyterLab, headless Chromium, the view's canvas.

A JupyterLab server (the venv's, on loopback) and headless Chromium
(``/usr/bin/chromium``, driven by playwright) open one notebook; runs are
started in its kernel and shown in a cell's output by ``tb.GraphView``, and
everything is read in the page. Measured:

* **Latency**, kernel to canvas, at about 10, 1,000 and 50,000 node changes
  per second (each node makes three: ready, running, done), and in an
  unpaced burst. Every task returns ``time.time()`` as it ends, so a done
  node's ``preview`` (its result's ``repr``, to the µs) is the kernel's
  wall-clock time of its last change. In the page, a wrapper around the
  view's paint log (``root.taskbeam.paints``, pushed to once per drawn
  frame, after drawing, while ``state()`` is the state that frame drew)
  finds the nodes newly ``done`` at each paint: latency = paint time −
  preview. Same machine, same wall clock. The median is split into kernel,
  transport and page through the ``seq`` of the frame each paint drew.
* **Frames** during each run: handed to the comm by the view, reaching the
  page's kernel websocket and painted, per second; the most in any one
  second, and the IOPub rate over 3 s that Jupyter's limit (1,000 a second)
  counts.
* **Frame time** (``lastFrameMs``) and nodes changed per painted frame, the
  fast runs on a graph of 18,000 nodes (drawn as a graph: the overview
  starts at 20,000).
* **Render time** of finished runs of 1,000, 10,000 and 100,000 nodes: from
  the snapshot's arrival on the page's websocket to the first paint of that
  state, and from the command that runs the cell to that paint.

Run it through ``bench/run.py`` (``make bench``); ``python bench/widget.py
[--quick]`` prints the section alone.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
# The JupyterLab server and the page driver of the end-to-end tests.
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import _lab  # noqa: E402

NOTEBOOK = "widget-bench"
VIEWPORT = {"width": 1400, "height": 1000}
IOPUB_LIMIT = 1000  # messages a second, averaged over 3 s (the Jupyter server's default)
RENDER_TARGET_MS = 1000.0  # 10,000 nodes
FRAME_TARGET_MS = 50.0  # while 20 batches a second each change about 2,000 nodes
OVERVIEW_N = 100_000
ENDED = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Pace:
    """A latency run, behind a ``gate`` node that opens once the view has painted.

    ``chains`` chains of ``length`` nodes, each sleeping ``delay`` s (a node
    becomes ready when the one before it is done: 3 changes per ``delay``
    per chain); or a fan of ``fan`` no-op nodes, in ``waves`` waves ``delay``
    s apart (each wave waits for a ``tick`` node that sleeps until its time),
    or all at once (``waves`` = 0: as fast as the engine goes).
    """

    key: str
    aim: int  # node changes a second aimed at (0: as fast as it goes)
    chains: int = 0
    length: int = 0
    delay: float = 0.0
    fan: int = 0
    waves: int = 0

    @property
    def nodes(self) -> int:
        """Nodes of the graph, the gate and the ticks included."""
        return 1 + self.chains * self.length + self.fan + self.waves


FAN = 18_000  # no-op nodes of the fast runs: drawn as a graph (the overview starts at 20,000)


def paces(quick: bool) -> list[Pace]:
    return [
        Pace("10/s", 10, chains=1, length=17 if quick else 33, delay=0.3),
        Pace("1,000/s", 1_000, chains=10, length=134 if quick else 200, delay=0.03),
        # 16,667 nodes a second: 333 every 20 ms.
        Pace("50,000/s", 50_000, fan=FAN, waves=54, delay=0.02),
        Pace("burst", 0, fan=FAN),
    ]


REPEATS = 3
QUICK_REPEATS = 1
RENDER_SIZES = (1_000, 10_000, OVERVIEW_N)
QUICK_RENDER_SIZES = (1_000, 10_000)
RENDER_REPEATS = {1_000: 5, 10_000: 5, OVERVIEW_N: 2}
QUICK_RENDER_REPEATS = 3

# -- the kernel side -------------------------------------------------------------------

KERNEL_SETUP = """
import asyncio, random, threading, time
import taskbeam as tb

_bench = {"gate": threading.Event(), "views": [], "run": None}

async def _bench_gate(**_):
    deadline = time.monotonic() + 120
    while not _bench["gate"].is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.002)
    return time.time()

async def _bench_nap(delay, **_):
    await asyncio.sleep(delay)
    return time.time()

async def _bench_noop(**_):
    return time.time()

def _bench_paced(chains, length, delay, fan, waves):
    g = tb.Graph("paced")
    g.add("gate", _bench_gate)
    for k in range(waves):
        g.add(f"tick{k}", _bench_nap, kwargs={"delay": k * delay}, deps=["gate"])
    for i in range(fan):
        g.add(f"n{i}", _bench_noop, deps=[f"tick{i * waves // fan}" if waves else "gate"])
    for c in range(chains):
        before = "gate"
        for i in range(length):
            g.add(f"c{c}_{i}", _bench_nap, kwargs={"delay": delay}, deps=[before])
            before = f"c{c}_{i}"
    return g

def _bench_layered(n, seed=20240901):
    rnd = random.Random(seed)
    width = max(1, round(n ** 0.5))
    g = tb.Graph(f"layered-{n}")
    before = []
    for start in range(0, n, width):
        layer = [f"l{start // width}_{i}" for i in range(min(width, n - start))]
        for node in layer:
            deps = rnd.sample(before, min(2, len(before))) if before else []
            g.add(node, _bench_noop, deps=deps)
        before = layer
    return g

def _bench_show(run):
    for view in _bench["views"]:
        view.close()
    view = tb.GraphView(run)
    # When each frame is handed to the comm (the view subscribes when displayed).
    sent = _bench["sent"] = []
    send = view._send_frame
    def timed(message, buffers):
        sent.append((time.time(), message.get("type"), message.get("seq")))
        send(message, buffers)
    view._send_frame = timed
    _bench["views"] = [view]
    return view
"""

DISPLAY_CELL = "_bench_show(_bench['run'])"

# -- the page side ---------------------------------------------------------------------

# Runs before JupyterLab's code: every IOPub message on a kernel websocket is logged
# as [t, kind, bytes, type, seq], t on the page's epoch clock (performance.timeOrigin +
# now) when the page's main thread receives it, kind the msg_type, or for the widget's
# messages "custom" or "snapshot", with their protocol type and seq.
WS_LOG_JS = """
(() => {
  if (window.__tbWs) return;
  const log = [];
  window.__tbWs = log;
  const Native = window.WebSocket;
  const text = new TextDecoder();
  function part(data, dv, n, i, max) {
    const a = Number(dv.getBigUint64(8 + 8 * i, true));
    const b = i + 1 < n ? Number(dv.getBigUint64(16 + 8 * i, true)) : data.byteLength;
    return text.decode(new Uint8Array(data, a, Math.min(b - a, max)));
  }
  function inspect(data) {
    let channel, type, content;
    if (typeof data === 'string') {
      const m = JSON.parse(data);
      channel = m.channel; type = m.header && m.header.msg_type;
      content = JSON.stringify(m.content).slice(0, 600);
    } else if (data instanceof ArrayBuffer) {
      const dv = new DataView(data);
      const n = Number(dv.getBigUint64(0, true));
      if (n < 5) return null;
      channel = part(data, dv, n, 0, 32);
      if (channel !== 'iopub') return null;
      type = JSON.parse(part(data, dv, n, 1, 1 << 20)).msg_type;
      if (type === 'comm_msg') content = part(data, dv, n, 4, 600);
    } else return null;
    if (channel !== 'iopub') return null;
    if (type !== 'comm_msg') return [type, null, null];
    if (!/"method":\\s*"custom"/.test(content)) return ['comm_msg', null, null];
    const m = /"content":\\s*\\{"type":\\s*"(\\w+)"/.exec(content);
    const seq = /"seq":\\s*(\\d+)/.exec(content);
    const protocol = m ? m[1] : null;
    return [protocol === 'snapshot' ? 'snapshot' : 'custom', protocol, seq ? Number(seq[1]) : null];
  }
  class Logged extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (!String(url).includes('/api/kernels/')) return;
      this.addEventListener('message', (ev) => {
        const t = performance.timeOrigin + performance.now();
        let k = null;
        try { k = inspect(ev.data); } catch (e) { k = ['undecoded', null, null]; }
        const size = typeof ev.data === 'string' ? ev.data.length : ev.data.byteLength;
        if (k) log.push([t, k[0], size, k[1], k[2]]);
      });
    }
  }
  window.WebSocket = Logged;
})();
"""

SET_CELL_AND_RUN_JS = _lab._js("""
  const cell = panel.content.widgets[0];
  cell.model.sharedModel.setSource(arg);
  document.querySelectorAll('.taskbeam-view').forEach((r) => { r.__benchOld = true; });
  panel.content.activeCellIndex = 0;
  window.jupyterapp.shell.activateById(panel.id);
  const t = performance.timeOrigin + performance.now();
  window.jupyterapp.commands.execute('notebook:run-cell');
  return t;
""")

# The index of the newly displayed view of run ``arg``, or -1.
NEW_VIEW_JS = """
(runId) => {
  const roots = Array.from(document.querySelectorAll('.taskbeam-view'));
  return roots.findIndex((r) => {
    if (r.__benchOld || !r.taskbeam) return false;
    try {
      const s = r.taskbeam.state();
      return !!s && s.run.id === runId;
    } catch (e) {
      return false;
    }
  });
}
"""

NOW_JS = "() => performance.timeOrigin + performance.now()"

# Wraps the view's paint log: at each paint, the state is the one drawn, so the
# nodes whose status changed since the paint before, and those newly done, are
# exact. Returns what the view shows now.
INSTRUMENT_JS = """
(index) => {
  const root = document.querySelectorAll('.taskbeam-view')[index];
  const tb = root.taskbeam;
  const state0 = tb.state();
  const ids = Object.keys(state0.nodes);
  const last = ids.map((id) => state0.nodes[id].status);
  const rec = {lat: [], kt: [], ps: [], frames: [], offsets: [], paints: 0, badPreview: 0,
               remaining: last.filter((s) => s !== 'done').length, gate: null, error: null};
  let seq = tb.seq;
  const push = tb.paints.push;
  tb.paints.push = function (...items) {
    const out = push.apply(this, items);
    for (const p of items) {
      try { onPaint(p); } catch (e) { rec.error = String(e); }
    }
    return out;
  };
  function onPaint(p) {
    const wall = Date.now();
    const state = tb.state();
    rec.paints += 1;
    if (!state) return;
    const nodes = state.nodes;
    let changed = 0;
    for (let i = 0; i < ids.length; i++) {
      const node = nodes[ids[i]];
      const status = node ? node.status : undefined;
      if (status === last[i]) continue;
      last[i] = status;
      changed += 1;
      if (status !== 'done') continue;
      rec.remaining -= 1;
      const k = Number(node.preview);
      if (!Number.isFinite(k)) { rec.badPreview += 1; continue; }
      if (ids[i] === 'gate') rec.gate = k;
      rec.lat.push(p.t - k * 1000);
      rec.kt.push(k);
      rec.ps.push(p.seq);
    }
    if (changed) rec.frames.push([p.t, tb.lastFrameMs, changed, p.seq - seq]);
    seq = p.seq;
    rec.offsets.push(wall - p.t);
  }
  root.__bench = rec;
  return {nodes: ids.length, remaining: rec.remaining, seq: tb.seq, mode: tb.mode};
}
"""

RUN_ENDED_JS = """
(index) => {
  const root = document.querySelectorAll('.taskbeam-view')[index];
  const tb = root.taskbeam, rec = root.__bench;
  const last = tb.paints.length ? tb.paints[tb.paints.length - 1].seq : null;
  return {status: root.getAttribute('data-run-status'), remaining: rec.remaining,
          painted: last === tb.seq, error: rec.error};
}
"""

FIRST_PAINT_JS = """
(index) => {
  const tb = document.querySelectorAll('.taskbeam-view')[index].taskbeam;
  const i = tb.paints.findIndex((p) => p.seq !== null);
  return i < 0 ? null : i;
}
"""

RENDERED_JS = """
([index, i]) => {
  const tb = document.querySelectorAll('.taskbeam-view')[index].taskbeam;
  const p = tb.paints[i];
  return {t: p.t, seq: p.seq, frameMs: tb.frameTimes[i], layoutMs: tb.layoutMs,
          layouts: tb.layouts, mode: tb.mode, nodes: Object.keys(tb.state().nodes).length,
          offset: Date.now() - (performance.timeOrigin + performance.now())};
}
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# -- results -------------------------------------------------------------------------------


@dataclass
class LatencyRun:
    pace: str
    nodes: int
    mode: str
    seconds: float  # gate opened to last node done, kernel clock
    changes_per_second: float
    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    # the p50 of each part of a node's latency, through the frame its paint drew:
    kernel_p50_ms: float  # its change to that frame handed to the comm
    transport_p50_ms: float  # to the frame's arrival in the page
    page_p50_ms: float  # to the end of the paint
    split_samples: int  # nodes whose frame was found on both sides
    sent_per_second: float  # frames the view handed to the comm
    frames_per_second: float  # the widget's custom messages reaching the page
    paints_per_second: float  # painted frames that changed a node
    peak_comm_1s: int  # most custom messages in any 1 s (sliding)
    iopub_3s_peak: float  # most IOPub messages a second over 3 s (what the server limits)
    frame_ms_p50: float
    frame_ms_p95: float
    frame_ms_max: float
    changed_per_frame_p50: float
    changed_per_frame_max: int
    clock_offset_ms: float  # page epoch clock minus Date.now(), applied
    bad_previews: int


@dataclass
class RenderRun:
    nodes: int
    mode: str
    arrival_to_paint_ms: float
    cell_to_paint_ms: float
    layout_ms: float
    first_frame_ms: float
    snapshot_bytes: int  # on the websocket, the first snapshot
    snapshots: int  # snapshots that arrived before the first paint


@dataclass
class WidgetResults:
    quick: bool
    setup: dict[str, str]
    latency: dict[str, list[LatencyRun]] = field(default_factory=dict)
    render: dict[int, list[RenderRun]] = field(default_factory=dict)
    seconds: float = 0.0
    iopub_3s_peak: float = 0.0  # whole session
    rate_limit_shown: bool = False
    page_errors: list[str] = field(default_factory=list)
    other_load: float = 0.0
    steal: float = 0.0


# -- the machine ---------------------------------------------------------------------------


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _cpu() -> tuple[float, float]:
    """(busy CPU s of the machine, of which steal)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / hz, steal / hz


def _tree_cpu() -> float:
    """CPU s of this process and every live descendant (server, kernel, browser)."""
    total = 0.0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system
    return total


# -- the benchmark ---------------------------------------------------------------------------


class Bench:
    def __init__(self, nb: _lab.NotebookPage, traffic: _lab.KernelTraffic) -> None:
        self.nb = nb
        self.page = nb.page
        self.traffic = traffic

    def now(self) -> float:
        return float(self.page.evaluate(NOW_JS))

    def ws_log(self, since: float) -> list[list[Any]]:
        return self.page.evaluate("(t) => window.__tbWs.filter((e) => e[0] >= t)", since)

    def show(self, run_id: str) -> tuple[int, float]:
        """Run the display cell for ``run_id``; the new view's index and the click's time."""
        t_cell = float(self.nb.ev(SET_CELL_AND_RUN_JS, DISPLAY_CELL))
        index = _lab.poll(
            lambda: (i := self.page.evaluate(NEW_VIEW_JS, run_id)) >= 0 and i + 1,
            60,
            f"a new view of {run_id}",
            self.nb.describe,
            interval=0.05,
        )
        return int(index) - 1, t_cell

    def first_paint(self, index: int, timeout: float) -> int:
        found = _lab.poll(
            lambda: (i := self.page.evaluate(FIRST_PAINT_JS, index)) is not None and i + 1,
            timeout,
            "the view's first paint of a state",
            self.nb.describe,
            interval=0.02,
        )
        return int(found) - 1

    # -- latency ----------------------------------------------------------------------------
    def latency(self, pace: Pace) -> LatencyRun:
        run_id = self.nb.json(
            "_bench['gate'].clear() or _bench.update(run=tb.start(_bench_paced("
            f"{pace.chains}, {pace.length}, {pace.delay!r}, {pace.fan}, {pace.waves}), "
            "max_concurrency=10**9)) or _bench['run'].id"
        )
        index, _ = self.show(run_id)
        self.first_paint(index, 60)
        # Everything the view shows is painted before the gate opens.
        _lab.poll(
            lambda: self.nb.hook(
                index, "tb.paints.length && tb.paints[tb.paints.length - 1].seq === tb.seq"
            ),
            20,
            "the view has painted its state",
        )
        shown = self.page.evaluate(INSTRUMENT_JS, index)
        assert shown["nodes"] == pace.nodes, f"the view shows {shown}, not {pace.nodes} nodes"
        mark = self.traffic.mark()
        t_open = self.now()
        self.nb.execute("_bench['gate'].set()")
        expected = pace.nodes * 3 / (pace.aim or 50_000)
        ended = {}

        def done() -> bool:
            ended.update(self.page.evaluate(RUN_ENDED_JS, index))
            if ended["error"]:
                raise AssertionError(f"the paint hook failed: {ended['error']}")
            return ended["status"] in ENDED and ended["painted"] and ended["remaining"] <= 0

        _lab.poll(
            done,
            expected + 60,
            f"the {pace.key} run has ended on the canvas",
            lambda: str(ended),
            interval=0.2,
        )
        time.sleep(1.2)  # trailing frames and the heartbeat, for the traffic counts
        mark_end = self.traffic.mark()
        rec = self.page.evaluate(f"document.querySelectorAll('.taskbeam-view')[{index}].__bench")
        sent = [(t * 1000, kind, seq) for t, kind, seq in self.nb.json("_bench['sent']")]
        return self._analyse(pace, shown, rec, sent, self.ws_log(t_open - 1000), mark, mark_end)

    def _analyse(
        self,
        pace: Pace,
        shown: dict[str, Any],
        rec: dict[str, Any],
        sent: list[tuple[float, str, int | None]],
        msgs: list[list[Any]],
        mark: float,
        mark_end: float,
    ) -> LatencyRun:
        # Page times + offset = system clock (Date.now() is floored to the ms: + 0.5).
        offset = statistics.fmean(rec["offsets"]) + 0.5 if rec["offsets"] else 0.0
        gate = rec["gate"]
        assert gate is not None, "the gate's done was not seen"
        kt = [k * 1000 for k in rec["kt"]]  # ms, system clock
        lat = [x + offset for x in rec["lat"]]
        seconds = (max(kt) - gate * 1000) / 1000
        # The run's window on the system clock: the gate's change to the last painted change.
        frames = [f for f in rec["frames"] if f[0] + offset >= gate * 1000]
        t0, t1 = gate * 1000, max(f[0] for f in frames) + offset
        span = max((t1 - t0) / 1000, 1e-3)
        custom = [(e[0] + offset, e[3], e[4]) for e in msgs if e[1] in ("custom", "snapshot")]
        # Batches by seq: a heartbeat repeats the seq of the batch before it.
        arrived = {seq: t for t, kind, seq in custom if kind == "batch"}
        handed = {seq: t for t, kind, seq in sent if kind == "batch"}
        peak, j = 0, 0
        for i, (t, _, _) in enumerate(custom):
            while custom[j][0] < t - 1000:
                j += 1
            peak = max(peak, i - j + 1)
        # Each node's latency in three parts, through the frame its paint drew (by seq):
        # change -> frame handed to the comm -> frame in the page -> painted.
        parts: list[tuple[float, float, float]] = []
        for k, total, seq in zip(kt, lat, rec["ps"], strict=True):
            if seq in handed and seq in arrived:
                kernel = handed[seq] - k
                transport = arrived[seq] - handed[seq]
                parts.append((kernel, transport, total - kernel - transport))
        frame_ms = [f[1] for f in frames]
        changed = [f[2] for f in frames]
        return LatencyRun(
            pace=pace.key,
            nodes=shown["nodes"],
            mode=shown["mode"],
            seconds=seconds,
            changes_per_second=3 * (len(kt) - 1) / seconds if seconds > 0 else float("nan"),
            samples=len(lat),
            p50_ms=percentile(lat, 50),
            p99_ms=percentile(lat, 99),
            max_ms=max(lat),
            kernel_p50_ms=percentile([x[0] for x in parts], 50),
            transport_p50_ms=percentile([x[1] for x in parts], 50),
            page_p50_ms=percentile([x[2] for x in parts], 50),
            split_samples=len(parts),
            sent_per_second=sum(1 for t, _, _ in sent if t0 <= t <= t1) / span,
            frames_per_second=sum(1 for t, _, _ in custom if t0 <= t <= t1) / span,
            paints_per_second=len(frames) / span,
            peak_comm_1s=peak,
            iopub_3s_peak=self.traffic.window_peak(_lab.LIMITED, 3, mark, mark_end),
            frame_ms_p50=percentile(frame_ms, 50),
            frame_ms_p95=percentile(frame_ms, 95),
            frame_ms_max=max(frame_ms),
            changed_per_frame_p50=percentile(changed, 50),
            changed_per_frame_max=max(changed),
            clock_offset_ms=offset,
            bad_previews=rec["badPreview"],
        )

    # -- render --------------------------------------------------------------------------------
    def prepare_render(self, n: int) -> str:
        """A finished run of ``n`` nodes in the kernel, the one the display cell shows."""
        return str(
            self.nb.json(
                f"_bench.update(run=tb.start(_bench_layered({n}), max_concurrency=10**9)) "
                "or _bench['run'].wait(300).id"
            )
        )

    def render(self, run_id: str, n: int) -> RenderRun:
        index, t_cell = self.show(run_id)
        i = self.first_paint(index, 120)
        painted = self.page.evaluate(RENDERED_JS, [index, i])
        assert painted["nodes"] == n, f"the view drew {painted['nodes']} nodes, not {n}"
        snapshots = [e for e in self.ws_log(t_cell) if e[1] == "snapshot"]
        assert snapshots, "no snapshot seen on the websocket"
        arrived = snapshots[0]
        return RenderRun(
            nodes=n,
            mode=painted["mode"],
            arrival_to_paint_ms=painted["t"] - arrived[0],
            cell_to_paint_ms=painted["t"] - t_cell,
            layout_ms=painted["layoutMs"],
            first_frame_ms=painted["frameMs"],
            snapshot_bytes=int(arrived[2]),
            snapshots=sum(1 for e in snapshots if e[0] <= painted["t"]),
        )


def _setup(browser: Any) -> dict[str, str]:
    return {
        "Browser": f"Chromium {browser.version}, headless, viewport "
        f"{VIEWPORT['width']}×{VIEWPORT['height']}, device pixel ratio 1",
        "Jupyter": f"JupyterLab {_version('jupyterlab')}, jupyter_server "
        f"{_version('jupyter_server')}, ipykernel {_version('ipykernel')}, anywidget "
        f"{_version('anywidget')}, ipywidgets {_version('ipywidgets')}",
        "Driver": f"playwright {_version('playwright')} (Python)",
        "Date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _write_notebook(path: Path) -> None:
    """A notebook with one empty code cell: the display cell."""
    import nbformat

    kernelspec = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("")], metadata={"kernelspec": kernelspec}
    )
    nbformat.write(notebook, path)


def run_benchmark(quick: bool = False) -> WidgetResults:
    from playwright.sync_api import sync_playwright

    t_start = time.perf_counter()
    busy0, steal0 = _cpu()
    tree0 = _tree_cpu()
    with tempfile.TemporaryDirectory(prefix="taskbeam-widget-bench-") as tmp:
        lab = _lab.Lab(Path(tmp), notebooks=None)
        log("widget: starting JupyterLab and Chromium")
        try:
            lab.start()
            _write_notebook(lab.root / f"{NOTEBOOK}.ipynb")
            with sync_playwright() as p:
                browser = _lab.launch_chromium(p)
                try:
                    res = WidgetResults(quick=quick, setup=_setup(browser))
                    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
                    context.add_init_script(WS_LOG_JS)
                    page = context.new_page()
                    page.set_default_timeout(60_000)
                    failed: list[str] = []
                    page.on(
                        "response",
                        lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"),
                    )
                    traffic = _lab.KernelTraffic()
                    traffic.attach(page)
                    nb = _lab.NotebookPage(lab, page, NOTEBOOK, traffic)
                    nb.open()
                    _measure(Bench(nb, traffic), res, quick)
                    res.iopub_3s_peak = traffic.window_peak(_lab.LIMITED, 3)
                    res.rate_limit_shown = any(
                        text in page.inner_text("body")
                        for text in ("IOPub message rate exceeded", "IOPub data rate exceeded")
                    )
                    res.page_errors = _page_errors(nb.console, failed)
                    # Before anything stops: the CPU time of exited processes is lost.
                    busy1, steal1 = _cpu()
                    tree1 = _tree_cpu()
                    wall = time.perf_counter() - t_start
                finally:
                    browser.close()
        finally:
            lab.stop()
    res.seconds = time.perf_counter() - t_start
    res.other_load = max(0.0, (busy1 - busy0) - (tree1 - tree0)) / wall
    res.steal = (steal1 - steal0) / wall
    return res


def _page_errors(console: list[str], failed: list[str]) -> list[str]:
    """The page's errors and warnings, less those of what the server leaves out on purpose
    (terminals; the language-server extension, whose status URL answers 404)."""
    expected_404 = all("/lsp/" in f for f in failed)
    return [
        line
        for line in console
        if "terminals plugin" not in line
        and not (expected_404 and "status of 404" in line and "Failed to load resource" in line)
    ] + [f"HTTP {f}" for f in failed if "/lsp/" not in f]


def _measure(bench: Bench, res: WidgetResults, quick: bool) -> None:
    nb = bench.nb
    nb.execute(KERNEL_SETUP)
    # Warm-up, not measured: the first display loads the widget's code.
    run_id = bench.prepare_render(100)
    bench.render(run_id, 100)
    repeats = QUICK_REPEATS if quick else REPEATS
    for r in range(repeats):
        for pace in paces(quick):
            log(f"widget: latency at {pace.key}, repeat {r + 1}/{repeats}")
            run = bench.latency(pace)
            log(
                f"  {run.changes_per_second:,.0f} changes/s over {run.seconds:.1f} s: "
                f"p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms, "
                f"{run.frames_per_second:.1f} frames/s, frame {run.frame_ms_p50:.1f} ms"
            )
            res.latency.setdefault(pace.key, []).append(run)
    for n in QUICK_RENDER_SIZES if quick else RENDER_SIZES:
        run_id = bench.prepare_render(n)
        count = QUICK_RENDER_REPEATS if quick else RENDER_REPEATS[n]
        for r in range(count):
            log(f"widget: render {n:,} nodes, repeat {r + 1}/{count}")
            one = bench.render(run_id, n)
            log(
                f"  {one.mode}: {one.arrival_to_paint_ms:.0f} ms from the snapshot, "
                f"{one.cell_to_paint_ms:.0f} ms from the cell, layout {one.layout_ms:.0f} ms"
            )
            res.render.setdefault(n, []).append(one)


# -- the report ------------------------------------------------------------------------------


def _med(values: list[float]) -> float:
    return statistics.median(values)


def _span(values: list[float], fmt: str = "{:.0f}") -> str:
    med = fmt.format(_med(values))
    if len(values) < 2:
        return med
    return f"{med} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def _pace_name(key: str) -> str:
    return "none: no-op fan (burst)" if key == "burst" else key


def _verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**MISS**"


def targets(res: WidgetResults) -> list[tuple[str, str, bool]]:
    rows = []
    if 10_000 in res.render:
        ms = _med([r.arrival_to_paint_ms for r in res.render[10_000]])
        rows.append(
            (
                "10,000 nodes render in under 1 s (snapshot arrival to first paint, median)",
                f"{ms:,.0f} ms",
                ms < RENDER_TARGET_MS,
            )
        )
    fast = res.latency.get("50,000/s", [])
    if fast:
        p95 = _med([r.frame_ms_p95 for r in fast])
        worst = max(r.frame_ms_max for r in fast)
        changed = _med([r.changed_per_frame_p50 for r in fast])
        rows.append(
            (
                f"frame time under {FRAME_TARGET_MS:.0f} ms while about 20 batches a second "
                "each change about 2,000 nodes (18,000-node run at 50,000 changes/s; p95)",
                f"p95 {p95:.1f} ms, max {worst:.1f} ms, {changed:,.0f} nodes changed "
                "per frame (median)",
                p95 < FRAME_TARGET_MS,
            )
        )
    if OVERVIEW_N in res.render:
        runs = res.render[OVERVIEW_N]
        modes = {r.mode for r in runs}
        ms = _med([r.arrival_to_paint_ms for r in runs])
        rows.append(
            (
                "100,000 nodes open in an overview mode",
                f"mode {', '.join(sorted(modes))}, first paint {ms:,.0f} ms after the snapshot",
                modes == {"overview"},
            )
        )
    peak = max((r.iopub_3s_peak for runs in res.latency.values() for r in runs), default=0.0)
    rows.append(
        (
            f"IOPub messages under Jupyter's limit ({IOPUB_LIMIT:,}/s over 3 s), every run",
            f"peak {max(peak, res.iopub_3s_peak):,.0f}/s"
            + ("; the page showed a rate-limit warning" if res.rate_limit_shown else ""),
            max(peak, res.iopub_3s_peak) < IOPUB_LIMIT and not res.rate_limit_shown,
        )
    )
    return rows


def render(res: WidgetResults) -> str:
    lines: list[str] = []
    add = lines.append
    mode = "quick (`--quick`)" if res.quick else "full"
    add("## Live Jupyter view")
    add("")
    add(
        f"A real JupyterLab and headless Chromium on loopback, {mode} run, "
        f"{res.seconds:.0f} s. Runs are started in the notebook's kernel and shown by "
        "`tb.GraphView` in a cell's output; everything is read in the page. Method and "
        "error: [README.md](README.md#live-jupyter-view)."
    )
    if res.quick:
        add("")
        add(
            "**Quick run:** one repeat per rate, shorter runs, no 100,000-node render "
            "(so no overview row below)."
        )
    add("")
    add("| | |")
    add("|---|---|")
    for k, v in res.setup.items():
        add(f"| {k} | {v} |")
    add("")
    add(
        f"CPU, machine as above: the server, the kernel, the browser and this script share "
        f"its cores. Other work during the run: {res.other_load:.2f} cores on average "
        f"(CPU steal {res.steal:.2f})."
    )
    add("")
    add("| Target | Measured | |")
    add("|---|---|---|")
    for what, measured, ok in targets(res):
        add(f"| {what} | {measured} | {_verdict(ok)} |")
    add("")
    add("### Latency, kernel to canvas")
    add("")
    add(
        "From a node's last change in the kernel (`time.time()` as its task returns) to the "
        "end of drawing the first frame that shows it done. Each cell: the median over the "
        "repeats, with the lowest and highest repeat in brackets; per repeat, p50 and p99 "
        "are over every node of the run. The p50 split: the node's change to its frame "
        "handed to the comm (kernel), to that frame's arrival in the page (ipykernel, "
        "server, websocket), to the end of the paint (page)."
    )
    add("")
    add(
        "| node changes/s aimed at | measured | nodes | run (s) | repeats | samples per run "
        "| p50 (ms) | p99 (ms) | p50 split: kernel / transport / page (ms) |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, runs in res.latency.items():
        add(
            f"| {_pace_name(key)} | {_span([r.changes_per_second for r in runs], '{:,.0f}')} "
            f"| {runs[0].nodes:,} | {_med([r.seconds for r in runs]):.1f} | {len(runs)} "
            f"| {_med([r.samples for r in runs]):,.0f} "
            f"| {_span([r.p50_ms for r in runs], '{:.1f}')} "
            f"| {_span([r.p99_ms for r in runs], '{:.1f}')} "
            f"| {_med([r.kernel_p50_ms for r in runs]):.1f} / "
            f"{_med([r.transport_p50_ms for r in runs]):.1f} / "
            f"{_med([r.page_p50_ms for r in runs]):.1f} |"
        )
    add("")
    add(
        "Frames during the same runs (from the gate's change to the last painted change): "
        "frames the view handed to the comm, frames that reached the page's kernel "
        "websocket and frames painted with a change, per second; the most widget messages "
        "the page received in any 1 s, and the most IOPub messages a second over 3 s "
        "(what Jupyter's limit counts); the canvas's frame time (`lastFrameMs`: recolour "
        "or layout, and drawing) and the nodes whose status changed between two painted "
        "frames. Medians over the repeats; the peaks and maxima are the highest repeat's."
    )
    add("")
    add(
        "| node changes/s aimed at | sent/s | reaching the page/s | painted/s "
        "| most messages in 1 s | IOPub/s over 3 s | frame time p50 / p95 / max (ms) "
        "| nodes changed per frame p50 / max |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, runs in res.latency.items():
        add(
            f"| {_pace_name(key)} | {_med([r.sent_per_second for r in runs]):.1f} "
            f"| {_span([r.frames_per_second for r in runs], '{:.1f}')} "
            f"| {_med([r.paints_per_second for r in runs]):.1f} "
            f"| {max(r.peak_comm_1s for r in runs)} "
            f"| {max(r.iopub_3s_peak for r in runs):.0f} "
            f"| {_med([r.frame_ms_p50 for r in runs]):.1f} / "
            f"{_med([r.frame_ms_p95 for r in runs]):.1f} / "
            f"{max(r.frame_ms_max for r in runs):.1f} "
            f"| {_med([r.changed_per_frame_p50 for r in runs]):,.0f} / "
            f"{max(r.changed_per_frame_max for r in runs):,} |"
        )
    offsets = [r.clock_offset_ms for runs in res.latency.values() for r in runs]
    bad = sum(r.bad_previews for runs in res.latency.values() for r in runs)
    if offsets:
        add("")
        add(
            f"The page's clock (`performance.timeOrigin + performance.now()`) differed from "
            f"the system clock by {min(offsets):+.2f} to {max(offsets):+.2f} ms; corrected."
            + (f" {bad} previews could not be read as a time." if bad else "")
        )
    add("")
    add("### Render time")
    add("")
    add(
        "A finished run (a layered DAG of no-op tasks, width √N, two dependencies per "
        "node) shown by a new view: from the arrival of its first snapshot on the page's "
        "kernel websocket to the end of the first paint of that state, and from the "
        "command that runs the cell to the same paint. Medians, lowest and highest in "
        "brackets."
    )
    add("")
    add(
        "| nodes | repeats | mode | snapshot on the wire (KiB) | snapshot → first paint (ms) "
        "| cell → first paint (ms) | layout (ms) | first frame (ms) |"
    )
    add("|---:|---:|---|---:|---:|---:|---:|---:|")
    for n, runs in res.render.items():
        add(
            f"| {n:,} | {len(runs)} | {', '.join(sorted({r.mode for r in runs}))} "
            f"| {_med([r.snapshot_bytes for r in runs]) / 1024:,.0f} "
            f"| {_span([r.arrival_to_paint_ms for r in runs])} "
            f"| {_span([r.cell_to_paint_ms for r in runs])} "
            f"| {_med([r.layout_ms for r in runs]):,.0f} "
            f"| {_med([r.first_frame_ms for r in runs]):,.0f} |"
        )
    if res.page_errors:
        add("")
        add(f"The page logged {len(res.page_errors)} errors or warnings; the first:")
        add("")
        add("```")
        for e in res.page_errors[:5]:
            add(e[:300])
        add("```")
    return "\n".join(lines) + "\n"


def to_json(res: WidgetResults) -> dict[str, Any]:
    return {
        "quick": res.quick,
        "setup": res.setup,
        "seconds": res.seconds,
        "latency": {k: [asdict(r) for r in runs] for k, runs in res.latency.items()},
        "render": {str(n): [asdict(r) for r in runs] for n, runs in res.render.items()},
        "iopub_3s_peak": res.iopub_3s_peak,
        "rate_limit_shown": res.rate_limit_shown,
        "page_errors": res.page_errors,
        "other_load": res.other_load,
        "steal": res.steal,
    }


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    cli.add_argument("--quick", action="store_true", help="one repeat, shorter runs, no 100k")
    cli.add_argument("--json", type=Path, help="also write the raw results there")
    args = cli.parse_args()
    results = run_benchmark(quick=args.quick)
    if args.json:
        args.json.write_text(json.dumps(to_json(results), indent=1), encoding="utf-8")
    print(render(results))
