"""The server's web page in headless Chromium, against a real server.

uvicorn on 127.0.0.1 (port 0) in a thread; Debian's Chromium driven by
playwright. Runs are started and controlled from the page, as a person
would, and what the page shows (the view's test hook, ``root.taskbeam``)
is compared with the run's state from REST. Screenshots go to
test-artifacts/server-*.png.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e._lab import CHROMIUM, CHROMIUM_ARGS, poll
from tests.integration._server import registry, running, wait_status

import taskbeam as tb
from taskbeam.server import Server
from taskbeam.server._app import STATIC, create_app
from taskbeam.server._command import research

playwright = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
VIEWPORT = {"width": 1360, "height": 820}
ENDED = {"done", "failed", "cancelled"}
VIEW = ".tbp-view .taskbeam-view"
# What the view shows, read through its test hook.
SEEN = """() => {
  const root = document.querySelector('.tbp-view .taskbeam-view');
  const tb = root && root.taskbeam;
  if (!tb) return null;
  return {state: tb.state(), counts: tb.counts(), classes: tb.nodeClasses(),
          runStatus: root.getAttribute('data-run-status'), seq: tb.seq};
}"""


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    assert (STATIC / "page.js").is_file(), "the page is not built: cd js && npm ci && npm run build"
    graphs = registry()
    graphs.register("research", research)
    with running(registry=graphs) as (srv, _):
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), f"these tests need Chromium at {CHROMIUM}"
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A browser page on the server, with what the tests ask of it."""

    def __init__(self, browser: Any, color_scheme: str = "light") -> None:
        self.context = browser.new_context(viewport=VIEWPORT, color_scheme=color_scheme)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}")
        )

    def close(self) -> None:
        self.context.close()

    def wait(self, predicate: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        return poll(predicate, timeout, what, detail=lambda: f"page errors {self.errors}")

    def seen(self) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.page.evaluate(SEEN)
        return result

    def start(self, graph: str, params: dict[str, Any]) -> str:
        """Start a run with the page's form; the id of the project it then shows."""
        page = self.page
        before = page.evaluate("window.taskbeamPage.selected()")
        page.select_option("#tbp-graph", graph)
        page.fill("#tbp-params", json.dumps(params))
        page.click(".tbp-start button[type=submit]")
        selected: str = self.wait(
            lambda: (s := page.evaluate("window.taskbeamPage.selected()")) != before and s,
            "the new project to be selected",
        )
        return selected

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"server-{name}.png"))


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Page]:
    p = Page(browser)
    p.page.goto(server.link)
    p.page.wait_for_selector("#tbp-graph option", state="attached")
    yield p
    errors = p.errors
    p.close()
    assert errors == [], errors


def differences(seen: dict[str, Any] | None, snapshot: dict[str, Any]) -> list[str]:
    """How what the page shows differs from the run's state (empty: it agrees)."""
    if seen is None:
        return ["no view"]
    out = []
    nonzero = {k: v for k, v in snapshot["run"]["counts"].items() if v}
    if {k: v for k, v in seen["counts"].items() if v} != nonzero:
        out.append(f"counts(): {seen['counts']} != {nonzero}")
    if seen["runStatus"] != snapshot["run"]["status"]:
        out.append(f"data-run-status {seen['runStatus']} != {snapshot['run']['status']}")
    classes = {i: f"tb-status-{n['status']}" for i, n in snapshot["nodes"].items()}
    if seen["classes"] != classes:
        wrong = [i for i in classes if seen["classes"].get(i) != classes[i]]
        out.append(f"nodeClasses(): {len(wrong)} of {len(classes)} differ, e.g. {wrong[:5]}")
    if seen["state"] != snapshot:
        out.append("state() is not the REST snapshot")
    return out


def rest_snapshot(api: httpx.Client, project_id: str) -> dict[str, Any]:
    snapshot: dict[str, Any] = api.get(f"/api/projects/{project_id}", params={"full": 1}).json()[
        "snapshot"
    ]
    return snapshot


def agrees_at_end(page: Page, api: httpx.Client, project_id: str) -> dict[str, Any]:
    """Wait for the run's end; then until the page shows exactly its state."""
    wait_status(api, project_id, ENDED)
    snapshot = rest_snapshot(api, project_id)
    found: list[str] = []

    def same() -> bool:
        found[:] = differences(page.seen(), snapshot)
        return not found

    page.wait(same, f"the page to show the final state ({found})", timeout=20)
    return snapshot


def toolbar_button(page: Page, label: str) -> Any:
    return page.page.locator(f"{VIEW} .tb-toolbar button", has_text=label)


def test_the_token_leaves_the_address_bar(page: Page, server: Server) -> None:
    assert "token" not in page.page.url
    graphs = page.page.eval_on_selector_all("#tbp-graph option", "os => os.map(o => o.value)")
    assert set(graphs) >= {"research", "slow", "tiny"}


def test_a_run_started_from_the_page_is_shown_to_its_end(page: Page, api: httpx.Client) -> None:
    project_id = page.start("research", {"depth": 3, "breadth": 3, "delay": 0.15})
    page.page.wait_for_selector(VIEW)
    page.wait(lambda: (page.seen() or {}).get("runStatus") == "running", "the view to show the run")
    page.shot("running")
    snapshot = agrees_at_end(page, api, project_id)
    assert snapshot["run"]["status"] == "done"
    assert len(snapshot["nodes"]) > 40  # the expansions are in the view too
    item = page.page.locator(f'.tbp-project[data-id="{project_id}"]')
    page.wait(lambda: item.get_attribute("data-status") == "done", "the list to say done")
    assert item.get_attribute("aria-current") == "true"
    assert page.page.inner_text(".tbp-live") == "Live"
    page.shot("done")


def test_pause_resume_details_and_cancel_from_the_page(page: Page, api: httpx.Client) -> None:
    project_id = page.start("slow", {"n": 300, "delay": 0.05})  # 15 s unless cancelled
    page.page.wait_for_selector(VIEW)
    page.wait(lambda: (page.seen() or {}).get("counts", {}).get("done", 0) >= 3, "some done")

    toolbar_button(page, "Pause").click()
    wait_status(api, project_id, {"paused"}, timeout=10)
    page.wait(lambda: (page.seen() or {}).get("runStatus") == "paused", "the view to say paused")
    frozen = rest_snapshot(api, project_id)["run"]["counts"]["done"]
    time.sleep(0.5)
    assert rest_snapshot(api, project_id)["run"]["counts"]["done"] == frozen
    page.wait(
        lambda: (
            page.page.get_attribute(f'.tbp-project[data-id="{project_id}"]', "data-status")
            == "paused"
        ),
        "the list to say paused",
    )
    page.shot("paused")

    toolbar_button(page, "Resume").click()
    wait_status(api, project_id, {"running"}, timeout=10)
    page.wait(
        lambda: (page.seen() or {}).get("counts", {}).get("done", 0) > frozen + 2,
        "nodes to finish again after resume",
    )

    # A click on a finished node opens its details, answered over Socket.IO.
    center = page.page.evaluate(
        "() => document.querySelector('.tbp-view .taskbeam-view').taskbeam.nodeCenter('s0001')"
    )
    assert center is not None
    page.page.mouse.click(center["x"], center["y"])
    panel = page.page.locator(f"{VIEW} .tb-details")
    panel.wait_for(state="visible")
    page.wait(lambda: "Depends on (1)" in panel.inner_text(), "the details to load")
    text = panel.inner_text()
    assert "s0001" in text and "s0000" in text and "done" in text
    page.shot("details")

    toolbar_button(page, "Cancel").click()
    snapshot = agrees_at_end(page, api, project_id)
    assert snapshot["run"]["status"] == "cancelled"
    assert 0 < snapshot["run"]["counts"]["done"] < 300


def test_the_page_reconnects_and_resyncs(page: Page, api: httpx.Client) -> None:
    project_id = page.start("slow", {"n": 120, "delay": 0.03})
    page.page.wait_for_selector(VIEW)
    page.wait(lambda: (page.seen() or {}).get("counts", {}).get("done", 0) >= 5, "some done")
    page.page.evaluate("window.taskbeamPage.drop()")
    page.wait(
        lambda: page.page.evaluate("window.taskbeamPage.counts().connections") == 2,
        "a second connection",
    )
    agrees_at_end(page, api, project_id)
    counts = page.page.evaluate("window.taskbeamPage.counts()")
    assert counts["subscriptions"] == 2 and counts["dropped"] == 0
    stats = page.page.evaluate(
        "() => document.querySelector('.tbp-view .taskbeam-view').taskbeam.stats()"
    )
    assert stats["snapshots"] >= 2 and stats["decodeErrors"] == 0


def test_switching_projects_and_running_again(page: Page, api: httpx.Client) -> None:
    first = page.start("tiny", {"n": 12})
    agrees_at_end(page, api, first)
    second = page.start("nested", {"breadth": 3})
    failed = agrees_at_end(page, api, second)
    assert failed["run"]["status"] == "failed"
    page.page.click(f'.tbp-project[data-id="{first}"]')
    page.wait(lambda: page.page.evaluate("window.taskbeamPage.selected()") == first, "selection")
    old_run = agrees_at_end(page, api, first)["run"]["id"]
    page.page.click(".tbp-project-head button:has-text('Run again')")
    page.wait(lambda: rest_snapshot(api, first)["run"]["id"] != old_run, "a new run of the project")
    snapshot = agrees_at_end(page, api, first)
    assert snapshot["run"]["id"] != old_run


def test_bad_params_are_explained_in_the_form(page: Page) -> None:
    page.page.select_option("#tbp-graph", "tiny")
    page.page.fill("#tbp-params", '{"n": 0}')
    page.page.click(".tbp-start button[type=submit]")
    error = page.page.locator(".tbp-start .tbp-form-error")
    error.wait_for(state="visible")
    assert "n must be an integer from 1 to 200" in error.inner_text()
    page.page.fill("#tbp-params", "[1, 2]")
    page.page.click(".tbp-start button[type=submit]")
    page.wait(lambda: "JSON object" in error.inner_text(), "the JSON check")
    page.errors[:] = [e for e in page.errors if "status of 422" not in e]  # the browser's log


def test_the_page_asks_for_the_token(browser: Any, server: Server) -> None:
    p = Page(browser)
    try:
        p.page.goto(f"{server.url}/")
        form = p.page.locator(".tbp-token")
        form.wait_for(state="visible")
        p.page.fill("#tbp-token", "wrong")
        p.page.click(".tbp-token button[type=submit]")
        p.wait(lambda: "refused" in form.inner_text(), "the wrong token to be refused")
        p.shot("token")
        assert server.token is not None
        p.page.fill("#tbp-token", server.token)
        p.page.click(".tbp-token button[type=submit]")
        form.wait_for(state="hidden")
        p.page.wait_for_selector("#tbp-graph option", state="attached")
        # Kept for this tab: a reload needs no token.
        p.page.reload()
        p.page.wait_for_selector("#tbp-graph option", state="attached")
        assert not form.is_visible()
    finally:
        p.close()
    assert [e for e in p.errors if "401" not in e] == []


def test_dark_theme(browser: Any, server: Server, api: httpx.Client) -> None:
    created = api.post(
        "/api/projects",
        json={"graph": "research", "params": {"depth": 2, "breadth": 3, "delay": 0.05}},
    ).json()["id"]
    p = Page(browser, color_scheme="dark")
    try:
        p.page.goto(f"{server.link}#project={created}")
        p.page.wait_for_selector(VIEW)
        agrees_at_end(p, api, created)
        background = p.page.evaluate("getComputedStyle(document.body).backgroundColor")
        red, green, blue = (int(c) for c in background[4:-1].split(","))
        assert red + green + blue < 120, background
        p.shot("dark")
    finally:
        p.close()
    assert p.errors == []


def test_an_unbuilt_page_says_how_to_build_it(tmp_path: Path) -> None:
    """A source checkout before ``npm run build``: ``/`` explains, static files revalidate."""
    shutil.copy(STATIC / "index.html", tmp_path / "index.html")
    service = tb.ExecutionService()
    with tb.Broadcaster() as broadcaster:
        app = create_app(service, token="t", broadcaster=broadcaster, static_dir=tmp_path)

        async def get(path: str) -> httpx.Response:  # no lifespan: not needed here
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                return await c.get(path)

        # On a thread of its own: the browser fixture's loop may be running on this one.
        with ThreadPoolExecutor(1) as pool:
            page = pool.submit(asyncio.run, get("/")).result()
            static = pool.submit(asyncio.run, get("/static/index.html")).result()
    service.shutdown()
    assert page.status_code == 200
    assert "npm run build" in page.text and str(tmp_path) not in page.text
    assert static.status_code == 200 and static.headers["cache-control"] == "no-cache"


def test_the_page_shows_the_timeline_grouped_by_function(page: Page, api: httpx.Client) -> None:
    project_id = page.start("research", {"depth": 2, "breadth": 3, "delay": 0.05})
    page.page.wait_for_selector(VIEW)
    snapshot = agrees_at_end(page, api, project_id)
    page.page.locator(f"{VIEW} .tb-timeline-toggle").click()
    hook = f"document.querySelector('{VIEW}').taskbeam.timeline"
    page.wait(lambda: page.page.evaluate(f"{hook}.shown()"), "the timeline to show")
    page.page.evaluate(f"{hook}.flush()")
    info = page.page.evaluate(f"{hook}.info()")
    assert info["nodes"] == len(snapshot["nodes"]) and info["drawn"] > 0, info
    # Grouping by function asks the run for its function names over Socket.IO.
    page.page.select_option(f"{VIEW} .tb-timeline-group", "function")

    def grouped() -> Any:
        page.page.evaluate(f"{hook}.flush()")
        state = page.page.evaluate(f"{hook}.info()")
        return state["groupBy"] == "function" and state["lines"] > state["nodes"]

    poll(
        grouped,
        15,
        "the rows grouped by function, each group with its header",
        detail=lambda: (page.page.evaluate(f"{hook}.info()"), page.page.inner_text(VIEW)[:600]),
    )
    page.shot("timeline")
