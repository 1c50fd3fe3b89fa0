"""The commands that read the store: ``runs``, ``show`` (a run, or one node of
it), ``import``, and the table of nodes ``run`` prints at its end.

User strings print as plain text, never as rich markup (see ``taskbeam._cli``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from taskbeam._cli_common import CONTINUABLE, OK, STORE, CliError, open_store, styled
from taskbeam.store import StoreError
from taskbeam.store._backup import import_backup

__all__ = ["import_command", "node_report", "report", "runs_command", "show_command"]


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
        elif "cached" in n:
            status.append(" (cached)", style="dim")
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


def runs_command(args: argparse.Namespace, console: Console) -> int:
    store = open_store(args.store, readonly=True)
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


def show_command(args: argparse.Namespace, console: Console) -> int:
    store = open_store(args.store, readonly=True)
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
            command = f"taskbeam run MODULE:GRAPH{store_option} --continue {args.run_id}"
            console.print(Text(f"continue it: {command}", style="dim"))
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


def import_command(args: argparse.Namespace, console: Console) -> int:
    store = open_store(args.store)
    try:
        run_id = import_backup(store, args.file)
    except StoreError as exc:
        raise CliError(STORE, str(exc)) from None
    store.close()
    console.print(Text(f"imported run {run_id} into {store.path}"))
    return OK
