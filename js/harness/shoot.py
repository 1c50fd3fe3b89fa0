"""Look at the built view in headless Chromium: screenshots and timings.

Serves js/ (and the bundle, under /bundle/) on 127.0.0.1, opens the harness
page with synthetic runs of 1,000, 10,000 and 100,000 nodes, and

* writes screenshots to test-artifacts/harness-*.png (light and dark);
* prints the time from render to the first frame for each size;
* streams 20 batches a second of 2,000 status changes each into the
  10,000-node view and prints frame times and latency;
* checks that the view ends up agreeing with the fake kernel.

Run it after ``npm run build`` with the project's venv:

    .venv/bin/python js/harness/shoot.py
"""

from __future__ import annotations

import functools
import http.server
import json
import math
import sys
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

JS = Path(__file__).resolve().parents[1]
ROOT = JS.parent
BUNDLE = ROOT / "src" / "taskbeam" / "widget" / "static"
ARTIFACTS = ROOT / "test-artifacts"

sys.path.insert(0, str(ROOT))  # the browser settings are the end-to-end tests'
from tests.e2e._lab import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

VIEWPORT = {"width": 1240, "height": 720}


class Handler(http.server.SimpleHTTPRequestHandler):
    """js/ as the site root, the built bundle under /bundle/."""

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean.startswith("/bundle/"):
            return str(BUNDLE / clean.removeprefix("/bundle/"))
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # one line per request would bury the measurements this script prints


def serve() -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(Handler, directory=str(JS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}"


def open_harness(page: Page, base: str, **params: Any) -> float:
    """Open the harness and return the render-to-first-frame time (ms)."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/harness/index.html?{query}")
    page.wait_for_function("window.harness !== undefined", timeout=60_000)
    ms = float(page.evaluate("window.harness.firstPaint"))
    page.wait_for_timeout(150)
    if errors:
        raise RuntimeError(f"errors on the page: {errors}")
    return ms


def shot(page: Page, name: str) -> Path:
    path = ARTIFACTS / f"harness-{name}.png"
    page.locator(".taskbeam-view").screenshot(path=str(path))
    return path


def hook(page: Page, expression: str, arg: Any = None) -> Any:
    return page.evaluate(
        f"(arg) => {{ const root = document.querySelector('.taskbeam-view');"
        f" const tb = root.taskbeam; return ({expression}); }}",
        arg,
    )


def zoom(page: Page, factor: float) -> None:
    """Zoom by about ``factor`` around the canvas's centre, with the mouse wheel."""
    box = page.locator(".taskbeam-view canvas").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    steps = round(math.log(factor) / (100 * 0.0018))
    for _ in range(steps):
        page.mouse.wheel(0, -100)
    page.wait_for_timeout(200)


def first_expanded(page: Page) -> str:
    return str(
        hook(
            page,
            "Object.entries(tb.state().nodes).find(([id, n]) => "
            "Object.values(tb.state().nodes).some(c => c.parent === id))[0]",
        )
    )


def main() -> int:
    ARTIFACTS.mkdir(exist_ok=True)
    if not (BUNDLE / "widget.js").is_file():
        print(f"no bundle at {BUNDLE}: run `npm run build` in js/ first", file=sys.stderr)
        return 1
    server, base = serve()
    results: dict[str, Any] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for theme in ("light", "dark"):
                page = browser.new_page(viewport=VIEWPORT)
                ms = open_harness(page, base, n=1000, theme=theme)
                results[f"first_render_ms_1k_{theme}"] = round(ms, 1)
                shot(page, f"1k-{theme}")
                # Half-way zoomed in: cards with labels at their smallest size.
                zoom(page, 3.4)
                shot(page, f"1k-mid-{theme}")
                hook(page, "tb.fit()")
                # Zoomed in on an expanded node: labels, nested boxes.
                parent = first_expanded(page)
                page.fill(".tb-search", parent)
                page.press(".tb-search", "Enter")
                page.wait_for_timeout(300)
                shot(page, f"1k-nested-{theme}")
                # Click a failed node (if any) through the hook's coordinates: the details panel.
                failed = hook(
                    page,
                    "Object.keys(tb.state().nodes).find(id => tb.state().nodes[id].status === 'failed')",
                )
                target = failed or hook(page, "Object.keys(tb.state().nodes)[5]")
                center = hook(page, "tb.nodeCenter(arg)", target)
                page.mouse.click(center["x"], center["y"])
                page.wait_for_function(
                    "(id) => { const d = document.querySelector('.tb-details');"
                    " return d && !d.hidden && d.innerText.includes(id)"
                    " && !d.innerText.includes('Loading'); }",
                    arg=target,
                    timeout=5000,
                )
                results[f"details_{theme}"] = page.locator(".tb-details").inner_text()[:80]
                page.wait_for_timeout(100)
                shot(page, f"1k-details-{theme}")
                # Collapse the expanded node by a click on its header's arrow.
                page.keyboard.press("Escape")
                hook(page, "tb.select(null)")
                point = hook(page, "tb.nodeCenter(arg)", parent)
                box = page.locator(".taskbeam-view canvas").bounding_box()
                assert box is not None
                page.mouse.click(point["x"] - 60, point["y"])  # the arrow, left of the title
                page.wait_for_timeout(200)
                results[f"collapsed_{theme}"] = hook(
                    page, "tb.layouts > 1 && tb.nodeClass(arg) !== null", parent
                )
                shot(page, f"1k-collapsed-{theme}")
                page.close()

            # Theme switch at run time: the canvas re-reads its colours.
            page = browser.new_page(viewport=VIEWPORT)
            open_harness(page, base, n=1000, theme="light")
            page.evaluate("window.harness.setTheme('dark')")
            page.wait_for_timeout(500)
            shot(page, "1k-switched-to-dark")
            page.close()

            # 10,000 nodes: first render, then 20 batches/s × 2,000 changes.
            page = browser.new_page(viewport=VIEWPORT)
            results["first_render_ms_10k"] = round(open_harness(page, base, n=10000), 1)
            results["layout_ms_10k"] = round(hook(page, "tb.layoutMs"), 1)
            results["mode_10k"] = hook(page, "tb.mode")
            shot(page, "10k-light")
            results["stream_10k"] = page.evaluate("window.harness.stream(20, 2000, 5)")
            results["agrees_10k"] = page.evaluate("window.harness.agrees()")
            shot(page, "10k-after-stream")
            page.close()

            page = browser.new_page(viewport=VIEWPORT)
            open_harness(page, base, n=10000, theme="dark")
            shot(page, "10k-dark")
            page.close()

            # 100,000 nodes: overview.
            for theme in ("light", "dark"):
                page = browser.new_page(viewport=VIEWPORT)
                ms = open_harness(page, base, n=100000, theme=theme)
                if theme == "light":
                    results["first_render_ms_100k"] = round(ms, 1)
                    results["layout_ms_100k"] = round(hook(page, "tb.layoutMs"), 1)
                    results["mode_100k"] = hook(page, "tb.mode")
                    results["stream_100k"] = page.evaluate("window.harness.stream(20, 2000, 3)")
                    results["agrees_100k"] = page.evaluate("window.harness.agrees()")
                shot(page, f"100k-{theme}")
                page.close()

            # A small agent run with a wide fan-out of nested researchers, at the
            # width of a notebook's output area and the widget's default height.
            page = browser.new_page(viewport={"width": 1000, "height": 600})
            open_harness(page, base, n=9, shape="agent", height=420)
            shot(page, "agent")
            page.close()
            page = browser.new_page(viewport={"width": 1000, "height": 600})
            open_harness(page, base, n=24, shape="agent", height=420, theme="dark")
            shot(page, "agent-wide-dark")
            page.close()

            page = browser.new_page(viewport={"width": 1000, "height": 600})
            open_harness(page, base, n=160, shape="chains", height=420)
            shot(page, "chains")
            page.close()

            # Service mode: the run selector, and a switch.
            page = browser.new_page(viewport=VIEWPORT)
            open_harness(page, base, n=300, service=1)
            page.wait_for_function(
                "document.querySelector('.tb-runs').options.length >= 3", timeout=5000
            )
            options = page.eval_on_selector_all(".tb-runs option", "os => os.map(o => o.value)")
            page.select_option(".tb-runs", options[0])
            page.wait_for_function(
                "(id) => document.querySelector('.taskbeam-view').taskbeam.state()?.run.id === id",
                arg=options[0],
                timeout=5000,
            )
            results["service_runs"] = options
            shot(page, "service")
            page.close()
            browser.close()
    finally:
        server.shutdown()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
