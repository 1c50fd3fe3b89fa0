"""Rerun from the server's web page, in headless Chromium against a real server.

The graph counts its executions (``fetch -> parse -> report``), so the
test sees what ran again. The page's head has *Rerun changed* (the view's
toolbar then has none: the head holds the project's actions), which goes
through the live view as the Socket.IO ``rerun`` event with the project's
id; the details panel's *Rerun from here* goes the same way. The server
moves the page's subscription to the new run, whose snapshot the view
shows: its lineage ("rerun of <short id> · n reused"), its reused nodes
drawn with their mark. The server keeps its runs in a store, so the
parent run's link opens that run by its id (frozen, from the store), where
a rerun is not offered. Screenshots go to
test-artifacts/server-rerun*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.integration._server import http, registry, start, wait_status
from tests.integration.test_server_page import VIEW, Page
from tests.integration.test_server_page import browser as browser  # the fixture
from tests.integration.test_server_rerun import counted, ran

import taskbeam as tb
from taskbeam.server import Server, serve

pytest.importorskip("playwright.sync_api")

HOOK = "document.querySelector('.tbp-view .taskbeam-view').taskbeam"
SHOWN = """() => {
  const root = document.querySelector('.tbp-view .taskbeam-view');
  const s = root && root.taskbeam && root.taskbeam.state();
  return s ? {id: s.run.id, status: s.run.status, parent: s.run.parent_run ?? null,
              reused: root.taskbeam.reused()} : null;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server over a store: a project's earlier runs stay there, so the page can open them."""
    store = tb.SQLiteStore(tmp_path_factory.mktemp("rerun-page") / "runs.db")
    service = tb.ExecutionService(max_concurrency=8, store=store)
    srv = serve(service, registry({"counted": counted}))
    try:
        yield srv
    finally:
        srv.stop()
        service.shutdown(timeout=10)
        store.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Page]:
    p = Page(browser)
    yield p
    errors = p.errors
    p.close()
    assert errors == [], errors


def shown(page: Page) -> dict[str, Any] | None:
    value: dict[str, Any] | None = page.page.evaluate(SHOWN)
    return value


def new_run(page: Page, before: str) -> dict[str, Any]:
    """The view shows another run than ``before``, ended."""
    now: dict[str, Any] = page.wait(
        lambda: (s := shown(page)) and s["id"] != before and s["status"] == "done" and s,
        f"the page to show a new run after {before}",
    )
    return now


def test_the_page_reruns_a_project_from_its_head_and_from_a_node(
    page: Page, server: Server
) -> None:
    api: httpx.Client = http(server)
    try:
        project = start(api, "counted", tag="page")
        first = wait_status(api, project, {"done"})["run"]["id"]
        page.page.goto(f"{server.link}#project={project}")
        page.wait(lambda: (shown(page) or {}).get("status") == "done", "the page shows the run")
        head = page.page.locator(".tbp-project-head .tbp-rerun")
        page.wait(head.is_enabled, "the head's Rerun changed is on once the run ended")
        # The head holds the project's actions: the view's toolbar has no second one.
        assert page.page.locator(f"{VIEW} .tb-toolbar .tb-rerun").is_hidden()

        # Rerun changed: nothing changed, so nothing runs, and the page follows the new run.
        head.click()
        second = new_run(page, first)
        assert second["parent"] == first
        assert ran("page") == {"fetch": 1, "parse": 1, "report": 1}
        assert second["reused"] == ["fetch", "parse", "report"]
        lineage = page.page.locator(f"{VIEW} .tb-lineage")
        page.wait(lambda: "3 reused" in lineage.inner_text(), "the lineage counts 3 reused")
        assert f"rerun of {first[-8:]}" in " ".join(lineage.inner_text().split())
        page.wait(
            lambda: wait_status(api, project, {"done"})["run"]["id"] == second["id"],
            "the project's run is the new one over REST",
        )

        # Rerun from here, in parse's details: parse runs again and makes the same total.
        page.page.evaluate(f"{HOOK}.select('parse')")
        details = page.page.locator(f"{VIEW} .tb-details")
        page.wait(lambda: "Reused from run" in details.inner_text(), "parse's details")
        button = details.locator(".tb-rerun-node")
        assert button.is_enabled(), button.get_attribute("title")
        button.click()
        third = new_run(page, second["id"])
        assert third["parent"] == second["id"]
        assert ran("page") == {"fetch": 1, "parse": 2, "report": 1}
        assert third["reused"] == ["fetch", "report"]
        page.wait(lambda: "2 reused" in lineage.inner_text(), "the lineage counts 2 reused")
        page.page.mouse.move(5, 5)
        page.page.evaluate(f"{HOOK}.flush()")
        page.shot("rerun")

        # The parent's link opens that run by its id; there it is not rerun.
        page.page.locator(f"{VIEW} button.tb-lineage-run").click()
        page.wait(
            lambda: page.page.evaluate("window.taskbeamPage.selectedRun()") == second["id"],
            "the parent run is shown by its id",
        )
        page.wait(lambda: (shown(page) or {}).get("id") == second["id"], "its state")
        assert page.page.locator(".tbp-project-head .tbp-rerun").is_hidden()
        page.page.evaluate(f"{HOOK}.select('report')")
        page.wait(lambda: details.locator(".tb-rerun-node").count() == 1, "report's details")
        off = details.locator(".tb-rerun-node")
        assert off.is_disabled()
        assert "open its project" in (off.get_attribute("title") or "")
        page.shot("rerun-parent")
    finally:
        api.close()
