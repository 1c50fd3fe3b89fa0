"""Node states as a log of batches: encode them and read them back (pure functions).

Each save appends one batch: one transaction and one database row however
many nodes changed. The state of a node is its row in the latest batch that
holds it. A batch is a JSON object of columns, so that making one from
thousands of nodes is a handful of list comprehensions and one orjson call
(the engine makes them, in ``taskbeam.engine._persist.columns``: the store
takes plain columns and knows nothing of nodes)::

    {"t0": 5341.2,                     # monotonic time the run started
     "id": ["a", "b"], "status": ["done", "running"], "attempt": [1, 1],
     "started": [5341.3, 5341.4],     # monotonic; readers subtract t0
     "ended": [5341.35, null], "preview": ["[1, 2]", null],
     "format": ["json", null],        # json: embedded in "result"; another
     "result": [[1, 2], null],        #   serializer: bytes in the results table;
     "fingerprint": ["…", "…"],       #   "preview": only the preview was kept
     "error": {"b": ["ValueError", "bad", "Traceback…"]},   # sparse
     "output": {"a": "printed text"},                        # sparse
     "metrics": {"a": {"cost": [0.2, "sum", "USD", 0.0]}},   # sparse: own metrics
     "refused": {"c": "NaN does not survive JSON"},          # sparse: why only the
     "crc": {"d": 2309737967},                               #   preview was kept; CRC-32
                                                             #   of a side result
     "reused": {"a": 1},   # sparse: restored from an earlier run when the run was continued
     "spans": {"b": {"attempts": [[0.1, 0.2, "failed"]], "waits": [[0.3, 0.9]]}}}
                           # sparse: earlier attempts and waits, seconds from t0's run start
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import zlib
from collections.abc import Iterable
from itertools import repeat
from typing import Any

import orjson

from taskbeam.store._serialize import JSONSerializer, Serializer

__all__ = ["FIELDS", "REUSED", "Log", "encode"]

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
    "refused",
    "reused",
)
OUTPUT = FIELDS.index("output")  # a row's printed output (what was kept of it)
REUSED = FIELDS.index("reused")  # a row's mark: restored from an earlier run on continue
_JSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_STRICT = orjson.OPT_SERIALIZE_NUMPY  # non-string keys raise


def encode(batch: dict[str, Any], serializer: Serializer) -> tuple[bytes, list[Any], int]:
    """The batch as bytes (changed in place as needed).

    Results are embedded for JSON. For another serializer they move to the
    returned ``(node_id, bytes, format)`` list (their CRC-32 goes in the
    batch's ``crc``); a result the serializer refuses, or that JSON would
    change (NaN, infinities), keeps only its preview, and the reason goes in
    the batch's ``refused``. Returns the bytes, those side results, and how
    many results were refused.
    """
    fmt, result, ids = batch["format"], batch["result"], batch["id"]
    side: list[tuple[str, bytes, str]] = []
    reasons: dict[str, str] = batch.setdefault("refused", {})
    if not isinstance(serializer, JSONSerializer):
        crcs: dict[str, int] = batch.setdefault("crc", {})
        for i, f in enumerate(fmt):
            if f == "json":
                try:
                    data = serializer.dumps(result[i])
                    side.append((ids[i], data, serializer.name))
                    crcs[ids[i]] = zlib.crc32(data)
                    fmt[i] = serializer.name
                except Exception as exc:
                    fmt[i] = "preview"
                    reasons[ids[i]] = f"{serializer.name} cannot store it: {exc}"
                result[i] = None
    else:
        for i in _suspects(result, fmt):
            why = lossy(result[i])
            if why is not None:
                fmt[i], result[i] = "preview", None
                reasons[ids[i]] = why
    with contextlib.suppress(TypeError, orjson.JSONEncodeError):
        return orjson.dumps(batch, option=_JSON), side, len(reasons)
    for i, f in enumerate(fmt):  # some embedded result is not JSON: keep its preview only
        if f == "json":
            try:
                orjson.dumps(result[i], option=_JSON)
            except (TypeError, orjson.JSONEncodeError) as exc:
                reasons[ids[i]] = f"JSON cannot store it: {type(result[i]).__qualname__}: {exc}"
                fmt[i], result[i] = "preview", None
    return orjson.dumps(batch, option=_JSON), side, len(reasons)


_PLAIN = frozenset({int, str, bool, bytes, type(None)})


def _suspects(result: list[Any], fmt: list[str | None]) -> list[int]:
    """Indexes of the results that may not survive JSON, found at C speed: JSON
    without ``null`` (what NaN and infinities become) and with string keys
    only is safe; the rest are walked by :func:`lossy`."""
    where = [
        i
        for i, value in enumerate(result)
        if value is not None and type(value) not in _PLAIN and fmt[i] == "json"
    ]
    if not where:
        return []
    with contextlib.suppress(TypeError, orjson.JSONEncodeError):
        if b"null" not in orjson.dumps([result[i] for i in where], option=_STRICT):
            return []
    suspects = []
    for i in where:
        try:
            if b"null" in orjson.dumps(result[i], option=_STRICT):
                suspects.append(i)
        except (TypeError, orjson.JSONEncodeError):
            suspects.append(i)
    return suspects


def lossy(value: Any, depth: int = 0) -> str | None:
    """Why JSON would store ``value`` as something else (NaN and infinities
    become ``null``, dict keys that are not strings become strings), or None
    when it comes back equal (up to the documented type changes: tuples
    become lists, and so on)."""
    kind = type(value)
    if kind in _PLAIN:
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else _non_finite(value)
    if depth > 200:
        return None  # orjson refuses deeper nesting itself
    if isinstance(value, (list, tuple)):
        return _lossy_items(value, depth)
    if isinstance(value, dict):
        keys_ok = (
            all(type(k) is str for k in value)
            if len(value) < _SMALL
            else set(map(type, value)) <= _STR
        )
        if not keys_ok:
            for key in value:
                if not isinstance(key, str):
                    return f"a dict key of type {type(key).__name__} {_AS_STRING}"
        return _lossy_items(list(value.values()), depth)
    dtype = getattr(value, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", "") in ("f", "c") and hasattr(value, "tolist"):
        if lossy(value.tolist(), depth + 1) is not None:  # numpy arrays and scalars
            return "an array with NaN or infinities does not survive JSON (they become null)"
        return None
    fields = getattr(value, "__dataclass_fields__", None)
    if isinstance(fields, dict):
        return _lossy_items([getattr(value, name, None) for name in fields], depth)
    return None


_STR = frozenset({str})
_SMALL = 24  # containers shorter than this are checked item by item
_AS_STRING = "does not survive JSON (it comes back as a string)"


def _non_finite(value: float) -> str:
    return f"{value!r} does not survive JSON (it becomes null)"


def _lossy_items(items: list[Any] | tuple[Any, ...], depth: int) -> str | None:
    """:func:`lossy` over the items of a container: one pass per type present."""
    if len(items) < _SMALL:  # a plain loop: cheaper than sets for a few items
        for item in items:
            if type(item) not in _PLAIN and (why := lossy(item, depth + 1)) is not None:
                return why
        return None
    kinds = set(map(type, items))
    if kinds <= _PLAIN:
        return None
    for kind in kinds - _PLAIN:
        if kind is float:
            floats = [v for v in items if type(v) is float]
            if not all(map(math.isfinite, floats)):
                return _non_finite(next(v for v in floats if not math.isfinite(v)))
            continue
        for item in items:
            if type(item) is kind and (why := lossy(item, depth + 1)) is not None:
                return why
    return None


class Log:
    """The batches of one run, oldest first, and the latest row of each node."""

    @classmethod
    def read(cls, conn: sqlite3.Connection, run_id: str) -> Log:
        """The log of ``run_id`` as stored, batches oldest first."""
        rows = conn.execute("SELECT nodes FROM batches WHERE run_id = ? ORDER BY seq", (run_id,))
        return cls(blob for (blob,) in rows)

    def __init__(self, blobs: Iterable[bytes]) -> None:
        self.batches: list[dict[str, Any]] = [orjson.loads(b) for b in blobs]
        self._latest: dict[str, tuple[int, int]] | None = None

    @classmethod
    def decoded(cls, batches: list[dict[str, Any]]) -> Log:
        """The log of batches already decoded (and checked) by the caller."""
        log = cls(())
        log.batches = batches
        return log

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
        if len(error) != 3:
            raise ValueError(f"the error of node {node_id!r} has {len(error)} fields, not 3")
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
            batch.get("refused", {}).get(node_id),
            node_id in batch.get("reused", ()),
        ]

    def metrics(self) -> dict[str, Any]:
        """Each node's own metrics as its latest row holds them (``{}`` for none)."""
        out: dict[str, Any] = {}
        for node_id, (b, _) in self.latest.items():
            kept = self.batches[b].get("metrics")
            if kept and node_id in kept:
                out[node_id] = kept[node_id]
        return out

    def cached(self, node_id: str) -> dict[str, str] | None:
        """Where the node's reused result was made (``{"run", "node"}``), if it was reused."""
        b, _ = self.latest[node_id]
        cached = self.batches[b].get("cached")
        found = cached.get(node_id) if isinstance(cached, dict) else None
        return found if isinstance(found, dict) else None

    def spans(self, node_id: str) -> dict[str, Any] | None:
        """The node's earlier attempts and waits (summary fields), if its latest row has them."""
        b, _ = self.latest[node_id]
        spans = self.batches[b].get("spans")
        return spans.get(node_id) if isinstance(spans, dict) else None

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
        out: dict[str, Any] = {
            "t0": 0.0,
            "error": {},
            "output": {},
            "metrics": {},
            "refused": {},
            "crc": {},
            "reused": {},
            "spans": {},
            "cached": {},
        }
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
            for name in ("error", "output", "metrics", "refused", "crc", "spans", "cached"):
                sparse = batch.get(name)
                if sparse and node_id in sparse:
                    out[name][node_id] = sparse[node_id]
            if reused or node_id in batch.get("reused", ()):
                out["reused"][node_id] = 1
        return orjson.dumps(out, option=_JSON)
