"""OpenTelemetry for runs: the run as a root span, a span per node (``taskbeam[otel]``).

Two ways in::

    run = tb.start(g, tracer=trace.get_tracer("my-app"))   # this run
    undo = tb.instrument()                                  # every run from now on

Either attaches a run subscriber (see :mod:`taskbeam.engine._observers`)
before the run's thread starts, so the engine never imports OpenTelemetry.
What it emits:

- the run: a root span named ``taskbeam run <name>``, attributes
  ``taskbeam.run.id``, ``taskbeam.run.name``, ``taskbeam.run.status``;
- each node that started: a span named after its label or id, a child of
  its expanded parent's span (top-level nodes: of the run's span), from its
  first start to its end; attributes ``taskbeam.node.id``,
  ``taskbeam.node.status``, ``taskbeam.node.attempt``, ``taskbeam.node.tags``,
  ``taskbeam.node.parent``, and each metric of its summary as
  ``taskbeam.metric.<name>``; the metrics ``tokens_in`` and ``tokens_out``
  also as the GenAI semantic convention's ``gen_ai.usage.input_tokens`` and
  ``gen_ai.usage.output_tokens``. A failed node's span has status ERROR
  with the exception's type and message;
- span events: ``taskbeam.retry`` (an attempt failed and another follows:
  ``attempt``, ``error.type``, ``error.message``), ``taskbeam.question``
  (the node asked: ``question.id``, ``question.prompt``) and
  ``taskbeam.answered`` (it runs again).

Times come from the run's own clock (monotonic), placed on the wall clock
once when the run starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from taskbeam.engine import Event
from taskbeam.engine._observers import add_start_hook

__all__ = ["GENAI_NAMES", "RunTracer", "instrument", "uninstrument"]

#: Metric names that have a GenAI semantic-convention attribute of their own.
GENAI_NAMES = {
    "tokens_in": "gen_ai.usage.input_tokens",
    "tokens_out": "gen_ai.usage.output_tokens",
}
_TERMINAL = frozenset({"done", "failed", "cancelled", "skipped"})
_RUN_ENDS = frozenset({"done", "failed", "cancelled"})

_INSTRUMENTED: list[Tracer] = []


def _ns(offset: float, monotonic: float) -> int:
    return int((monotonic + offset) * 1e9)


class RunTracer:
    """A run subscriber that turns a run's events into spans (on the run's thread)."""

    def __init__(self, run: Any, tracer: Tracer) -> None:
        self.run = run
        self.tracer = tracer
        self.offset = time.time() - time.monotonic()
        self.root: Span | None = None
        self.spans: dict[str, Span] = {}

    def __call__(self, event: Event) -> None:
        if event.node_id is None:
            self._run_event(event)
        else:
            self._node_event(event)

    def _run_event(self, event: Event) -> None:
        new = getattr(event.new, "value", str(event.new))
        if self.root is None:
            self.root = self.tracer.start_span(
                f"taskbeam run {self.run.name}",
                kind=SpanKind.INTERNAL,
                start_time=_ns(self.offset, event.time),
                attributes={"taskbeam.run.id": self.run.id, "taskbeam.run.name": self.run.name},
            )
        if new in _RUN_ENDS:
            root = self.root
            root.set_attribute("taskbeam.run.status", new)
            if new == "failed":
                root.set_status(Status(StatusCode.ERROR, "a node failed"))
            for span in self.spans.values():  # nodes never closed (should not happen)
                span.end(end_time=_ns(self.offset, event.time))
            self.spans.clear()
            root.end(end_time=_ns(self.offset, event.time))

    def _node_event(self, event: Event) -> None:
        node_id = event.node_id
        assert node_id is not None
        old = None if event.old is None else str(getattr(event.old, "value", event.old))
        new = str(getattr(event.new, "value", event.new))
        at = _ns(self.offset, event.time)
        span = self.spans.get(node_id)
        if new == "running" and span is None:
            summary = self.run.summary_here(node_id) or {}
            parent_id = summary.get("parent")
            parent = self.spans.get(parent_id) if parent_id else None
            parent = parent or self.root
            context = trace.set_span_in_context(parent) if parent is not None else None
            attributes: dict[str, Any] = {
                "taskbeam.node.id": node_id,
                "taskbeam.run.id": self.run.id,
            }
            if parent_id:
                attributes["taskbeam.node.parent"] = parent_id
            if summary.get("tags"):
                attributes["taskbeam.node.tags"] = list(summary["tags"])
            self.spans[node_id] = self.tracer.start_span(
                summary.get("label") or node_id,
                context=context,
                kind=SpanKind.INTERNAL,
                start_time=at,
                attributes=attributes,
            )
            return
        if span is None:
            return  # a node that never started (skipped, cancelled while pending)
        if new == "retrying":
            summary = self.run.summary_here(node_id) or {}
            error = summary.get("error") or {}
            span.add_event(
                "taskbeam.retry",
                {
                    "attempt": event.attempt,
                    "error.type": str(error.get("type", "")),
                    "error.message": str(error.get("message", "")),
                },
                timestamp=at,
            )
        elif new == "waiting":
            summary = self.run.summary_here(node_id) or {}
            question = summary.get("question") or {}
            span.add_event(
                "taskbeam.question",
                {
                    "question.id": str(question.get("id", "")),
                    "question.prompt": str(question.get("prompt", "")),
                },
                timestamp=at,
            )
        elif old == "waiting" and new == "running":
            span.add_event("taskbeam.answered", timestamp=at)
        elif new in _TERMINAL:
            self._end(node_id, span, at)

    def _end(self, node_id: str, span: Span, at: int) -> None:
        summary = self.run.summary_here(node_id) or {}
        status = summary.get("status", "")
        span.set_attribute("taskbeam.node.status", status)
        span.set_attribute("taskbeam.node.attempt", int(summary.get("attempt", 0)))
        metrics = summary.get("metrics")
        if isinstance(metrics, Mapping):
            for name, value in metrics.items():
                for key, attr in metric_attributes(str(name), value).items():
                    span.set_attribute(key, attr)
        if status == "failed":
            error = summary.get("error") or {}
            span.set_status(
                Status(StatusCode.ERROR, f"{error.get('type', '')}: {error.get('message', '')}")
            )
        del self.spans[node_id]
        span.end(end_time=at)


def metric_attributes(name: str, value: Any) -> dict[str, Any]:
    """The span attributes of one metric (its own name, and the GenAI one if it has one)."""
    if isinstance(value, Mapping):  # a roll-up record: take its value
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return {}
    out: dict[str, Any] = {f"taskbeam.metric.{name}": value}
    genai = GENAI_NAMES.get(name)
    if genai is not None and isinstance(value, (int, float)):
        out[genai] = int(value)
    return out


def _hook(run: Any, options: Any) -> Callable[[Event], None] | None:
    tracer = getattr(options, "tracer", None)
    if tracer is None and _INSTRUMENTED:
        tracer = _INSTRUMENTED[-1]
    if tracer is None:
        return None
    return RunTracer(run, tracer)


def instrument(tracer_provider: Any = None) -> Callable[[], None]:
    """Emit every run started from now on as spans (a run's own ``tracer=`` wins).

    ``tracer_provider``: default the global one (``trace.get_tracer_provider()``).
    Returns a function that undoes it (as :func:`uninstrument` does).
    """
    from taskbeam._version import __version__

    tracer = trace.get_tracer("taskbeam", __version__, tracer_provider=tracer_provider)
    _INSTRUMENTED.append(tracer)

    def undo() -> None:
        if tracer in _INSTRUMENTED:
            _INSTRUMENTED.remove(tracer)

    return undo


def uninstrument() -> None:
    """Stop emitting runs started from now on (a run's own ``tracer=`` still works)."""
    _INSTRUMENTED.clear()


add_start_hook(_hook)
