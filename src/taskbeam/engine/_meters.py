"""The run's side of progress and metrics: roll-ups, ticks, budgets.

:class:`Meters` belongs to one run (its driver). Tasks write into their
nodes' meters (see :mod:`._metrics`) and put a changed meter on
``pending``; everything else happens on the run's loop:

* :meth:`Meters.settle` rolls the new values up, incrementally, into every
  expanded parent and into the run's totals, and marks each changed node
  with an event from its status to itself (the broadcaster sends such
  changes at low priority) and as changed for the store.
* While someone watches the run (a subscriber, a store) or a budget is set,
  the first change after a quiet spell asks the loop for a settle, at most
  every :data:`TICK` seconds; otherwise nothing crosses threads and reads
  (snapshots, details, ``run.metrics()``) settle first.
* Budgets: a rolled-up value past its limit holds the scope (see
  :mod:`._holds`) and asks the run's question (``continue``, ``raise``,
  ``stop``) through the run's questions (``Questions.open_for_run``).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from taskbeam.engine._holds import RUN_SCOPE
from taskbeam.engine._metrics import (
    AGGS,
    MAX_METRICS,
    UNIT_CHARS,
    Meter,
    check_budgets,
    fold,
    plain,
    rows,
)
from taskbeam.engine._question import make_question
from taskbeam.engine._status import TERMINAL

if TYPE_CHECKING:
    from taskbeam.engine._node import Node

__all__ = ["TICK", "Meters"]

TICK = 0.1  # seconds between two settles while watched
CHOICES = ["continue", "raise", "stop"]


class Meters:
    """Progress, metrics and budgets of one run (see the module docstring).

    ``driver`` is the run's :class:`~taskbeam.engine._driver.Driver` (typed
    loosely: that module imports this one); ``budgets`` the run's own;
    ``seeds`` the nodes' own values stored before (``{node id: {name:
    [value, agg, unit, stamp]}}``), given back to the nodes of those ids.
    """

    def __init__(
        self,
        driver: Any,
        budgets: dict[str, float] | None = None,
        seeds: dict[str, Any] | None = None,
    ) -> None:
        self.driver = driver
        self.state = driver.state
        self.kinds: dict[str, tuple[str, str | None]] = {}
        # Changed meters; appended by tasks' threads, taken by the loop (a deque:
        # both ends are safe from any thread, and the loop never swaps it out).
        self.pending: deque[Meter] = deque()
        self.scheduled = False
        self.last = 0.0
        self.totals: dict[str, float] = {}  # the run's
        self.tstamps: dict[str, float] = {}
        self.budgets: dict[str, dict[str, float]] = {}  # scope -> {name: limit}
        if budgets:
            self.budgets[RUN_SCOPE] = dict(budgets)
        self.asked: dict[tuple[str, str], str] = {}  # (scope, name) -> open question id
        self.rounds: dict[tuple[str, str], int] = {}  # questions asked per (scope, name)
        self.seeds: dict[str, Any] = dict(seeds or {})
        self._lock = threading.Lock()
        self.state.metric_fields = self.fields

    # -- any thread ----------------------------------------------------------
    @property
    def live(self) -> bool:
        """Whether changes are settled as they come (someone watches, or a budget is set)."""
        st = self.state
        return st.record or st.dirty is not None or bool(self.budgets)

    def meter(self, node: Node) -> Meter:
        with self._lock:
            meter: Meter | None = node.meter
            if meter is None:
                meter = node.meter = Meter(node, self)
        return meter

    def kind(self, name: str, agg: str, unit: str | None) -> tuple[str, str | None]:
        """The (agg, unit) of metric ``name`` in this run; the first call decides."""
        if agg not in AGGS:
            raise ValueError(f"agg must be one of {AGGS}, not {agg!r}")
        if unit is not None and (not isinstance(unit, str) or len(unit) > UNIT_CHARS):
            raise ValueError(f"unit must be a str of at most {UNIT_CHARS} characters")
        with self._lock:
            known = self.kinds.get(name)
            if known is None:
                if len(self.kinds) >= MAX_METRICS:
                    raise ValueError(f"a run has at most {MAX_METRICS} metric names")
                known = self.kinds[name] = (agg, unit)
            elif known[0] != agg:
                raise ValueError(f"metric {name!r} is rolled up by {known[0]!r} here, not {agg!r}")
            elif unit is not None and known[1] != unit:
                if known[1] is not None:
                    raise ValueError(f"metric {name!r} has the unit {known[1]!r}, not {unit!r}")
                known = self.kinds[name] = (agg, unit)
        return known

    def changed(self, meter: Meter) -> None:
        """``meter`` has news (any thread; called once until the loop settles it)."""
        meter.queued = True
        self.pending.append(meter)
        if not self.scheduled and self.live:
            self.scheduled = True
            loop = self.driver.loop
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the run has ended
                    loop.call_soon_threadsafe(self._tick)

    # -- the loop ------------------------------------------------------------
    def _tick(self) -> None:
        loop = self.driver.loop
        wait = self.last + TICK - loop.time()
        if wait > 0:
            loop.call_later(wait, self._settle_now)
        else:
            self._settle_now()

    def _settle_now(self) -> None:
        self.scheduled = False
        self.last = self.driver.loop.time()
        if self.settle():
            self.driver._pump()

    def settle(self) -> bool:
        """Roll up what changed since the last settle; whether anything did."""
        if not self.pending:
            return False
        pending = self.pending
        touched: dict[Node, None] = {}
        run_changed = False
        for _ in range(len(pending)):  # what is there now; later ones wait for the next settle
            meter = pending.popleft()
            meter.queued = False
            touched[meter.node] = None
            if meter.own:
                run_changed |= self._roll(meter, touched)
        st = self.state
        now = time.monotonic()
        for node in touched:
            st.touch(node, now)
        if self.budgets:
            self._check(touched, run_changed, now)
        if st.events and not self.driver._pumping and self.driver.loop is not None:
            self.driver.loop.call_soon(self.driver._pump)
        return True

    def _roll(self, meter: Meter, touched: dict[Node, None]) -> bool:
        """Carry the new own values of ``meter`` up its parents to the run."""
        kinds = self.kinds
        applied = meter.applied
        changed = False
        for name, value in list(meter.own.items()):
            agg = kinds[name][0]
            if agg == "last":
                stamp = meter.stamps.get(name, 0.0)
                if applied.get(name) == stamp:
                    continue
                applied[name] = stamp
                changed |= self._up(meter.node, name, agg, value, stamp, touched)
                continue
            before = applied.get(name)
            if before == value:
                continue
            applied[name] = value
            if agg == "sum":
                delta = value - (before or 0.0)
                changed |= self._up(meter.node, name, agg, delta, 0.0, touched)
            else:
                changed |= self._up(meter.node, name, agg, value, 0.0, touched)
        return changed

    def _up(
        self, node: Node | None, name: str, agg: str, value: float, stamp: float, touched: Any
    ) -> bool:
        """Apply one report to ``node``, its parents and the run; whether the run's total moved."""
        while node is not None:
            meter = node.meter or self.meter(node)
            totals = meter.totals
            current = totals.get(name)
            if agg == "sum":
                totals[name] = fold("sum", current, value)
            elif agg == "max":
                if current is not None and current >= value:
                    return False  # every level above has at least this too
                totals[name] = value
            else:
                if current is not None and meter.tstamps.get(name, 0.0) > stamp:
                    return False  # a later value is there, and above too
                totals[name] = value
                meter.tstamps[name] = stamp
            touched[node] = None
            node = node.parent
        current = self.totals.get(name)
        if agg == "sum":
            self.totals[name] = fold("sum", current, value)
        elif agg == "max":
            self.totals[name] = value if current is None else max(current, value)
        elif current is None or self.tstamps.get(name, 0.0) <= stamp:
            self.totals[name] = value
            self.tstamps[name] = stamp
        return True

    def fields(self, run: dict[str, Any]) -> None:
        """The run's ``metrics`` (totals), ``units``, ``budgets`` and open budget ``questions``."""
        if self.totals:
            run["metrics"] = {k: plain(v) for k, v in self.totals.items()}
            units = {k: u for k, (_, u) in self.kinds.items() if u is not None}
            if units:
                run["units"] = units
        own = self.budgets.get(RUN_SCOPE)
        if own:
            run["budgets"] = {k: plain(v) for k, v in own.items()}
        if self.asked:  # a view that joins now knows to read them (no node waits on them)
            run["questions"] = len(self.asked)

    # -- seeds (loop) --------------------------------------------------------
    def seed(self, nodes: Any) -> None:
        """Give ``nodes`` the own values stored for their ids (a continued run), then settle."""
        if not self.seeds:
            return
        for node in nodes:
            stored = self.seeds.pop(node.id, None)
            if not isinstance(stored, dict):
                continue
            meter = self.meter(node)
            for name, entry in stored.items():
                try:
                    value, agg, unit, stamp = entry
                    self.kind(str(name), agg, unit)
                    value, stamp = float(value), float(stamp)
                except (TypeError, ValueError):
                    continue  # a damaged entry: that value is lost, not the run
                if not math.isfinite(value):
                    continue
                meter.own[name] = value
                if agg == "last":
                    meter.stamps[name] = stamp
            if not meter.queued:
                meter.queued = True
                self.pending.append(meter)
        self.settle()

    def seed_under(self, parent: Node, children: list[Node]) -> None:
        """:meth:`seed` for an expansion: ``children`` and the nodes restored below them."""
        prefix = parent.id + "/"
        nodes = self.state.nodes
        below = [nodes[i] for i in list(self.seeds) if i.startswith(prefix) and i in nodes]
        self.seed(below)

    def stored(self, node: Node) -> dict[str, list[Any]] | None:
        """The own values of ``node`` as stored: ``{name: [value, agg, unit, stamp]}``."""
        meter = node.meter
        if meter is None or not meter.own:
            return None
        kinds = self.kinds
        return {
            name: [value, kinds[name][0], kinds[name][1], meter.stamps.get(name, 0.0)]
            for name, value in list(meter.own.items())
        }

    # -- budgets (loop) ------------------------------------------------------
    def add_budgets(self, node: Node, budgets: Any) -> None:
        """An expansion of ``node`` with its own budgets (checked): they hold its sub-graph."""
        limits = check_budgets(budgets, "expand()")
        if not limits:
            return
        self.budgets[node.id] = limits
        self._check({node: None}, True, time.monotonic())

    def _check(self, touched: Any, run_changed: bool, now: float) -> None:
        budgets = self.budgets
        if run_changed and RUN_SCOPE in budgets:
            self._over(RUN_SCOPE, self.totals, now)
        if len(budgets) > (RUN_SCOPE in budgets):
            for node in touched:
                if node.id in budgets and node.meter is not None:
                    self._over(node.id, node.meter.totals, now)

    def _over(self, scope: str, totals: dict[str, float], now: float) -> None:
        for name, limit in list(self.budgets.get(scope, {}).items()):
            value = totals.get(name)
            if value is None or value <= limit or (scope, name) in self.asked:
                continue
            if scope and self.state.nodes[scope].status in TERMINAL:
                continue  # the sub-graph is over: nothing left to hold
            self.state.hold(scope)
            self._ask(scope, name, value, limit)

    def _ask(self, scope: str, name: str, value: float, limit: float) -> None:
        driver = self.driver
        rounds = self.rounds[(scope, name)] = self.rounds.get((scope, name), 0) + 1
        raise_to = limit * 2 if limit > 0 else 1.0
        while raise_to <= value:
            raise_to *= 2
        where = f"the sub-graph of {scope!r}" if scope else "the run"
        prompt = (
            f"budget exceeded: {name} {_num(value)} of {_num(limit)} in {where} — "
            f"continue, raise to {_num(raise_to)}, or stop?"
        )
        question = make_question(
            driver.id,
            scope,
            f"budget:{scope}:{name}:{rounds}",
            prompt,
            data={
                "budget": name,
                "value": plain(value),
                "limit": plain(limit),
                "raise_to": plain(raise_to),
                "scope": scope or None,
            },
            choices=CHOICES,
            now=time.time(),
        )
        self.asked[(scope, name)] = question.id

        def answered(answer: Any, by: str) -> None:
            self._answered(scope, name, answer, raise_to)

        driver.asker.open_for_run(question, answered)

    def _answered(self, scope: str, name: str, answer: Any, raise_to: float) -> None:
        self.asked.pop((scope, name), None)
        st = self.state
        limits = self.budgets.get(scope, {})
        if answer == "stop":
            st.stop(scope, time.monotonic())
        else:
            if answer == "raise":
                limits[name] = raise_to
            else:  # continue: no more limit on this metric here
                limits.pop(name, None)
            if not limits:
                self.budgets.pop(scope, None)
            if not any(s == scope for s, _ in self.asked):
                st.unhold(scope)
            totals = self.totals if not scope else st.nodes[scope].meter.totals
            self._over(scope, totals, time.monotonic())
        loop = self.driver.loop
        if loop is not None:
            loop.call_soon(self.driver._pump)

    def finish(self) -> None:
        """The run has ended: settle, and withdraw its budget questions still open."""
        self.settle()
        for question_id in list(self.asked.values()):
            self.driver.asker.close_for_run(question_id)
        self.asked.clear()

    # -- reads (loop) --------------------------------------------------------
    def table(self) -> list[dict[str, Any]]:
        """``run.metrics()``: a row per node and metric, then the run's totals (node None)."""
        self.settle()
        units = {k: u for k, (_, u) in self.kinds.items()}
        aggs = {k: a for k, (a, _) in self.kinds.items()}
        made = [n.meter for n in self.state.nodes.values() if n.meter is not None]
        out = rows(made, units, aggs)
        for name, value in self.totals.items():
            out.append(
                {
                    "node": None,
                    "name": name,
                    "value": plain(value),
                    "own": None,
                    "unit": units.get(name),
                    "agg": aggs.get(name, "sum"),
                }
            )
        return out


def _num(value: float) -> str:
    return f"{value:.6g}"
