"""RunOptions: the options of one run, validated once, in one frozen value.

:func:`taskbeam.start` and :func:`taskbeam.continue_run` keep their keyword
signatures (documented and typed there); each builds one
:class:`RunOptions` and hands it down, so the run, its driver and the
recorder read the same value. ``ExecutionService`` keeps its defaults as a
mapping checked against these fields and merges it with each call's options
into one; the command line builds one from its arguments.

What is checked here is what does not need the graph: the executor and
``sync_workers``. The state machine checks ``on_error``, ``limits`` and the
numbers as it is made, with the messages it always had.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskbeam.engine._capture import OUTPUT_LIMIT
from taskbeam.engine._executor import Executor
from taskbeam.engine._metrics import check_budgets
from taskbeam.engine._persist import SavePolicy

if TYPE_CHECKING:
    from taskbeam.store._base import Store

__all__ = ["KEPT_ON_CONTINUE", "RunOptions", "checked"]

#: Options stored with a run that apply again when it is continued (unless overridden).
KEPT_ON_CONTINUE = ("max_concurrency", "limits", "on_error", "max_depth", "project", "budgets")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything :func:`taskbeam.start` takes besides the graph (see its parameters)."""

    max_concurrency: int | None = None
    limits: Mapping[str, int] | None = None
    on_error: str = "continue"
    max_depth: int = 8
    nested_loops: bool = False
    run_id: str | None = None
    sync_workers: int | None = None
    output_limit: int = OUTPUT_LIMIT
    seed: int | None = None
    store: Store | None = None
    save_policy: SavePolicy | None = None
    project: str | None = None
    executor: Executor | None = None
    budgets: Mapping[str, float] | None = None
    tracer: Any = None  # an OpenTelemetry Tracer: a span per node (taskbeam.otel)
    cache: Any = False  # True, False or a Cache (engine/_cache.py); see docs/cache.md

    def __post_init__(self) -> None:
        if self.budgets is not None:
            object.__setattr__(self, "budgets", check_budgets(self.budgets, "start()"))
        cache = self.cache
        if not isinstance(cache, bool) and not (
            callable(getattr(cache, "get", None)) and callable(getattr(cache, "put", None))
        ):
            raise TypeError(
                "cache must be True, False or a cache (tb.MemoryCache(), a store's .cache), "
                f"not {type(self.cache).__name__}"
            )
        if self.executor is not None:
            if self.sync_workers is not None:
                raise ValueError("pass sync_workers or executor, not both")
            if not isinstance(self.executor, Executor):
                raise TypeError(
                    "executor must be a taskbeam executor (LocalExecutor, ProcessExecutor, "
                    f"DaskExecutor), not {type(self.executor).__name__}"
                )

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)


_NAMES = frozenset(f.name for f in dataclasses.fields(RunOptions))


def checked(options: Mapping[str, Any], caller: str) -> dict[str, Any]:
    """``options`` as a plain dict, once every name is known to :class:`RunOptions`.

    For defaults merged into a RunOptions later (``ExecutionService``): an
    unknown name fails where it is given, as a keyword of ``caller`` would.
    """
    for name in options:
        if name not in _NAMES:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")
    return dict(options)
