"""Jupyter Notebook 7, beside JupyterLab: the live view renders and reaches the end.

A Notebook 7 server (``python -m notebook``, the venv's, on a free loopback
port with a random token, serving an empty folder) and the headless
Chromium of the other end-to-end tests. A notebook written here starts a
run of 40 nodes and shows it; the page, opened at
``/notebooks/NAME.ipynb?token=T`` as a user opens it, must draw the view
and end with the same state as the kernel's run.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from _lab import KernelTraffic, Lab, NotebookPage, poll

NODES = 40
CELLS = [
    "import time\nimport taskbeam as tb",
    "g = tb.Graph('nb7')\n"
    f"for i in range({NODES}):\n"
    "    g.add(f'n{i}', lambda i=i, **up: (time.sleep(0.05), i)[1],\n"
    "          deps=[f'n{i - 1}'] if i % 4 else [])\n"
    "run = tb.start(g, max_concurrency=4)\n"
    "run",
]


class NotebookServer(Lab):
    """A Jupyter Notebook 7 server in a subprocess (Lab's API, stop and logs)."""

    app = "notebook"
    name = "Notebook 7"

    def app_args(self) -> list[str]:
        return []


class Notebook7Page(NotebookPage):
    def open(self) -> None:
        self.page.goto(
            f"{self.lab.url}/notebooks/{self.path}?token={self.lab.token}",
            wait_until="domcontentloaded",
        )
        self.wait_kernel_idle(60)


def _notebook(path: Path) -> None:
    cells = [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
        for s in CELLS
    ]
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


@pytest.mark.timeout(180)
def test_the_view_renders_and_ends_in_notebook_7(
    tmp_path: Path, browser: Any, artifacts: Path
) -> None:
    if importlib.util.find_spec("notebook") is None:
        pytest.fail("Jupyter Notebook 7 is missing: pip install -e '.[dev]' installs it")
    server = NotebookServer(tmp_path, notebooks=None)
    context = None
    try:
        server.start()
        _notebook(server.root / "nb7.ipynb")
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        nb = Notebook7Page(server, page, "nb7", KernelTraffic())
        nb.open()
        assert "/notebooks/nb7.ipynb" in page.url
        nb.run("notebook:run-all-cells")
        nb.wait_cells_done(None, 60)
        run_id = nb.json("run.id")
        index = nb.view_index(run_id, 30)
        poll(
            lambda: nb.hook(index, "root.getAttribute('data-run-status')") == "done",
            60,
            "the Notebook 7 view shows the run done",
            nb.describe,
        )
        snapshot = nb.snapshot()
        assert snapshot["run"]["status"] == "done"
        assert snapshot["run"]["counts"]["done"] == NODES

        def agrees() -> bool:
            seen = nb.hook(index, "{counts: tb.counts(), state: tb.state()}")
            counts = {k: v for k, v in seen["counts"].items() if v}
            nodes = seen["state"]["nodes"]
            return counts == {"done": NODES} and all(
                nodes[i]["status"] == "done" for i in snapshot["nodes"]
            )

        poll(agrees, 30, "the view's counts and nodes are the kernel's", nb.describe)
        assert page.locator(".taskbeam-view").first.is_visible()
        page.screenshot(path=str(artifacts / "notebook7-view.png"))
        assert not nb.errors()
    finally:
        if context is not None:
            context.close()
        server.stop()
