"""The taskbeam command: run a graph in the terminal and watch it.

Everything printed goes through rich, and every string that comes from a
user (node ids, run names, result previews, error messages, tracebacks,
captured output) is printed as plain text, never read as rich markup: a
result like ``'[q.1: answer]'`` shows as written.

A mistake (a graph that cannot be loaded, an unknown run, an option out of
range) prints one line ``taskbeam: ...`` on stderr and exits with its own
code (see ``EXIT_CODES``); ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import inspect
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from taskbeam._errors import GraphError
from taskbeam._spec import load_object
from taskbeam.engine import Executor, ProcessExecutor, Run, RunStatus, SavePolicy, resume
from taskbeam.engine._options import RunOptions
from taskbeam.engine._run import launch
from taskbeam.engine._status import TERMINAL, Status
from taskbeam.graph import Graph
from taskbeam.server._command import add_arguments as _serve_arguments
from taskbeam.server._command import port_number
from taskbeam.server._command import run as _serve
from taskbeam.store import SQLiteStore, StoreError
from taskbeam.store._backup import import_backup

__all__ = ["EXIT_CODES", "CliError", "main"]

# Exit codes. A run's outcome (0, 1, 130) and the kind of mistake (2 to 5)
# are told apart, so scripts can react to each.
OK = 0
RUN_FAILED = 1
USAGE = 2
BAD_GRAPH = 3
STORE = 4
ENVIRONMENT = 5
CANCELLED = 130  # as a shell reports a command stopped by Ctrl-C
EXIT_CODES: dict[int, str] = {
    OK: "the run finished done (or the command succeeded)",
    RUN_FAILED: "the run finished failed: some node failed (or was skipped after a failure)",
    USAGE: "a command-line mistake: an unknown option, a value out of range",
    BAD_GRAPH: "the graph could not be loaded: bad MODULE:GRAPH, an import or factory "
    "that raised, a factory that needs arguments, a cycle, an unknown dependency",
    STORE: "the run store: it cannot be opened or written, or holds no such run or node",
    ENVIRONMENT: "something outside taskbeam: an optional package missing, a Dask "
    "scheduler out of reach, JupyterLab not starting",
    CANCELLED: "the run was cancelled (Ctrl-C)",
}

# One style per status, keyed by the enums themselves: a status added to
# engine/_status.py without a style here fails at import, in every test.
_NODE_STYLE: dict[Status, str] = {
    Status.PENDING: "dim",
    Status.READY: "blue",
    Status.RUNNING: "cyan",
    Status.WAITING: "bright_green",
    Status.RETRYING: "magenta",
    Status.EXPANDED: "bright_cyan",
    Status.AGGREGATING: "bright_blue",
    Status.DONE: "green",
    Status.FAILED: "bold red",
    Status.CANCELLED: "yellow",
    Status.SKIPPED: "dim",
}
_RUN_STYLE: dict[RunStatus, str] = {
    RunStatus.RUNNING: "cyan",
    RunStatus.PAUSED: "bright_yellow",
    RunStatus.DONE: "green",
    RunStatus.FAILED: "bold red",
    RunStatus.CANCELLED: "yellow",
    RunStatus.INTERRUPTED: "bold yellow",  # its process was killed: it can be continued
}
# A store written by a newer version may hold statuses this one does not
# know: they print in plain bold.
STATUS_STYLE: dict[str, str] = {
    **{s.value: _NODE_STYLE[s] for s in Status},
    **{s.value: _RUN_STYLE[s] for s in RunStatus},
}
EXIT = {RunStatus.DONE: OK, RunStatus.FAILED: RUN_FAILED, RunStatus.CANCELLED: CANCELLED}
SAVE_EVERY = SavePolicy().watched
# Stored runs that did not finish done: `taskbeam show` says how to continue them.
CONTINUABLE = frozenset({"interrupted", "failed", "cancelled"})


class CliError(Exception):
    """A mistake the command reports in one line and an exit code (see ``EXIT_CODES``)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def styled(status: str) -> Text:
    """``status`` in its colour (plain bold for a status this version does not know)."""
    return Text(status, style=STATUS_STYLE.get(status, "bold"))


def load_graph(spec: str) -> Graph:
    """Resolve ``module:attribute`` to a valid Graph (or a zero-argument factory of one).

    Raises
    ------
    CliError
        With ``BAD_GRAPH`` for every way it can go wrong.
    """
    try:
        # kind=object: load_object returns the attribute itself, not called,
        # so a factory's signature can be checked before calling it.
        obj: Any = load_object(spec, object, "MODULE:GRAPH")
    except SystemExit as exc:
        raise CliError(BAD_GRAPH, str(exc.code).removeprefix("taskbeam: ")) from None
    except Exception as exc:
        module = spec.partition(":")[0]
        raise CliError(BAD_GRAPH, f"importing {module!r} raised {_one_line(exc)}") from exc
    if callable(obj) and not isinstance(obj, Graph):
        # No signature to inspect (some builtins: ValueError): just call it.
        with contextlib.suppress(ValueError):
            try:
                inspect.signature(obj).bind()
            except TypeError:
                raise CliError(
                    BAD_GRAPH,
                    f"{spec} needs arguments {_signature(obj)}: name a Graph or a function "
                    "that takes none",
                ) from None
        try:
            obj = obj()
        except Exception as exc:
            raise CliError(BAD_GRAPH, f"{spec}() raised {_one_line(exc)}") from exc
    if not isinstance(obj, Graph):
        raise CliError(BAD_GRAPH, f"{spec} is a {type(obj).__name__}, not a taskbeam.Graph")
    try:
        return obj.validate()
    except GraphError as exc:
        raise CliError(BAD_GRAPH, f"{spec}: {exc}") from exc


def _signature(fn: Callable[..., Any]) -> str:
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return "(...)"


def _one_line(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def watch(run: Run, console: Console) -> None:
    """Show a live progress bar until the run ends; Ctrl-C cancels the run."""
    try:
        _watch(run, console)
    except KeyboardInterrupt:  # while the bar starts or stops, or a second Ctrl-C
        run.cancel()
        run.wait()


def _watch(run: Run, console: Console) -> None:
    columns = (
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}", markup=False),
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


def report(
    snap: dict[str, Any],
    console: Console,
    show_all: bool = False,
    limit: int = 40,
    reused: frozenset[str] | set[str] = frozenset(),
) -> None:
    """Print a snapshot as a table of nodes: status, attempts, duration, result or error.

    Nodes in ``reused`` (or whose summary says ``reused``) were restored from
    the store when the run was continued: their status reads ``done
    (reused)``.
    """
    nodes = snap["nodes"]
    rows = list(nodes.items())
    if not show_all and len(rows) > limit:
        bad = [(k, v) for k, v in rows if v["status"] != "done"]
        rows = (bad + [(k, v) for k, v in rows if v["status"] == "done"])[:limit]
    run = snap["run"]
    table = Table(title=Text(f"run {run['id']} ({run['name']})"))
    for col in ("node", "status", "attempts", "seconds", "result / error"):
        table.add_column(col, overflow="fold")
    for node_id, n in rows:
        seconds = ""
        if "started" in n and "ended" in n:
            seconds = f"{n['ended'] - n['started']:.3f}"
        outcome = n.get("preview", "")
        if "error" in n:
            outcome = f"{n['error']['type']}: {n['error']['message']}"
        status = styled(n["status"])
        if node_id in reused or n.get("reused"):
            status.append(" (reused)", style="dim")
        table.add_row(
            Text(node_id), status, Text(str(n.get("attempt", ""))), seconds, Text(outcome)
        )
    console.print(table)
    if len(rows) < len(nodes):
        console.print(Text(f"… {len(nodes) - len(rows)} more nodes (use --all to list every node)"))
    reused = reused or {i for i, n in nodes.items() if n.get("reused")}
    console.print(_run_line(run, reused))
    if run.get("error"):
        console.print(Text.assemble(("store error: ", "bold red"), str(run["error"])))


def _run_line(run: Mapping[str, Any], reused: set[str] | frozenset[str]) -> Text:
    counts = ", ".join(f"{k}={v}" for k, v in run["counts"].items() if v)
    line = Text.assemble("run ", styled(run["status"]), f" · {counts}")
    if reused:
        line.append(f" · {len(reused)} reused from the store")
    return line


# The options of `taskbeam run` a resumed run takes from the command line, not from the store.
_OVERRIDES = ("max_concurrency", "limits", "on_error", "max_depth", "save_policy", "executor")


def _run(graph: Graph, args: argparse.Namespace, console: Console) -> int:
    limits = dict(_parse_limit(x) for x in args.limit or [])
    if args.save_every < 0:
        raise CliError(USAGE, f"--save-every takes SECONDS >= 0, got {args.save_every}")
    if args.max_concurrency is not None and args.max_concurrency < 1:
        raise CliError(USAGE, f"--max-concurrency takes N >= 1, got {args.max_concurrency}")
    store = _store(args.store) if args.store else None
    with contextlib.ExitStack() as stack:
        options = RunOptions(
            max_concurrency=args.max_concurrency,
            limits=limits,
            on_error=args.on_error,
            max_depth=args.max_depth,
            # The terminal watches the run, so it saves as a watched run does.
            save_policy=SavePolicy(watched=args.save_every, unwatched=args.save_every),
            executor=_executor(args, stack),
        )
        try:
            with _ctrl_c_deferred() as interrupted:
                if args.resume:
                    # What the command line sets overrides the stored options.
                    given = {name: getattr(options, name) for name in _OVERRIDES}
                    run = resume(args.resume, graph, store=store or _store(None), **given)
                else:
                    run = launch(graph, options.replace(store=store))
            if interrupted:
                run.cancel()
        except KeyError as exc:  # resume: no such run
            raise CliError(STORE, str(exc.args[0] if exc.args else exc)) from exc
        except StoreError as exc:
            raise CliError(STORE, str(exc)) from exc
        except GraphError as exc:
            raise CliError(BAD_GRAPH, str(exc)) from exc
        except (TypeError, ValueError) as exc:
            raise CliError(USAGE, str(exc)) from exc
        watch(run, console)
        report(run.snapshot(), console, show_all=args.all, reused=_reused(run))
    if run.store is not None:
        console.print(Text(f"stored in {run.store.path} as {run.id}"))
    return EXIT.get(run.status, RUN_FAILED)


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[list[int]]:
    """Hold Ctrl-C back while a run starts, so it lands on a started run (which
    is then cancelled) rather than inside the start. Yields the signals held."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)


def _reused(run: Run) -> set[str]:
    """The nodes a continued run took from the store instead of running them."""
    return {n.id for n in run._state.restored}


def _executor(args: argparse.Namespace, stack: contextlib.ExitStack) -> Executor | None:
    """The executor ``--processes`` or ``--dask`` ask for (closed when ``stack`` closes)."""
    if args.processes is not None:
        if args.processes < 1:
            raise CliError(USAGE, f"--processes takes N >= 1, got {args.processes}")
        return stack.enter_context(ProcessExecutor(args.processes))
    if args.dask is not None:
        try:
            from distributed import Client

            from taskbeam.engine._dask import DaskExecutor
        except ImportError:
            raise CliError(ENVIRONMENT, "--dask needs pip install 'taskbeam[dask]'") from None
        try:
            client = stack.enter_context(Client(args.dask, timeout=5))  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            msg = f"cannot reach the Dask scheduler {args.dask} within 5 s: {exc}"
            raise CliError(ENVIRONMENT, msg) from None
        executor = DaskExecutor(client)
        stack.callback(executor.close)
        return executor
    return None


def _store(path: str | None, readonly: bool = False) -> SQLiteStore:
    """The store at ``path``; ``readonly`` (the commands that only read) creates nothing."""
    try:
        return SQLiteStore(path, readonly=readonly)
    except StoreError as exc:
        raise CliError(STORE, str(exc)) from None


def _runs(args: argparse.Namespace, console: Console) -> int:
    store = _store(args.store, readonly=True)
    table = Table(title=Text(f"runs in {store.path}"))
    for col in ("id", "name", "status", "counts", "started", "seconds"):
        table.add_column(col, overflow="fold")
    try:
        runs = store.runs()
    except StoreError as exc:
        raise CliError(STORE, str(exc)) from exc
    for r in runs:
        counts = ", ".join(f"{k}={v}" for k, v in r["counts"].items() if v)
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created"]))
        seconds = f"{r['ended']:.3f}" if "ended" in r else ""
        table.add_row(
            Text(r["id"]), Text(r["name"]), styled(r["status"]), Text(counts), started, seconds
        )
    console.print(table)
    return OK


def _show(args: argparse.Namespace, console: Console) -> int:
    store = _store(args.store, readonly=True)
    try:
        snap = store.load(args.run_id)
        rows = store.node_rows(args.run_id) if args.node is not None else {}
    except KeyError:
        raise CliError(STORE, f"no run {args.run_id!r} in {store.path}") from None
    except StoreError as exc:
        raise CliError(STORE, str(exc)) from exc
    if args.node is None:
        report(snap, console, show_all=args.all)
        if snap["run"]["status"] in CONTINUABLE:
            store_option = f" --store {args.store}" if args.store else ""
            console.print(
                Text(
                    f"continue it: taskbeam run MODULE:GRAPH{store_option} --resume {args.run_id}",
                    style="dim",
                )
            )
        return OK
    if args.node not in rows:
        if args.node in snap["nodes"]:  # in the graph, never started: nothing stored yet
            rows[args.node] = {"status": snap["nodes"][args.node]["status"]}
        else:
            raise CliError(STORE, f"run {args.run_id!r} has no node {args.node!r}")
    deps = [d for d, dependant in snap["edges"] if dependant == args.node]
    summary = snap["nodes"].get(args.node, {})
    node_report(args.run_id, args.node, rows[args.node], summary, deps, console)
    return OK


def node_report(
    run_id: str,
    node_id: str,
    row: Mapping[str, Any],
    summary: Mapping[str, Any],
    deps: Sequence[str],
    console: Console,
) -> None:
    """Print one stored node: status, timing, result, error with its traceback, output."""
    console.print(Text.assemble(("node ", "bold"), (node_id, "bold"), f" of run {run_id}"))
    status = styled(str(row["status"]))
    if summary.get("reused"):
        status.append(" (reused)", style="dim")
    console.print(Text.assemble("status: ", status))
    if row.get("attempt"):
        console.print(Text(f"attempts: {row['attempt']}"))
    if row.get("started") is not None and row.get("ended") is not None:
        console.print(Text(f"seconds: {row['ended'] - row['started']:.3f}"))
    if deps:
        console.print(Text(f"depends on: {', '.join(deps)}"))
    if row.get("preview") is not None:
        console.print(Text.assemble("result: ", str(row["preview"])))
    if row.get("error_type") is not None:
        console.print(
            Text.assemble(
                ("error: ", "bold red"), f"{row['error_type']}: {row.get('error_message') or ''}"
            )
        )
    if row.get("traceback"):
        console.print(Text("traceback:", style="bold"))
        console.print(Text(str(row["traceback"]).rstrip("\n")), soft_wrap=True)
    if row.get("output"):
        console.print(Text("output:", style="bold"))
        console.print(Text(str(row["output"]).rstrip("\n")), soft_wrap=True)


def _import(args: argparse.Namespace, console: Console) -> int:
    store = _store(args.store)
    try:
        run_id = import_backup(store, args.file)
    except StoreError as exc:
        raise CliError(STORE, str(exc)) from None
    store.close()
    console.print(Text(f"imported run {run_id} into {store.path}"))
    return OK


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _lab(args: argparse.Namespace, console: Console) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        raise CliError(ENVIRONMENT, "JupyterLab is not installed: pip install 'taskbeam[lab]'")
    notebook = pathlib.Path(args.notebook).resolve() if args.notebook else None
    if notebook is not None and not notebook.is_file():
        raise CliError(USAGE, f"no notebook {args.notebook!r}")
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
                raise CliError(ENVIRONMENT, "JupyterLab did not start within 60 s") from None
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
        return OK


def _parse_limit(text: str) -> tuple[str, int]:
    tag, sep, n = text.partition("=")
    if not sep or not n.isdigit() or int(n) < 1:
        raise CliError(USAGE, f"--limit takes TAG=N with N >= 1, got {text!r}")
    return tag, int(n)


def _version() -> str:
    try:
        return importlib.metadata.version("taskbeam")
    except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path
        from taskbeam import __version__

        return __version__


def _epilog() -> str:
    lines = ["exit codes:"]
    for code, text in EXIT_CODES.items():
        lines += textwrap.wrap(
            text, width=78, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7
        )
    lines.append("")
    lines.append("Run 'taskbeam COMMAND --help' for the options of a command.")
    return "\n".join(lines)


DEBUG_HELP = "on a mistake, show the Python traceback as well as the one-line message"
_DESCRIPTION = "Run taskbeam task graphs in the terminal, list and show stored runs, serve them."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskbeam",
        description=_DESCRIPTION,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"taskbeam {_version()}")
    # --debug before or after the command; SUPPRESS keeps a subcommand's
    # default from overwriting a --debug given before it.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            parents=[debug],
            epilog=_epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    run = command("run", "run MODULE:GRAPH with a live progress bar")
    run.add_argument("graph", help="module:attribute naming a Graph or a function returning one")
    demo = command("demo", "run the bundled recursive research-agent example")
    runs = command("runs", "list the runs in a store")
    show = command("show", "print one stored run, or one node of it with --node")
    show.add_argument("run_id", metavar="RUN_ID", help="the run's id, as 'taskbeam runs' lists it")
    show.add_argument("--all", action="store_true", help="list every node")
    show.add_argument(
        "--node",
        metavar="NODE_ID",
        help="print this node's status, result, error with its traceback, and captured output",
    )
    imp = command("import", "load an emergency backup file into a store")
    imp.add_argument("file", metavar="FILE", help="the backup file (runs.db.backup-*.json)")
    lab = command("lab", "open a notebook in JupyterLab and print its URL")
    lab.add_argument("notebook", nargs="?", help="a notebook to open (default: the file browser)")
    lab.add_argument("--ip", default="127.0.0.1", help="address to listen on")
    lab.add_argument("--port", type=port_number, default=0, help="port (default: a free one)")
    serve = sub.add_parser(
        "serve",
        help="serve a REST API and live Socket.IO updates of runs",
        description="Serve a REST API and live Socket.IO updates of runs, until Ctrl-C.",
    )
    _serve_arguments(serve)
    for p in (runs, show, imp):
        p.add_argument("--store", default=None, help="database file (default .taskbeam/runs.db)")
    for p in (run, demo):
        p.add_argument("--store", default=None, help="persist the run in this database file")
        p.add_argument(
            "--resume",
            metavar="RUN_ID",
            help="continue a stored run: done nodes whose task is unchanged are reused",
        )
        p.add_argument(
            "--max-concurrency",
            type=int,
            default=None,
            metavar="N",
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
        p.add_argument(
            "--limit",
            action="append",
            metavar="TAG=N",
            help="at most N nodes tagged TAG running at once; repeatable",
        )
        p.add_argument(
            "--on-error",
            choices=("continue", "fail_fast"),
            default="continue",
            help="continue: skip what depends on a failure, run the rest (default); "
            "fail_fast: cancel everything at the first failure",
        )
        p.add_argument(
            "--max-depth",
            type=int,
            default=8,
            metavar="N",
            help="most levels of nested expand (default 8)",
        )
        p.add_argument(
            "--save-every",
            type=float,
            default=SAVE_EVERY,
            metavar="SECONDS",
            help=f"with --store: save changes at least this often (default {SAVE_EVERY:g})",
        )
        p.add_argument("--all", action="store_true", help="list every node in the final table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    console = Console()
    try:
        return _dispatch(args, console)
    except CliError as exc:
        if getattr(args, "debug", False):
            traceback.print_exception(exc)
        print(f"taskbeam: {exc.message}", file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:  # before a run started, or a second Ctrl-C while it stops
        if getattr(args, "debug", False):
            traceback.print_exc()
        print("taskbeam: interrupted", file=sys.stderr, flush=True)
        return CANCELLED


def _dispatch(args: argparse.Namespace, console: Console) -> int:
    commands = {"runs": _runs, "show": _show, "import": _import, "lab": _lab}
    if args.command in commands:
        return commands[args.command](args, console)
    if args.command == "demo":
        from taskbeam.examples import FakeLLM, research_graph

        graph = research_graph("why is the sky blue", depth=3, breadth=3, llm=FakeLLM(0.4))
        if not args.limit:
            args.limit = ["llm=4"]
        return _run(graph, args, console)
    return _run(load_graph(args.graph), args, console)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
