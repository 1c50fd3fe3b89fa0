"""Socket.IO: the token check at connect, and the events clients send.

Every event is answered by its acknowledgement: the broadcaster's answer
(``{"type": "ok"}``, ``{"type": "nodes", ...}``, ...) or
``{"type": "error", "error": "..."}``. A handler never raises: whatever a
client sends, it gets an error answer and the server goes on. A client
with ``max_backlog`` packets unread is disconnected, and one with
``max_backlog`` requests being answered gets an error for the next, so
one that sends requests and never reads the answers cannot grow memory:
what it can cost is bounded by ``max_backlog`` requests in flight and as
many unread packets. (A flood of requests is refused, not a reason to
hang up: on a busy machine a well-behaved client may have many in flight.)
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

import socketio  # type: ignore[import-untyped]
from starlette.concurrency import run_in_threadpool

from taskbeam.broadcast._broadcaster import with_request_id
from taskbeam.server._client import Client
from taskbeam.server._hub import Hub
from taskbeam.server._projects import Conflict, Projects, UnknownProject
from taskbeam.server._restore import find_run

__all__ = ["CONTROL", "EVENTS", "MAX_ID_CHARS", "BadRequest", "attach_handlers", "check_id"]

log = logging.getLogger("taskbeam.server")

MAX_ID_CHARS = 1000
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0 and C1 control characters
_COMMANDS = frozenset({"pause", "resume", "stop"})
_RUN_REQUESTS = frozenset({"node_details", "nodes", "cancel_node"})
EVENTS = ("subscribe", "unsubscribe", "resync", *sorted(_RUN_REQUESTS), *sorted(_COMMANDS))


class BadRequest(ValueError):
    """What a client sent cannot be answered; the message says why."""


def check_id(value: Any, what: str, limit: int = MAX_ID_CHARS) -> str:
    """``value`` if it is a usable id: a non-empty string, not too long, no control chars."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{what} must be a non-empty string")
    if len(value) > limit:
        raise BadRequest(f"{what} is longer than {limit} characters")
    if CONTROL.search(value):
        raise BadRequest(f"{what} has control characters")
    return value


def attach_handlers(
    sio: socketio.AsyncServer, hub: Hub, projects: Projects, token: str | None, max_backlog: int
) -> None:
    """Register the connect, disconnect and event handlers of the server on ``sio``."""

    async def connect(sid: str, environ: Any = None, auth: Any = None, *_: Any) -> Any:
        if sid in hub.clients:  # an event a client named "connect": not a connection
            return {"type": "error", "error": "'connect' is not an event"}
        if token is not None:
            given = auth.get("token") if isinstance(auth, dict) else None
            if not isinstance(given, str) or not secrets.compare_digest(
                given.encode(), token.encode()
            ):
                raise ConnectionRefusedError("a valid token is required: auth={'token': ...}")
        hub.connect(sid)

    async def disconnect(sid: str, reason: Any = None, *_: Any) -> Any:
        if sio.manager.is_connected(sid, "/"):  # an event named "disconnect": still connected
            return {"type": "error", "error": "'disconnect' is not an event"}
        await hub.disconnect(sid)
        return None

    async def any_event(event: Any, sid: Any = None, *args: Any) -> dict[str, Any]:
        client = hub.clients.get(sid) if isinstance(sid, str) else None
        if client is None:
            if isinstance(event, str) and event in hub.clients:
                # An event named "*" comes here as (sid, *args), not (event, sid, *args).
                return {"type": "error", "error": "unknown event '*'"}
            return {"type": "error", "error": "not connected"}
        if client.backlog() >= max_backlog:  # it does not read what it is sent
            await sio.disconnect(sid)
            return {"type": "error", "error": "too many unread answers"}
        if client.inflight >= max_backlog:  # many requests at once: refuse, stay connected
            return {"type": "error", "error": "too many requests at once; wait for answers"}
        client.inflight += 1
        try:
            return await _event(client, event, args)
        finally:
            client.inflight -= 1

    async def _event(client: Client, event: Any, args: tuple[Any, ...]) -> dict[str, Any]:
        data = args[0] if len(args) == 1 else None
        try:
            if event not in EVENTS:
                raise BadRequest(f"unknown event {str(event)[:100]!r}; events: {', '.join(EVENTS)}")
            if not isinstance(data, dict):
                raise BadRequest(f"{event} takes one object, e.g. {{'project_id': ...}}")
            return await _answer(client, event, data)
        except BadRequest as exc:
            answer = {"type": "error", "error": str(exc)}
        except UnknownProject as exc:
            answer = {"type": "error", "error": f"no project {exc.args[0]!r}"[:300]}
        except (Conflict, LookupError, ValueError, TimeoutError) as exc:
            answer = {"type": "error", "error": str(exc)[:300]}
        except Exception:
            log.exception("Socket.IO event %r failed", event)
            answer = {"type": "error", "error": "internal error"}
        return with_request_id(answer, data)

    async def _answer(client: Client, event: str, data: dict[str, Any]) -> dict[str, Any]:
        if "project_id" not in data and "run_id" in data:  # a run by id, stored ones too
            project_id = check_id(data.get("run_id"), "run_id", 200)
            if event in _COMMANDS:
                raise BadRequest(f"{event} takes a project_id, not a run_id")
        else:
            project_id = check_id(data.get("project_id"), "project_id", 200)
        if event == "unsubscribe":
            client.replace(project_id, None)
            return with_request_id({"type": "ok"}, data)
        if event in _COMMANDS:
            run = await run_in_threadpool(projects.control, project_id, event)
            if event == "resume":  # a continued run takes over the room of the stored one
                await hub.attach(run)
            return with_request_id({"type": "ok"}, data)
        if "project_id" not in data:
            run = await run_in_threadpool(find_run, projects, project_id)
        else:
            run = await run_in_threadpool(projects.started, project_id)
        if event == "subscribe":
            room = await hub.subscribe(client.sid, project_id, run)
            return with_request_id({"type": "ok", "room": room}, data)
        if event == "resync":
            sub = client.subs.get(project_id)
            if sub is None:
                raise BadRequest(f"not subscribed to {project_id!r}: subscribe first")
            if sub.room != run.id:  # the project has a new run: follow it (a snapshot comes)
                await hub.subscribe(client.sid, project_id, run)
            else:
                client.resync(project_id)
            return with_request_id({"type": "ok"}, data)
        message = _run_request(event, data)
        return await hub.request(run, message)

    handlers: dict[str, Callable[..., Any]] = {"connect": connect, "disconnect": disconnect}
    for name, handler in handlers.items():
        sio.on(name, handler)
    sio.on("*", any_event)


def _run_request(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """The broadcaster request for ``event``, built from checked fields only."""
    message: dict[str, Any] = {"type": event}
    if event in ("node_details", "cancel_node"):
        message["node_id"] = check_id(data.get("node_id"), "node_id")
    else:
        cursor = data.get("cursor", "")
        limit = data.get("limit", 500)
        if not isinstance(cursor, str) or len(cursor) > MAX_ID_CHARS:
            raise BadRequest("cursor must be a string (a node id)")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 5000:
            raise BadRequest("limit must be an integer from 1 to 5000")
        message.update(cursor=cursor, limit=limit)
    if "id" in data:
        message["id"] = data["id"]
    return message
