"""A real JupyterLab and a notebook page in headless Chromium, driven from Python.

Shared by the end-to-end tests (tests/e2e/conftest.py) and the widget
benchmark (bench/widget.py):

* ``Lab``: a JupyterLab server in a subprocess (the venv's, on a free
  loopback port, with a random token, its own settings and config, serving
  a copy of ``notebooks/`` or an empty folder);
* ``launch_chromium``: the headless Chromium of ``/usr/bin/chromium``;
* ``NotebookPage``: a notebook opened in the page, its cells run by
  JupyterLab's commands, code run in its kernel over the page's own kernel
  connection, its taskbeam views read through their test hook
  (``root.taskbeam``);
* ``KernelTraffic``: the IOPub messages the page receives on its kernel
  websockets, counted per second (Jupyter's rate limit is per second).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
RATE_LIMIT_TEXT = "IOPub message rate exceeded"
# KernelTraffic's name for the IOPub messages the server's rate limit counts.
LIMITED = "rate-limited"


def poll(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    detail: Callable[[], object] | None = None,
    interval: float = 0.1,
) -> Any:
    """Poll ``predicate`` until it returns something truthy and return it.

    At the deadline, fail saying ``what`` was awaited and, from ``detail``,
    what was there instead.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"not within {timeout:g} s: {what}{extra}")
        time.sleep(interval)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lab:
    """A JupyterLab server running in a subprocess."""

    def __init__(self, workdir: Path, notebooks: Path | None = NOTEBOOKS) -> None:
        self.workdir = workdir
        self.notebooks = notebooks  # copied into the server's root; None: an empty root
        self.root = workdir / "notebooks"
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "jupyterlab.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # The front end's module (``python -m APP``) and what its log calls it.
    app = "jupyterlab"
    name = "JupyterLab"

    def start(self) -> None:
        if self.notebooks is None:
            self.root.mkdir(parents=True)
        else:
            shutil.copytree(
                self.notebooks,
                self.root,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", ".taskbeam"),
            )
        config = self.workdir / "config"
        config.mkdir()
        # No language servers to look for: nothing here uses them.
        (config / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_lsp": False}}})
        )
        env = {
            **os.environ,
            # Nothing of the user's Jupyter or IPython setup: the venv's kernel
            # spec is the only ``python3`` found.
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_DATA_DIR": str(self.workdir / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
            "IPYTHONDIR": str(self.workdir / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        args = [
            sys.executable,
            "-m",
            self.app,
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--allow-root",
            "--expose-app-in-browser",
            "--ServerApp.terminals_enabled=False",
            "--MappingKernelManager.default_kernel_name=python3",
            *self.app_args(),
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                args, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        poll(self._ready, 60, f"{self.name} answers on /api", self.log_tail, interval=0.2)

    def app_args(self) -> list[str]:
        """JupyterLab's own options: offline and quiet (no news, no update checks)."""
        settings = self.workdir / "lab-settings"
        notification = settings / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        return [
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={self.workdir / 'workspaces'}",
        ]

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with code {self.proc.returncode}:\n{self.log_tail()}"
            )
        try:
            self.api("GET", "/api")
        except (OSError, urllib.error.URLError):
            return False
        return True

    def api(self, method: str, path: str) -> Any:
        sep = "&" if "?" in path else "?"
        req = urllib.request.Request(f"{self.url}{path}{sep}token={self.token}", method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for session in self.api("GET", "/api/sessions"):
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.api("DELETE", f"/api/sessions/{session['id']}")
        for kernel in self.api("GET", "/api/kernels"):
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.api("DELETE", f"/api/kernels/{kernel['id']}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no JupyterLab log)"
        return "JupyterLab log (end):\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.shutdown_kernels()
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def launch_chromium(playwright: Any) -> Any:
    """Headless Chromium from Debian's package (``make browser``), offline and quiet."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: `make browser` installs it")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# --- the page ---------------------------------------------------------------

# Finds the notebook panel of a path among the main area's widgets.
_PANEL_JS = """
(path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path) return w;
  }
  return null;
}
"""


def _js(body: str) -> str:
    """A page function taking ``[path, arg]`` with ``panel`` bound (or null)."""
    return f"""([path, arg]) => {{
      const panel = ({_PANEL_JS})(path);
      {body}
    }}"""


KERNEL_STATUS_JS = _js("""
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return kernel ? kernel.status : null;
""")

KERNEL_ID_JS = _js("""
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return kernel ? kernel.id : null;
""")

SAVED_JS = _js("return !!panel && !panel.context.model.dirty;")

CELLS_JS = _js("""
  if (!panel) return null;
  const out = [];
  panel.content.widgets.forEach((cell, index) => {
    const m = cell.model;
    if (m.type !== 'code') return;
    const outputs = m.outputs.toJSON();
    out.push({
      index,
      source: m.sharedModel.getSource(),
      tags: (m.getMetadata && m.getMetadata('tags')) || [],
      count: m.executionCount,
      errors: outputs.filter(o => o.output_type === 'error')
        .map(o => `${o.ename}: ${o.evalue}`),
      stderr: outputs.filter(o => o.output_type === 'stream' && o.name === 'stderr')
        .map(o => Array.isArray(o.text) ? o.text.join('') : o.text).join(''),
    });
  });
  return out;
""")

RUN_COMMAND_JS = _js("""
  panel.content.activeCellIndex = arg[1];
  window.jupyterapp.shell.activateById(panel.id);
  // Not awaited: the command's promise may settle only long after.
  window.jupyterapp.commands.execute(arg[0]);
  return true;
""")

EXECUTE_JS = _js("""
  const kernel = panel.sessionContext.session.kernel;
  const future = kernel.requestExecute(
    {code: arg, silent: false, store_history: false, stop_on_error: false});
  let out = '', err = '', error = null;
  future.onIOPub = (msg) => {
    const t = msg.header.msg_type, c = msg.content;
    if (t === 'stream') { if (c.name === 'stdout') out += c.text; else err += c.text; }
    else if (t === 'error') error = `${c.ename}: ${c.evalue}\\n${c.traceback.join('\\n')}`;
  };
  return future.done.then(() => ({out, err, error}));
""")

# The views of taskbeam on the page, with what their test hook says.
VIEWS_JS = """
() => Array.from(document.querySelectorAll('.taskbeam-view')).map((root, index) => {
  const hook = root.taskbeam;
  let runId = null;
  try { runId = hook && hook.state() && hook.state().run ? hook.state().run.id : null; }
  catch (e) { runId = null; }
  return {index, hook: !!hook, runId, seq: root.getAttribute('data-seq'),
          runStatus: root.getAttribute('data-run-status')};
})
"""

MARK = "@@taskbeam-e2e@@"


def _decode_kernel_frame(payload: str | bytes) -> tuple[str, str] | None:
    """(channel, msg_type) of a kernel websocket frame, either protocol."""
    try:
        if isinstance(payload, str):
            msg = json.loads(payload)
            return msg.get("channel", ""), msg["header"]["msg_type"]
        # v1.kernel.websocket.jupyter.org: n, n offsets, channel, header, ...
        (n,) = struct.unpack_from("<Q", payload, 0)
        offsets = struct.unpack_from(f"<{n}Q", payload, 8)
        channel = payload[offsets[0] : offsets[1]].decode()
        header = json.loads(payload[offsets[1] : offsets[2]])
        return channel, header["msg_type"]
    except (ValueError, KeyError, IndexError, struct.error, TypeError):
        return None


class KernelTraffic:
    """Messages the page receives over its kernel websockets, counted per second."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.per_second: dict[str, Counter[int]] = {}
        self.undecoded = 0

    def attach(self, page: Any) -> None:
        def on_ws(ws: Any) -> None:
            if "/api/kernels/" not in ws.url or "/channels" not in ws.url:
                return
            ws.on("framereceived", self._frame)

        page.on("websocket", on_ws)

    def _frame(self, payload: str | bytes) -> None:
        decoded = _decode_kernel_frame(payload)
        if decoded is None:
            self.undecoded += 1
            return
        channel, msg_type = decoded
        if channel != "iopub":
            return
        second = int(time.monotonic() - self.t0)
        self.per_second.setdefault(msg_type, Counter())[second] += 1
        if msg_type not in ("status", "comm_open"):
            self.per_second.setdefault(LIMITED, Counter())[second] += 1

    def mark(self) -> float:
        return time.monotonic() - self.t0

    def _seconds(self, msg_type: str, since: float, until: float | None) -> dict[int, int]:
        """Counts per second of ``msg_type`` from ``since`` to ``until`` (``mark()`` times)."""
        counts = self.per_second.get(msg_type, Counter())
        last = None if until is None else int(until)
        return {s: c for s, c in counts.items() if s >= int(since) and (last is None or s <= last)}

    def peak(self, msg_type: str, since: float = 0.0, until: float | None = None) -> int:
        return max(self._seconds(msg_type, since, until).values(), default=0)

    def total(self, msg_type: str, since: float = 0.0, until: float | None = None) -> int:
        return sum(self._seconds(msg_type, since, until).values())

    def window_peak(
        self, msg_type: str, seconds: int = 3, since: float = 0.0, until: float | None = None
    ) -> float:
        """The highest average rate over ``seconds`` consecutive seconds."""
        counts = self._seconds(msg_type, since, until)
        if not counts:
            return 0.0
        return max(
            sum(counts.get(s + k, 0) for k in range(seconds)) / seconds
            for s in range(min(counts), max(counts) + 1)
        )

    def summary(self, msg_type: str) -> str:
        counts = self.per_second.get(msg_type, Counter())
        return ", ".join(f"{s}s:{counts[s]}" for s in sorted(counts))


class NotebookPage:
    """A notebook opened in JupyterLab, driven and read through the page."""

    poll = staticmethod(poll)

    def __init__(self, lab: Lab, page: Any, name: str, traffic: KernelTraffic) -> None:
        self.lab = lab
        self.page = page
        self.name = name
        self.path = f"{name}.ipynb"
        self.traffic = traffic
        self.console: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))

    def _console(self, msg: Any) -> None:
        if msg.type in ("error", "warning"):
            self.console.append(f"console.{msg.type}: {msg.text}")

    def ev(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, [self.path, arg])

    # -- opening and running ---------------------------------------------------
    def open(self) -> None:
        if not (self.lab.root / self.path).is_file():
            raise AssertionError(f"notebooks/{self.path} is missing")
        self.page.goto(
            f"{self.lab.url}/lab/tree/{self.path}?reset&token={self.lab.token}",
            wait_until="domcontentloaded",
        )
        self.wait_kernel_idle(60)

    def kernel_status(self) -> str | None:
        return self.ev(KERNEL_STATUS_JS)

    def wait_kernel_idle(self, timeout: float) -> None:
        def idle() -> bool:
            # A "Select Kernel" dialog: take the proposed kernel.
            if self.page.locator(".jp-Dialog").count():
                self.page.keyboard.press("Enter")
                return False
            return self.kernel_status() == "idle"

        poll(idle, timeout, f"the kernel of {self.path} is idle", self.describe, interval=0.2)

    def kernel_id(self) -> str | None:
        return self.ev(KERNEL_ID_JS)

    def save(self) -> None:
        self.run("docmanager:save")
        poll(lambda: self.ev(SAVED_JS), 10, f"{self.path} is saved", self.describe)

    def cells(self) -> list[dict[str, Any]]:
        return self.ev(CELLS_JS) or []

    def run(self, command: str, active_cell: int = 0) -> None:
        """Start a notebook command (e.g. run all cells), not waiting for it."""
        self.ev(RUN_COMMAND_JS, [command, active_cell])

    def clear_outputs(self) -> None:
        self.run("notebook:clear-all-cell-outputs")
        poll(
            lambda: all(c["count"] is None for c in self.cells()),
            10,
            f"{self.path}: outputs cleared",
            self.describe,
        )

    def errors(self, cells: list[dict[str, Any]] | None = None) -> list[str]:
        """Errors shown in the notebook: error outputs, tracebacks on stderr, rate limits."""
        found = []
        for c in cells if cells is not None else self.cells():
            if "raises-exception" in c["tags"]:
                continue  # an error shown on purpose
            for e in c["errors"]:
                found.append(f"cell {c['index']}: {e}")
            if re.search(r"Traceback|Error", c["stderr"]):
                found.append(f"cell {c['index']} printed on stderr: {c['stderr'][-2000:]}")
        stderr_dom = self.page.eval_on_selector_all(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
            "els => els.map(e => e.innerText)",
        )
        if not found:  # error outputs show on the page as stderr too
            for text in stderr_dom:
                if re.search(r"Traceback|Error", text):
                    found.append(f"stderr output on the page: {text[-1500:]}")
        widget_errors = self.page.eval_on_selector_all(
            ".jp-OutputArea-output", "els => els.map(e => e.innerText)"
        )
        for text in widget_errors:
            if "Error displaying widget" in text or "Error rendering" in text:
                found.append(f"a widget failed to render: {text[:500]}")
        if RATE_LIMIT_TEXT in self.page.inner_text("body"):
            found.append(f"the page shows '{RATE_LIMIT_TEXT}'")
        return found

    def wait_cells_done(self, upto: int | None, timeout: float) -> None:
        """Wait until every non-empty code cell (before ``upto``) has run and the kernel is idle.

        Fails at once on an error shown by any cell.
        """

        def done() -> bool:
            cells = [
                c
                for c in self.cells()
                if c["source"].strip() and (upto is None or c["index"] < upto)
            ]
            errors = self.errors(cells)
            if errors:
                raise AssertionError(f"{self.path} shows errors:\n" + "\n".join(errors))
            return all(c["count"] is not None for c in cells) and self.kernel_status() == "idle"

        poll(done, timeout, f"every code cell of {self.path} has run", self.describe, 0.25)

    def describe(self) -> str:
        try:
            cells = self.cells()
            status = self.kernel_status()
        except Exception as exc:  # the page may be gone
            return f"(page unreadable: {exc})"
        lines = [f"kernel: {status}"]
        for c in cells:
            first = c["source"].strip().splitlines()[0][:60] if c["source"].strip() else ""
            lines.append(f"  cell {c['index']} [{c['count']}] {first!r} {c['errors']}")
        lines += self.console[-10:]
        lines.append(self.lab.log_tail(15))
        return "\n".join(lines)

    # -- the kernel, through the page ------------------------------------------------------
    def execute(self, code: str) -> str:
        """Run ``code`` in the notebook's kernel and return what it printed between marks.

        Background threads may print while it runs, so the value is printed
        between marks and cut out of the stream.
        """
        wrapped = f"print({MARK!r}, end='')\n{code}\nprint({MARK!r}, end='')\n"
        result = self.ev(EXECUTE_JS, wrapped)
        if result["error"] is not None:
            raise AssertionError(
                f"kernel code failed:\n{code}\n{result['error']}\nstderr: {result['err']}"
            )
        parts = result["out"].split(MARK)
        if len(parts) < 3:
            raise AssertionError(f"kernel code printed no marked value: {result!r}")
        return parts[1]

    def json(self, expression: str) -> Any:
        return json.loads(self.execute(f"import json as _j\nprint(_j.dumps({expression}))"))

    def snapshot(self, variable: str = "run") -> dict[str, Any]:
        return self.json(f"{variable}.snapshot()")

    # -- the views ---------------------------------------------------------------------------
    def views(self) -> list[dict[str, Any]]:
        return self.page.evaluate(VIEWS_JS)

    def view_index(self, run_id: str, timeout: float = 30) -> int:
        """Index among ``.taskbeam-view`` elements of the first view showing ``run_id``."""

        def find() -> list[int]:
            return [v["index"] for v in self.views() if v["hook"] and v["runId"] == run_id]

        found = poll(
            find,
            timeout,
            f"a taskbeam view of run {run_id} with its test hook on {self.path}",
            lambda: f"views: {self.views()}\n{self.describe()}",
        )
        return int(found[0])

    def view(self, index: int) -> Any:
        """The ``index``-th ``.taskbeam-view`` on the page, scrolled into sight."""
        view = self.page.locator(".taskbeam-view").nth(index)
        view.scroll_into_view_if_needed()
        return view

    def run_all(self, timeout: float = 60, variable: str = "run") -> tuple[int, Any]:
        """Run every cell, wait for them, find the view of ``variable``'s run: (index, element)."""
        self.run("notebook:run-all-cells")
        self.wait_cells_done(None, timeout)
        index = self.view_index(self.json(f"{variable}.id"))
        return index, self.view(index)

    def hook(self, index: int, expression: str, arg: Any = None) -> Any:
        """Evaluate ``expression`` with ``root``, ``tb`` (its hook) and ``arg`` bound."""
        script = f"""([index, arg]) => {{
          const root = document.querySelectorAll('.taskbeam-view')[index];
          const tb = root.taskbeam;
          return ({expression});
        }}"""
        return self.page.evaluate(script, [index, arg])
