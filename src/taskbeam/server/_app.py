"""The ASGI application: REST (Starlette) and Socket.IO (python-socketio) in one.

From the outside in::

    LoopbackHosts (only without a token) → BodyLimit → OriginGuard
      → socketio.ASGIApp: /socket.io/ → the Socket.IO server (token in ``auth``)
                          anything else → Starlette: CORS → BearerAuth → routes

``/`` serves ``index.html`` from the static folder and ``/static/`` the rest
of it (the web page, ``page.js`` and ``page.css``, built from js/ by
``npm run build``); the API lives under ``/api/``. Static files are sent
with ``cache-control: no-cache``, so a browser revalidates them (a 304 when
unchanged) and never runs the page of an older install.
"""

from __future__ import annotations

import logging
import os
import pathlib
from collections.abc import Collection
from typing import Any

import socketio  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from taskbeam._errors import GraphError
from taskbeam._service import ExecutionService
from taskbeam.broadcast import Broadcaster
from taskbeam.server._api import Api, json_response
from taskbeam.server._hub import Hub
from taskbeam.server._middleware import (
    BearerAuth,
    BodyLimit,
    LoopbackHosts,
    OriginGuard,
    same_origin,
)
from taskbeam.server._projects import Conflict, Projects, UnknownProject
from taskbeam.server._registry import BadParams, Registry, UnknownGraph
from taskbeam.server._restore import UnknownRun
from taskbeam.server._sio import BadRequest, attach_handlers
from taskbeam.store import StoreError

__all__ = ["STATIC", "App", "create_app"]

log = logging.getLogger("taskbeam.server")
STATIC = pathlib.Path(__file__).parent / "static"
PUBLIC = ("/api/health", "/api/openapi.json")
_STATUS: dict[type[Exception], int] = {
    BadRequest: 400,
    UnknownProject: 404,
    UnknownGraph: 404,
    UnknownRun: 404,
    Conflict: 409,
    BadParams: 422,
    GraphError: 422,
    StoreError: 503,
    TimeoutError: 503,
}


class App:
    """The server's ASGI callable, with the parts the server and the tests look at."""

    def __init__(self, asgi: Any, projects: Projects, hub: Hub, sio: socketio.AsyncServer) -> None:
        self.asgi = asgi
        self.projects = projects
        self.hub = hub
        self.sio = sio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.asgi(scope, receive, send)
            return
        try:
            await self.asgi(scope, receive, send)
        except Exception:  # Engine.IO raises on some malformed packets: only that client goes
            log.info("a WebSocket connection ended on an error", exc_info=True)


def create_app(
    service: ExecutionService,
    registry: Registry | None = None,
    *,
    token: str | None,
    broadcaster: Broadcaster,
    allow_origins: Collection[str] = (),
    static_dir: pathlib.Path = STATIC,
    max_body_bytes: int = 1 << 20,
    max_message_bytes: int = 1 << 20,
    outbox_capacity: int = 4,
    outbox_hard_limit: int = 16,
    max_backlog: int = 32,
) -> App:
    """Build the server's ASGI app over ``service``.

    ``token=None`` turns authentication off; the app then answers only
    requests whose ``Host`` is a loopback name. ``max_body_bytes`` bounds a
    request body, ``max_message_bytes`` a Socket.IO message; the outbox
    bounds and ``max_backlog`` are per Socket.IO client (see ``_outbox``).
    """
    projects = Projects(service, registry if registry is not None else Registry())
    allowed = frozenset(allow_origins)

    def cors(origin: str | None, environ: dict[str, Any]) -> bool:
        return origin is None or origin in allowed or same_origin(origin, environ["asgi.scope"])

    sio = socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins=cors,
        max_http_buffer_size=max_message_bytes,
        logger=False,
        engineio_logger=False,
    )
    hub = Hub(sio, broadcaster, capacity=outbox_capacity, hard_limit=outbox_hard_limit)
    attach_handlers(sio, hub, projects, token, max_backlog)
    api = Api(projects, hub)

    async def index(request: Request) -> Response:
        page = static_dir / "index.html"
        if not page.is_file():
            raise HTTPException(404, "no page: the static folder has no index.html")
        if not (static_dir / "page.js").is_file():  # a source checkout, not built yet
            return HTMLResponse(_UNBUILT, headers={"cache-control": "no-cache"})
        return FileResponse(page, headers={"cache-control": "no-cache"})

    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=sorted(allowed),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    ]
    if token is not None:
        middleware.append(Middleware(BearerAuth, token=token, public=PUBLIC))
    routes = [
        Route("/", index, methods=["GET"]),
        *api.routes(),
        Mount("/static", _Static(directory=static_dir), name="static"),
    ]
    handlers: dict[Any, Any] = {HTTPException: _http_error, Exception: _server_error}
    handlers.update(dict.fromkeys(_STATUS, _known_error))
    web = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)
    web.router.redirect_slashes = False  # /api/projects/ is a 404, not a redirect
    asgi: Any = socketio.ASGIApp(
        sio, other_asgi_app=web, on_startup=hub.start, on_shutdown=hub.close
    )
    asgi = BodyLimit(OriginGuard(asgi, allowed), max_body_bytes)
    if token is None:
        asgi = LoopbackHosts(asgi)
    return App(asgi, projects, hub, sio)


class _Static(StaticFiles):
    """Static files that browsers revalidate before use (``cache-control: no-cache``)."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.setdefault("cache-control", "no-cache")
        return response


_UNBUILT = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>taskbeam</title>'
    '</head><body style="font: 15px/1.5 system-ui, sans-serif; max-width: 42rem; '
    'margin: 3rem auto; padding: 0 1rem">'
    "<h1>taskbeam server</h1><p>The server is running, but its web page is not built (the "
    "package's <code>server/static</code> folder has no <code>page.js</code>). From a source "
    "checkout, run <code>cd js &amp;&amp; npm ci &amp;&amp; npm run build</code>, then "
    'reload.</p><p>The REST API is described at <a href="api/openapi.json">'
    "api/openapi.json</a>.</p></body></html>"
)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = json_response({"error": exc.detail}, exc.status_code)
    response.headers.update(exc.headers or {})
    return response


async def _known_error(request: Request, exc: Exception) -> Response:
    status = next(s for cls, s in _STATUS.items() if isinstance(exc, cls))
    message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, UnknownProject):
        message = f"no project {message[:200]!r}"
    elif isinstance(exc, UnknownRun):
        message = f"no run {message[:200]!r}"
    return json_response({"error": message[:2000]}, status)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return json_response({"error": "internal server error"}, 500)
