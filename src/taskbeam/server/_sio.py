"""Socket.IO: the token check at connect, and the events clients send.

An event is a request of the request table (``taskbeam.broadcast._requests``)
offered to ``"socketio"``, under its Socket.IO name (``stop`` for
``cancel``: ``_outbox.SOCKETIO_NAMES``), with the project (``project_id``)
or the run (``run_id``) it is about. The table checks its fields; this
module answers the entries Socket.IO owns (``subscribe``, ``unsubscribe``,
``resync``, the controls) and hands the others to the broadcaster.

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

JSON that the limits refuse (too deep, huge integers, lone surrogates: see
``_limits``) reaches :func:`attach_handlers`' catch-all as the event
``MALFORMED`` and is answered with an error, like any other bad request;
sessions and binary packets are bounded by ``_guard.GuardedServer``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from taskbeam.broadcast._requests import (
    CONTROL,
    MAX_ID_CHARS,
    BadRequest,
    Request,
    check_id,
    offered,
    parse,
    with_request_id,
)
from taskbeam.server._client import Client
from taskbeam.server._guard import GuardedServer
from taskbeam.server._hub import Hub, on_broadcaster
from taskbeam.server._limits import Malformed
from taskbeam.server._outbox import SOCKETIO_NAMES
from taskbeam.server._projects import Conflict, Projects, Released, UnknownProject
from taskbeam.server._restore import find_run

__all__ = [
    "CONTROL",
    "DEPRECATED_RESUME",
    "EVENTS",
    "MAX_ID_CHARS",
    "OWN",
    "BadRequest",
    "attach_handlers",
    "check_id",
    "valid_token",
]

log = logging.getLogger("taskbeam.server")

# The requests of the table that Socket.IO offers, by their Socket.IO names.
EVENTS = tuple(SOCKETIO_NAMES.get(kind, kind) for kind in offered("socketio"))
_TYPE_OF = {event: kind for kind, event in SOCKETIO_NAMES.items()}
# A project's run, through its project: resume un-pauses, continue continues a stored run.
_CONTROLS = frozenset({"pause", "resume", "cancel", "continue"})
# The entries Socket.IO answers itself (a test checks them against the table).
OWN = frozenset({"subscribe", "unsubscribe", "resync", "rerun", *_CONTROLS})


# The ack of ``resume`` used on a stored run, which it still continues (for now).
DEPRECATED_RESUME = "use continue: resume on a stored run continues it only until a later release"


def valid_token(auth: Any, token: str) -> bool:
    """Whether a Socket.IO ``auth`` object holds ``token`` (compared in constant time)."""
    given = auth.get("token") if isinstance(auth, dict) else None
    if not isinstance(given, str):
        return False
    # surrogatepass: a lone surrogate is a wrong token, not an encoding error
    return secrets.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode())


def attach_handlers(
    sio: GuardedServer, hub: Hub, projects: Projects, token: str | None, max_backlog: int
) -> None:
    """Register the connect, disconnect and event handlers of the server on ``sio``."""

    async def connect(sid: str, environ: Any = None, auth: Any = None, *_: Any) -> Any:
        if sid in hub.clients:  # an event a client named "connect": not a connection
            return {"type": "error", "error": "'connect' is not an event"}
        if isinstance(auth, list) and auth and isinstance(auth[0], Malformed):
            raise ConnectionRefusedError(f"the auth object is refused: {auth[1]}")
        if token is not None and not valid_token(auth, token):
            raise ConnectionRefusedError("a valid token is required: auth={'token': ...}")
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is not None:
            sio.authenticated(eio_sid)
        hub.connect(sid)

    async def disconnect(sid: str, reason: Any = None, *_: Any) -> Any:
        if sio.manager.is_connected(sid, "/"):  # an event named "disconnect": still connected
            return {"type": "error", "error": "'disconnect' is not an event"}
        await hub.disconnect(sid)
        return None

    async def any_event(event: Any, sid: Any = None, *args: Any) -> dict[str, Any]:
        if isinstance(event, Malformed):  # JSON the limits refused: args[0] says why
            sio.counters["malformed_packets"] += 1
            return {"type": "error", "error": str(args[0]) if args else "malformed packet"}
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
            entry, fields = parse("socketio", {**data, "type": _TYPE_OF.get(event, event)})
            answer = await _answer(client, event, entry, fields, data)
        except BadRequest as exc:
            answer = {"type": "error", "error": str(exc)}
        except Released as exc:
            answer = {"type": "error", "error": str(exc)}
        except UnknownProject as exc:
            answer = {"type": "error", "error": f"no project {exc.args[0]!r}"[:300]}
        except (Conflict, LookupError, ValueError, TimeoutError) as exc:
            answer = {"type": "error", "error": str(exc)[:300]}
        except Exception as exc:
            sio.counters["internal_errors"] += 1
            if sio.logs.allow(client.sid, f"event {event}"):
                log.error("Socket.IO event %r failed", str(event)[:100], exc_info=exc)
            answer = {"type": "error", "error": "internal error"}
        return with_request_id(answer, data)

    async def _answer(
        client: Client, event: str, entry: Request, fields: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        kind = entry.type
        if "project_id" not in data and "run_id" in data:  # a run by id, stored ones too
            project_id = check_id(data.get("run_id"), "run_id", 200)
            if kind in _CONTROLS:
                raise BadRequest(f"{event} takes a project_id, not a run_id")
        else:
            project_id = check_id(data.get("project_id"), "project_id", 200)
        if kind == "unsubscribe":
            client.replace(project_id, None)
            return {"type": "ok"}
        if kind == "rerun":  # a new run of the project; its subscribers follow it
            if "project_id" not in data:
                raise BadRequest(f"{event} takes a project_id, not a run_id")
            before = await run_in_threadpool(projects.started, project_id)
            new = await run_in_threadpool(projects.rerun, project_id, fields["nodes"])
            await hub.follow(project_id, new)
            return {"type": "rerun", "run_id": new.id, "parent_run": before.id}
        if kind in _CONTROLS:  # the project's vocabulary, as in REST: pause, resume, continue, stop
            done = await run_in_threadpool(projects.control, project_id, event)
            if done.continued:  # a continued run takes over the room of the stored one
                await hub.attach(done.run)
            if done.deprecated:  # resume on a stored run: the old meaning of continue
                return {"type": "ok", "deprecated": DEPRECATED_RESUME}
            return {"type": "ok"}
        if "project_id" not in data:
            run = await run_in_threadpool(find_run, projects, project_id)
        else:
            run = await run_in_threadpool(projects.started, project_id)
        if kind == "subscribe":
            room = await hub.subscribe(client.sid, project_id, run)
            return {"type": "ok", "room": room}
        if kind == "resync":
            sub = client.subs.get(project_id)
            if sub is None:
                raise BadRequest(f"not subscribed to {project_id!r}: subscribe first")
            if sub.room != run.id:  # the project has a new run: follow it (a snapshot comes)
                await hub.subscribe(client.sid, project_id, run)
            else:
                client.resync(project_id)
            return {"type": "ok"}
        b = hub.broadcaster

        def ask() -> dict[str, Any]:
            b.attach(run)
            return b.answer(run.id, entry, fields)

        return await on_broadcaster(b, ask)

    handlers: dict[str, Callable[..., Any]] = {"connect": connect, "disconnect": disconnect}
    for name, handler in handlers.items():
        sio.on(name, handler)
    sio.on("*", any_event)
