"""A run as Chrome trace event JSON (the Trace Event Format), from its timeline rows.

Perfetto and ``chrome://tracing`` open the file. What it holds:

- one process (``pid`` 1), named after the run, and one thread per
  executor slot: every attempt of every node is a complete event (``ph``
  ``"X"``, ``ts`` and ``dur`` in microseconds from the run's start) on the
  lowest thread free for its whole interval, so events of one thread never
  overlap (they are assigned greedily in order of start, which uses as few
  threads as the most attempts ever running at once);
- each attempt its own event (``name`` the node's label or id, ``cat``
  ``"node"``, ``args``: ``id``, ``attempt``, ``outcome``, ``status``,
  ``parent``, ``tags``, ``function``, ``metrics``);
- each wait for an answer its own event (``cat`` ``"waiting"``) on the
  thread of the attempt it falls in, nested inside it;
- metrics (a summary's ``metrics``, ``{name: number}``, when nodes have
  them) as counter events (``ph`` ``"C"``), one series per metric: the
  run's running total as each node ends;
- metadata events (``ph`` ``"M"``) naming the process and the threads.

A node still running (or interrupted) is drawn up to the latest time the
run knows of, with ``"open": true`` in its ``args``.
"""

from __future__ import annotations

import heapq
import math
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = ["trace_events", "write_trace"]

PID = 1
US = 1_000_000


def _us(seconds: float) -> int:
    return round(seconds * US)


def _horizon(rows: Sequence[Mapping[str, Any]], run: Mapping[str, Any]) -> float:
    latest = 0.0
    ended = run.get("ended")
    if isinstance(ended, (int, float)):
        latest = float(ended)
    for row in rows:
        for a in row["attempts"]:
            for t in (a["start"], a["end"]):
                if t is not None and t > latest:
                    latest = t
        for w in row["waits"]:
            for t in (w["start"], w["end"]):
                if t is not None and t > latest:
                    latest = t
    return latest


def trace_events(rows: Sequence[Mapping[str, Any]], run: Mapping[str, Any]) -> dict[str, Any]:
    """The trace as a JSON-ready object: ``{"traceEvents": [...], "displayTimeUnit", ...}``."""
    horizon = _horizon(rows, run)
    pieces: list[tuple[float, float, int, Mapping[str, Any], Mapping[str, Any], bool]] = []
    for r, row in enumerate(rows):
        for number, a in enumerate(row["attempts"], start=1):
            end = a["end"]
            pieces.append(
                (
                    a["start"],
                    horizon if end is None else end,
                    r,
                    row,
                    a | {"n": number},
                    end is None,
                )
            )
    pieces.sort(key=lambda p: (p[0], -p[1], p[2]))
    free: list[int] = []  # threads free again, lowest first
    busy: list[tuple[float, int]] = []  # (end, tid) of threads in use
    threads = 0
    events: list[dict[str, Any]] = []
    placed: dict[int, list[tuple[float, float, int]]] = {}  # row -> [(start, end, tid)]
    for start, end, r, row, a, open_ in pieces:
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            tid = heapq.heappop(free)
        else:
            threads += 1
            tid = threads
        heapq.heappush(busy, (end, tid))
        placed.setdefault(r, []).append((start, end, tid))
        args: dict[str, Any] = {
            "id": row["id"],
            "attempt": a["n"],
            "outcome": a["outcome"],
            "status": row["status"],
        }
        for key in ("parent", "function", "label"):
            if row.get(key) is not None:
                args[key] = row[key]
        if row.get("tags"):
            args["tags"] = row["tags"]
        if row.get("metrics") and a["n"] == len(row["attempts"]):
            args["metrics"] = row["metrics"]
        if open_:
            args["open"] = True
        events.append(
            {
                "name": row.get("label") or row["id"],
                "cat": "node",
                "ph": "X",
                "ts": _us(start),
                "dur": max(0, _us(end) - _us(start)),
                "pid": PID,
                "tid": tid,
                "args": args,
            }
        )
    for r, row in enumerate(rows):
        for w in row["waits"]:
            start, end = w["start"], w["end"]
            stop = horizon if end is None else end
            mine = placed.get(r, [])
            tid = next((t for s, e, t in mine if s <= start <= e), mine[-1][2] if mine else 1)
            args = {"id": row["id"]}
            if end is None:
                args["open"] = True
            events.append(
                {
                    "name": f"waiting: {row.get('label') or row['id']}",
                    "cat": "waiting",
                    "ph": "X",
                    "ts": _us(start),
                    "dur": max(0, _us(stop) - _us(start)),
                    "pid": PID,
                    "tid": tid,
                    "args": args,
                }
            )
    events.extend(_counters(rows))
    name = f"{run.get('name', 'run')} ({run.get('id', '')})"
    meta: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": PID, "tid": 0, "args": {"name": name}},
    ]
    for tid in range(1, threads + 1):
        meta.append(
            {
                "name": "thread_name",
                "ph": "M",
                "pid": PID,
                "tid": tid,
                "args": {"name": f"slot {tid}"},
            }
        )
        meta.append(
            {
                "name": "thread_sort_index",
                "ph": "M",
                "pid": PID,
                "tid": tid,
                "args": {"sort_index": tid},
            }
        )
    return {
        "traceEvents": meta + events,
        "displayTimeUnit": "ms",
        "otherData": {"run_id": run.get("id", ""), "status": run.get("status", "")},
    }


def _counters(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    ends: list[tuple[float, str, float]] = []
    for row in rows:
        metrics = row.get("metrics")
        if not isinstance(metrics, Mapping) or row["end"] is None:
            continue
        for name, value in metrics.items():
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
            ):
                ends.append((row["end"], str(name), float(value)))
    ends.sort(key=lambda e: e[0])
    totals: dict[str, float] = {}
    out: list[dict[str, Any]] = []
    for end, name, value in ends:
        totals[name] = totals.get(name, 0.0) + value
        out.append(
            {
                "name": name,
                "cat": "metric",
                "ph": "C",
                "ts": _us(end),
                "pid": PID,
                "tid": 0,
                "args": {name: totals[name]},
            }
        )
    return out


def write_trace(
    path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]], run: Mapping[str, Any]
) -> pathlib.Path:
    """Write :func:`trace_events` to ``path`` (JSON); returns the path."""
    target = pathlib.Path(path)
    target.write_bytes(orjson.dumps(trace_events(rows, run)))
    return target
