"""``taskbeam run`` (and ``demo``): load a graph, run it under a live progress
bar, print the final table.

User strings print as plain text, never as rich markup (see ``taskbeam._cli``).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from taskbeam._cli_common import (
    BAD_GRAPH,
    ENVIRONMENT,
    EXIT,
    RUN_FAILED,
    STORE,
    USAGE,
    CliError,
    one_line,
    open_store,
    signature,
)
from taskbeam._cli_parser import parse_limit
from taskbeam._cli_questions import Questioner, load_answers, terminal
from taskbeam._cli_show import report
from taskbeam._errors import GraphError
from taskbeam._spec import load_object
from taskbeam.engine import Executor, ProcessExecutor, Run, SavePolicy, continue_run
from taskbeam.engine._options import RunOptions
from taskbeam.engine._start import launch, rerun
from taskbeam.engine._status import TERMINAL, Status
from taskbeam.graph import Graph
from taskbeam.store import StoreError

__all__ = ["load_graph", "run_command", "watch"]

TICK = 0.1  # seconds between two reads of the run by the progress bar


def load_graph(spec: str) -> Graph:
    """Resolve ``module:attribute`` to a valid Graph (or a zero-argument factory of one).

    Raises
    ------
    CliError
        With ``BAD_GRAPH`` for every way it can go wrong.
    """
    try:
        # kind=object: load_object returns the attribute itself, not called,
        # so a factory's signature can be checked before calling it.
        obj: Any = load_object(spec, object, "MODULE:GRAPH")
    except SystemExit as exc:
        raise CliError(BAD_GRAPH, str(exc.code).removeprefix("taskbeam: ")) from None
    except Exception as exc:
        module = spec.partition(":")[0]
        raise CliError(BAD_GRAPH, f"importing {module!r} raised {one_line(exc)}") from exc
    if callable(obj) and not isinstance(obj, Graph):
        # No signature to inspect (some builtins: ValueError): just call it.
        with contextlib.suppress(ValueError):
            try:
                inspect.signature(obj).bind()
            except TypeError:
                raise CliError(
                    BAD_GRAPH,
                    f"{spec} needs arguments {signature(obj)}: name a Graph or a function "
                    "that takes none",
                ) from None
        try:
            obj = obj()
        except Exception as exc:
            raise CliError(BAD_GRAPH, f"{spec}() raised {one_line(exc)}") from exc
    if not isinstance(obj, Graph):
        raise CliError(BAD_GRAPH, f"{spec} is a {type(obj).__name__}, not a taskbeam.Graph")
    try:
        return obj.validate()
    except GraphError as exc:
        raise CliError(BAD_GRAPH, f"{spec}: {exc}") from exc


def watch(run: Run, console: Console, questioner: Questioner | None = None) -> None:
    """Show a live progress bar until the run ends; Ctrl-C cancels the run.

    With a ``questioner``, its questions are taken in on each tick of the bar.
    """
    try:
        _watch(run, console, questioner)
    except KeyboardInterrupt:  # while the bar starts or stops, or a second Ctrl-C
        run.cancel()
        run.wait()


def _watch(run: Run, console: Console, questioner: Questioner | None) -> None:
    columns = (
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}", markup=False),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(run.name, total=None, detail="")
        try:
            while not run.done:
                counts = _update(progress, bar, run)
                if questioner is None:
                    time.sleep(TICK)
                else:
                    questioner.tick(counts.get(Status.WAITING.value, 0), progress)
                    questioner.wait(TICK)
        except KeyboardInterrupt:
            if questioner is not None:
                questioner.stop("the run is cancelled")
            progress.update(bar, detail="cancelling…")
            run.cancel()
            run.wait()
        if questioner is not None:
            questioner.stop()
        _update(progress, bar, run)
    run.wait()


def _update(progress: Progress, bar: Any, run: Run) -> dict[str, int]:
    counts = run.counts
    total = sum(counts.values())
    finished = sum(counts.get(s.value, 0) for s in TERMINAL)
    busy = {k: v for k, v in counts.items() if v and k not in {s.value for s in TERMINAL}}
    detail = " ".join(f"{k}={v}" for k, v in sorted(busy.items()))
    progress.update(bar, total=total, completed=finished, detail=detail)
    return counts


# The options of `taskbeam run` a continued run takes from the command line, not from the store.
_OVERRIDES = (
    "max_concurrency",
    "limits",
    "on_error",
    "max_depth",
    "save_policy",
    "executor",
    "cache",
)


def run_command(graph: Graph, args: argparse.Namespace, console: Console) -> int:
    limits = dict(parse_limit(x) for x in args.limit or [])
    if args.save_every < 0:
        raise CliError(USAGE, f"--save-every takes SECONDS >= 0, got {args.save_every}")
    if args.max_concurrency is not None and args.max_concurrency < 1:
        raise CliError(USAGE, f"--max-concurrency takes N >= 1, got {args.max_concurrency}")
    if args.rerun_from and not args.rerun_id:
        raise CliError(USAGE, "--from NODE goes with --rerun RUN_ID")
    answers = load_answers(args.answers)
    store = open_store(args.store) if args.store or args.cache else None
    with contextlib.ExitStack() as stack:
        options = RunOptions(
            max_concurrency=args.max_concurrency,
            limits=limits,
            on_error=args.on_error,
            max_depth=args.max_depth,
            # The terminal watches the run, so it saves as a watched run does.
            save_policy=SavePolicy(watched=args.save_every, unwatched=args.save_every),
            executor=_executor(args, stack),
            cache=args.cache,
        )
        try:
            with _ctrl_c_deferred() as interrupted:
                if args.continue_id:
                    # What the command line sets overrides the stored options.
                    given = {name: getattr(options, name) for name in _OVERRIDES}
                    store = store or open_store(None)
                    run = continue_run(args.continue_id, graph, store=store, **given)
                elif args.rerun_id:
                    given = {name: getattr(options, name) for name in _OVERRIDES}
                    store = store or open_store(None)
                    try:
                        run = rerun(
                            args.rerun_id, graph, nodes=args.rerun_from, store=store, **given
                        )
                    except KeyError as exc:  # an unknown run is the store's; a node, usage
                        message = str(exc.args[0] if exc.args else exc)
                        code = USAGE if message.startswith("no node") else STORE
                        raise CliError(code, message) from None
                else:
                    run = launch(graph, options.replace(store=store))
            if interrupted:
                run.cancel()
        except KeyError as exc:  # --continue: no such run
            raise CliError(STORE, str(exc.args[0] if exc.args else exc)) from exc
        except StoreError as exc:
            raise CliError(STORE, str(exc)) from exc
        except GraphError as exc:
            raise CliError(BAD_GRAPH, str(exc)) from exc
        except (TypeError, ValueError) as exc:
            raise CliError(USAGE, str(exc)) from exc
        questioner = Questioner(run, console, answers, terminal(), answers_file=args.answers)
        watch(run, console, questioner)
        report(run.snapshot(), console, show_all=args.all, reused=_reused(run))
    if run.store is not None:
        console.print(Text(f"stored in {run.store.path} as {run.id}"))
    return EXIT.get(run.status, RUN_FAILED)


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[list[int]]:
    """Hold Ctrl-C back while a run starts, so it lands on a started run (which
    is then cancelled) rather than inside the start. Yields the signals held."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)


def _reused(run: Run) -> set[str]:
    """The nodes a continued run took from the store instead of running them."""
    return {n.id for n in run._state.restored}


def _executor(args: argparse.Namespace, stack: contextlib.ExitStack) -> Executor | None:
    """The executor ``--processes`` or ``--dask`` ask for (closed when ``stack`` closes)."""
    if args.processes is not None:
        if args.processes < 1:
            raise CliError(USAGE, f"--processes takes N >= 1, got {args.processes}")
        return stack.enter_context(ProcessExecutor(args.processes))
    if args.dask is not None:
        try:
            from distributed import Client

            from taskbeam.engine._dask import DaskExecutor
        except ImportError:
            raise CliError(ENVIRONMENT, "--dask needs pip install 'taskbeam[dask]'") from None
        try:
            client = stack.enter_context(Client(args.dask, timeout=5))  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            msg = f"cannot reach the Dask scheduler {args.dask} within 5 s: {exc}"
            raise CliError(ENVIRONMENT, msg) from None
        executor = DaskExecutor(client)
        stack.callback(executor.close)
        return executor
    return None
