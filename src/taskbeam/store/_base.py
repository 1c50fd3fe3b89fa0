"""What every store shares: the record of a run, errors, and reading a snapshot back."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from taskbeam._errors import TaskbeamError
from taskbeam.store._log import REUSED, Log

__all__ = [
    "RunRecord",
    "StoreError",
    "StoreRecoveryWarning",
    "load_snapshot",
    "log_digest",
]


class StoreError(TaskbeamError, OSError):
    """The store cannot be opened, written or read back correctly."""


class StoreRecoveryWarning(UserWarning):
    """The store found a damaged file at open, kept it aside and started afresh."""


@dataclass(slots=True)
class RunRecord:
    """The run row: what a store keeps about a run besides its nodes."""

    id: str
    name: str
    status: str
    options: dict[str, Any]
    created: float
    ended: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    checksum: str | None = None
    error: str | None = None


def log_digest(batches: Mapping[int, int]) -> str | None:
    """One checksum for a run's whole log (``{seq: crc32}``), kept in the run row."""
    if not batches:
        return None
    return f"{len(batches):x}-{zlib.crc32(orjson.dumps(sorted(batches.items()))):08x}"


def load_snapshot(conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """Rebuild ``run.snapshot()`` from the rows of one run."""
    row = conn.execute(
        "SELECT name, status, counts, total, created, ended, error FROM runs WHERE id = ?",
        (run_id,),
    ).fetchone()
    if row is None:
        raise KeyError(f"no run {run_id!r} in the store")
    name, status, counts, total, created, ended, error = row
    run: dict[str, Any] = {
        "id": run_id,
        "name": name,
        "status": status,
        "counts": orjson.loads(counts),
        "total": total,
        "created": created,
    }
    if ended is not None:
        run["ended"] = ended
    if error:
        run["error"] = error
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[list[str]] = []
    parents: dict[str, str] = {}
    structures = conn.execute(
        "SELECT parent, nodes FROM structure WHERE run_id = ? ORDER BY rowid", (run_id,)
    ).fetchall()
    structures.sort(key=lambda s: (s[0].count("/"), s[0] != ""))  # parents before children
    for parent, text in structures:
        for node_id, deps, tags in orjson.loads(text):
            summary: dict[str, Any] = {"status": "pending"}
            if parent:
                summary["parent"] = parent
                parents[node_id] = parent
            if tags:
                summary["tags"] = tags
            nodes[node_id] = summary
            edges.extend([dep, node_id] for dep in deps)
    log = Log.read(conn, run_id)
    for node_id in log.latest:
        row = log.row(node_id)
        status, attempt, started, ended_at, preview, error_type, error_message = row[1:8]
        summary = nodes.setdefault(node_id, {})
        summary["status"] = status
        for key, value in (
            ("attempt", attempt or None),
            ("started", started),
            ("ended", ended_at),
            ("preview", preview),
        ):
            if value is not None:
                summary[key] = value
        if error_type is not None:
            summary["error"] = {"type": error_type, "message": error_message or ""}
        if row[REUSED]:
            summary["reused"] = True
    return {"run": run, "nodes": nodes, "edges": edges}
