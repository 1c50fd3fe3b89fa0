"""The timeline mode's cost in headless Chromium: render time and frame time while live.

Uses the front end's harness (js/harness: the shipped bundle fed by a fake
kernel, no Jupyter) with synthetic runs of 1,000, 10,000 and 100,000 nodes
whose nodes carry start and end times, and measures

* the render time: from switching the view to the timeline to its first
  frame drawn (rows built from the node summaries, grouped, drawn), median
  of repeated switches; past 20,000 nodes the rows aggregate by group;
* a redraw of the rows in view (what a scroll or a zoom costs);
* (screenshots of each size go to test-artifacts/timeline-<n>.png)
* while live: 20 batches a second of 2,000 status changes each stream into
  the 10,000-node view for 5 s with the timeline shown: the timeline's frame
  work (p50, p95, max) and the browser's frame intervals.

Run alone (after ``make js``)::

    .venv/bin/python bench/timeline.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "js" / "harness"))
sys.path.insert(0, str(ROOT))

from shoot import BUNDLE, hook, open_harness, serve  # noqa: E402
from tests.e2e._lab import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
VIEWPORT = {"width": 1240, "height": 720}
ARTIFACTS = ROOT / "test-artifacts"

SWITCH_JS = """() => {
  const tb = document.querySelector('.taskbeam-view').taskbeam;
  tb.setTimeline(false);
  const t = performance.now();
  tb.setTimeline(true);
  tb.timeline.flush();
  return performance.now() - t;
}"""

REDRAW_JS = """() => {
  const tb = document.querySelector('.taskbeam-view').taskbeam;
  const t = performance.now();
  tb.timeline.flush();
  return performance.now() - t;
}"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def run_benchmark(quick: bool = False) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not (BUNDLE / "widget.js").is_file():
        raise SystemExit(f"no bundle at {BUNDLE}: run `make js` first")
    repeats = 3 if quick else 7
    sizes = SIZES[:2] if quick else SIZES
    out: dict[str, Any] = {"render": {}, "live": {}}
    server, base = serve()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for n in sizes:
                log(f"timeline: {n:,} nodes")
                page = browser.new_page(viewport=VIEWPORT)
                open_harness(page, base, n=n, height=640)
                switches = [float(page.evaluate(SWITCH_JS)) for _ in range(repeats)]
                redraws = [float(page.evaluate(REDRAW_JS)) for _ in range(repeats)]
                info = hook(page, "tb.timeline.info()")
                ARTIFACTS.mkdir(exist_ok=True)
                page.locator(".taskbeam-view").screenshot(path=str(ARTIFACTS / f"timeline-{n}.png"))
                out["render"][n] = {
                    "switch_ms": switches,
                    "redraw_ms": redraws,
                    "lines": info["lines"],
                    "drawn": info["drawn"],
                    "aggregated": info["aggregated"],
                }
                page.close()
            log("timeline: live, 10,000 nodes, 20 batches/s x 2,000 changes for 5 s")
            page = browser.new_page(viewport=VIEWPORT)
            open_harness(page, base, n=10_000, height=640)
            hook(page, "tb.setTimeline(true)")
            hook(page, "tb.timeline.flush()")
            before = int(hook(page, "tb.timeline.frameTimes.length"))
            stream = page.evaluate("window.harness.stream(20, 2000, 5)")
            frames = [float(x) for x in hook(page, "tb.timeline.frameTimes")[before:]]
            out["live"] = {
                "frames": len(frames),
                "frame_ms": {
                    "p50": _quantile(frames, 0.5),
                    "p95": _quantile(frames, 0.95),
                    "max": max(frames) if frames else float("nan"),
                },
                "raf_interval_ms": stream["rafIntervalMs"],
                "batches": stream["batches"],
                "long_tasks": stream["longTasks"],
            }
            page.close()
            browser.close()
    finally:
        server.shutdown()
    return out


def render(res: dict[str, Any]) -> str:
    lines = [
        "## Timeline view",
        "",
        "The view switched to its timeline (js/harness, headless Chromium, no Jupyter): time from "
        "the switch to the first frame drawn, and a redraw of the rows in view; medians.",
        "",
        "| nodes | switch to first frame | redraw | lines | rows drawn | aggregated |",
        "|---:|---:|---:|---:|---:|:---|",
    ]
    for n, r in res["render"].items():
        lines.append(
            f"| {int(n):,} | {statistics.median(r['switch_ms']):.1f} ms | "
            f"{statistics.median(r['redraw_ms']):.1f} ms | {r['lines']:,} | {r['drawn']:,} | "
            f"{'yes (one row per group)' if r['aggregated'] else 'no'} |"
        )
    live = res.get("live") or {}
    if live:
        f, raf = live["frame_ms"], live["raf_interval_ms"]
        lines += [
            "",
            f"Live, 10,000 nodes, {live['batches']} batches (20 a second of 2,000 changes): "
            f"{live['frames']} timeline frames, frame work p50 {f['p50']:.1f} ms, p95 "
            f"{f['p95']:.1f} ms, max {f['max']:.1f} ms; browser frame interval p50 "
            f"{raf['p50']:.1f} ms, p95 {raf['p95']:.1f} ms; {live['long_tasks']} long tasks.",
        ]
    return "\n".join(lines) + "\n"


def to_json(res: dict[str, Any]) -> dict[str, Any]:
    return {"render": {str(k): v for k, v in res["render"].items()}, "live": res["live"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1,000 and 10,000 nodes, 3 repeats")
    args = p.parse_args(argv)
    res = run_benchmark(quick=args.quick)
    print(render(res))
    out = HERE / "_out"
    out.mkdir(exist_ok=True)
    (out / "timeline.json").write_text(json.dumps(to_json(res), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
