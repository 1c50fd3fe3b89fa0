"""Entry point of ``make bench``: run the benchmarks, write ``bench/RESULTS.md``.

    python bench/run.py            # full run: N = 1,000 / 10,000 / 100,000
    python bench/run.py --quick    # smoke test: N = 1,000 / 10,000, fewer repeats

The live view's benchmarks (``widget.py``, ``question_clicks.py``) need the
built front end and ``/usr/bin/chromium`` (``make bench`` provides both).

Raw samples go to ``bench/_out/results.json`` (not committed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import broadcast
import cache
import dask_get
import engine
import metrics
import output
import persist
import question_clicks
import questions
import scale
import server
import timeline
import widget

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run the taskbeam benchmarks.")
    p.add_argument("--quick", action="store_true", help="N = 1,000 and 10,000, fewer repeats")
    p.add_argument(
        "--output",
        type=Path,
        default=HERE / "RESULTS.md",
        help="where to write the report (default: bench/RESULTS.md)",
    )
    args = p.parse_args(argv)
    results = engine.main(["--quick"] if args.quick else [])
    stored = persist.run_benchmark(quick=args.quick)
    bursts = broadcast.run_benchmark(quick=args.quick)
    views = widget.run_benchmark(quick=args.quick)
    served = server.run_benchmark(quick=args.quick)
    scaled = scale.run_benchmark(quick=args.quick)
    asked = questions.run_benchmark(quick=args.quick)
    clicked = question_clicks.run_benchmark(quick=args.quick)
    metered = metrics.run_benchmark(quick=args.quick)
    lined = timeline.run_benchmark(quick=args.quick)
    printed = output.run_benchmark(quick=args.quick)
    cached = cache.run_benchmark(quick=args.quick)
    dasked = dask_get.run_benchmark(quick=args.quick)
    report = "\n".join(
        [
            engine.render(results),
            persist.render(stored),
            broadcast.render(bursts),
            widget.render(views),
            server.render(served),
            scale.render(scaled),
            questions.render(asked),
            question_clicks.render(clicked),
            metrics.render(metered),
            timeline.render(lined),
            output.render(printed),
            cache.render(cached),
            dask_get.render(dasked),
        ]
    )
    args.output.write_text(report, encoding="utf-8")
    raw = HERE / "_out" / "results.json"
    raw.parent.mkdir(exist_ok=True)
    data = {
        "engine": engine.to_json(results),
        "persist": persist.to_json(stored),
        "broadcast": [vars(b) for b in bursts],
        "widget": widget.to_json(views),
        "timeline": timeline.to_json(lined),
        "server": server.to_json(served),
        "scale": scale.to_json(scaled),
        "questions": questions.to_json(asked),
        "question_clicks": question_clicks.to_json(clicked),
        "metrics": metrics.to_json(metered),
        "output": output.to_json(printed),
        "cache": cache.to_json(cached),
        "dask_get": dask_get.to_json(dasked),
    }
    raw.write_text(json.dumps(data, indent=1), encoding="utf-8")
    print(report)
    print(f"wrote {args.output} and {raw}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
