"""The standalone server: a REST API and Socket.IO over an ExecutionService.

``taskbeam serve`` runs it from the command line; :func:`serve` runs it from
Python (a notebook) in a background thread. Graphs are started by name from
a :class:`Registry`: clients send a name and JSON params, never code. See
docs/server.md.

It needs the ``server`` extra (Starlette, uvicorn, python-socketio), imported
only when a server is made, so :class:`Registry` works without it.
"""

from __future__ import annotations

from taskbeam.server._registry import BadParams, Registry, UnknownGraph
from taskbeam.server._serve import Server, serve

__all__ = ["BadParams", "Registry", "Server", "UnknownGraph", "serve"]
