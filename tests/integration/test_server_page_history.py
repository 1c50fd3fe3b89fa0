"""The server's web page and its store: the run list, stored runs frozen, Continue.

Headless Chromium (Debian's, driven by playwright) against real servers:
uvicorn in a thread over an SQLiteStore that holds runs stored before the
server started, and ``taskbeam serve --store`` in a subprocess, SIGKILLed
mid-run and started again on the same store. The page's run list, its
filters and what its view shows are compared with REST; Continue on an
interrupted project goes on to ``done`` without running again the nodes
the killed server finished. Screenshots go to test-artifacts/server-*.png.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration._server import http, registry, wait_status
from tests.integration.test_server_page import ARTIFACTS, SEEN, VIEW, Page, differences
from tests.integration.test_server_page import browser as browser  # the fixture
from tests.integration.test_server_restore import APP, api_of, effects, serve

import taskbeam as tb
from taskbeam.server import serve as serve_in_thread

pytest.importorskip("playwright.sync_api")

# What the list and the head of the page show.
RUNS = """() => Array.from(document.querySelectorAll('.tbp-runs .tbp-run')).map(b => ({
  id: b.dataset.id, status: b.dataset.status, current: b.getAttribute('aria-current'),
  dot: getComputedStyle(b.querySelector('.tbp-pill'), '::before').backgroundColor,
}))"""
TOOLBAR = """() => {
  const q = (s) => document.querySelector(s);
  const visible = (s) => !!q(s) && q(s).offsetParent !== null;
  return {frozen: visible('.tbp-view .tb-frozen'), pause: visible('.tbp-view [aria-label=Pause]'),
          viewContinue: visible('.tbp-view .tb-continue'), headContinue: visible('.tbp-continue'),
          status: (q('.tbp-view .tb-title .tb-pill') || {}).textContent};
}"""
INTERRUPTED = "rgb(161, 98, 7)"  # page.css, the light scheme
EXTRA = 25  # runs stored before the two the test opens


def quick(i: int, **upstream: int) -> int:
    return i * 2


def boom(**upstream: int) -> int:
    raise ValueError("the source is down")


def stored_runs(path: Path) -> dict[str, str]:
    """A store holding a done run and a failed one, stored before any server ran."""
    done, failed = tb.Graph("report"), tb.Graph("shaky")
    done.add("load", quick, kwargs={"i": 1})
    done.add("plot", quick, deps=["load"], kwargs={"i": 2})
    failed.add("fetch", quick, kwargs={"i": 1})
    failed.add("parse", boom, deps=["fetch"])
    failed.add("save", quick, deps=["parse"], kwargs={"i": 3})
    with tb.SQLiteStore(path) as store:
        for k in range(EXTRA):  # older: the list's second page
            g = tb.Graph("batch")
            g.add("only", quick, kwargs={"i": k})
            tb.start(g, store=store).wait()
        ids = {"done": tb.start(done, store=store).wait().id}
        ids["failed"] = tb.start(failed, store=store).wait().id
    return ids


def rows(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.page.evaluate(RUNS)
    return found


@pytest.fixture
def store_server(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    ids = stored_runs(tmp_path / "runs.db")
    store = tb.SQLiteStore(tmp_path / "runs.db")
    service = tb.ExecutionService(max_concurrency=8, store=store)
    server = serve_in_thread(service, registry())
    try:
        yield server, ids
    finally:
        server.stop()
        service.shutdown(timeout=10)
        store.close()


def test_a_stored_run_opens_from_the_page_s_run_list(
    browser: Any, store_server: tuple[Any, dict[str, str]]
) -> None:
    server, ids = store_server
    page = Page(browser)
    try:
        page.page.goto(server.link)
        page.wait(lambda: len(rows(page)) == 25, "a page of stored runs is listed")
        first = rows(page)
        assert [r["id"] for r in first[:2]] == [ids["failed"], ids["done"]]  # newest first
        assert [r["status"] for r in first[:2]] == ["failed", "done"]
        page.page.click(".tbp-runs-more")
        page.wait(lambda: len(rows(page)) == EXTRA + 2, "the second page")
        assert len({r["id"] for r in rows(page)}) == EXTRA + 2
        assert page.page.locator(".tbp-runs-more").is_hidden()

        # Filters: each a new GET api/runs.
        page.page.select_option(".tbp-runs-status", "failed")
        page.wait(lambda: [r["id"] for r in rows(page)] == [ids["failed"]], "the status filter")
        page.page.select_option(".tbp-runs-status", "")
        page.page.fill(".tbp-runs-name", "REPO")
        page.wait(lambda: [r["id"] for r in rows(page)] == [ids["done"]], "the name filter")
        page.page.fill(".tbp-runs-name", "")
        page.wait(lambda: len(rows(page)) == 25, "no filter: the first page")

        # A run of no project opens by its id, frozen, as stored.
        page.page.click(f'.tbp-run[data-id="{ids["failed"]}"]')
        page.wait(lambda: page.page.evaluate("window.taskbeamPage.selectedRun()"), "selected")
        assert f"#run={ids['failed']}" in page.page.url
        with http(server) as api:
            snapshot = api.get(f"/api/runs/{ids['failed']}").json()
        snapshot["run"]["stored"] = True
        found: list[str] = []

        def same() -> bool:
            found[:] = differences(page.page.evaluate(SEEN), snapshot)
            return not found

        page.wait(same, f"the view shows the stored run ({found})")
        bar = page.page.evaluate(TOOLBAR)
        assert bar["frozen"] and not bar["pause"] and not bar["viewContinue"], bar
        assert rows(page)[0]["current"] == "true"
        # Its details, from the store.
        page.page.evaluate(
            "document.querySelector('.tbp-view .taskbeam-view').taskbeam.select('parse')"
        )
        page.wait(
            lambda: "the source is down" in page.page.inner_text(f"{VIEW} .tb-details"),
            "the failed node's traceback",
        )
        page.shot("history-stored-run")
        # A reload opens it again (the address's hash).
        page.page.reload()
        page.wait(lambda: (page.page.evaluate(SEEN) or {}).get("state"), "the view again")
        assert page.page.evaluate("window.taskbeamPage.selectedRun()") == ids["failed"]
        assert page.errors == [], page.errors
    finally:
        page.close()


@pytest.mark.timeout(150)
def test_a_project_interrupted_by_a_killed_server_continues_from_the_page(
    browser: Any, tmp_path: Path
) -> None:
    (tmp_path / "storeapp.py").write_text(APP)
    params = {"effects": str(tmp_path / "effects.txt"), "n": 24, "delay": 0.1}
    proc, server = serve(tmp_path)
    page = Page(browser)
    try:
        page.page.goto(f"{server.url}/?token={server.token}")
        page.page.wait_for_selector("#tbp-graph option", state="attached")
        project_id = page.start("chain", params)
        page.page.wait_for_selector(VIEW)
        page.wait(
            lambda: (page.page.evaluate(SEEN) or {}).get("counts", {}).get("done", 0) >= 5,
            "five nodes done, seen live on the page",
        )
        with tb.SQLiteStore(tmp_path / "runs.db") as store:
            page.wait(
                lambda: store.runs()[0]["counts"].get("done", 0) >= 5, "five done nodes stored"
            )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    with tb.SQLiteStore(tmp_path / "runs.db") as store:
        stored = tb.open_run(store.runs()[0]["id"], store)
        assert stored.status is tb.RunStatus.INTERRUPTED
        run_id = stored.id
        done_before = {n for n, s in stored.snapshot()["nodes"].items() if s["status"] == "done"}
    before = effects(tmp_path)

    proc, server = serve(tmp_path)
    try:
        with api_of(server) as api:
            page.page.goto(f"{server.url}/?token={server.token}#project={project_id}")
            # The project is back, interrupted, and its run is in the run list, interrupted.
            item = page.page.locator(f'.tbp-project[data-id="{project_id}"]')
            page.wait(
                lambda: item.count() and item.get_attribute("data-status") == "interrupted",
                "the project listed interrupted",
            )
            page.wait(
                lambda: (
                    [(r["id"], r["status"]) for r in rows(page)][:1] == [(run_id, "interrupted")]
                ),
                "the run listed interrupted, newest first",
            )
            assert rows(page)[0]["dot"] == INTERRUPTED, rows(page)
            page.wait(
                lambda: (page.page.evaluate(SEEN) or {}).get("runStatus") == "interrupted",
                "the view shows the stored run, interrupted",
            )
            snapshot = api.get(f"/api/runs/{run_id}").json()
            snapshot["run"]["stored"] = True
            found: list[str] = []

            def same() -> bool:
                found[:] = differences(page.page.evaluate(SEEN), snapshot)
                return not found

            page.wait(same, f"the view shows the stored run's state ({found})")
            bar = page.page.evaluate(TOOLBAR)
            assert bar["frozen"] and bar["headContinue"] and not bar["pause"], bar
            assert bar["status"] == "interrupted", bar
            page.shot("history-interrupted")

            # The run list opens the project (it is the project's latest run).
            page.page.click(f'.tbp-run[data-id="{run_id}"]')
            assert page.page.evaluate("window.taskbeamPage.selected()") == project_id

            # Continue: POST resume; the view follows the run live to its end.
            page.page.click(".tbp-continue")
            wait_status(api, project_id, {"done"}, timeout=60)
            page.wait(
                lambda: (page.page.evaluate(SEEN) or {}).get("runStatus") == "done",
                "the view shows the continued run done",
            )
            final = api.get(f"/api/projects/{project_id}", params={"full": 1}).json()
            page.wait(
                lambda: not differences(page.page.evaluate(SEEN), final["snapshot"]),
                "the view shows the final state",
            )
            bar = page.page.evaluate(TOOLBAR)
            assert not bar["frozen"] and not bar["headContinue"], bar
            after = effects(tmp_path)
            rerun = sorted(n for n in done_before if after[n] != before[n])
            assert rerun == [], f"done nodes ran again: {rerun}"
            assert set(after) == {f"s{i}" for i in range(params["n"])}
            page.wait(
                lambda: [(r["id"], r["status"]) for r in rows(page)][:1] == [(run_id, "done")],
                "the run list says done",
            )
            page.shot("history-continued")
            (ARTIFACTS / "server-history-effects.json").write_text(
                json.dumps({"before": before, "after": after, "done_before": sorted(done_before)})
            )
        # While the server was down, the page's polls were refused; nothing else went wrong.
        errors = [e for e in page.errors if "ERR_CONNECTION_REFUSED" not in e]
        assert errors == [], errors
    finally:
        page.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except Exception:
            proc.kill()
            proc.communicate(timeout=10)
