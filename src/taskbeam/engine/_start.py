"""Starting runs: :func:`start`, :func:`continue_run` and :func:`rerun` (and
:func:`resume`, the old name of :func:`continue_run`, deprecated: it goes in a
later release; a live run's :meth:`Run.resume` un-pauses it).

Each builds one :class:`~taskbeam.engine._options.RunOptions` from its
keywords, makes the :class:`~taskbeam.engine._run.Run` and starts its thread.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from taskbeam.engine._capture import OUTPUT_LIMIT
from taskbeam.engine._executor import Executor
from taskbeam.engine._options import KEPT_ON_CONTINUE, RunOptions
from taskbeam.engine._persist import SavePolicy
from taskbeam.engine._registry import BY_ID as _BY_ID
from taskbeam.engine._rerun import Prior, node_ids
from taskbeam.engine._run import Run
from taskbeam.graph import Graph

if TYPE_CHECKING:
    from taskbeam.store._base import Store

__all__ = ["continue_run", "launch", "rerun", "resume", "start"]


def start(
    graph: Graph,
    *,
    max_concurrency: int | None = None,
    limits: Mapping[str, int] | None = None,
    on_error: str = "continue",
    max_depth: int = 8,
    nested_loops: bool = False,
    run_id: str | None = None,
    sync_workers: int | None = None,
    output_limit: int = OUTPUT_LIMIT,
    seed: int | None = None,
    store: Store | None = None,
    save_policy: SavePolicy | None = None,
    project: str | None = None,
    executor: Executor | None = None,
    budgets: Mapping[str, float] | None = None,
    tracer: Any = None,
    cache: Any = False,
) -> Run:
    """Validate ``graph`` and start running it in a background thread; return at once.

    Parameters
    ----------
    graph : Graph
    max_concurrency : int, optional
        Most nodes running at once (expanded parents do not count). Default
        8, or what the executor suggests (``ProcessExecutor``: twice its
        workers; ``DaskExecutor``: twice the cluster's threads).
    limits : mapping of tag to int
        Most running nodes with that tag at once, e.g. ``{"llm": 2}``.
    on_error : {"continue", "fail_fast"}
        ``continue``: what depends on a failure is skipped, the rest runs.
        ``fail_fast``: the first failure cancels everything still open.
    max_depth : int
        Most levels of nested ``expand``.
    nested_loops : bool
        Apply ``nest-asyncio2`` to this run's private loop, so an async task
        may call a library that runs ``asyncio.run()`` itself.
    run_id : str, optional
    sync_workers : int, optional
        Threads for sync tasks; default ``min(max_concurrency, 32)``. Same as
        ``executor=LocalExecutor(sync_workers)``.
    output_limit : int
        Characters of printed output kept per node (the last ones).
    seed : int, optional
        Seeds the retry jitter, for reproducible runs.
    store : SQLiteStore, optional
        Persist the run there (see ``docs/persistence.md``); its creation is
        stored before this returns, so it can be continued after a crash.
    save_policy : SavePolicy, optional
        How often changes are saved; default 0.5 s watched, 5 s unwatched.
    project : str, optional
        A name to find the run's latest run by (``ExecutionService.continue_run``).
    executor : Executor, optional
        Where sync tasks run: ``LocalExecutor()`` (default: threads of the
        run's own), ``ProcessExecutor(n)`` or ``DaskExecutor(client)`` (see
        ``docs/scale.md``). Async tasks always run on the run's loop.
    budgets : mapping of metric name to limit, optional
        Limits on the run's rolled-up metrics, e.g. ``{"cost": 5.0}``: once
        one is passed no new node starts and the run asks (a question:
        ``continue``, ``raise`` or ``stop``); see ``docs/metrics.md``.
    tracer : opentelemetry.trace.Tracer, optional
        Emit the run as OpenTelemetry spans with this tracer: the run as the
        root span, a span per node (install ``taskbeam[otel]``; see
        ``docs/timeline.md``).
    cache : bool or cache, optional
        ``True``: a node whose task and input data were seen before is not
        run; it is done at once with the result made then (its summary says
        ``cached``). With a ``store`` the cache is the store's (it spans
        processes and days), without one the process's own, in memory. Or a
        cache to use, e.g. ``tb.MemoryCache(max_bytes=...)``. See
        ``docs/cache.md``.

    Returns
    -------
    Run
    """
    return launch(
        graph,
        RunOptions(
            max_concurrency=max_concurrency,
            limits=limits,
            on_error=on_error,
            max_depth=max_depth,
            nested_loops=nested_loops,
            run_id=run_id,
            sync_workers=sync_workers,
            output_limit=output_limit,
            seed=seed,
            store=store,
            save_policy=save_policy,
            project=project,
            executor=executor,
            budgets=budgets,
            tracer=tracer,
            cache=cache,
        ),
    )


def launch(graph: Graph, options: RunOptions) -> Run:
    """:func:`start` with its options already in one value (the service's, the CLI's)."""
    return Run(graph, options)._begin()


def continue_run(
    run_id: str,
    graph: Graph,
    *,
    store: Store | None = None,
    **options: Any,
) -> Run:
    """Continue a stored run of ``graph``; return the new, running Run (same id).

    A node stored as done whose task is unchanged (same fingerprint) and
    whose dependencies are all reused is not run again: its stored result
    feeds its dependants. Every other node runs, so a node that was running
    at the crash runs again (at-least-once). The run's stored options apply
    unless ``options`` overrides them.

    Parameters
    ----------
    run_id : str
    graph : Graph
        The graph to continue; it may have changed since.
    store : SQLiteStore, optional
        Default: ``SQLiteStore()`` (``./.taskbeam/runs.db``).
    """
    from taskbeam.store import SQLiteStore

    store = store or SQLiteStore()
    saved = store.load_for_resume(run_id)
    if "run_id" in options:
        raise TypeError("continue_run() got multiple values for keyword argument 'run_id'")
    stored = {k: v for k, v in saved["options"].items() if k in KEPT_ON_CONTINUE}
    opts = RunOptions(**{**stored, **options, "run_id": run_id, "store": store})
    restore = {nid: (fp, result) for nid, (_, fp, result) in saved["done"].items()}
    # Answers given before: a node that asks the same key again gets its answer at once.
    answers = {q["key"]: (q["answer"], q["by"]) for q in store.questions(run_id) if "answer" in q}
    run = Run(
        graph,
        opts,
        restore=restore,
        restore_tree=saved["structure"],
        answers=answers,
        metrics=saved.get("metrics"),
    )
    return run._begin()


def rerun(
    run: Run | str,
    graph: Graph | None = None,
    *,
    nodes: str | Iterable[str] | None = None,
    store: Store | None = None,
    **options: Any,
) -> Run:
    """Rerun ``run`` (a Run, or the id of a run in this process or in ``store``).

    See :meth:`Run.rerun`. A stored run that is no longer in memory needs
    its ``graph`` (its functions are not stored); its done results are read
    from ``store`` (default ``SQLiteStore()``) and the new run is stored
    there too, with the stored run's options unless ``options`` override
    them.
    """
    if isinstance(run, Run):
        return run.rerun(nodes, graph=graph, **options)
    if not isinstance(run, str):
        raise TypeError(f"rerun() takes a Run or a run id, not {type(run).__name__}")
    live = _BY_ID.get(run)
    if isinstance(live, Run) and store is None:
        return live.rerun(nodes, graph=graph, **options)
    if graph is None:
        raise TypeError(
            f"rerun({run!r}) of a stored run needs its graph: rerun(run_id, graph, store=...)"
        )
    from taskbeam.store import SQLiteStore

    store = store or SQLiteStore()
    saved = store.load_for_resume(run)
    if "run_id" in options:
        raise TypeError("rerun() makes a new run: it takes no run_id")
    kept = {k: v for k, v in saved["options"].items() if k in KEPT_ON_CONTINUE}
    opts = RunOptions(**{**kept, **options, "store": store})
    prior = Prior.from_stored(run, saved["done"], node_ids(nodes))
    return Run(graph, opts, prior=prior)._begin()


def resume(
    run_id: str,
    graph: Graph,
    *,
    store: Store | None = None,
    **options: Any,
) -> Run:
    """Deprecated: the old name of :func:`continue_run`, which it calls.

    It goes in a later release. A live run is un-paused with
    :meth:`Run.resume`; a stored run is continued with :func:`continue_run`.
    """
    warnings.warn(
        "taskbeam.resume() is deprecated: use taskbeam.continue_run()",
        DeprecationWarning,
        stacklevel=2,
    )
    return continue_run(run_id, graph, store=store, **options)
