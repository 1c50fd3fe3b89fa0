"""Progress and metrics inside a task: ``tb.progress``, ``tb.metric``, ``tb.usage``.

The task's side
---------------
A call finds its node through the context variable that names the node
whose task runs (see :mod:`._capture`), writes the new numbers into the
node's :class:`Meter` and, the first time since the run's loop last looked,
puts the meter on the run's list of changed meters (see
:class:`taskbeam.engine._meters.Meters`). That is all it does: no lock, no
event, no crossing of threads while nobody watches the run, so a call costs
a few hundred nanoseconds. A meter has one writer, its node's task; the
loop only reads what the task wrote.

The pure part
-------------
:func:`check_name` and :func:`check_value` here; :func:`fold` (one
metric's aggregation) and :func:`rollup` (every node's rolled-up values
and the run's totals from the nodes' own values, computed from scratch:
what the loop computes incrementally, what a stored run shows, and what a
test compares the loop with) in :mod:`taskbeam.store._rollup`.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from taskbeam.engine._capture import current_output
from taskbeam.engine._node import Node
from taskbeam.engine._questions import current_asker
from taskbeam.store._rollup import BIG as BIG
from taskbeam.store._rollup import fold as fold
from taskbeam.store._rollup import plain as plain
from taskbeam.store._rollup import rollup as rollup

__all__ = [
    "AGGS",
    "NAME_CHARS",
    "NOTE_CHARS",
    "Meter",
    "check_name",
    "check_value",
    "fold",
    "metric",
    "plain",
    "progress",
    "rollup",
    "usage",
]

AGGS = ("sum", "max", "last")
NAME_CHARS = 100  # longest metric name
UNIT_CHARS = 20
NOTE_CHARS = 200  # longest progress note kept
MAX_METRICS = 1000  # most distinct metric names in one run


def check_name(name: Any) -> str:
    """``name`` if it is a usable metric name, else a clear error."""
    if not isinstance(name, str):
        raise TypeError(f"a metric name is a str, not {type(name).__name__}")
    if not name or len(name) > NAME_CHARS:
        raise ValueError(f"a metric name has 1 to {NAME_CHARS} characters, not {len(name)}")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise ValueError(f"metric name {name!r} has control characters")
    return name


def check_value(name: str, value: Any) -> float:
    """``value`` as a finite float, else a clear error (booleans are not numbers here)."""
    if type(value) is float:
        number = value
    elif type(value) is int:
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"metric {name!r} takes a number up to 1.8e308") from None
    elif isinstance(value, bool) or not hasattr(value, "__float__") or isinstance(value, str):
        raise TypeError(f"metric {name!r} takes a number, not {type(value).__name__}")
    else:
        try:
            number = float(value)  # numpy scalars, Decimal, Fraction
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(f"metric {name!r} takes a number: {exc}") from None
    if not math.isfinite(number):
        raise ValueError(f"metric {name!r} takes a finite number, not {number!r}")
    return number


class Meter:
    """Progress and metrics of one node.

    Written by the node's task (``done``, ``total``, ``note``, ``own``,
    ``stamps``); read, and rolled up, by the run's loop (``applied``: the own
    values it has rolled up so far; ``totals``: this node's rolled-up values,
    its own and its children's). ``queued`` is true while the meter is on
    the run's list of changed meters.
    """

    __slots__ = (
        "applied",
        "done",
        "meters",
        "node",
        "note",
        "own",
        "queued",
        "stamps",
        "total",
        "totals",
        "tstamps",
    )

    def __init__(self, node: Node, meters: Any) -> None:
        self.node = node
        self.meters = meters
        self.done: float | None = None
        self.total: float | None = None
        self.note: str | None = None
        self.own: dict[str, float] = {}
        self.stamps: dict[str, float] = {}  # when each "last" metric was reported
        self.applied: dict[str, float] = {}
        self.totals: dict[str, float] = {}
        self.tstamps: dict[str, float] = {}
        self.queued = False
        Meter.made += 1

    made = 0  # meters made in this process; 0: nothing to store

    def fields(self, out: dict[str, Any]) -> None:
        """Add this node's ``progress`` and ``metrics`` to its summary ``out``."""
        if self.done is not None:
            progress: dict[str, Any] = {"done": plain(self.done)}
            if self.total is not None:
                progress["total"] = plain(self.total)
            if self.note is not None:
                progress["note"] = self.note
            out["progress"] = progress
        if self.totals:
            out["metrics"] = {k: plain(v) for k, v in self.totals.items()}


_make_lock = threading.Lock()


def _meter(node: Any, what: str) -> Meter | None:
    """The meter of the node whose task calls ``what`` (made at its first call).

    ``None`` in a worker process or on a Dask worker (the call is ignored
    there); a clear error outside any task.
    """
    if type(node) is not Node:
        if node is not None:
            return None  # a task away from its node (another process): not reported
        raise RuntimeError(f"tb.{what}() works only inside a task of a running run")
    meter: Meter | None = node.meter
    if meter is not None:
        return meter
    asker = current_asker.get()
    meters = getattr(asker, "meters", None)
    if meters is None:
        raise RuntimeError(
            f"tb.{what}() works inside a task or a sync aggregator, not an async aggregator"
        )
    made: Meter = meters.meter(node)
    return made


def progress(done: float, total: float | None = None, note: str | None = None) -> None:
    """Report the progress of the current task: ``done`` of ``total`` (``note``: what it does).

    Shown on the node (a bar, or a ring without ``total``) and in its
    details, as the node summary's ``progress``. Cheap: call it as often as
    you like, the view gets at most a few updates a second. Works in sync
    and async tasks; a task in a worker process or on Dask is not reported.

    Raises
    ------
    RuntimeError
        Outside a task of a running run.
    TypeError, ValueError
        ``done`` or ``total`` is not a finite number, ``note`` not a str.
    """
    meter = _meter(current_output.get(), "progress")
    if meter is None:
        return
    if type(done) is not float:
        done = check_value("progress", done)
    elif done != done or done in (math.inf, -math.inf):
        raise ValueError(f"progress takes a finite number, not {done!r}")
    if total is not None:
        if type(total) is not float:
            total = check_value("progress total", total)
        elif not math.isfinite(total):
            raise ValueError(f"progress total takes a finite number, not {total!r}")
    if note is not None:
        if not isinstance(note, str):
            raise TypeError(f"a progress note is a str, not {type(note).__name__}")
        if len(note) > NOTE_CHARS:
            note = note[: NOTE_CHARS - 1] + "…"
    meter.done = float(done)
    meter.total = None if total is None else float(total)
    meter.note = note
    if not meter.queued:
        meter.meters.changed(meter)


def metric(name: str, value: float, *, unit: str | None = None, agg: str = "sum") -> None:
    """Report a number of the current task, rolled up to its parents and to the run.

    Parameters
    ----------
    name : str
        1 to 100 characters, no control characters.
    value : number
        Finite (NaN and infinities are refused). ``sum`` adds it to what the
        node reported before (a sum that overflows stays at the largest
        float), ``max`` keeps the largest, ``last`` the latest.
    unit : str, optional
        Shown with the value (e.g. ``"USD"``, ``"tokens"``); up to 20 characters.
    agg : {"sum", "max", "last"}
        How values combine, within a node (over calls and attempts), into
        every expanded parent and into the run. One name has one ``agg``
        in a run: the first call decides, another raises ``ValueError``.
    """
    meter = _meter(current_output.get(), "metric")
    if meter is not None:
        _report(meter, name, value, unit, agg)


def _report(meter: Meter, name: str, value: Any, unit: str | None, agg: str) -> None:
    """One metric into ``meter``: checked, folded into the node's own value."""
    meters = meter.meters
    kind = meters.kinds.get(name) if type(name) is str else None
    if kind is None or kind[0] != agg or (unit is not None and kind[1] != unit):
        kind = meters.kind(check_name(name), agg, unit)
    kind_of = type(value)
    if kind_of is float:
        if value - value:  # NaN for NaN and the infinities, 0.0 for any finite float
            raise ValueError(f"metric {name!r} takes a finite number, not {value!r}")
    elif kind_of is int:
        try:
            value = float(value)
        except OverflowError:
            value = check_value(name, value)  # raises, saying why
    else:
        value = check_value(name, value)
    own = meter.own
    agg = kind[0]
    if agg == "sum":
        current = own.get(name)
        if current is None:
            own[name] = value
        else:
            total = current + value
            own[name] = total if -BIG <= total <= BIG else math.copysign(BIG, total)
    elif agg == "max":
        current = own.get(name)
        if current is None or value > current:
            own[name] = value
    else:
        own[name] = value
        meter.stamps[name] = time.time()
    if not meter.queued:
        meters.changed(meter)


def usage(
    tokens_in: float | None = None,
    tokens_out: float | None = None,
    cost: float | None = None,
    **others: float,
) -> None:
    """Shorthand for the usual ``tb.metric`` calls of a model call (each a ``sum``).

    ``tb.usage(tokens_in=120, tokens_out=40, cost=0.0021)`` adds to the
    metrics ``tokens_in`` and ``tokens_out`` (unit ``tokens``) and ``cost``;
    other keywords are metrics of that name.
    """
    meter = _meter(current_output.get(), "usage")
    if meter is None:
        return
    if tokens_in is not None:
        _report(meter, "tokens_in", tokens_in, "tokens", "sum")
    if tokens_out is not None:
        _report(meter, "tokens_out", tokens_out, "tokens", "sum")
    if cost is not None:
        _report(meter, "cost", cost, None, "sum")
    for name, value in others.items():
        _report(meter, name, value, None, "sum")


_tqdm_patched = False


def install_tqdm() -> None:
    """Feed ``tb.progress`` from tqdm bars inside tasks, if tqdm is imported (once).

    ``tqdm.std.tqdm.update`` and ``close`` (which every tqdm bar, ``tqdm.auto``
    and ``tqdm.notebook`` included, goes through) report the bar's count,
    total and description as the progress of the node whose task runs the
    bar; outside a task they do only what they always did.
    """
    global _tqdm_patched
    if _tqdm_patched:
        return
    std = sys.modules.get("tqdm.std")
    if std is None:
        return
    with _make_lock:
        if _tqdm_patched:
            return
        _tqdm_patched = True
        cls = std.tqdm
        update, close = cls.update, cls.close

        def patched_update(self: Any, n: float | None = 1) -> Any:
            out = update(self, n)
            _from_tqdm(self)
            return out

        def patched_close(self: Any) -> Any:
            _from_tqdm(self)
            return close(self)

        patched_update.__wrapped__ = update  # type: ignore[attr-defined]
        patched_close.__wrapped__ = close  # type: ignore[attr-defined]
        cls.update = patched_update
        cls.close = patched_close


def _from_tqdm(bar: Any) -> None:
    if type(current_output.get()) is not Node:
        return
    try:
        desc = getattr(bar, "desc", None) or None
        total = getattr(bar, "total", None)
        progress(bar.n, total if total else None, desc if isinstance(desc, str) else None)
    except Exception:  # a progress bar never breaks the loop it counts
        return


def check_budgets(budgets: Any, where: str) -> dict[str, float] | None:
    """``budgets`` as ``{metric name: limit}``, or a clear error."""
    if budgets is None:
        return None
    if not isinstance(budgets, Mapping):
        raise TypeError(f"{where} budgets must be a mapping of metric name to limit")
    out: dict[str, float] = {}
    for name, limit in budgets.items():
        check_name(name)
        number = check_value(name, limit)
        if number < 0:
            raise ValueError(f"{where} budget of {name!r} must be >= 0, not {limit!r}")
        out[name] = number
    return out or None


def rows(
    meters: Iterable[Meter], units: Mapping[str, str | None], aggs: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Table rows ``{node, name, value, own, unit, agg}`` of ``meters``, in their order."""
    out = []
    for meter in meters:
        for name, value in meter.totals.items():
            out.append(
                {
                    "node": meter.node.id,
                    "name": name,
                    "value": plain(value),
                    "own": plain(meter.applied.get(name, 0.0)) if name in meter.applied else None,
                    "unit": units.get(name),
                    "agg": aggs.get(name, "sum"),
                }
            )
    return out
