"""The ``runs`` request: a page of runs, filtered, for the view's run list.

In history mode (``GraphView(store)``) the page comes from the store,
newest first (:meth:`taskbeam.SQLiteStore.history`); in service and run
mode from the runs the view knows, in the order they started. Either way
the answer is ``{"type": "runs", "runs": [...], "next": cursor or null,
"total": n}`` (see docs/protocol.md). Pure functions, called on the
broadcaster thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskbeam.broadcast._source import Source
from taskbeam.store._stored import MAX_LIMIT, STATUSES

__all__ = ["DEFAULT_LIMIT", "describe", "listing"]

DEFAULT_LIMIT = 50
MAX_TEXT = 200  # characters of a name filter or a cursor


def describe(run: Source) -> dict[str, Any]:
    """A live (or stored) run as the list shows it: id, name, status, project, created,
    ended (once it ended), counts, total."""
    fields = run.summaries(())[0]
    item: dict[str, Any] = {
        "id": run.id,
        "name": fields.get("name", ""),
        "status": fields.get("status", ""),
        "project": getattr(run, "project", None) or "",
        "created": fields.get("created", 0),
        "counts": fields.get("counts", {}),
        "total": fields.get("total", 0),
    }
    if "ended" in fields:
        item["ended"] = fields["ended"]
    return item


def _check(request: dict[str, Any]) -> tuple[str | None, str | None, str | None, int] | str:
    name, status = request.get("name"), request.get("status")
    cursor, limit = request.get("cursor"), request.get("limit", DEFAULT_LIMIT)
    for key, value in (("name", name), ("status", status), ("cursor", cursor)):
        if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
            return f"runs: '{key}' is a string of at most {MAX_TEXT} characters"
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        return f"runs: 'limit' is an integer from 1 to {MAX_LIMIT}"
    if status:
        unknown = [s for s in status.split(",") if s.strip() not in STATUSES]
        if unknown:
            return f"runs: unknown status {unknown[0][:40]!r}; statuses: {', '.join(STATUSES)}"
    return name or None, status or None, cursor or None, limit


def listing(
    request: dict[str, Any],
    history: Callable[..., dict[str, Any]] | None,
    runs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The answer to a ``runs`` request, from ``history`` (a store's) or from ``runs``."""
    checked = _check(request)
    if isinstance(checked, str):
        return {"type": "error", "error": checked}
    name, status, cursor, limit = checked
    if history is not None:
        try:
            page = history(name=name, status=status, cursor=cursor, limit=limit)
        except ValueError as exc:
            return {"type": "error", "error": f"runs: {exc}"}
        except OSError as exc:  # the store cannot be read
            return {"type": "error", "error": f"runs: {exc}"}
        return {"type": "runs", **page}
    items = list(runs or [])
    if name:
        items = [r for r in items if name.lower() in str(r["name"]).lower()]
    if status:
        wanted = {s.strip() for s in status.split(",")}
        items = [r for r in items if r["status"] in wanted]
    start = 0
    if cursor:
        ids = [r["id"] for r in items]
        if cursor not in ids:
            return {"type": "error", "error": f"runs: not a cursor of this list: {cursor[:100]!r}"}
        start = ids.index(cursor) + 1
    page_items = items[start : start + limit]
    more = start + limit < len(items)
    return {
        "type": "runs",
        "runs": page_items,
        "next": page_items[-1]["id"] if more and page_items else None,
        "total": len(items),
    }
