"""The ``taskbeam`` command: run a graph in the terminal and watch it."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import pathlib
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from taskbeam._spec import load_object
from taskbeam.engine import Executor, ProcessExecutor, Run, RunStatus, resume, start
from taskbeam.engine._status import TERMINAL
from taskbeam.graph import Graph
from taskbeam.server._command import add_arguments as _serve_arguments
from taskbeam.server._command import run as _serve
from taskbeam.store import SQLiteStore, StoreError
from taskbeam.store._backup import import_backup

__all__ = ["main"]

STATUS_STYLE = {
    "done": "green",
    "failed": "bold red",
    "cancelled": "yellow",
    "skipped": "dim",
    "running": "cyan",
    "retrying": "magenta",
    "interrupted": "bold yellow",
    "paused": "yellow",
    "pending": "default",
    "ready": "default",
    "expanded": "cyan",
    "aggregating": "cyan",
}
EXIT = {RunStatus.DONE: 0, RunStatus.FAILED: 1, RunStatus.CANCELLED: 2}


def load_graph(spec: str) -> Graph:
    """Resolve ``module:attribute`` to a Graph (or a zero-argument factory of one)."""
    return load_object(spec, Graph, "MODULE:GRAPH")


def watch(run: Run, console: Console) -> None:
    """Show a live progress bar until the run ends; Ctrl-C cancels the run."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(run.name, total=None, detail="")
        try:
            while not run.done:
                _update(progress, bar, run)
                time.sleep(0.1)
        except KeyboardInterrupt:
            progress.update(bar, detail="cancelling…")
            run.cancel()
            run.wait()
        _update(progress, bar, run)
    run.wait()


def _update(progress: Progress, bar: Any, run: Run) -> None:
    counts = run.counts
    total = sum(counts.values())
    finished = sum(counts.get(s.value, 0) for s in TERMINAL)
    busy = {k: v for k, v in counts.items() if v and k not in {s.value for s in TERMINAL}}
    detail = " ".join(f"{k}={v}" for k, v in sorted(busy.items()))
    progress.update(bar, total=total, completed=finished, detail=detail)


def report(snap: dict[str, Any], console: Console, show_all: bool = False, limit: int = 40) -> None:
    """Print a snapshot as a table of nodes: status, attempts, duration, result or error."""
    nodes = snap["nodes"]
    rows = list(nodes.items())
    if not show_all and len(rows) > limit:
        bad = [(k, v) for k, v in rows if v["status"] != "done"]
        rows = (bad + [(k, v) for k, v in rows if v["status"] == "done"])[:limit]
    table = Table(title=f"run {snap['run']['id']} ({snap['run']['name']})")
    for col in ("node", "status", "attempts", "seconds", "result / error"):
        table.add_column(col, overflow="fold")
    for node_id, n in rows:
        seconds = ""
        if "started" in n and "ended" in n:
            seconds = f"{n['ended'] - n['started']:.3f}"
        outcome = n.get("preview", "")
        if "error" in n:
            outcome = f"{n['error']['type']}: {n['error']['message']}"
        style = STATUS_STYLE.get(n["status"], "")
        table.add_row(
            node_id, f"[{style}]{n['status']}[/]", str(n.get("attempt", "")), seconds, outcome
        )
    console.print(table)
    if len(rows) < len(nodes):
        console.print(f"… {len(nodes) - len(rows)} more nodes (use --all to list every node)")
    counts = ", ".join(f"{k}={v}" for k, v in snap["run"]["counts"].items() if v)
    style = STATUS_STYLE.get(snap["run"]["status"], "")
    console.print(f"run [{style}]{snap['run']['status']}[/] · {counts}")
    if snap["run"].get("error"):
        console.print(f"[bold red]store error:[/] {snap['run']['error']}")


def _run(graph: Graph, args: argparse.Namespace) -> int:
    console = Console()
    limits = dict(_parse_limit(x) for x in args.limit or [])
    options: dict[str, Any] = {
        "max_concurrency": args.max_concurrency,
        "limits": limits,
        "on_error": args.on_error,
        "max_depth": args.max_depth,
    }
    store = _store(args.store) if args.store else None
    with contextlib.ExitStack() as stack:
        options["executor"] = _executor(args, stack)
        if args.resume:
            run = resume(args.resume, graph, store=store or _store(None), **options)
        else:
            run = start(graph, store=store, **options)
        watch(run, console)
        report(run.snapshot(), console, show_all=args.all)
    if run.store is not None:
        console.print(f"stored in {run.store.path} as {run.id}")
    return EXIT.get(run.status, 1)


def _executor(args: argparse.Namespace, stack: contextlib.ExitStack) -> Executor | None:
    """The executor ``--processes`` or ``--dask`` ask for (closed when ``stack`` closes)."""
    if args.processes is not None:
        if args.processes < 1:
            raise SystemExit(f"taskbeam: --processes takes N >= 1, got {args.processes}")
        return stack.enter_context(ProcessExecutor(args.processes))
    if args.dask is not None:
        try:
            from distributed import Client

            from taskbeam.engine._dask import DaskExecutor
        except ImportError:
            raise SystemExit("taskbeam: --dask needs pip install 'taskbeam[dask]'") from None
        try:
            client = stack.enter_context(Client(args.dask, timeout=5))  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            msg = f"taskbeam: cannot reach the Dask scheduler {args.dask} within 5 s: {exc}"
            raise SystemExit(msg) from None
        executor = DaskExecutor(client)
        stack.callback(executor.close)
        return executor
    return None


def _store(path: str | None, readonly: bool = False) -> SQLiteStore:
    """The store at ``path``; ``readonly`` (the commands that only read) creates nothing."""
    try:
        return SQLiteStore(path, readonly=readonly)
    except StoreError as exc:
        raise SystemExit(f"taskbeam: {exc}") from None


def _runs(args: argparse.Namespace) -> int:
    console = Console()
    store = _store(args.store, readonly=True)
    table = Table(title=f"runs in {store.path}")
    for col in ("id", "name", "status", "counts", "started", "seconds"):
        table.add_column(col, overflow="fold")
    for r in store.runs():
        counts = ", ".join(f"{k}={v}" for k, v in r["counts"].items() if v)
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created"]))
        style = STATUS_STYLE.get(r["status"], "")
        seconds = f"{r['ended']:.3f}" if "ended" in r else ""
        table.add_row(r["id"], r["name"], f"[{style}]{r['status']}[/]", counts, started, seconds)
    console.print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    store = _store(args.store, readonly=True)
    try:
        snap = store.load(args.run_id)
    except KeyError:
        raise SystemExit(f"taskbeam: no run {args.run_id!r} in {store.path}") from None
    except StoreError as exc:
        raise SystemExit(f"taskbeam: {exc}") from None
    report(snap, Console(), show_all=args.all)
    return 0


def _import(args: argparse.Namespace) -> int:
    store = _store(args.store)
    try:
        run_id = import_backup(store, args.file)
    except StoreError as exc:
        raise SystemExit(f"taskbeam: {exc}") from None
    store.close()
    Console().print(f"imported run {run_id} into {store.path}")
    return 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _lab(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        raise SystemExit("taskbeam: JupyterLab is not installed: pip install 'taskbeam[lab]'")
    notebook = pathlib.Path(args.notebook).resolve() if args.notebook else None
    if notebook is not None and not notebook.is_file():
        raise SystemExit(f"taskbeam: no notebook {args.notebook!r}")
    root = notebook.parent if notebook is not None else pathlib.Path.cwd()
    port = args.port or free_port(args.ip)
    token = secrets.token_hex(24)
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--ip={args.ip}",
        f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd)
    base = f"http://{args.ip}:{port}"
    deadline = time.monotonic() + 60
    while proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/api?token={token}", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.terminate()
                raise SystemExit("taskbeam: JupyterLab did not start within 60 s") from None
            time.sleep(0.2)
    page = f"/lab/tree/{notebook.name}" if notebook is not None else "/lab"
    # A plain print: the URL must stay on one line to be copied or clicked.
    print(f"JupyterLab is running; open\n\n    {base}{page}?token={token}\n", flush=True)
    print("Press Ctrl-C to stop it.", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(10)
        return 0


def _parse_limit(text: str) -> tuple[str, int]:
    tag, sep, n = text.partition("=")
    if not sep or not n.isdigit() or int(n) < 1:
        raise SystemExit(f"taskbeam: --limit takes TAG=N with N >= 1, got {text!r}")
    return tag, int(n)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskbeam", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run MODULE:GRAPH with a live progress bar")
    run.add_argument("graph", help="module:attribute naming a Graph or a function returning one")
    demo = sub.add_parser("demo", help="run the bundled recursive research-agent example")
    runs = sub.add_parser("runs", help="list the runs in a store")
    show = sub.add_parser("show", help="print one stored run")
    show.add_argument("run_id")
    show.add_argument("--all", action="store_true", help="list every node")
    imp = sub.add_parser("import", help="load an emergency backup file into a store")
    imp.add_argument("file")
    lab = sub.add_parser("lab", help="open a notebook in JupyterLab and print its URL")
    lab.add_argument("notebook", nargs="?", help="a notebook to open (default: the file browser)")
    lab.add_argument("--ip", default="127.0.0.1", help="address to listen on")
    lab.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve = sub.add_parser("serve", help="serve a REST API and live Socket.IO updates of runs")
    _serve_arguments(serve)
    for p in (runs, show, imp):
        p.add_argument("--store", default=None, help="database file (default .taskbeam/runs.db)")
    for p in (run, demo):
        p.add_argument("--store", default=None, help="persist the run in this database file")
        p.add_argument("--resume", metavar="RUN_ID", help="continue a stored run")
        p.add_argument(
            "--max-concurrency",
            type=int,
            default=None,
            help="most nodes running at once (default 8, or twice the workers)",
        )
        where = p.add_mutually_exclusive_group()
        where.add_argument(
            "--processes", type=int, metavar="N", help="run sync tasks in N worker processes"
        )
        where.add_argument(
            "--dask",
            metavar="ADDRESS",
            help="run sync tasks on the Dask cluster whose scheduler is at ADDRESS",
        )
        p.add_argument("--limit", action="append", metavar="TAG=N", help="per-tag limit")
        p.add_argument("--on-error", choices=("continue", "fail_fast"), default="continue")
        p.add_argument("--max-depth", type=int, default=8)
        p.add_argument("--all", action="store_true", help="list every node in the final table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command in ("runs", "show", "import", "lab"):
        return {"runs": _runs, "show": _show, "import": _import, "lab": _lab}[args.command](args)
    if args.command == "demo":
        from taskbeam.examples import FakeLLM, research_graph

        graph = research_graph("why is the sky blue", depth=3, breadth=3, llm=FakeLLM(0.4))
        if not args.limit:
            args.limit = ["llm=4"]
        return _run(graph, args)
    return _run(load_graph(args.graph), args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
