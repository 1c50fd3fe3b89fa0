"""``taskbeam lab``: JupyterLab on a local address with a fresh token."""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

from rich.console import Console

from taskbeam._cli_common import ENVIRONMENT, OK, USAGE, CliError

__all__ = ["free_port", "lab_command"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def lab_command(args: argparse.Namespace, console: Console) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        raise CliError(ENVIRONMENT, "JupyterLab is not installed: pip install 'taskbeam[lab]'")
    notebook = pathlib.Path(args.notebook).resolve() if args.notebook else None
    if notebook is not None and not notebook.is_file():
        raise CliError(USAGE, f"no notebook {args.notebook!r}")
    root = notebook.parent if notebook is not None else pathlib.Path.cwd()
    port = args.port or free_port(args.ip)
    token = secrets.token_hex(24)
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--ip={args.ip}",
        f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd)
    base = f"http://{args.ip}:{port}"
    deadline = time.monotonic() + 60
    while proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/api?token={token}", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.terminate()
                raise CliError(ENVIRONMENT, "JupyterLab did not start within 60 s") from None
            time.sleep(0.2)
    page = f"/lab/tree/{notebook.name}" if notebook is not None else "/lab"
    # A plain print: the URL must stay on one line to be copied or clicked.
    print(f"JupyterLab is running; open\n\n    {base}{page}?token={token}\n", flush=True)
    print("Press Ctrl-C to stop it.", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(10)
        return OK
