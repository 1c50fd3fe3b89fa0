"""A comparison as a source the broadcaster shows: one frozen graph of two ended runs.

``tb.GraphView(comparison)`` draws :class:`ComparisonSource`: the union of
the two runs' graphs (every node of ``b``, and the nodes only ``a`` has),
each node summary carrying ``compare``, its difference class and both
statuses (docs/protocol.md, *Comparisons*). Its ``node_details`` answer has
both sides, ``a`` and ``b``, each what that run's own details say of the
node (status, times, error and traceback, the longer result preview,
output). Nothing in it changes: like a stored run it is shown frozen, and
its controls raise :class:`~taskbeam.NotRunning`.

The classes, in the legend's order (see :func:`diff_class`):

* ``equal``: both runs made the same value (or failed alike, or ended in
  the same status without a value);
* ``changed``: the same status, a different value (or a different error);
* ``status``: the two statuses differ (failed in one run, done in the
  other; done and skipped);
* ``added`` / ``removed``: only ``b`` / only ``a`` has the node (a child
  that a planner made in one run only, or a top-level node);
* ``unknown``: both are done, but the value has no stable digest.

Edges: ``b``'s, and those of ``a`` that touch a node only ``a`` has; an
edge only ``a`` had between two nodes ``b`` has too is not drawn (``b``'s
graph is the one shown, ``a``'s extra nodes hang where they were).

Threading: the union snapshot is built once, when the source is made, on
the caller's thread; afterwards every method reads it (the broadcaster
calls them on its thread), and ``details`` asks the two runs, which any
thread may do once they have ended.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from taskbeam._compare import Comparison, NodeDiff
from taskbeam._errors import NotRunning
from taskbeam._schema import Event
from taskbeam._stored import StoredRun
from taskbeam.engine import Run

__all__ = ["CLASSES", "ComparisonSource", "diff_class", "union_snapshot"]

#: The difference classes a view colours nodes by, in the legend's order.
CLASSES = ("equal", "changed", "status", "added", "removed", "unknown")
# What a side's details leave out: a view of a comparison takes no answers.
_NOT_SHOWN = ("questions", "question")
# The run fields of a side that a view names (the toolbar, the details' heads).
_SIDE_FIELDS = ("id", "name", "status", "created", "ended", "parent_run", "cache", "total")


def diff_class(row: NodeDiff) -> str:
    """The class a view colours ``row``'s node by (one of :data:`CLASSES`)."""
    if row.result in ("added", "only_b"):
        return "added"
    if row.result in ("removed", "only_a"):
        return "removed"
    if row.status_a != row.status_b:
        return "status"
    if row.result in ("equal", "unknown"):
        return row.result
    return "changed"  # changed, or failed on both sides with different errors


def room_of(comparison: Comparison) -> str:
    """The room (and the view's ``run_id``) of a comparison: ``compare:A:B``."""
    return f"compare:{comparison.a}:{comparison.b}"


def _side(snap: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    run = snap.get("run", {})
    out = {k: copy.deepcopy(run[k]) for k in _SIDE_FIELDS if k in run}
    out.setdefault("id", run_id)
    out.setdefault("name", "")
    out.setdefault("status", "done")
    return out


def _compare_fields(row: NodeDiff) -> dict[str, Any]:
    """A node's ``compare`` field: its class, the comparison's kind, both statuses."""
    out: dict[str, Any] = {"class": diff_class(row), "kind": row.result}
    if row.status_a is not None:
        out["status_a"] = row.status_a
    if row.status_b is not None:
        out["status_b"] = row.status_b
    if row.cached_a:
        out["reused_a"] = True
    if row.cached_b:
        out["reused_b"] = True
    return out


def union_snapshot(comparison: Comparison) -> dict[str, Any]:
    """The snapshot a view of ``comparison`` draws (see the module's docstring).

    Raises ``ValueError`` for a comparison that holds no snapshots of its runs
    (one built by hand rather than by :func:`taskbeam.compare`).
    """
    snap_a, snap_b = comparison.snapshots
    if not isinstance(snap_a.get("nodes"), dict) or not isinstance(snap_b.get("nodes"), dict):
        raise ValueError(
            "this comparison holds no snapshots of its runs: make it with tb.compare(a, b)"
        )
    nodes_a: dict[str, Any] = snap_a["nodes"]
    nodes_b: dict[str, Any] = snap_b["nodes"]
    rows = {r.node: r for r in comparison.rows}
    nodes: dict[str, Any] = {}
    # b's nodes in b's order, then those only a has, in a's order.
    for node_id in [*nodes_b, *(i for i in nodes_a if i not in nodes_b)]:
        row = rows.get(node_id)
        if row is None:
            continue  # a node the comparison has no row for: not shown
        only_a = node_id not in nodes_b
        summary = copy.deepcopy(nodes_a[node_id] if only_a else nodes_b[node_id])
        if only_a:
            summary.pop("cached", None)  # the reuse mark is b's: the run drawn
        for key in _NOT_SHOWN:
            summary.pop(key, None)
        summary["compare"] = _compare_fields(row)
        nodes[node_id] = summary
    edges: list[list[str]] = []
    seen: set[tuple[str, str]] = set()
    a_only = [e for e in snap_a.get("edges", []) if e[0] not in nodes_b or e[1] not in nodes_b]
    for edge in [*snap_b.get("edges", []), *a_only]:
        u, v = str(edge[0]), str(edge[1])
        if u in nodes and v in nodes and (u, v) not in seen:
            seen.add((u, v))
            edges.append([u, v])
    counts = Counter(str(n.get("status", "pending")) for n in nodes.values())
    classes = Counter(n["compare"]["class"] for n in nodes.values())
    side_a, side_b = _side(snap_a, comparison.a), _side(snap_b, comparison.b)
    same = side_a["name"] == side_b["name"]
    run: dict[str, Any] = {
        "id": room_of(comparison),
        "name": side_b["name"] if same else f"{side_a['name']} / {side_b['name']}",
        "status": side_b["status"],
        "counts": dict(counts),
        "total": len(nodes),
        "stored": True,
        "compare": {
            "a": side_a,
            "b": side_b,
            "classes": {c: classes.get(c, 0) for c in CLASSES},
            "reused_b": sum(1 for r in comparison.rows if r.cached_b),
        },
    }
    if "created" in side_b:
        run["created"] = side_b["created"]
    if "ended" in side_b:
        run["ended"] = side_b["ended"]
    return {"run": run, "nodes": nodes, "edges": edges}


class ComparisonSource:
    """A :class:`~taskbeam.Comparison` as a broadcaster source (see the module's docstring).

    Attributes
    ----------
    id : str
        ``compare:A:B``: its room.
    comparison : Comparison
    stored, done : bool
        Always true: it is shown frozen, and nothing in it changes.
    """

    stored = True
    done = True

    def __init__(self, comparison: Comparison) -> None:
        if not isinstance(comparison, Comparison):
            raise TypeError(f"expected a Comparison, not {type(comparison).__name__}")
        self.comparison = comparison
        self.id = room_of(comparison)
        self._snap = union_snapshot(comparison)
        self._rows = {r.node: r for r in comparison.rows}
        # A later source of the same room (a comparison made again) takes over its views.
        self.read_at = time.monotonic()

    def snapshot(self) -> dict[str, Any]:
        """The union graph as a view draws it (a copy)."""
        return copy.deepcopy(self._snap)

    # -- as a broadcaster source ---------------------------------------------
    def watch(self, callback: Callable[[Event], None]) -> tuple[dict[str, Any], Callable[[], None]]:
        return self.snapshot(), _nothing

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        return _nothing

    def summaries(
        self, node_ids: Iterable[str], edges: bool = False
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[list[str]] | None]:
        snap = self._snap
        nodes = {i: copy.deepcopy(snap["nodes"][i]) for i in node_ids if i in snap["nodes"]}
        return copy.deepcopy(snap["run"]), nodes, copy.deepcopy(snap["edges"]) if edges else None

    def details(self, node_id: str) -> dict[str, Any]:
        """The node as drawn, plus ``a`` and ``b``: each run's details of it (where it has it)."""
        nodes = self._snap["nodes"]
        if node_id not in nodes:
            raise KeyError(f"comparison {self.id} has no node {node_id!r}")
        out: dict[str, Any] = copy.deepcopy(nodes[node_id])
        out["id"] = node_id
        snap_a, snap_b = self.comparison.snapshots
        runs = self.comparison.runs or (None, None)
        for side, run, snap in (("a", runs[0], snap_a), ("b", runs[1], snap_b)):
            if node_id in snap["nodes"]:
                out[side] = _side_details(run, snap, node_id)
        return out

    def _not_running(self, what: str) -> NotRunning:
        return NotRunning(
            f"{self.id} is a comparison of two ended runs, not a run: cannot {what} it; "
            "act on one of its runs"
        )

    def pause(self) -> None:
        raise self._not_running("pause")

    def resume(self) -> None:
        raise self._not_running("resume")

    def cancel(self) -> None:
        raise self._not_running("cancel")

    def cancel_node(self, node_id: str) -> None:
        raise self._not_running("cancel a node of")

    def continue_run(self) -> Any:
        raise self._not_running("continue")

    def rerun(self, nodes: list[str] | None = None) -> Any:
        raise ValueError(
            f"{self.id} is a comparison, not a run: rerun one of its runs (run.rerun())"
        )

    def __repr__(self) -> str:
        return f"<ComparisonSource {self.id}>"


def _side_details(
    run: Run | StoredRun | None, snap: Mapping[str, Any], node_id: str
) -> dict[str, Any]:
    """What ``run`` says of the node (its summary when the run cannot be asked)."""
    details: dict[str, Any] | None = None
    if run is not None:
        try:
            details = run.details(node_id)
        except (KeyError, LookupError):
            details = None
    if details is None:
        details = copy.deepcopy(snap["nodes"][node_id])
        details["id"] = node_id
        if "preview" in details:
            details["result"] = details["preview"]
    for key in _NOT_SHOWN:
        details.pop(key, None)
    return details


def _nothing() -> None:
    return None
