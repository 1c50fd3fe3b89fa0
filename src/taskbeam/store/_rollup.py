"""Roll-ups of metrics, pure: one metric's aggregation and every node's totals.

The engine rolls metrics up incrementally as tasks report them (see
``taskbeam.engine._meters``); a stored run's snapshot rolls its nodes' own
stored values up from scratch with :func:`rollup`, which gives the same
numbers. No I/O, no state.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["BIG", "fold", "plain", "rollup", "stored_rollup"]

BIG = sys.float_info.max  # a sum that overflows stays here instead of becoming inf


def fold(agg: str, current: float | None, value: float) -> float:
    """One metric's value after ``value`` is reported (``current``: before; None: none yet)."""
    if current is None:
        return value
    if agg == "sum":
        total = current + value
        return total if -BIG <= total <= BIG else math.copysign(BIG, total)
    if agg == "max":
        return value if value > current else current
    return value  # last


def plain(value: float) -> float | int:
    """A value as JSON shows it best: whole numbers as ints, others to 12 digits
    (sums of decimals read 0.3, not 0.30000000000000004)."""
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return float(f"{value:.12g}")


def rollup(
    nodes: Mapping[str, tuple[str | None, Mapping[str, tuple[float, float]]]],
    aggs: Mapping[str, str],
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Rolled-up values of every node, and the run's totals, from scratch.

    ``nodes`` maps each node id to ``(parent id or None, {name: (value,
    stamp)})``, its own values (``stamp``: when the value was reported,
    which decides ``last``). A node's rolled-up value of a metric aggregates
    its own value and those of every node below it (``sum``: their sum,
    ``max``: their largest, ``last``: the one reported last); the run's
    total aggregates every node. Pure; O(nodes x depth).
    """
    totals: dict[str, dict[str, tuple[float, float]]] = {}
    run: dict[str, tuple[float, float]] = {}
    for node_id, (_, own) in nodes.items():
        for name, (value, stamp) in own.items():
            agg = aggs[name]
            targets: list[dict[str, tuple[float, float]]] = [run]
            current: str | None = node_id
            seen = 0
            while current is not None and seen <= len(nodes):
                targets.append(totals.setdefault(current, {}))
                entry = nodes.get(current)
                current = None if entry is None else entry[0]
                seen += 1
            for target in targets:
                target[name] = _merged(agg, target.get(name), value, stamp)
    out = {n: {k: v for k, (v, _) in t.items()} for n, t in totals.items()}
    return out, {k: v for k, (v, _) in run.items()}


def _merged(
    agg: str, current: tuple[float, float] | None, value: float, stamp: float
) -> tuple[float, float]:
    if current is None:
        return value, stamp
    if agg == "last":
        return (value, stamp) if stamp >= current[1] else current
    return fold(agg, current[0], value), max(stamp, current[1])


def stored_rollup(
    parents: Mapping[str, str | None], stored: Mapping[str, Any]
) -> tuple[dict[str, dict[str, float | int]], dict[str, float | int], dict[str, str]]:
    """Roll-ups of a stored run: ``(per node, the run's totals, units)``, values as shown.

    ``parents`` maps every node id to its parent's (``None`` at the top);
    ``stored`` is each node's own metrics as the log keeps them, ``{name:
    [value, agg, unit, stamp]}``. Entries that do not read as that are left out.
    """
    aggs: dict[str, str] = {}
    units: dict[str, str] = {}
    nodes: dict[str, tuple[str | None, dict[str, tuple[float, float]]]] = {
        n: (p, {}) for n, p in parents.items()
    }
    for node_id, entries in stored.items():
        if node_id not in nodes or not isinstance(entries, dict):
            continue
        own = nodes[node_id][1]
        for name, entry in entries.items():
            try:
                value, agg, unit, stamp = entry
                value, stamp = float(value), float(stamp)
            except (TypeError, ValueError):
                continue
            if agg not in ("sum", "max", "last") or not math.isfinite(value):
                continue
            if aggs.setdefault(name, agg) != agg:
                continue
            if isinstance(unit, str):
                units.setdefault(name, unit)
            own[name] = (value, stamp)
    per_node, run = rollup(nodes, aggs)
    shown = {n: {k: plain(v) for k, v in t.items()} for n, t in per_node.items()}
    return shown, {k: plain(v) for k, v in run.items()}, units
