"""The command line of ``taskbeam``: its parser, help epilog and option values."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import textwrap
from typing import Any

from taskbeam._cli_common import EXIT_CODES, SAVE_EVERY, USAGE, CliError
from taskbeam.server._command import add_arguments as _serve_arguments
from taskbeam.server._command import port_number

__all__ = ["DEBUG_HELP", "build_parser", "parse_limit"]


def parse_limit(text: str) -> tuple[str, int]:
    tag, sep, n = text.partition("=")
    if not sep or not n.isdigit() or int(n) < 1:
        raise CliError(USAGE, f"--limit takes TAG=N with N >= 1, got {text!r}")
    return tag, int(n)


def _version() -> str:
    try:
        return importlib.metadata.version("taskbeam")
    except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path
        from taskbeam import __version__

        return __version__


def _epilog() -> str:
    lines = ["exit codes:"]
    for code, text in EXIT_CODES.items():
        lines += textwrap.wrap(
            text, width=78, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7
        )
    lines.append("")
    lines.append("Run 'taskbeam COMMAND --help' for the options of a command.")
    return "\n".join(lines)


class _Deprecated(argparse.Action):
    """An old spelling of an option: a one-line note on stderr, then the same as the new one."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print("taskbeam: --resume is deprecated: use --continue", file=sys.stderr, flush=True)
        setattr(namespace, self.dest, values)


DEBUG_HELP = "on a mistake, show the Python traceback as well as the one-line message"
_DESCRIPTION = "Run taskbeam task graphs in the terminal, list and show stored runs, serve them."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskbeam",
        description=_DESCRIPTION,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"taskbeam {_version()}")
    # --debug before or after the command; SUPPRESS keeps a subcommand's
    # default from overwriting a --debug given before it.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            parents=[debug],
            epilog=_epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    run = command("run", "run MODULE:GRAPH with a live progress bar")
    run.add_argument("graph", help="module:attribute naming a Graph or a function returning one")
    demo = command("demo", "run the bundled recursive research-agent example")
    runs = command("runs", "list the runs in a store")
    show = command("show", "print one stored run, or one node of it with --node")
    show.add_argument("run_id", metavar="RUN_ID", help="the run's id, as 'taskbeam runs' lists it")
    show.add_argument("--all", action="store_true", help="list every node")
    show.add_argument(
        "--node",
        metavar="NODE_ID",
        help="print this node's status, result, error with its traceback, and captured output",
    )
    imp = command("import", "load an emergency backup file into a store")
    imp.add_argument("file", metavar="FILE", help="the backup file (runs.db.backup-*.json)")
    cache = command("cache", "show or prune the result cache of a store")
    cache.add_argument(
        "action", choices=("stats", "prune"), help="stats: show it; prune: shrink it"
    )
    cache.add_argument(
        "--older-than",
        metavar="DURATION",
        help="prune: drop entries unused for this long (7d, 12h, 30m, 45s)",
    )
    cache.add_argument(
        "--max-bytes",
        metavar="SIZE",
        help="prune: then drop the least recently used until at most SIZE remain (2G, 500M)",
    )
    diff = command("diff", "compare two stored runs node by node")
    diff.add_argument("run_a", metavar="RUN_A", help="the earlier run's id")
    diff.add_argument("run_b", metavar="RUN_B", help="the later run's id")
    diff.add_argument("--all", action="store_true", help="list the equal nodes too")
    lab = command("lab", "open a notebook in JupyterLab and print its URL")
    lab.add_argument("notebook", nargs="?", help="a notebook to open (default: the file browser)")
    lab.add_argument("--ip", default="127.0.0.1", help="address to listen on")
    lab.add_argument("--port", type=port_number, default=0, help="port (default: a free one)")
    serve = sub.add_parser(
        "serve",
        help="serve a REST API and live Socket.IO updates of runs",
        description="Serve a REST API and live Socket.IO updates of runs, until Ctrl-C.",
    )
    _serve_arguments(serve)
    for p in (runs, show, imp, cache, diff):
        p.add_argument("--store", default=None, help="database file (default .taskbeam/runs.db)")
    for p in (run, demo):
        p.add_argument("--store", default=None, help="persist the run in this database file")
        again = p.add_mutually_exclusive_group()
        again.add_argument(
            "--continue",
            dest="continue_id",
            metavar="RUN_ID",
            help="continue a stored run: done nodes whose task is unchanged are reused",
        )
        again.add_argument(
            "--resume",
            dest="continue_id",
            metavar="RUN_ID",
            action=_Deprecated,
            help="deprecated: the same as --continue",
        )
        again.add_argument(
            "--rerun",
            dest="rerun_id",
            metavar="RUN_ID",
            help="a new run reusing the stored run's results: what changed runs, or "
            "the nodes given with --from and what they change",
        )
        p.add_argument(
            "--from",
            dest="rerun_from",
            action="append",
            metavar="NODE",
            help="with --rerun: run this node again (and what its new value changes); repeatable",
        )
        p.add_argument(
            "--max-concurrency",
            type=int,
            default=None,
            metavar="N",
            help="most nodes running at once (default 8, or twice the workers)",
        )
        where = p.add_mutually_exclusive_group()
        where.add_argument(
            "--processes", type=int, metavar="N", help="run sync tasks in N worker processes"
        )
        where.add_argument(
            "--dask",
            metavar="ADDRESS",
            help="run sync tasks on the Dask cluster whose scheduler is at ADDRESS",
        )
        p.add_argument(
            "--limit",
            action="append",
            metavar="TAG=N",
            help="at most N nodes tagged TAG running at once; repeatable",
        )
        p.add_argument(
            "--on-error",
            choices=("continue", "fail_fast"),
            default="continue",
            help="continue: skip what depends on a failure, run the rest (default); "
            "fail_fast: cancel everything at the first failure",
        )
        p.add_argument(
            "--max-depth",
            type=int,
            default=8,
            metavar="N",
            help="most levels of nested expand (default 8)",
        )
        p.add_argument(
            "--save-every",
            type=float,
            default=SAVE_EVERY,
            metavar="SECONDS",
            help=f"with --store: save changes at least this often (default {SAVE_EVERY:g})",
        )
        p.add_argument(
            "--answers",
            metavar="FILE.json",
            help="answer the run's questions from this JSON object of question key (or id) "
            "to answer, unattended",
        )
        p.add_argument(
            "--cache",
            action="store_true",
            help="take nodes whose task and inputs were seen before from the store's cache "
            "(without --store: .taskbeam/runs.db)",
        )
        p.add_argument("--all", action="store_true", help="list every node in the final table")
    return parser
