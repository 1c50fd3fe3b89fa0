"""Big and hostile results: previews bounded in time and memory, costing no one else."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.adversarial._hostile_engine import python

import taskbeam as tb
from taskbeam.engine._preview import preview, previews_of

BIG = """
    import json, threading, time
    import taskbeam as tb
    from taskbeam.broadcast import Broadcaster

    def peak_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024

    stop = threading.Event()
    def tick():
        stop.wait(0.01)
    ticker = tb.Graph("ticker")
    for i in range(2000):
        ticker.add(f"t{i}", tick)
    big = tb.Graph("big")
    big.add("blob", lambda: b"x" * (500 * 1024 * 1024))
    store = tb.SQLiteStore("runs.db")
    frames = []
    with Broadcaster() as b:
        base = peak_mb()
        run = tb.start(big, store=store).wait(60)
        other = tb.start(ticker, max_concurrency=1)
        b.attach(other)
        b.attach(run)
        b.subscribe(other.id, lambda message, buffers: frames.append(time.monotonic()))
        b.subscribe(run.id, lambda message, buffers: None)
        deadline = time.monotonic() + 10
        while len(frames) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        answer = b.request(run.id, {"type": "node_details", "node_id": "blob"})
        snap = run.snapshot()
        asked = time.monotonic() - t0
        mark = len(frames)
        while len(frames) < mark + 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        seen = [t for t in frames if t >= t0 - 0.2]
        gap = max(b - a for a, b in zip(seen, seen[1:]))
        stop.set()
        other.cancel(); other.wait(10)
    print(json.dumps({
        "base_mb": base, "peak_mb": peak_mb(), "asked_s": asked, "gap_s": gap,
        "detail": answer["details"]["result"][:40],
        "preview": snap["nodes"]["blob"]["preview"][:40],
        "status": run.status.value,
    }))
"""


def test_a_500_mb_result_costs_no_client_and_little_memory(tmp_path: Path) -> None:
    proc, _ = python(BIG, tmp_path, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == "done"
    assert out["detail"].startswith("b'xxxx")
    assert out["preview"].startswith("b'xxxx")
    assert out["asked_s"] < 0.2, out  # details and snapshot: no full repr anywhere
    assert out["gap_s"] < 0.5, out  # the other client's longest frame gap (was 1.38 s at 100 MB)
    # The value itself is 500 MB; a full repr (4 characters a byte) was +2 GB more.
    assert out["peak_mb"] - out["base_mb"] < 600, out


def test_hostile_values_preview_quickly_and_briefly() -> None:
    class Slow:
        def __repr__(self) -> str:
            time.sleep(5)
            return "slow"

    class Huge:
        def __repr__(self) -> str:
            return "h" * 10_000_000

    class Raises:
        def __repr__(self) -> str:
            raise KeyboardInterrupt

    nested: list[object] = []
    for _ in range(10_000):
        nested = [nested]
    cyclic: list[object] = []
    cyclic.append(cyclic)
    values = [
        b"x" * 50_000_000,
        "s" * 50_000_000,
        bytearray(10_000_000),
        10**20000,
        {i: i for i in range(1_000_000)},
        set(range(1_000_000)),
        nested,
        cyclic,
        Slow(),
        Huge(),
        Raises(),
        [Slow()],
    ]
    for value in values:
        t0 = time.perf_counter()
        short = preview(value)
        assert time.perf_counter() - t0 < 0.05, type(value)
        assert len(short) <= 120
        t0 = time.perf_counter()
        made = previews_of(value)
        assert time.perf_counter() - t0 < 1.5, type(value)
        assert len(made.preview) <= 120
        assert made.detail is None or len(made.detail) <= 4000


def test_a_slow_repr_of_an_async_result_does_not_stall_the_run() -> None:
    class Slow:
        def __repr__(self) -> str:
            time.sleep(3)
            return "slow"

    async def slow_result() -> Slow:
        return Slow()

    g = tb.Graph("slow-repr")
    g.add("slow", slow_result)
    for i in range(50):
        g.add(f"n{i}", lambda: 1)
    t0 = time.monotonic()
    run = tb.start(g)
    snap = run.snapshot()  # the run's thread answers at once
    assert time.monotonic() - t0 < 0.5
    run.wait(10)
    assert time.monotonic() - t0 < 2.5  # the preview gave up after 1 s
    node = run.snapshot()["nodes"]["slow"]
    assert node["status"] == "done"
    assert "longer than 1 s" in node["preview"]
    assert snap["run"]["id"] == run.id


def test_a_slow_repr_of_a_sync_result_is_given_up_after_one_second() -> None:
    class Slow:
        def __repr__(self) -> str:
            time.sleep(3)
            return "slow"

    g = tb.Graph("slow-sync-repr")
    g.add("slow", Slow)
    g.add("after", lambda slow: "went on", deps=["slow"])
    t0 = time.monotonic()
    run = tb.start(g).wait(10)
    assert time.monotonic() - t0 < 2.5
    assert run.result("after") == "went on"
    assert "longer than 1 s" in run.snapshot()["nodes"]["slow"]["preview"]
    assert "longer than 1 s" in run.details("slow")["result"]


def test_a_dataclass_holding_a_huge_field_previews_without_its_repr() -> None:
    import dataclasses

    @dataclasses.dataclass
    class Holder:
        name: str
        blob: bytes

    g = tb.Graph("holder")
    g.add("h", lambda: Holder("big", b"z" * 200_000_000))
    run = tb.start(g).wait(30)
    node = run.snapshot()["nodes"]["h"]
    assert "Holder(name='big', blob=b'zzz" in node["preview"]  # as the dataclass's own repr
    assert len(node["preview"]) <= 120
    assert len(run.details("h")["result"]) <= 4000


def test_details_of_a_result_with_a_huge_repr_are_bounded() -> None:
    class Huge:
        def __repr__(self) -> str:
            return "h" * 20_000_000

    g = tb.Graph("huge-repr")
    g.add("h", Huge)
    run = tb.start(g).wait(10)
    assert len(run.snapshot()["nodes"]["h"]["preview"]) <= 120
    t0 = time.monotonic()
    details = run.details("h")
    assert time.monotonic() - t0 < 0.05  # made once, with the result
    assert len(details["result"]) <= 4000
