"""What every store shares: the record of a run, the protocol the engine
writes through, errors, and reading a snapshot back.

The store is a floor below the engine: it takes plain records (a
:class:`RunRecord`, batches of columns, structures as lists) and gives plain
data back, and knows nothing of runs, nodes or their classes. The engine
builds those records (``taskbeam.engine._persist``) and writes them through
:class:`Store`, the few methods it calls.
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson

from taskbeam._errors import TaskbeamError
from taskbeam._schema import NodeSummary, RunFields, Snapshot
from taskbeam.store._log import OUTPUT, REUSED, Log
from taskbeam.store._rollup import stored_rollup

__all__ = [
    "RunRecord",
    "Saved",
    "Store",
    "StoreError",
    "StoreRecoveryWarning",
    "damaged",
    "digest_differences",
    "digest_matches",
    "load_snapshot",
    "log_digest",
    "read_log",
]

# What decoding a damaged row raises (JSONDecodeError is a ValueError).
DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)
# The columns every batch holds, one entry per node.
_COLUMNS = ("id", "status", "attempt", "started", "ended", "preview", "format", "result")


class StoreError(TaskbeamError, OSError):
    """The store cannot be opened, written or read back correctly."""


class StoreRecoveryWarning(UserWarning):
    """The store recovered from something it could not use: a damaged file at
    open (kept aside, a new one started), or a stored result that no longer
    loads (its node runs again)."""


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


class Saved(NamedTuple):
    """What a save wrote: refused results, and ``{seq: crc32}`` of the batches written.

    With ``replace`` the batches are the run's whole log (it was compacted);
    otherwise they were added to it.
    """

    refused: int
    batches: dict[int, int]
    replace: bool


@dataclass(slots=True)
class CacheEntry:
    """A cached result: the value, its digest (None: none stable) and where it was made
    (see taskbeam/engine/_cache.py; the store's cache keeps them in taskbeam/store/_cache.py)."""

    value: Any
    digest: bytes | None
    run: str
    node: str
    created: float  # wall-clock seconds (time.time())


class Store(Protocol):
    """What the engine calls on a store (``SQLiteStore`` is the one shipped).

    Writes return futures, resolved on the store's own writer thread, so a
    run never waits on the disk except where it chooses to.
    """

    @property
    def path(self) -> Path:
        """Where the store lives; emergency backups go next to it."""
        ...

    def create_run(
        self,
        record: RunRecord,
        structure: Sequence[Any] | str,
        keep: Iterable[str] | None = None,
    ) -> concurrent.futures.Future[Saved]:
        """Record a new or continued run and its graph, before any node starts."""
        ...

    def save(
        self,
        record: RunRecord,
        batch: dict[str, Any],
        structures: Sequence[tuple[str, Sequence[Any]]] = (),
        live: Iterable[str] | None = None,
        log: Mapping[int, int] | None = None,
    ) -> concurrent.futures.Future[Saved]:
        """Append a batch of changed nodes (as columns) to the run's log."""
        ...

    def verify(self, run_id: str, batches: dict[int, int], total: int) -> list[str]:
        """Read a run back and compare it with what was written; the differences."""
        ...

    def load_for_resume(self, run_id: str) -> dict[str, Any]:
        """Options, done nodes and stored sub-graphs of a run to continue."""
        ...

    def save_question(self, run_id: str, question: dict[str, Any]) -> None:
        """Store a question as it is asked; durable when this returns."""
        ...

    def save_answer(self, run_id: str, key: str, value: Any, by: str, at: float) -> None:
        """Store the answer to the question ``key``; durable when this returns."""
        ...

    def questions(self, run_id: str) -> list[dict[str, Any]]:
        """The run's questions, each with ``answer``/``by``/``answered`` once answered."""
        ...


def log_digest(batches: Mapping[int, int]) -> str | None:
    """The checksum of a run's whole log (``{seq: crc32}``), kept in the run row:
    ``<count>-<crc of all>`` then each batch's ``<seq>:<crc>``, so that a
    mismatch can name the batches that disagree."""
    if not batches:
        return None
    items = sorted(batches.items())
    head = f"{len(items):x}-{zlib.crc32(orjson.dumps(items)):08x}"
    return head + " " + ",".join(f"{seq}:{crc:08x}" for seq, crc in items)


def digest_matches(stored: str | None, batches: Mapping[int, int]) -> bool:
    """Whether a run row's checksum is that of ``batches`` (files of taskbeam
    before per-batch checksums hold the head only)."""
    digest = log_digest(batches)
    if stored == digest:
        return True
    return stored is not None and digest is not None and stored == digest.split(" ")[0]


def digest_differences(stored: str | None, batches: Mapping[int, int]) -> str:
    """Which batches disagree with a run row's checksum, in words."""
    recorded: dict[int, int] | None = None
    if stored is None:
        recorded = {}
    elif " " in stored:
        try:
            recorded = {
                int(seq): int(crc, 16)
                for seq, crc in (item.split(":") for item in stored.split(" ", 1)[1].split(","))
            }
        except ValueError:
            recorded = None  # the checksum itself is damaged
    if recorded is None:
        listed = ", ".join(map(str, sorted(batches))) or "none"
        return f"table batches, seq {listed}: the checksum in its row of table runs is damaged"
    parts = []
    changed = sorted(s for s in batches.keys() & recorded.keys() if batches[s] != recorded[s])
    missing = sorted(recorded.keys() - batches.keys())
    extra = sorted(batches.keys() - recorded.keys())
    for seqs, what in ((changed, "changed"), (missing, "missing"), (extra, "not in the checksum")):
        if seqs:
            parts.append(f"seq {', '.join(map(str, seqs))} {what}")
    return "table batches, " + ("; ".join(parts) or "in another order")


def damaged(path: object, run_id: str, what: str, exc: BaseException | None = None) -> StoreError:
    """The error for a run whose rows cannot be used as stored."""
    cause = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    error = StoreError(f"run {run_id!r} in {path}: {what}{cause}")
    error.__cause__ = exc
    return error


def read_log(conn: sqlite3.Connection, path: object, run_id: str, checksum: str | None) -> Log:
    """The run's log, checked against the run row's ``checksum`` and decoded.

    Raises
    ------
    StoreError
        The batches disagree with the checksum (changed outside taskbeam, or
        damaged), or one cannot be decoded; the message names the rows.
    """
    rows = conn.execute(
        "SELECT seq, nodes FROM batches WHERE run_id = ? ORDER BY seq", (run_id,)
    ).fetchall()
    try:
        crcs = {seq: zlib.crc32(blob) for seq, blob in rows}
    except TypeError as exc:  # a blob replaced by another type
        raise damaged(path, run_id, "a row of its log (table batches) is not a blob", exc) from exc
    if not digest_matches(checksum, crcs):
        raise damaged(
            path,
            run_id,
            f"its log ({digest_differences(checksum, crcs)}) does not match the checksum in "
            "its row of table runs: the database was changed outside taskbeam, or is "
            "damaged. Nothing of this run is used; store.accept(run_id) accepts the log as "
            "it is now",
        )
    batches = []
    for seq, blob in rows:
        try:
            batch = orjson.loads(blob)
            count = len(batch["id"])
            if not all(len(batch[name]) == count for name in _COLUMNS):
                raise ValueError("its columns have different lengths")
            if not isinstance(batch["error"], dict) or not isinstance(batch["output"], dict):
                raise TypeError("its error or output column is not an object")
            float(batch["t0"])
        except DECODE_ERRORS as exc:
            raise damaged(path, run_id, f"batch {seq} of its log is damaged", exc) from exc
        batches.append(batch)
    return Log.decoded(batches)


def load_snapshot(conn: sqlite3.Connection, run_id: str, path: object = "") -> Snapshot:
    """Rebuild ``run.snapshot()`` from the rows of one run (its log checked first).

    Raises
    ------
    KeyError
        No such run.
    StoreError
        The run's rows are damaged or disagree with its checksum.
    """
    row = conn.execute(
        "SELECT name, status, counts, total, created, ended, error, checksum "
        "FROM runs WHERE id = ?",
        (run_id,),
    ).fetchone()
    if row is None:
        raise KeyError(f"no run {run_id!r} in the store")
    name, status, counts, total, created, ended, error, checksum = row
    log = read_log(conn, path, run_id, checksum)
    try:  # a rerun names its parent in its options; damaged options are reported elsewhere
        parent_run = conn.execute(
            "SELECT json_extract(options, '$.parent_run') FROM runs WHERE id = ?", (run_id,)
        ).fetchone()[0]
    except sqlite3.Error:
        parent_run = None
    try:
        run: RunFields = {
            "id": run_id,
            "name": str(name),
            "status": str(status),
            "counts": dict(orjson.loads(counts)),
            "total": int(total),
            "created": float(created),
        }
        if ended is not None:
            run["ended"] = float(ended)
        if error:
            run["error"] = str(error)
        if isinstance(parent_run, str):
            run["parent_run"] = parent_run
    except DECODE_ERRORS as exc:
        raise damaged(path, run_id, "its row of table runs is damaged", exc) from exc
    nodes: dict[str, NodeSummary] = {}
    edges: list[list[str]] = []
    structures = conn.execute(
        "SELECT parent, nodes FROM structure WHERE run_id = ? ORDER BY rowid", (run_id,)
    ).fetchall()
    try:
        structures.sort(key=lambda s: (s[0].count("/"), s[0] != ""))  # parents before children
    except DECODE_ERRORS as exc:
        raise damaged(path, run_id, "a row of table structure is damaged", exc) from exc
    for parent, text in structures:
        try:
            for node_id, deps, tags, *label in orjson.loads(text):
                summary: NodeSummary = {"status": "pending"}
                if parent:
                    summary["parent"] = parent
                if tags:
                    summary["tags"] = tags
                if label:
                    summary["label"] = label[0]
                nodes[node_id] = summary
                edges.extend([dep, node_id] for dep in deps)
        except DECODE_ERRORS as exc:
            what = f"its graph structure (table structure, parent {parent!r}) is damaged"
            raise damaged(path, run_id, what, exc) from exc
    try:
        for node_id in log.latest:
            row = log.row(node_id)
            status, attempt, started, ended_at, preview, error_type, error_message = row[1:8]
            summary = nodes.setdefault(node_id, {"status": status})
            summary["status"] = status
            if attempt:
                summary["attempt"] = attempt
            if started is not None:
                summary["started"] = started
            if ended_at is not None:
                summary["ended"] = ended_at
            if preview is not None:
                summary["preview"] = preview
            if error_type is not None:
                summary["error"] = {"type": error_type, "message": error_message or ""}
            if row[REUSED]:
                summary["reused"] = True
            if row[OUTPUT]:  # what was kept of it: a live run counts what was cut too
                summary["output_chars"] = len(row[OUTPUT])
            cached = log.cached(node_id)
            if cached is not None:
                summary["cached"] = cached
            spans = log.spans(node_id)
            if spans:
                if "attempts" in spans:
                    summary["attempts"] = spans["attempts"]
                if "waits" in spans:
                    summary["waits"] = spans["waits"]
        stored = log.metrics()
    except DECODE_ERRORS as exc:
        raise damaged(path, run_id, "a node row of its log is damaged", exc) from exc
    if stored:  # each node's own metrics, rolled up again as the live run showed them
        parents = {n: s.get("parent") for n, s in nodes.items()}
        per_node, totals, units = stored_rollup(parents, stored)
        for node_id, values in per_node.items():
            if values:
                nodes[node_id]["metrics"] = values
        if totals:
            run["metrics"] = totals
        if units:
            run["units"] = units
    hits = sum(1 for n in nodes.values() if "cached" in n)
    if hits:
        run["cache"] = {"hits": hits}
    return {"run": run, "nodes": nodes, "edges": edges}
