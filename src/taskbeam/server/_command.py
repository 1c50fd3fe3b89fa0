"""``taskbeam serve``: the server in the foreground, until Ctrl-C.

Without ``--app`` it serves a registry of the bundled example graphs, so a
first ``taskbeam serve`` has something to start.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal

from taskbeam._service import ExecutionService
from taskbeam._spec import load_object
from taskbeam.broadcast import Broadcaster
from taskbeam.graph import Graph
from taskbeam.server._listen import base_url, bind, check_auth, require, uvicorn_server
from taskbeam.server._registry import Registry
from taskbeam.store import SQLiteStore, StoreError

__all__ = ["add_arguments", "demo_registry", "load_registry", "port_number", "run"]


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (a free one) to 65535."""
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, not {text!r}")
    return int(text)


def _whole(text: str) -> int:
    """An argparse type: a whole number (0 or more)."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}")
    return int(text)


def _count(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if _whole(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``taskbeam serve``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=port_number, default=8765, help="port (0: a free one)")
    parser.add_argument("--app", metavar="MODULE:REGISTRY", help="the graphs clients may start")
    parser.add_argument("--store", default=None, help="database file (default .taskbeam/runs.db)")
    parser.add_argument("--token", help="the token clients give (default: $TASKBEAM_TOKEN or new)")
    parser.add_argument("--no-auth", action="store_true", help="no token (loopback hosts only)")
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web origin (https://host:port) allowed to call the server; repeatable",
    )
    parser.add_argument(
        "--max-connections", type=_count, default=1000, metavar="N",
        help="Socket.IO sessions open at once, in total (default 1000)",
    )  # fmt: skip
    parser.add_argument(
        "--max-connections-per-client", type=_count, default=100, metavar="N",
        help="Socket.IO sessions open at once from one address (default 100)",
    )  # fmt: skip
    parser.add_argument(
        "--header-timeout", type=float, default=10.0, metavar="SECONDS",
        help="seconds a connection has to send its request headers (default 10)",
    )  # fmt: skip
    parser.add_argument(
        "--keep-finished", type=_whole, default=100, metavar="N",
        help="finished projects kept in memory; older ones are released (default 100)",
    )  # fmt: skip


def research(
    topic: str = "why is the sky blue", depth: int = 2, breadth: int = 3, delay: float = 0.05
) -> Graph:
    """A recursive research agent over a fake, offline language model."""
    from taskbeam.examples import FakeLLM, research_graph

    for name, value, low, high in (("depth", depth, 1, 5), ("breadth", breadth, 1, 6)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer from {low} to {high}")
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 2:
        raise ValueError("delay must be a number of seconds from 0 to 2")
    if not isinstance(topic, str) or not 0 < len(topic) <= 200:
        raise ValueError("topic must be a string of 1 to 200 characters")
    return research_graph(topic, depth=depth, breadth=breadth, llm=FakeLLM(delay))


def demo_registry() -> Registry:
    """The example graphs: ``research``."""
    registry = Registry()
    registry.register("research", research)
    return registry


def load_registry(spec: str) -> Registry:
    """Resolve ``module:attribute`` to a Registry (or a zero-argument function returning one)."""
    return load_object(spec, Registry, "MODULE:REGISTRY for --app")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; return the exit code."""
    try:
        require()
        token = check_auth(
            args.host, args.token or os.environ.get("TASKBEAM_TOKEN"), not args.no_auth
        )
    except (ImportError, ValueError) as exc:
        raise SystemExit(f"taskbeam: {exc}") from None
    registry = load_registry(args.app) if args.app else demo_registry()
    try:
        store = SQLiteStore(args.store)
    except StoreError as exc:
        raise SystemExit(f"taskbeam: {exc}") from None
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        store.close()
        raise SystemExit(f"taskbeam: cannot listen on {args.host}:{args.port}: {exc}") from None
    from taskbeam.server._app import create_app

    service = ExecutionService(store=store)
    max_message_bytes = 1 << 20
    with sock, Broadcaster() as broadcaster:
        app = create_app(
            service, registry, token=token, broadcaster=broadcaster,
            allow_origins=args.allow_origin, max_message_bytes=max_message_bytes,
            max_connections=args.max_connections,
            max_connections_per_client=args.max_connections_per_client,
            keep_finished=args.keep_finished,
        )  # fmt: skip
        url = base_url(sock)
        link = f"{url}/?token={token}" if token else f"{url}/"
        # Plain prints: the URL must stay on one line to be copied or clicked.
        print(f"taskbeam server is running; open\n\n    {link}\n", flush=True)
        print(f"API: {url}/api/openapi.json · graphs: {', '.join(registry) or 'none'}", flush=True)
        print(f"Runs are stored in {store.path}. Press Ctrl-C to stop.", flush=True)
        # uvicorn shuts down gracefully on SIGINT or SIGTERM, then raises the signal
        # again: make SIGTERM an interrupt too, so that the runs are cancelled and
        # the store closed here rather than the process killed.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C (or SIGTERM) is how it stops
                server = uvicorn_server(
                    app,
                    max_message_bytes,
                    max_connections=args.max_connections,
                    header_timeout=args.header_timeout,
                )
                server.run(sockets=[sock])
        finally:
            signal.signal(signal.SIGTERM, previous)
            service.shutdown(timeout=10)
            store.close()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
