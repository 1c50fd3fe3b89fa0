"""The public API is flat, sorted and complete."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import taskbeam as tb


def test_all_is_sorted_and_complete() -> None:
    assert list(tb.__all__) == sorted(tb.__all__)
    public = {name for name in dir(tb) if not name.startswith("_")}
    modules = {m.name for m in pkgutil.iter_modules(tb.__path__)}
    assert public - modules - set(tb.__all__) == set()
    for name in tb.__all__:
        assert hasattr(tb, name), name


def test_contract_names_exist() -> None:
    for name in (
        "Graph",
        "expand",
        "start",
        "ExecutionService",
        "Status",
        "RunStatus",
        "GraphError",
        "ask",
        "ask_sync",
        "Question",
        "AnswerError",
        "QuestionTimeout",
        "NO_DEFAULT",
    ):
        assert name in tb.__all__
    assert [s.value for s in tb.Status] == [
        "pending",
        "ready",
        "running",
        "waiting",
        "retrying",
        "expanded",
        "aggregating",
        "done",
        "failed",
        "cancelled",
        "skipped",
    ]
    assert [s.value for s in tb.RunStatus] == [
        "running",
        "paused",
        "done",
        "failed",
        "cancelled",
        "interrupted",  # only ever a stored run's
    ]
    assert tb.Status.DONE == "done"


def test_docstring_examples_run() -> None:
    failures = 0
    for info in pkgutil.walk_packages(tb.__path__, "taskbeam."):
        module = importlib.import_module(info.name)
        failures += doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed
    failures += doctest.testmod(tb).failed
    assert failures == 0
