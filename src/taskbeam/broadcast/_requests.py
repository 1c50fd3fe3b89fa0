"""The requests views send back: one table, checked once, answered in one place.

Every request of the wire protocol (docs/protocol.md) is one entry of
:data:`REQUESTS`, keyed by its ``type``, in the style of a route table: a
validator that turns the request into its checked fields (or raises
:class:`BadRequest` saying why), a handler that answers it for a room, and
the transports that offer it:

* ``"broadcaster"``: :meth:`Broadcaster.request`, which in-memory clients,
  tests and the REST API call directly;
* ``"comm"``: a Jupyter view (``GraphView``), over the widget's comm;
* ``"socketio"``: a client of ``taskbeam serve``.

A transport may answer an entry itself (``own``): the Jupyter view answers
``resync`` (it may have to follow another run first) and ``runs`` (a page
of the runs it knows); the Socket.IO server answers ``subscribe``,
``unsubscribe``, ``resync`` (per project) and the controls (a project's
run, through the server's projects: ``pause``, ``resume``, ``cancel``,
``continue`` and ``rerun``); the Jupyter view answers ``rerun`` too (it
follows the new run). Every other entry is answered by its
handler, on the broadcaster thread, with the room's run. Transports rename
nothing here: a transport whose wire names differ (Socket.IO says ``stop``
and ``batch_update``) maps them at its own edge, in one mapping.

Everything here is pure but for the handlers, which run on the broadcaster
thread (they read the room's run and post commands to its loop; they never
wait for it).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from taskbeam._errors import NotRunning
from taskbeam.broadcast._source import Source
from taskbeam.store._stored import MAX_LIMIT, STATUSES

__all__ = [
    "CONTROL",
    "MAX_ID_CHARS",
    "MAX_TEXT",
    "REQUESTS",
    "TRANSPORTS",
    "BadRequest",
    "Request",
    "Resyncable",
    "Rooms",
    "Target",
    "answer",
    "answered_by",
    "check_id",
    "offered",
    "parse",
    "rerun_fields",
    "rerun_of",
    "with_request_id",
]

MAX_ID_CHARS = 1000
MAX_TEXT = 200  # characters of a run name filter, a status list or a run-list cursor
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0 and C1 control characters
NODES_LIMIT, NODES_MAX = 500, 5000  # default and largest page of ``nodes``
RUNS_LIMIT = 50  # default page of ``runs``
TRANSPORTS = frozenset({"broadcaster", "comm", "socketio"})


class BadRequest(ValueError):
    """What a client sent cannot be answered; the message says why."""


class Rooms(Protocol):
    """What a handler needs of the broadcaster (no import of it: no cycle)."""

    def attach(self, run: Source) -> str: ...


class Resyncable(Protocol):
    """What a handler needs of the subscription that asks."""

    def resync(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Target:
    """What a room's request acts on: the room, its run and its copy of the run's
    state, and the subscription that asks (if any)."""

    broadcaster: Rooms
    room: str
    run: Source
    state: dict[str, Any]
    subscription: Resyncable | None = None


Fields = dict[str, Any]
Validate = Callable[[dict[str, Any]], Fields]
Handler = Callable[[Target, Fields], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Request:
    """One entry of the table.

    Attributes
    ----------
    type : str
        The request's ``type``.
    validate : callable
        ``validate(message)``: the checked fields, or :class:`BadRequest`.
    handler : callable or None
        ``handler(target, fields)``: the answer for a room. None when every
        transport that offers the request answers it itself.
    transports : frozenset of str
        The transports that offer it.
    own : frozenset of str
        The transports that answer it themselves instead of ``handler``.
    """

    type: str
    validate: Validate
    handler: Handler | None
    transports: frozenset[str] = TRANSPORTS
    own: frozenset[str] = frozenset()


def check_id(value: Any, what: str, limit: int = MAX_ID_CHARS) -> str:
    """``value`` if it is a usable id: a non-empty string, not too long, no control chars."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{what} must be a non-empty string")
    if len(value) > limit:
        raise BadRequest(f"{what} is longer than {limit} characters")
    if CONTROL.search(value):
        raise BadRequest(f"{what} has control characters")
    return value


def with_request_id(answer: dict[str, Any], request: Any) -> dict[str, Any]:
    """``answer`` with the request's ``id`` (an integer or a string of 64 or fewer chars)."""
    rid = request.get("id") if isinstance(request, dict) else None
    if (isinstance(rid, int) and not isinstance(rid, bool)) or (
        isinstance(rid, str) and len(rid) <= 64
    ):
        answer["id"] = rid
    return answer


def parse(transport: str, message: Any) -> tuple[Request, Fields]:
    """The entry that answers ``message`` over ``transport``, and its checked fields.

    Raises
    ------
    BadRequest
        For a message that is not an object with a string ``type``, a type
        the transport does not offer, or fields the entry's validator refuses.

    Examples
    --------
    >>> entry, fields = parse("comm", {"type": "nodes", "limit": 2, "id": 7})
    >>> entry.type, fields
    ('nodes', {'cursor': '', 'limit': 2})
    >>> parse("socketio", {"type": "runs"})
    Traceback (most recent call last):
    ...
    taskbeam.broadcast._requests.BadRequest: unknown request 'runs'
    """
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        kind = type(message).__name__
        raise BadRequest(f"a request is an object with a string 'type', not {kind}")
    kind = message["type"]
    entry = REQUESTS.get(kind)
    if entry is None or transport not in entry.transports:
        raise BadRequest(f"unknown request {kind[:100]!r}")
    return entry, entry.validate(message)


def offered(transport: str) -> tuple[str, ...]:
    """The request types ``transport`` offers, in the table's order."""
    return tuple(t for t, entry in REQUESTS.items() if transport in entry.transports)


def answered_by(transport: str) -> frozenset[str]:
    """The request types ``transport`` answers itself (the entries it ``own``s)."""
    return frozenset(t for t, entry in REQUESTS.items() if transport in entry.own)


def answer(entry: Request, target: Target, fields: Fields) -> dict[str, Any]:
    """``entry``'s handler's answer for ``target``; a refusal becomes an error answer."""
    if entry.handler is None:
        return {"type": "error", "error": f"{entry.type} is not answered for a room"}
    try:
        return entry.handler(target, fields)
    except BadRequest as exc:
        return {"type": "error", "error": str(exc)}


# -- validators ----------------------------------------------------------------


def _no_fields(message: dict[str, Any]) -> Fields:
    return {}


def _node(message: dict[str, Any]) -> Fields:
    return {"node_id": check_id(message.get("node_id"), "node_id")}


MAX_OFFSET = 2**53  # past this a JavaScript number is no longer an exact integer


def _node_details_fields(message: dict[str, Any]) -> Fields:
    fields = _node(message)
    offset = message.get("offset")
    if offset is None:
        return fields
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise BadRequest("offset must be an integer from 0 (a position in the node's output)")
    fields["offset"] = offset
    return fields


def _page(message: dict[str, Any]) -> Fields:
    cursor = message.get("cursor")
    limit = message.get("limit", NODES_LIMIT)
    if cursor is None:
        cursor = ""
    if not isinstance(cursor, str) or len(cursor) > MAX_ID_CHARS:
        raise BadRequest("cursor must be a string (a node id)")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= NODES_MAX:
        raise BadRequest(f"limit must be an integer from 1 to {NODES_MAX}")
    return {"cursor": cursor, "limit": limit}


def _runs(message: dict[str, Any]) -> Fields:
    name, status = message.get("name"), message.get("status")
    cursor, limit = message.get("cursor"), message.get("limit", RUNS_LIMIT)
    for key, value in (("name", name), ("status", status), ("cursor", cursor)):
        if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
            raise BadRequest(f"runs: '{key}' is a string of at most {MAX_TEXT} characters")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"runs: 'limit' is an integer from 1 to {MAX_LIMIT}")
    if status:
        unknown = [s for s in status.split(",") if s.strip() not in STATUSES]
        if unknown:
            statuses = ", ".join(STATUSES)
            raise BadRequest(f"runs: unknown status {unknown[0][:40]!r}; statuses: {statuses}")
    return {
        "name": name or None,
        "status": status or None,
        "cursor": cursor or None,
        "limit": limit,
    }


# -- handlers (the broadcaster thread) -----------------------------------------


def _resync(target: Target, fields: Fields) -> dict[str, Any]:
    if target.subscription is None:
        raise BadRequest("resync needs a subscription")
    target.subscription.resync()
    return {"type": "ok"}


def _node_details(target: Target, fields: Fields) -> dict[str, Any]:
    node, offset = fields["node_id"], fields.get("offset")
    try:
        if offset is not None and hasattr(target.run, "output"):  # a live run: from offset on
            details = target.run.details(node, offset)  # type: ignore[call-arg]
        else:  # a stored run keeps no positions: all of its kept output
            details = target.run.details(node)
    except KeyError:
        raise BadRequest(f"no node {node!r} in run {target.room}") from None
    except ValueError as exc:  # an offset past the node's output
        raise BadRequest(str(exc)) from None
    return {"type": "node_details", "node_id": node, "details": details}


def _nodes(target: Target, fields: Fields) -> dict[str, Any]:
    """A page of node summaries, in id order, from the room's copy of the state."""
    cursor, limit = fields["cursor"], fields["limit"]
    nodes = target.state["nodes"]
    ids = sorted(nodes)
    start = bisect.bisect_right(ids, cursor) if cursor else 0
    chosen = ids[start : start + limit]
    out: dict[str, Any] = {"type": "nodes", "nodes": {i: nodes[i] for i in chosen}}
    if start + limit < len(ids):
        out["cursor"] = chosen[-1]
    return out


def _control(command: str) -> Handler:
    def control(target: Target, fields: Fields) -> dict[str, Any]:
        try:
            getattr(target.run, command)()  # posts to the run's loop; never waits for it
        except NotRunning as exc:
            raise BadRequest(str(exc)) from None
        return {"type": "ok"}

    control.__name__ = f"_{command}"
    return control


def _cancel_node(target: Target, fields: Fields) -> dict[str, Any]:
    node = fields["node_id"]
    try:
        target.run.cancel_node(node)
    except KeyError:
        raise BadRequest(f"no node {node!r} in run {target.room}") from None
    except NotRunning as exc:
        raise BadRequest(str(exc)) from None
    return {"type": "ok"}


def _continue(target: Target, fields: Fields) -> dict[str, Any]:
    """Continue the room's stored run; the room passes to the new live run."""
    go = getattr(target.run, "continue_run", None)
    if go is None:
        raise BadRequest(f"run {target.room} is live: there is nothing to continue")
    try:
        run = go()
    except (NotRunning, ValueError, KeyError, OSError) as exc:
        raise BadRequest(str(exc.args[0] if isinstance(exc, KeyError) else exc)) from None
    target.broadcaster.attach(run)
    return {"type": "continued", "run_id": run.id}


RERUN_NODES = 1000  # most node ids one rerun request names


def rerun_fields(message: dict[str, Any]) -> Fields:
    """``nodes``: absent or null (run what changed), or a list of node ids to run again."""
    nodes = message.get("nodes")
    if nodes is None:
        return {"nodes": None}
    if not isinstance(nodes, list):
        raise BadRequest("'nodes' must be a list of node ids, or null to run what changed")
    if len(nodes) > RERUN_NODES:
        raise BadRequest(f"'nodes' names more than {RERUN_NODES} nodes")
    return {"nodes": [check_id(n, "a node id") for n in nodes]}


def rerun_of(run: Any, nodes: list[str] | None) -> Any:
    """``run.rerun(nodes)``, its refusals as :class:`BadRequest` (any transport's)."""
    go = getattr(run, "rerun", None)
    if go is None:
        raise BadRequest(f"run {getattr(run, 'id', '?')} cannot be rerun here")
    try:
        return go(nodes)
    except KeyError as exc:  # a node id the run does not have
        raise BadRequest(str(exc.args[0] if exc.args else exc)) from None
    except (RuntimeError, TypeError, ValueError, OSError) as exc:  # not ended; no graph
        raise BadRequest(str(exc)) from None


def _rerun(target: Target, fields: Fields) -> dict[str, Any]:
    """Rerun the room's run (see ``Run.rerun``); the new run gets a room of its own."""
    run = rerun_of(target.run, fields["nodes"])
    target.broadcaster.attach(run)
    return {"type": "rerun", "run_id": run.id, "parent_run": target.room}


def _answer_fields(message: dict[str, Any]) -> Fields:
    if "value" not in message:
        raise BadRequest("answer needs a 'value' (any JSON)")
    return {
        "question_id": check_id(message.get("question_id"), "question_id"),
        "value": message["value"],
    }


def _questions(target: Target, fields: Fields) -> dict[str, Any]:
    """The room's run's open questions, in asked order (a stored run has none)."""
    read = getattr(target.run, "questions", None)
    asked = [] if read is None else [q.to_dict() for q in read()]
    return {"type": "questions", "questions": asked}


def _answer(target: Target, fields: Fields) -> dict[str, Any]:
    """Answer a question of the room's run; an AnswerError's message is the error."""
    give = getattr(target.run, "answer", None)
    if give is None:
        raise BadRequest(f"run {target.room} is not running: its questions cannot be answered")
    try:
        give(fields["question_id"], fields["value"])
    except ValueError as exc:  # AnswerError
        raise BadRequest(str(exc)) from None
    return {"type": "ok"}


def _functions(target: Target, fields: Fields) -> dict[str, Any]:
    """``{node id: function name}``: what the timeline groups rows by, when asked to."""
    functions = getattr(target.run, "functions", None)
    if functions is None:
        raise BadRequest(f"run {target.room} does not know its functions")
    return {"type": "functions", "functions": functions()}


_SIO = frozenset({"socketio"})

REQUESTS: dict[str, Request] = {
    entry.type: entry
    for entry in (
        Request("resync", _no_fields, _resync, own=frozenset({"comm", "socketio"})),
        Request("node_details", _node_details_fields, _node_details),
        Request("nodes", _page, _nodes),
        Request("pause", _no_fields, _control("pause"), own=_SIO),
        Request("resume", _no_fields, _control("resume"), own=_SIO),
        Request("cancel", _no_fields, _control("cancel"), own=_SIO),
        Request("cancel_node", _node, _cancel_node),
        Request("continue", _no_fields, _continue, own=_SIO),
        Request("rerun", rerun_fields, _rerun, own=frozenset({"comm", "socketio"})),
        Request("questions", _no_fields, _questions),
        Request("functions", _no_fields, _functions),
        Request("answer", _answer_fields, _answer),
        Request("runs", _runs, None, transports=frozenset({"comm"}), own=frozenset({"comm"})),
        Request("subscribe", _no_fields, None, transports=_SIO, own=_SIO),
        Request("unsubscribe", _no_fields, None, transports=_SIO, own=_SIO),
    )
}
