"""The ``runs`` request: a page of runs, filtered, for the view's run list.

In history mode (``GraphView(store)``) the page comes from the store,
newest first (:meth:`taskbeam.SQLiteStore.history`); in service and run
mode from the runs the view knows, in the order they started. Either way
the answer is ``{"type": "runs", "runs": [...], "next": cursor or null,
"total": n}`` (see docs/protocol.md). The request's fields are checked by
its entry in the request table (``taskbeam.broadcast._requests``). Pure
functions, called on the broadcaster thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskbeam.broadcast._source import Source

__all__ = ["describe", "listing"]


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


def listing(
    fields: dict[str, Any],
    history: Callable[..., dict[str, Any]] | None,
    runs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The answer to a ``runs`` request, from ``history`` (a store's) or from ``runs``.

    ``fields`` are the request's, as the request table's validator checked
    them (``name``, ``status``, ``cursor``: a string or None; ``limit``).
    """
    name, status, cursor, limit = (fields[k] for k in ("name", "status", "cursor", "limit"))
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
