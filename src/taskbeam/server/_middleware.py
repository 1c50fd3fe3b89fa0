"""ASGI middleware of the server, each a plain callable with its threshold as a parameter.

* :class:`BodyLimit` refuses a request body over ``max_body_bytes`` with 413,
  from its ``Content-Length`` or while it is being read (never after).
* :class:`OriginGuard` refuses, with 403, a request from a page of another
  origin than the server's own or an allowed one (the browser's ``Origin``).
* :class:`BearerAuth` requires ``Authorization: Bearer <token>`` on the API.
* :class:`LoopbackHosts` refuses a ``Host`` that is not a loopback name;
  with no token it is what stops a DNS-rebinding page from using the API.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection

import orjson
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskbeam.server._listen import is_loopback

__all__ = ["BearerAuth", "BodyLimit", "BodyTooLarge", "LoopbackHosts", "OriginGuard", "same_origin"]

_DIGITS = re.compile("[0-9]{1,19}")  # ASCII only; more digits than any body could have


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes the limit (Starlette answers it with 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


async def respond(
    send: Send, status: int, error: str, headers: dict[str, str] | None = None
) -> None:
    """Send ``{"error": ...}`` with ``status``."""
    body = orjson.dumps({"error": error})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int = 1 << 20) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not _DIGITS.fullmatch(declared):  # str.isdigit() takes "²", which int() refuses
                await respond(send, 400, "Content-Length is not a number")
                return
            if int(declared) > self.max_body_bytes:
                await respond(send, 413, self._too_large)
                return
        received = 0
        exceeded = started = False

        async def limited() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    exceeded = True
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if exceeded:  # an app that swallowed the error still answers 413
                    await respond(send, 413, self._too_large)
            if not exceeded:
                await send(message)

        try:
            await self.app(scope, limited, watched)
        except BodyTooLarge:  # raised through an app that is not Starlette
            if not started:
                await respond(send, 413, self._too_large)

    @property
    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_body_bytes} bytes"


def same_origin(origin: str, scope: Scope) -> bool:
    """Whether ``origin`` is the server's own, as the request reached it (proxies included)."""
    headers = Headers(scope=scope)
    raw = str(scope.get("scheme", "http"))
    scheme = {"ws": "http", "wss": "https"}.get(raw, raw)
    schemes = {scheme, headers.get("x-forwarded-proto", scheme).split(",")[0].strip()}
    hosts = {headers.get("host", ""), headers.get("x-forwarded-host", "").split(",")[0].strip()}
    return any(origin == f"{s}://{h}" for s in schemes for h in hosts if h)


class OriginGuard:
    def __init__(self, app: ASGIApp, allow_origins: Collection[str] = ()) -> None:
        self.app = app
        self.allow_origins = frozenset(allow_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        web = scope["type"] in ("http", "websocket")
        origin = Headers(scope=scope).get("origin") if web else None
        if origin is None or origin in self.allow_origins or same_origin(origin, scope):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await respond(send, 403, f"origin {origin[:200]!r} is not allowed (see --allow-origin)")


class BearerAuth:
    def __init__(
        self, app: ASGIApp, token: str, prefix: str = "/api/", public: Collection[str] = ()
    ) -> None:
        self.app = app
        self.token = token.encode()
        self.prefix = prefix
        self.public = frozenset(public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        guarded = scope["type"] == "http" and scope.get("method") != "OPTIONS"
        if guarded and path.startswith(self.prefix) and path not in self.public:
            scheme, _, given = Headers(scope=scope).get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(
                given.strip().encode(), self.token
            ):
                challenge = {"WWW-Authenticate": 'Bearer realm="taskbeam"'}
                await respond(
                    send, 401, "a valid token is required: Authorization: Bearer <token>", challenge
                )
                return
        await self.app(scope, receive, send)


class LoopbackHosts:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if not is_loopback(name):
                if scope["type"] == "http":
                    await respond(send, 400, f"host {host[:200]!r} is not a loopback name")
                else:
                    await send({"type": "websocket.close", "code": 1008})
                return
        await self.app(scope, receive, send)
