"""Chrome trace event JSON (the Trace Event Format) checked against its documented fields."""

from __future__ import annotations

import itertools
import json
from typing import Any

from taskbeam.engine._trace import trace_events

# The fields the Trace Event Format documents per phase (Trace Event Format,
# "Event Descriptions"): every event has name, ph, pid, tid; X needs ts and
# dur (microseconds); C needs ts and numeric args; M names a process or thread.
NUMBER = (int, float)


def check_event(e: dict[str, Any]) -> None:
    assert isinstance(e["name"], str) and e["name"]
    assert e["ph"] in {"X", "C", "M"}
    assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
    if "cat" in e:
        assert isinstance(e["cat"], str)
    if "args" in e:
        assert isinstance(e["args"], dict)
    if e["ph"] == "X":
        assert isinstance(e["ts"], NUMBER) and e["ts"] >= 0
        assert isinstance(e["dur"], NUMBER) and e["dur"] >= 0
    elif e["ph"] == "C":
        assert isinstance(e["ts"], NUMBER)
        assert e["args"] and all(isinstance(v, NUMBER) for v in e["args"].values())
    else:
        assert e["name"] in {
            "process_name",
            "thread_name",
            "process_sort_index",
            "thread_sort_index",
        }
        if e["name"].endswith("_name"):
            assert isinstance(e["args"]["name"], str)
        else:
            assert isinstance(e["args"]["sort_index"], int)


def row(
    node_id: str, attempts: list[tuple[float, float | None, str]], **more: Any
) -> dict[str, Any]:
    status = attempts[-1][2] if attempts else "pending"
    return {
        "id": node_id,
        "parent": more.get("parent"),
        "tags": more.get("tags", []),
        "function": "f",
        "status": status,
        "start": attempts[0][0] if attempts else None,
        "end": attempts[-1][1] if attempts else None,
        "attempts": [{"start": s, "end": e, "outcome": o} for s, e, o in attempts],
        "waits": [{"start": s, "end": e} for s, e in more.get("waits", [])],
        **({"metrics": more["metrics"]} if "metrics" in more else {}),
    }


ROWS = [
    row("a", [(0.0, 0.5, "failed"), (0.6, 1.0, "done")], metrics={"tokens_in": 10, "cost": 0.5}),
    row("b", [(0.1, 0.9, "done")], waits=[(0.2, 0.4)], metrics={"tokens_in": 5}),
    row("c", [(0.2, None, "running")], waits=[(0.3, None)]),
    row("d", []),
    row("p", [(0.0, 2.0, "done")]),
    row("p/x", [(0.1, 1.9, "done")], parent="p", tags=["llm"]),
]


def test_every_event_has_the_documented_fields_and_survives_json() -> None:
    trace = json.loads(json.dumps(trace_events(ROWS, {"id": "r-1", "name": "r", "ended": 2.5})))
    assert trace["displayTimeUnit"] == "ms"
    for event in trace["traceEvents"]:
        check_event(event)


def test_attempts_waits_and_counters() -> None:
    events = trace_events(ROWS, {"id": "r-1", "name": "r"})["traceEvents"]
    nodes = [e for e in events if e["ph"] == "X" and e["cat"] == "node"]
    assert [e["args"]["outcome"] for e in nodes if e["args"]["id"] == "a"] == ["failed", "done"]
    assert {e["args"]["id"] for e in nodes} == {"a", "b", "c", "p", "p/x"}  # d never ran
    (open_c,) = [e for e in nodes if e["args"]["id"] == "c"]
    assert open_c["args"]["open"] is True and open_c["ts"] + open_c["dur"] == 2_000_000
    waits = [e for e in events if e["ph"] == "X" and e["cat"] == "waiting"]
    assert len(waits) == 2
    (b,) = [e for e in nodes if e["args"]["id"] == "b"]
    (wait_b,) = [e for e in waits if e["args"]["id"] == "b"]
    assert (
        wait_b["tid"] == b["tid"]
        and b["ts"] <= wait_b["ts"] <= wait_b["ts"] + wait_b["dur"] <= b["ts"] + b["dur"]
    )
    counters = [e for e in events if e["ph"] == "C"]
    tokens = [e["args"]["tokens_in"] for e in counters if e["name"] == "tokens_in"]
    assert tokens == [5.0, 15.0]  # b ends first, then a: running totals
    assert [e["args"]["cost"] for e in counters if e["name"] == "cost"] == [0.5]
    # Concurrent attempts never share a thread.
    by_tid: dict[int, list[dict[str, Any]]] = {}
    for e in nodes:
        by_tid.setdefault(e["tid"], []).append(e)
    for group in by_tid.values():
        group.sort(key=lambda e: e["ts"])
        for x, y in itertools.pairwise(group):
            assert x["ts"] + x["dur"] <= y["ts"]
