"""Compare two runs node by node: what changed, what was reused, what failed.

:func:`compare` takes two runs (live :class:`~taskbeam.Run`, stored
:class:`~taskbeam.StoredRun`, or their ids: a run of this process, or of a
store) and returns a :class:`Comparison`: a row per node id of either run
(children of expanded nodes included) with both statuses and durations, and
whether the results are equal, changed, or only in one run, judged by the
digests of the values (docs/cache.md), never by their previews. A value
without a stable digest is ``unknown`` unless both runs took it from the
same origin (the same run and node).

Planners make different sub-graphs from run to run: a child node present in
only one run is ``added`` (only in the second) or ``removed`` (only in the
first).

``tb.GraphView(comparison)`` (or ``comparison.view()``) draws the two runs as
one graph coloured by difference (``taskbeam._compare_view``).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from taskbeam._stored import StoredRun, open_run
from taskbeam.engine import Run
from taskbeam.engine._digest import digest_bytes
from taskbeam.engine._display import renderer
from taskbeam.engine._registry import BY_ID
from taskbeam.store import SQLiteStore, StoreError

__all__ = ["Comparison", "NodeDiff", "compare"]

#: What a row says of the two results.
KINDS = ("equal", "changed", "added", "removed", "only_a", "only_b", "failed", "unknown")


@dataclass(slots=True)
class NodeDiff:
    """One node id in the two runs (``None`` where a run does not have it)."""

    node: str
    result: str  # one of KINDS
    status_a: str | None = None
    status_b: str | None = None
    seconds_a: float | None = None
    seconds_b: float | None = None
    cached_a: bool = False
    cached_b: bool = False
    preview_a: str | None = None
    preview_b: str | None = None
    error_a: str | None = None
    error_b: str | None = None

    @property
    def executed_b(self) -> bool:
        """Whether the second run made this node's result itself (not reused)."""
        return self.status_b is not None and not self.cached_b


@dataclass
class Comparison:
    """Two runs side by side: ``rows`` in node order, ``totals`` by kind."""

    a: str
    b: str
    rows: list[NodeDiff]
    # The two runs' snapshots, for a view that draws the comparison.
    snapshots: tuple[dict[str, Any], dict[str, Any]] = field(
        repr=False, default_factory=lambda: ({}, {})
    )
    # The two runs themselves, for the details of a node on either side (None: only
    # what the snapshots say).
    runs: tuple[Run | StoredRun, Run | StoredRun] | None = field(
        repr=False, compare=False, default=None
    )

    @property
    def totals(self) -> dict[str, int]:
        """Rows per kind (``equal``, ``changed``, ...), and ``executed``/``reused`` in b."""
        counts = Counter(r.result for r in self.rows)
        out = {kind: counts.get(kind, 0) for kind in KINDS}
        out["executed"] = sum(1 for r in self.rows if r.status_b == "done" and not r.cached_b)
        out["reused"] = sum(1 for r in self.rows if r.cached_b)
        return out

    def changed(self) -> list[NodeDiff]:
        """The rows whose results differ or that only one run has."""
        return [r for r in self.rows if r.result not in ("equal",)]

    def to_dict(self) -> dict[str, Any]:
        rows = [asdict(r) for r in self.rows]
        return {"a": self.a, "b": self.b, "totals": self.totals, "rows": rows}

    def view(self, **options: Any) -> Any:
        """The two runs as one graph, coloured by difference: a :class:`taskbeam.GraphView`."""
        return renderer("view")(self, **options)

    def __repr__(self) -> str:
        t = self.totals
        return (
            f"<Comparison {self.a} -> {self.b}: {t['equal']} equal, {t['changed']} changed, "
            f"{t['added'] + t['only_b']} added, {t['removed'] + t['only_a']} removed, "
            f"{t['failed']} failed, {t['unknown']} unknown>"
        )

    def _repr_html_(self) -> str:
        """A table for notebooks; every string from a run is escaped."""
        esc = html.escape
        t = self.totals
        head = (
            f"<b>{esc(self.a)}</b> &rarr; <b>{esc(self.b)}</b>: {t['equal']} equal, "
            f"{t['changed']} changed, {t['added'] + t['only_b']} added, "
            f"{t['removed'] + t['only_a']} removed, {t['failed']} failed, "
            f"{t['unknown']} unknown; b executed {t['executed']}, reused {t['reused']}"
        )
        colour = {
            "equal": "",
            "changed": "background:rgba(230,160,0,.18)",
            "added": "background:rgba(0,160,80,.15)",
            "only_b": "background:rgba(0,160,80,.15)",
            "removed": "background:rgba(200,0,0,.12)",
            "only_a": "background:rgba(200,0,0,.12)",
            "failed": "background:rgba(200,0,0,.2)",
            "unknown": "background:rgba(120,120,120,.12)",
        }
        cells = []
        for r in self.rows:
            outcome_a = r.error_a or r.preview_a or ""
            outcome_b = r.error_b or r.preview_b or ""
            cells.append(
                f'<tr style="{colour[r.result]}"><td><code>{esc(r.node)}</code></td>'
                f"<td>{esc(r.result)}</td>"
                f"<td>{esc(r.status_a or '')}</td><td>{esc(r.status_b or '')}"
                f"{' (reused)' if r.cached_b else ''}</td>"
                f"<td>{_seconds(r.seconds_a)}</td><td>{_seconds(r.seconds_b)}</td>"
                f"<td>{esc(_short(outcome_a))}</td><td>{esc(_short(outcome_b))}</td></tr>"
            )
        return (
            f'<div class="taskbeam-compare"><p>{head}</p><table>'
            "<thead><tr><th>node</th><th>result</th><th>status a</th><th>status b</th>"
            "<th>s a</th><th>s b</th><th>a</th><th>b</th></tr></thead>"
            f"<tbody>{''.join(cells)}</tbody></table></div>"
        )


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- reading the two runs -------------------------------------------------------------


def _open(run: Run | StoredRun | str, store: SQLiteStore | None) -> Run | StoredRun:
    if isinstance(run, Run | StoredRun):
        return run
    if not isinstance(run, str):
        raise TypeError(f"compare() takes runs or run ids, not {type(run).__name__}")
    live = BY_ID.get(run)
    if isinstance(live, Run):
        return live
    if store is None:
        try:
            store = SQLiteStore(readonly=True)
        except StoreError as exc:  # no default store: say what was looked for where
            raise KeyError(
                f"no run {run!r}: it is not a run of this process, and {exc} to look in "
                "(pass store=)"
            ) from None
    return open_run(run, store)


def _snapshot_and_results(run: Run | StoredRun) -> tuple[dict[str, Any], Mapping[str, Any]]:
    if isinstance(run, Run):
        if not run.done:
            raise RuntimeError(f"run {run.id} has not ended: wait() for it before compare()")
        return run.snapshot(), run.results
    done = run.store.load_for_resume(run.id)["done"]
    return run.snapshot(), {node_id: value for node_id, (_, _, value) in done.items()}


def _seconds_of(node: Mapping[str, Any]) -> float | None:
    if "started" in node and "ended" in node:
        return round(float(node["ended"]) - float(node["started"]), 3)
    return None


def _error(node: Mapping[str, Any]) -> str | None:
    error = node.get("error")
    return f"{error['type']}: {error['message']}" if error else None


def compare(
    a: Run | StoredRun | str, b: Run | StoredRun | str, *, store: SQLiteStore | None = None
) -> Comparison:
    """Compare two ended runs node by node (see :class:`Comparison`).

    ``a`` and ``b`` are runs or run ids (of this process, else of ``store``,
    default ``.taskbeam/runs.db``). Raises ``KeyError`` for an unknown run and
    ``RuntimeError`` for a live run that has not ended.
    """
    run_a, run_b = _open(a, store), _open(b, store)
    snap_a, results_a = _snapshot_and_results(run_a)
    snap_b, results_b = _snapshot_and_results(run_b)
    nodes_a, nodes_b = snap_a["nodes"], snap_b["nodes"]
    rows = []
    for node_id in sorted(set(nodes_a) | set(nodes_b)):
        na, nb = nodes_a.get(node_id), nodes_b.get(node_id)
        row = NodeDiff(node_id, "unknown")
        if na is not None:
            row.status_a, row.seconds_a = na["status"], _seconds_of(na)
            row.cached_a, row.preview_a, row.error_a = "cached" in na, na.get("preview"), _error(na)
        if nb is not None:
            row.status_b, row.seconds_b = nb["status"], _seconds_of(nb)
            row.cached_b, row.preview_b, row.error_b = "cached" in nb, nb.get("preview"), _error(nb)
        row.result = _kind(node_id, na, nb, results_a, results_b, run_a.id)
        rows.append(row)
    return Comparison(run_a.id, run_b.id, rows, (snap_a, snap_b), (run_a, run_b))


def _kind(
    node_id: str,
    na: Mapping[str, Any] | None,
    nb: Mapping[str, Any] | None,
    results_a: Mapping[str, Any],
    results_b: Mapping[str, Any],
    a_id: str,
) -> str:
    child = "/" in node_id
    if na is None:
        return "added" if child else "only_b"
    if nb is None:
        return "removed" if child else "only_a"
    if na["status"] == "failed" or nb["status"] == "failed":
        return "equal" if na["status"] == nb["status"] and _error(na) == _error(nb) else "failed"
    if na["status"] != "done" or nb["status"] != "done":
        return "equal" if na["status"] == nb["status"] else "changed"
    made_b = nb.get("cached")
    if made_b is not None and made_b in (na.get("cached"), {"run": a_id, "node": node_id}):
        return "equal"  # b reused the very value a has
    if node_id not in results_a or node_id not in results_b:
        return "unknown"
    da, db = digest_bytes(results_a[node_id]), digest_bytes(results_b[node_id])
    if da is None or db is None:
        return "unknown"
    return "equal" if da == db else "changed"
