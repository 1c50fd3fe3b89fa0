"""A real JupyterLab in headless Chromium, for the end-to-end tests.

One JupyterLab server per session (the venv's, on a free port, with a
random token, serving a temporary copy of ``notebooks/``) and one headless
Chromium per module; each test opens its notebooks in new pages and shuts
their kernels down after. Everything is read through the page: the widget's test hook
(``root.taskbeam``), its DOM, and the kernel, over the page's own kernel
connection. The server, the browser and the page driver live in ``_lab.py``
(the widget benchmark uses them too).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _lab import CHROMIUM, KernelTraffic, Lab, NotebookPage, launch_chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    server = Lab(tmp_path_factory.mktemp("lab"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


# Module-scoped, not session-scoped: while playwright's sync API is started it
# keeps an asyncio loop marked as running on the main thread, and any later test
# calling asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser_context(browser: Any) -> Iterator[Any]:
    """One context for all pages: JupyterLab's assets load once, then from the cache."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def open_notebook(
    lab: Lab, browser_context: Any, artifacts: Path
) -> Iterator[Callable[[str], NotebookPage]]:
    pages: list[Any] = []

    def open_(name: str) -> NotebookPage:
        page = browser_context.new_page()
        pages.append(page)
        page.set_default_timeout(30_000)
        page.on("dialog", lambda dialog: dialog.accept())
        traffic = KernelTraffic()
        traffic.attach(page)
        nb = NotebookPage(lab, page, name, traffic)
        nb.open()
        return nb

    yield open_
    for page in pages:
        with contextlib.suppress(Exception):
            page.close()
    lab.shutdown_kernels()
