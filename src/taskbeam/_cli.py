"""The taskbeam command: run a graph in the terminal and watch it.

Everything printed goes through rich, and every string that comes from a
user (node ids, run names, result previews, error messages, tracebacks,
captured output) is printed as plain text, never read as rich markup: a
result like ``'[q.1: answer]'`` shows as written.

A mistake (a graph that cannot be loaded, an unknown run, an option out of
range) prints one line ``taskbeam: ...`` on stderr and exits with its own
code (see ``EXIT_CODES``); ``--debug`` shows the traceback as well.

The commands live beside this module, one concern each: ``_cli_parser``
(the command line), ``_cli_run`` (``run`` and ``demo``), ``_cli_show``
(``runs``, ``show``, ``import``), ``_cli_cache`` (``cache``, ``diff``), ``_cli_lab`` (``lab``) and
``_cli_common`` (exit codes, colours, the store); ``serve`` is
``taskbeam.server._command``.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from rich.console import Console

from taskbeam._cli_cache import cache_command, diff_command
from taskbeam._cli_common import CANCELLED, EXIT_CODES, STATUS_STYLE, CliError
from taskbeam._cli_lab import lab_command
from taskbeam._cli_parser import build_parser as _parser
from taskbeam._cli_run import load_graph, run_command
from taskbeam._cli_show import import_command, runs_command, show_command
from taskbeam.server._command import run as _serve

__all__ = ["EXIT_CODES", "STATUS_STYLE", "CliError", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    console = Console()
    try:
        return _dispatch(args, console)
    except CliError as exc:
        if getattr(args, "debug", False):
            traceback.print_exception(exc)
        print(f"taskbeam: {exc.message}", file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:  # before a run started, or a second Ctrl-C while it stops
        if getattr(args, "debug", False):
            traceback.print_exc()
        print("taskbeam: interrupted", file=sys.stderr, flush=True)
        return CANCELLED


def _dispatch(args: argparse.Namespace, console: Console) -> int:
    commands = {
        "runs": runs_command,
        "show": show_command,
        "import": import_command,
        "lab": lab_command,
        "cache": cache_command,
        "diff": diff_command,
    }
    if args.command in commands:
        return commands[args.command](args, console)
    if args.command == "demo":
        from taskbeam.examples import FakeLLM, research_graph

        graph = research_graph("why is the sky blue", depth=3, breadth=3, llm=FakeLLM(0.4))
        if not args.limit:
            args.limit = ["llm=4"]
        return run_command(graph, args, console)
    return run_command(load_graph(args.graph), args, console)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
