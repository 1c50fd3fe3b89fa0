"""Node states as a log of batches: make, encode and read them back (pure functions).

Each save appends one batch: one transaction and one database row however
many nodes changed. The state of a node is its row in the latest batch that
holds it. A batch is a JSON object of columns, so that making one from
thousands of nodes is a handful of list comprehensions and one orjson call::

    {"t0": 5341.2,                     # monotonic time the run started
     "id": ["a", "b"], "status": ["done", "running"], "attempt": [1, 1],
     "started": [5341.3, 5341.4],     # monotonic; readers subtract t0
     "ended": [5341.35, null], "preview": ["[1, 2]", null],
     "format": ["json", null],        # json: embedded in "result"; another
     "result": [[1, 2], null],        #   serializer: bytes in the results table;
     "fingerprint": ["…", "…"],       #   "preview": only the preview was kept
     "error": {"b": ["ValueError", "bad", "Traceback…"]},   # sparse
     "output": {"a": "printed text"},                        # sparse
     "reused": {"a": 1}}   # sparse: restored from an earlier run when the run was continued
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

import orjson

from taskbeam.store._serialize import JSONSerializer, Serializer

if TYPE_CHECKING:
    from taskbeam.engine._state import Node

__all__ = ["FIELDS", "REUSED", "Log", "columns", "encode"]

FIELDS = (
    "node_id",
    "status",
    "attempt",
    "started",
    "ended",
    "preview",
    "error_type",
    "error_message",
    "traceback",
    "result_format",
    "result",
    "fingerprint",
    "output",
    "reused",
)
REUSED = FIELDS.index("reused")  # a row's mark: restored from an earlier run on continue
_JSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def columns(nodes: Sequence[Node], t0: float, errors: bool = True) -> dict[str, Any]:
    """A batch (as columns) of ``nodes``; previews of done nodes are made here if
    the nodes have none yet (they are not kept on the nodes: a snapshot makes its own).

    ``errors=False`` promises that no node is failed or retrying (the run's
    counts tell), which skips a pass over the nodes.
    """
    from taskbeam.engine._capture import OutputBuffer
    from taskbeam.engine._preview import previews
    from taskbeam.engine._status import Status

    done, failed, retrying = Status.DONE, Status.FAILED, Status.RETRYING
    count = len(nodes)
    status = [n.status for n in nodes]
    result = [n.result for n in nodes]
    preview: list[str | None] = [n.preview for n in nodes]
    if status.count(done) == count:  # the common case: every node is done
        fmt: list[str | None] = ["json"] * count
        if preview.count(None) == count:  # and none has its preview yet
            # Tasks run for their effects return None: no per-result pass then.
            preview[:] = ["None"] * count if result.count(None) == count else previews(result)
    else:
        fmt = ["json" if s is done else None for s in status]
        result = [r if s is done else None for s, r in zip(status, result, strict=True)]
        preview = [p if s is done else None for s, p in zip(status, preview, strict=True)]
    if None in preview:
        missing = [i for i, p in enumerate(preview) if p is None and status[i] is done]
        for i, text in zip(missing, previews([result[i] for i in missing]), strict=True):
            preview[i] = text
    return {
        "t0": t0,
        "id": [n.id for n in nodes],
        "status": status,
        "attempt": [n.attempt for n in nodes],
        "started": [n.started for n in nodes],
        "ended": [n.ended for n in nodes],
        "preview": preview,
        "format": fmt,
        "result": result,
        "fingerprint": [n.fingerprint for n in nodes],
        "error": {
            n.id: [n.error.type, n.error.message, n.error.traceback]
            for n in nodes
            if n.error is not None and (n.status is failed or n.status is retrying)
        }
        if errors
        else {},
        "output": {
            n.id: text for n in nodes if n.output is not None and (text := n.output.getvalue())
        }
        if OutputBuffer.made
        else {},
    }


def encode(batch: dict[str, Any], serializer: Serializer) -> tuple[bytes, list[Any], int]:
    """The batch as bytes (changed in place as needed).

    Results are embedded for JSON. For another serializer they move to the
    returned ``(node_id, bytes, format)`` list; a result the serializer
    refuses keeps only its preview. Returns the bytes, those side results,
    and how many results were refused.
    """
    fmt, result, ids = batch["format"], batch["result"], batch["id"]
    side: list[tuple[str, bytes, str]] = []
    refused = 0
    if not isinstance(serializer, JSONSerializer):
        for i, f in enumerate(fmt):
            if f == "json":
                try:
                    side.append((ids[i], serializer.dumps(result[i]), serializer.name))
                    fmt[i] = serializer.name
                except Exception:
                    fmt[i] = "preview"
                    refused += 1
                result[i] = None
    with contextlib.suppress(TypeError, orjson.JSONEncodeError):
        return orjson.dumps(batch, option=_JSON), side, refused
    for i, f in enumerate(fmt):  # some embedded result is not JSON: keep its preview only
        if f == "json":
            try:
                orjson.dumps(result[i], option=_JSON)
            except (TypeError, orjson.JSONEncodeError):
                fmt[i], result[i] = "preview", None
                refused += 1
    return orjson.dumps(batch, option=_JSON), side, refused


class Log:
    """The batches of one run, oldest first, and the latest row of each node."""

    @classmethod
    def read(cls, conn: sqlite3.Connection, run_id: str) -> Log:
        """The log of ``run_id`` as stored, batches oldest first."""
        rows = conn.execute("SELECT nodes FROM batches WHERE run_id = ? ORDER BY seq", (run_id,))
        return cls(blob for (blob,) in rows)

    def __init__(self, blobs: Iterable[bytes]) -> None:
        self.batches = [orjson.loads(b) for b in blobs]
        self._latest: dict[str, tuple[int, int]] | None = None

    @property
    def latest(self) -> dict[str, tuple[int, int]]:
        """Where each node's latest row is: ``{node_id: (batch, index)}``."""
        if self._latest is None:
            self._latest = {}
            for b, batch in enumerate(self.batches):
                ids = batch["id"]
                where = zip(repeat(b, len(ids)), range(len(ids)), strict=True)
                self._latest.update(zip(ids, where, strict=True))
        return self._latest

    def row(self, node_id: str) -> list[Any]:
        """The node's latest row, fields as in ``FIELDS`` (times relative to t0)."""
        b, i = self.latest[node_id]
        batch = self.batches[b]
        t0 = batch["t0"]
        started, ended = batch["started"][i], batch["ended"][i]
        error = batch["error"].get(node_id) or (None, None, None)
        return [
            node_id,
            batch["status"][i],
            batch["attempt"][i],
            None if started is None else round(started - t0, 3),
            None if ended is None else round(ended - t0, 3),
            batch["preview"][i],
            *error,
            batch["format"][i],
            batch["result"][i],
            batch["fingerprint"][i],
            batch["output"].get(node_id),
            node_id in batch.get("reused", ()),
        ]

    def rows(self) -> dict[str, list[Any]]:
        return {node_id: self.row(node_id) for node_id in self.latest}

    def compact(self, keep: set[str] | None = None, reused: bool = False) -> bytes | None:
        """One batch holding the latest row of every node (of ``keep``, if given).

        With ``reused`` (a run being continued) every row kept is marked as
        reused from the earlier run; otherwise rows keep the mark they had.
        """
        ids = [n for n in self.latest if keep is None or n in keep]
        if not ids:
            return None
        out: dict[str, Any] = {"t0": 0.0, "error": {}, "output": {}, "reused": {}}
        for name in ("id", "status", "attempt", "started", "ended", "preview", "format"):
            out[name] = []
        for name in ("result", "fingerprint"):
            out[name] = []
        for node_id in ids:
            b, i = self.latest[node_id]
            batch = self.batches[b]
            t0 = batch["t0"]
            out["id"].append(node_id)
            for name in ("status", "attempt", "preview", "format", "result", "fingerprint"):
                out[name].append(batch[name][i])
            for name in ("started", "ended"):  # rebased on t0 = 0
                value = batch[name][i]
                out[name].append(None if value is None else value - t0)
            if node_id in batch["error"]:
                out["error"][node_id] = batch["error"][node_id]
            if node_id in batch["output"]:
                out["output"][node_id] = batch["output"][node_id]
            if reused or node_id in batch.get("reused", ()):
                out["reused"][node_id] = 1
        return orjson.dumps(out, option=_JSON)
