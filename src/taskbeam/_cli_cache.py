"""``taskbeam cache stats`` and ``taskbeam cache prune``: the store's result cache."""

from __future__ import annotations

import argparse
import math
import re
import time

from rich.console import Console
from rich.table import Table
from rich.text import Text

from taskbeam._cli_common import OK, STORE, USAGE, CliError, open_store
from taskbeam.store import StoreError

__all__ = ["cache_command", "parse_bytes", "parse_seconds"]

_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_BYTES = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_seconds(text: str) -> float:
    """``90``, ``45s``, ``30m``, ``12h``, ``7d``, ``2w`` as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if match is None:
        raise CliError(USAGE, f"--older-than takes a duration like 7d, 12h or 30m, got {text!r}")
    return float(match[1]) * _SECONDS[match[2]]


def parse_bytes(text: str) -> int:
    """``1000``, ``500K``, ``200M``, ``2G`` (binary units; an optional ``B`` or ``iB``)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if match is None:
        raise CliError(USAGE, f"--max-bytes takes a size like 2G, 500M or 1000, got {text!r}")
    value = float(match[1]) * _BYTES[match[2]]
    if not math.isfinite(value):
        raise CliError(USAGE, f"--max-bytes is too large: {text!r}")
    return int(value)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _when(stamp: float | None) -> str:
    return "" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def cache_command(args: argparse.Namespace, console: Console) -> int:
    if args.action == "prune" and args.older_than is None and args.max_bytes is None:
        raise CliError(USAGE, "cache prune needs --older-than DURATION, --max-bytes SIZE or both")
    older = parse_seconds(args.older_than) if args.action == "prune" and args.older_than else None
    most = parse_bytes(args.max_bytes) if args.action == "prune" and args.max_bytes else None
    store = open_store(args.store, readonly=args.action == "stats")
    try:
        if args.action == "prune":
            done = store.prune(older_than=older, max_bytes=most)
            freed = _size(done["freed"])
            console.print(Text(f"removed {done['removed']} entries ({freed}) from {store.path}"))
        stats = store.cache_stats()
    except StoreError as exc:
        raise CliError(STORE, str(exc)) from exc
    finally:
        store.close()
    table = Table(title=Text(f"cache in {stats['path']}"))
    for col in ("entries", "stored", "hits", "oldest entry", "last used"):
        table.add_column(col)
    table.add_row(
        str(stats["entries"]),
        _size(stats["bytes"]),
        str(stats["hits"]),
        _when(stats["oldest"]),
        _when(stats["last_used"]),
    )
    console.print(table)
    return OK


def diff_command(args: argparse.Namespace, console: Console) -> int:
    """``taskbeam diff RUN_A RUN_B``: the runs side by side, changed rows first."""
    from taskbeam._compare import compare

    store = open_store(args.store, readonly=True)
    try:
        comparison = compare(args.run_a, args.run_b, store=store)
    except KeyError as exc:
        raise CliError(STORE, str(exc.args[0] if exc.args else exc)) from None
    except StoreError as exc:
        raise CliError(STORE, str(exc)) from exc
    finally:
        store.close()
    rows = comparison.rows if args.all else comparison.changed()
    table = Table(title=Text(f"{comparison.a} → {comparison.b}"))
    for col in ("node", "result", "status a", "status b", "s a", "s b", "b's result / error"):
        table.add_column(col, overflow="fold")
    style = {
        "changed": "yellow",
        "added": "green",
        "only_b": "green",
        "removed": "red",
        "only_a": "red",
        "failed": "bold red",
        "unknown": "dim",
    }
    for r in rows:
        status_b = Text(r.status_b or "")
        if r.cached_b:
            status_b.append(" (reused)", style="dim")
        table.add_row(
            Text(r.node),
            Text(r.result, style=style.get(r.result, "")),
            Text(r.status_a or ""),
            status_b,
            "" if r.seconds_a is None else f"{r.seconds_a:.3f}",
            "" if r.seconds_b is None else f"{r.seconds_b:.3f}",
            Text(r.error_b or r.preview_b or ""),
        )
    console.print(table)
    t = comparison.totals
    console.print(
        Text(
            f"{t['equal']} equal, {t['changed']} changed, {t['added'] + t['only_b']} added, "
            f"{t['removed'] + t['only_a']} removed, {t['failed']} failed, {t['unknown']} unknown; "
            f"{comparison.b} executed {t['executed']} and reused {t['reused']}"
            + ("" if args.all else " (--all lists the equal rows too)")
        )
    )
    return OK
