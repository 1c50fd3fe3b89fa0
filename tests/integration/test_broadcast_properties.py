"""Property: whatever the changes, speeds and lost frames, clients end equal to the run."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import taskbeam as tb
from taskbeam.testing import MemorySubscriber


class FakeRun:
    """Just enough of a Run for a broadcaster room: a snapshot that tests change."""

    id = "fake-run"

    def __init__(self, n: int) -> None:
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {
            "run": {"id": self.id, "status": "running", "counts": {"pending": n}},
            "nodes": {f"n{i}": {"status": "pending"} for i in range(n)},
            "edges": [],
        }
        self.callback: Callable[[tb.Event], None] | None = None
        self.seq = 0

    def watch(self, callback: Callable[[tb.Event], None]) -> tuple[dict[str, Any], Any]:
        with self.lock:
            self.callback = callback
            return copy.deepcopy(self.state), lambda: None

    def summaries(
        self, ids: list[str], edges: bool = False
    ) -> tuple[dict[str, Any], dict[str, Any], list[Any] | None]:
        with self.lock:
            nodes = {
                i: copy.deepcopy(self.state["nodes"][i]) for i in ids if i in self.state["nodes"]
            }
            return (
                copy.deepcopy(self.state["run"]),
                nodes,
                copy.deepcopy(self.state["edges"]) if edges else None,
            )

    def change(self, node: str, update: dict[str, Any], created: bool = False) -> None:
        with self.lock:
            summary = self.state["nodes"].setdefault(node, {"status": "pending"})
            for key, value in update.items():
                if value is None:
                    summary.pop(key, None)
                else:
                    summary[key] = value
            if created:
                self.state["edges"].append(["n0", node])
            counts = self.state["run"]["counts"]
            counts[summary["status"]] = counts.get(summary["status"], 0) + 1
            self.seq += 1
            status = summary["status"]
        assert self.callback is not None
        self.callback(tb.Event(self.id, self.seq, node, None if created else "x", status, 0, 0.0))


STATUSES = ["pending", "ready", "running", "done", "failed", "retrying"]
update = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(STATUSES),
        "attempt": st.integers(1, 4),
        "preview": st.text(max_size=40),
        "error": st.none()
        | st.fixed_dictionaries({"type": st.text(max_size=5), "message": st.text(max_size=30)}),
        "tags": st.lists(st.sampled_from(["llm", "io"]), max_size=2),
    },
)
step = st.one_of(
    st.tuples(st.just("change"), st.integers(0, 7), update),
    st.tuples(st.just("add"), st.integers(8, 30), update),
    st.tuples(st.just("receive"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("drop"), st.integers(0, 2), st.just(1)),
    st.tuples(st.just("flush"), st.just(0), st.just(0)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(step, max_size=60),
    capacities=st.tuples(*[st.sampled_from([None, 1, 2, 5])] * 3),
    compress=st.booleans(),
)
def test_clients_end_equal_to_the_final_state(
    steps: list[tuple[str, int, Any]], capacities: tuple[int | None, ...], compress: bool
) -> None:
    run = FakeRun(8)
    threshold = 0 if compress else 10**9
    with tb.Broadcaster(max_delay_ms=1, compress_min_bytes=threshold, max_fps=1000) as b:
        room = b.attach(run)  # type: ignore[arg-type]
        clients = [MemorySubscriber(capacity=c).join(b, room) for c in capacities]
        for kind, a, c in steps:
            if kind == "change":
                run.change(f"n{a}", c)
            elif kind == "add":
                run.change(
                    f"n{a}", {"status": "pending", **c}, created=f"n{a}" not in run.state["nodes"]
                )
            elif kind == "receive":
                clients[a].receive(limit=c)
            elif kind == "drop":
                clients[a].receive(limit=1, drop=1)  # a lost frame: the next one shows a gap
            else:
                b.flush_all()
        for _ in range(20):
            b.flush_all()
            if not sum(client.receive() for client in clients):
                break
    for client in clients:
        assert client.state == run.state
