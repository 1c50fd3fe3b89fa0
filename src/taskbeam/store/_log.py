"""Node states as a log of batches: encode, merge, checksum (pure functions).

Each save appends one batch: a JSON array of node rows, one transaction and
one database row however many nodes changed. The state of a node is its
last row in the log. Saving 10,000 node changes is a single orjson call and
a single insert, instead of 10,000 B-tree updates.

A row is ``[node_id, status, attempt, started, ended, preview, error_type,
error_message, traceback, result_format, result, fingerprint, output]``.
``result_format`` is ``"json"`` (the result is embedded), the name of
another serializer (the result's bytes are in the ``results`` table),
``"preview"`` (the serializer refused it; only its preview is kept) or
``None`` (no result).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from taskbeam.store._serialize import JSONSerializer, Serializer

__all__ = ["FIELDS", "checksum", "encode", "merge"]

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
)
FORMAT, RESULT = 9, 10
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def encode(
    rows: Sequence[Sequence[Any]], serializer: Serializer
) -> tuple[bytes, list[tuple[str, bytes, str]], int]:
    """Turn recorder rows into one batch.

    ``rows`` are ``(node_id, status, attempt, started, ended, preview,
    error_type, error_message, traceback, has_result, result, fingerprint,
    output)``. Returns the batch bytes, ``(node_id, bytes, format)`` of
    results kept outside the batch, and how many results were refused.
    """
    embed = isinstance(serializer, JSONSerializer)
    out: list[list[Any]] = []
    side: list[tuple[str, bytes, str]] = []
    for r in rows:
        row = list(r)
        if not r[9]:
            row[FORMAT] = row[RESULT] = None
        elif embed:
            row[FORMAT] = "json"
        else:
            row[FORMAT], row[RESULT] = serializer.name, None
            try:
                side.append((r[0], serializer.dumps(r[10]), serializer.name))
            except Exception:
                row[FORMAT] = "preview"
        out.append(row)
    try:
        return orjson.dumps(out, option=_JSON_OPTIONS), side, 0
    except (TypeError, orjson.JSONEncodeError):
        pass
    refused = 0  # some embedded result is not JSON: find it, keep its preview only
    for row in out:
        if row[FORMAT] == "json":
            try:
                orjson.dumps(row[RESULT], option=_JSON_OPTIONS)
            except (TypeError, orjson.JSONEncodeError):
                row[FORMAT], row[RESULT] = "preview", None
                refused += 1
    return orjson.dumps(out, option=_JSON_OPTIONS), side, refused


def merge(batches: Iterable[bytes]) -> dict[str, list[Any]]:
    """The latest row per node over batches given oldest first."""
    state: dict[str, list[Any]] = {}
    for batch in batches:
        for row in orjson.loads(batch):
            state[row[0]] = row
    return state


def checksum(rows: Iterable[tuple[str, str, int]]) -> str:
    """An order-independent checksum of ``(node_id, status, attempt)`` triples."""
    total = 0
    count = 0
    for node_id, status, attempt in rows:
        total += zlib.crc32(f"{node_id}\x00{status}\x00{attempt}".encode())
        count += 1
    return f"{count:x}-{total & 0xFFFFFFFFFFFF:012x}"
