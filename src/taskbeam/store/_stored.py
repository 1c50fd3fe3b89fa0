"""Reading stored runs: pages of the run history, one node's result, server projects.

Pure functions of a read connection (any thread), except :func:`put_project`,
which runs on the store's writer thread. The history is listed newest first
(``created``, then ``id``, both descending) and paged by an opaque cursor:
the position of the last run of the page before, so a page never repeats or
skips a run when new runs are stored meanwhile.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from taskbeam._schema import RunStatus
from taskbeam.store._lease import judge
from taskbeam.store._log import Log
from taskbeam.store._serialize import JSONSerializer, PickleSerializer, Serializer

__all__ = [
    "PROJECTS",
    "STATUSES",
    "get_project",
    "history",
    "list_projects",
    "check",
    "page",
    "put_project",
    "result",
    "run_info",
]

# Made on first use (by a server with a store): most stores never hold a project.
PROJECTS = """
    CREATE TABLE IF NOT EXISTS projects (
        id TEXT PRIMARY KEY,
        graph TEXT NOT NULL,
        params TEXT NOT NULL,
        created REAL NOT NULL
    ) WITHOUT ROWID;
"""
# Statuses a stored run can show (``interrupted``: see taskbeam.store._lease).
STATUSES = tuple(s.value for s in RunStatus)
MAX_LIMIT = 500


def _cursor(item: dict[str, Any]) -> str:
    return f"{item['created']!r}|{item['id']}"


# What a cursor and a status filter look like (the OpenAPI document's patterns; empty: none).
CURSOR = r"^([0-9]{1,20}(\.[0-9]{1,20})?\|[^\u0000-\u001f\u007f-\u009f]{1,180})?$"
STATUS_FILTER = rf"^(({'|'.join(STATUSES)})(,({'|'.join(STATUSES)}))*)?$"


def _position(cursor: str) -> tuple[float, str]:
    created, sep, run_id = cursor.partition("|")
    try:
        if not sep or not run_id:
            raise ValueError(cursor)
        return float(created), run_id
    except ValueError:
        raise ValueError(f"not a cursor of the run history: {cursor[:100]!r}") from None


def history(
    conn: sqlite3.Connection,
    *,
    name: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    project: str | None = None,
) -> dict[str, Any]:
    """One page of runs, newest first: ``{"runs": [...], "next": cursor | None, "total": n}``.

    Parameters
    ----------
    name : str, optional
        Only runs whose name contains this text (case-insensitive).
    status : str, optional
        Only runs of this status, or of any of several separated by commas
        (``"failed,interrupted"``); ``interrupted`` as judged by the leases.
    cursor : str, optional
        ``next`` of the page before.
    limit : int
        Runs per page, 1 to 500.
    project : str, optional
        Only runs of this project (exact).

    Each run is ``{id, name, status, project, created, ended, counts, total}``
    (``project`` and ``ended`` only when known; ``error`` when the run could
    not be saved); ``total`` is the number of runs that match, on all pages.

    Raises
    ------
    ValueError
        An unknown status, a limit out of range or a malformed cursor.
    """
    wanted, after = check(status, cursor, limit)
    sql = "SELECT id, name, status, counts, total, created, ended, error, options FROM runs"
    args: list[Any] = []
    where = []
    if name:
        where.append("instr(lower(name), lower(?)) > 0")
        args.append(name)
    if project:
        where.append("json_extract(options, '$.project') = ?")
        args.append(project)
    if wanted is not None:
        stored = wanted - {"interrupted"}
        if "interrupted" in wanted:  # judged after reading: read what may turn out to be it
            stored |= {"running", "paused"}
        where.append(f"status IN ({', '.join('?' * len(stored))})")
        args.extend(sorted(stored))
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created DESC, id DESC"
    items = judge(conn, [_item(row) for row in conn.execute(sql, args)])
    return page(items, wanted, after, limit)


def page(
    items: list[dict[str, Any]],
    wanted: set[str] | None,
    after: tuple[float, str] | None,
    limit: int,
) -> dict[str, Any]:
    """Filter runs (newest first) by status and take the page after ``after``."""
    if wanted is not None:
        items = [item for item in items if item["status"] in wanted]
    total = len(items)
    start = 0
    if after is not None:
        start = next(
            (i for i, item in enumerate(items) if (item["created"], item["id"]) < after), total
        )
    chosen = items[start : start + limit]
    more = start + limit < total
    return {
        "runs": chosen,
        "next": _cursor(chosen[-1]) if more and chosen else None,
        "total": total,
    }


def check(
    status: str | None, cursor: str | None, limit: int
) -> tuple[set[str] | None, tuple[float, str] | None]:
    """The statuses wanted and the position after which a page starts; ``ValueError`` if bad."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
    wanted: set[str] | None = None
    if status:
        wanted = {s.strip() for s in status.split(",") if s.strip()}
        unknown = sorted(wanted - set(STATUSES))
        if unknown:
            raise ValueError(f"unknown status {unknown[0][:40]!r}; statuses: {', '.join(STATUSES)}")
    return wanted, _position(cursor) if cursor else None


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    rid, name, status, counts, total, created, ended, error, options = row
    item: dict[str, Any] = {
        "id": rid,
        "name": name,
        "status": status,
        "counts": orjson.loads(counts),
        "total": total,
        "created": created,
    }
    project = orjson.loads(options).get("project")
    if project is not None:
        item["project"] = project
    if ended is not None:
        item["ended"] = ended
    if error:
        item["error"] = error
    return item


def run_info(conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """One run as :func:`history` lists it, with its stored ``options``."""
    row = conn.execute(
        "SELECT id, name, status, counts, total, created, ended, error, options FROM runs "
        "WHERE id = ?",
        (run_id,),
    ).fetchone()
    if row is None:
        raise KeyError(f"no run {run_id!r} in the store")
    item = _item(row)
    item["options"] = orjson.loads(row[-1])
    return judge(conn, [item])[0]


def result(conn: sqlite3.Connection, run_id: str, node_id: str, serializer: Serializer) -> Any:
    """The stored result of one node.

    Raises ``KeyError`` for an unknown run or node, ``LookupError`` for a
    node that is not done or whose result was stored as its preview only.
    """
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
        raise KeyError(f"no run {run_id!r} in the store")
    log = Log.read(conn, run_id)
    where = log.latest.get(node_id)
    if where is None:
        raise KeyError(f"run {run_id} has no stored node {node_id!r}")
    batch = log.batches[where[0]]
    i = where[1]
    status, fmt = batch["status"][i], batch["format"][i]
    if status != "done":
        error = batch["error"].get(node_id)
        detail = f": {error[0]}: {error[1]}" if error else ""
        raise LookupError(f"node {node_id!r} has no result, it is {status}{detail}")
    if fmt == "json":
        return batch["result"][i]
    if fmt in (None, "preview"):
        raise LookupError(
            f"the result of node {node_id!r} was not stored (the serializer refused it); "
            f"its preview: {batch['preview'][i]}"
        )
    row = conn.execute(
        "SELECT format, data FROM results WHERE run_id = ? AND node_id = ?", (run_id, node_id)
    ).fetchone()
    if row is None:
        raise LookupError(f"the result of node {node_id!r} is missing from the store")
    fmt, data = row
    if fmt != serializer.name:
        serializer = PickleSerializer() if fmt == "pickle" else JSONSerializer()
    return serializer.loads(data)


def put_project(
    conn: sqlite3.Connection, project_id: str, graph: str, params: Any, created: float
) -> None:
    conn.execute(PROJECTS)
    conn.execute(
        "INSERT OR REPLACE INTO projects (id, graph, params, created) VALUES (?, ?, ?, ?)",
        (project_id, graph, orjson.dumps(params).decode(), created),
    )


def _project(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"id": row[0], "graph": row[1], "params": orjson.loads(row[2]), "created": row[3]}


def get_project(conn: sqlite3.Connection, project_id: str) -> dict[str, Any] | None:
    try:
        row = conn.execute(
            "SELECT id, graph, params, created FROM projects WHERE id = ?", (project_id,)
        ).fetchone()
    except sqlite3.OperationalError:  # an older schema
        return None
    return None if row is None else _project(row)


def list_projects(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every project: the stored ones (``registered``: graph and params known), then
    the projects of stored runs that were started without one (from Python), by
    their first run; oldest first. ``latest`` is the id of a project's newest run."""
    try:
        rows = conn.execute(
            "SELECT id, graph, params, created FROM projects ORDER BY created, id"
        ).fetchall()
    except sqlite3.OperationalError:
        rows = []
    # A bare column beside max() comes from the row with the max (SQLite).
    latest = {
        pid: rid
        for pid, rid, _ in conn.execute(
            "SELECT json_extract(options, '$.project') AS p, id, max(created) FROM runs "
            "WHERE p IS NOT NULL GROUP BY p"
        )
    }
    out = [{**_project(row), "registered": True, "latest": latest.get(row[0])} for row in rows]
    known = {p["id"] for p in out}
    for pid, name, created in conn.execute(
        "SELECT json_extract(options, '$.project') AS p, name, min(created) FROM runs "
        "WHERE p IS NOT NULL GROUP BY p ORDER BY min(created)"
    ):
        if pid not in known:
            out.append(
                {
                    "id": pid,
                    "graph": name,
                    "params": {},
                    "created": created,
                    "registered": False,
                    "latest": latest.get(pid),
                }
            )
    return out
