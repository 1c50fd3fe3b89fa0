"""A run's timeline as data: when each node ran, retried and waited (pure functions).

The state machine keeps, for a node that was retried or waited for an
answer, a short list of spans (``Node.spans``): each earlier attempt,
``["failed" or "timeout", start, end]``, and each wait, ``["waiting",
start, end]`` (``end`` ``None`` while it waits). A node that ran once and
never waited has none, so 100,000 plain nodes cost nothing. Node summaries
carry them (``attempts``, ``waits``, in seconds from the run's start), and
:func:`rows` turns a snapshot's summaries into one row per node, the same
for a live run and a stored one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from taskbeam.engine._status import Status

if TYPE_CHECKING:
    from taskbeam.engine._node import Node

__all__ = ["Spans", "function_name", "note_span", "rows", "span_fields"]

RETRYING, WAITING = Status.RETRYING, Status.WAITING


class Spans:
    """Whether any node of this process has spans yet (a batch then looks for them)."""

    made = False


def note_span(node: Node, old: Status, new: Status, now: float) -> None:
    """Record what a transition into or out of RETRYING or WAITING closes or opens."""
    spans = node.spans
    if spans is None:
        spans = node.spans = []
        Spans.made = True
    if old is WAITING and spans and spans[-1][0] == "waiting" and spans[-1][2] is None:
        spans[-1][2] = now
    if new is WAITING:
        spans.append(["waiting", now, None])
    elif new is RETRYING:
        error = node.error
        outcome = "timeout" if error is not None and error.type == "NodeTimeout" else "failed"
        start = node.started if node.started is not None else now
        spans.append([outcome, start, now])


def span_fields(spans: list[list[Any]], t0: float) -> dict[str, Any]:
    """The summary fields of ``spans``: ``attempts`` (earlier ones) and ``waits``."""
    attempts: list[list[Any]] = []
    waits: list[list[float]] = []
    for kind, start, end in spans:
        if kind == "waiting":
            waits.append(
                [round(start - t0, 3)]
                if end is None
                else [round(start - t0, 3), round(end - t0, 3)]
            )
        else:
            attempts.append([round(start - t0, 3), round(end - t0, 3), kind])
    out: dict[str, Any] = {}
    if attempts:
        out["attempts"] = attempts
    if waits:
        out["waits"] = waits
    return out


def function_name(fn: Any) -> str:
    """The name a task's function is grouped by: its qualified name, else its type's."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if not isinstance(name, str):
        name = type(fn).__qualname__
    return name


def rows(
    snapshot: Mapping[str, Any],
    functions: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per node of ``snapshot`` (a run's snapshot), in the snapshot's order.

    Each row: ``id``, ``label`` (if any), ``parent`` (the expanded node it
    belongs to, ``None`` at the top level), ``tags``, ``function`` (the
    task's function name, when ``functions`` knows it, else ``None``),
    ``status``, ``start`` (its first attempt's start) and ``end`` (``None``
    until it ended) in seconds from the run's start, ``attempts``: every
    attempt as ``{"start", "end", "outcome"}`` (earlier ones ``failed`` or
    ``timeout``, the last one the node's status, ``end`` ``None`` while it
    runs), and ``waits``: ``{"start", "end"}`` per wait for an answer.
    A node that never started has ``start`` and ``end`` ``None`` and no
    attempts; ``metrics`` is copied from the summary when it has one.
    """
    functions = functions or {}
    out: list[dict[str, Any]] = []
    for node_id, s in snapshot.get("nodes", {}).items():
        started = s.get("started")
        ended = s.get("ended")
        status = s.get("status", "pending")
        attempts = [{"start": a[0], "end": a[1], "outcome": a[2]} for a in s.get("attempts", ())]
        if started is not None:
            attempts.append({"start": started, "end": ended, "outcome": status})
        waits = [{"start": w[0], "end": w[1] if len(w) > 1 else None} for w in s.get("waits", ())]
        row: dict[str, Any] = {
            "id": node_id,
            "parent": s.get("parent"),
            "tags": list(s.get("tags", ())),
            "function": functions.get(node_id),
            "status": status,
            "start": attempts[0]["start"] if attempts else started,
            "end": ended if started is not None else None,
            "attempts": attempts,
            "waits": waits,
        }
        if "label" in s:
            row["label"] = s["label"]
        if "metrics" in s:
            row["metrics"] = s["metrics"]
        out.append(row)
    return out
