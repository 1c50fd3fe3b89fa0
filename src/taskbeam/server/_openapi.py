"""The OpenAPI 3.1 document of the REST API, served at ``/api/openapi.json``.

Written by hand as data, next to nothing else, so that it can be read as the
API's reference and checked against the server (the tests fuzz the server
from it and fail on any answer it does not describe). It is a little over 600
lines because it is one document: splitting it would scatter the reference.
"""

from __future__ import annotations

from typing import Any

from taskbeam._schema import RunStatus, Status
from taskbeam.store._stored import CURSOR, STATUS_FILTER

__all__ = ["OPENAPI"]

# A project is "created" before its first run starts; then it has its run's status.
_STATUSES = ["created", *(s.value for s in RunStatus)]
_NODE_STATUSES = [s.value for s in Status]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "A malformed request: bad JSON, or an id that is too long or has control characters",
        401: "No token, or a wrong one",
        404: "No such project, graph or node",
        409: "The project's state does not allow it (not started yet, or still running)",
        413: "The request body is larger than the limit (1 MiB by default)",
        422: "Well-formed but wrong: wrong types, unknown fields, params the graph refused",
        503: "The store or the broadcaster could not answer in time",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


def _operation(
    summary: str, ok: str, schema: str, status: int = 200, errors: tuple[int, ...] = ()
) -> dict[str, Any]:
    return {
        "summary": summary,
        "responses": {str(status): _json(_ref(schema), ok), **_errors(401, *errors)},
    }


_PRINTABLE = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
_NO_SLASH = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$"
_PROJECT_ID = {
    "name": "project_id",
    "in": "path",
    "required": True,
    "description": "no `/`, no control characters",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": _NO_SLASH},
}
_NODE_ID = {
    "name": "node_id",
    "in": "path",
    "required": True,
    "description": "children of an expanded node are `parent/child`; no control characters",
    "schema": {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": _PRINTABLE},
}
_NUMBER = {"type": "number"}
_SUMMARY = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"enum": _NODE_STATUSES},
        "attempt": {"type": "integer"},
        "started": _NUMBER,
        "ended": _NUMBER,
        "preview": {"type": "string"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string"},
                "message": {"type": "string"},
                "traceback": {"type": "string"},
            },
        },
        "parent": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        # while the node is waiting (docs/questions.md): its oldest open question
        "question": {
            "type": "object",
            "required": ["id", "prompt"],
            "properties": {
                "id": {"type": "string"},
                "prompt": {"type": "string"},
                "choices": {"type": "array"},
                "form": {"type": "boolean"},
                "preview": {"type": "string"},
            },
        },
        "questions": {"type": "integer"},
        "output_chars": {
            "type": "integer",
            "description": "characters the node has printed so far (monotonic)",
        },
        "cached": {
            "type": "object",
            "description": "its result was reused (docs/cache.md): the run and node that made it",
            "required": ["run", "node"],
            "properties": {"run": {"type": "string"}, "node": {"type": "string"}},
        },
    },
}
_QUESTION = {
    "type": "object",
    "required": ["id", "node_id", "key", "prompt", "asked"],
    "properties": {
        "id": {"type": "string"},
        "node_id": {"type": "string"},
        "key": {"type": "string", "description": "the same key asks the same question"},
        "prompt": {"type": "string", "description": "Markdown"},
        "data": {"description": "any JSON shown with the prompt (a form's starting value)"},
        "choices": {"type": "array", "items": {"type": "string"}},
        "schema": {"type": "object", "description": "a JSON Schema the answer must meet"},
        "default": {"description": "the answer when the deadline passes"},
        "asked": _NUMBER,
        "deadline": _NUMBER,
    },
}
_SCHEMAS: dict[str, Any] = {
    "Question": _QUESTION,
    "QuestionList": {
        "type": "object",
        "required": ["questions"],
        "properties": {"questions": {"type": "array", "items": _ref("Question")}},
    },
    "AnswerBody": {
        "type": "object",
        "required": ["value"],
        "additionalProperties": False,
        "properties": {
            "value": {
                "$ref": "#/components/schemas/JSONValue",
                "description": "the answer: JSON that fits the question",
            }
        },
    },
    "RerunBody": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "nodes": {
                "type": ["array", "null"],
                "maxItems": 1000,
                "items": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 1000,
                    "pattern": _PRINTABLE,
                },
                "description": "node ids to run again (children as parent/child); "
                "absent or null: run only what changed",
            }
        },
    },
    "Answered": {
        "type": "object",
        "required": ["answered"],
        "properties": {
            "answered": {"type": "string", "description": "the question's id"},
            "question": {"oneOf": [_ref("Question"), {"type": "null"}]},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "Health": {
        "type": "object",
        "required": ["status", "version"],
        "properties": {"status": {"const": "ok"}, "version": {"type": "string"}},
    },
    "GraphList": {
        "type": "object",
        "required": ["graphs"],
        "properties": {
            "graphs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "description", "params"],
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "params": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "required"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "required": {"type": "boolean"},
                                    "default": {},
                                },
                            },
                        },
                    },
                },
            }
        },
    },
    "NewProject": {
        "type": "object",
        "required": ["graph"],
        "additionalProperties": False,
        "properties": {
            "graph": {"type": "string", "description": "a name from GET /api/graphs"},
            "params": {
                "type": "object",
                "description": "keyword arguments of the graph's factory (JSON, at most "
                "32 levels deep, integers in the 64-bit range)",
                "additionalProperties": {"$ref": "#/components/schemas/JSONValue"},
            },
            "start": {"type": "boolean", "default": True},
        },
    },
    "JSONValue": {
        "description": "a JSON value the server keeps exactly: integers in the 64-bit "
        "range (an integer is never read as a float), finite numbers",
        "anyOf": [
            {"type": "string"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "integer", "minimum": -(2**63), "maximum": 2**64 - 1},
            {"type": "number", "minimum": -1e300, "maximum": 1e300, "not": {"type": "integer"}},
            {"type": "array", "items": {"$ref": "#/components/schemas/JSONValue"}},
            {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/JSONValue"}},
        ],
    },
    "RunFields": {
        "type": "object",
        "required": ["id", "name", "status", "counts", "total", "created"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "status": {"enum": _STATUSES[1:]},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "total": {"type": "integer"},
            "created": _NUMBER,
            "ended": _NUMBER,
            "error": {"type": "string"},
            "continuable": {"type": "boolean"},
            "stored": {
                "type": "boolean",
                "description": "a stored run, shown as stored (frozen) until it is continued",
            },
            "parent_run": {
                "type": "string",
                "description": "a rerun: the run whose results it reuses",
            },
            "cache": {
                "type": "object",
                "description": "with a cache or a rerun: nodes reused, run, and uncacheable",
                "properties": {
                    "hits": {"type": "integer"},
                    "misses": {"type": "integer"},
                    "uncacheable": {"type": "integer"},
                },
            },
        },
    },
    "RunItem": {
        "type": "object",
        "description": "a run in the list of runs (live or stored)",
        "required": ["id", "name", "status", "counts", "total", "created"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "status": {"enum": _STATUSES[1:]},
            "project": {"type": "string"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "total": {"type": "integer"},
            "created": _NUMBER,
            "ended": _NUMBER,
            "error": {"type": "string"},
            "stored_status": {
                "type": "string",
                "description": "an interrupted run: the status its row was left with",
            },
        },
    },
    "RunPage": {
        "type": "object",
        "required": ["runs", "next", "total"],
        "properties": {
            "runs": {"type": "array", "items": _ref("RunItem")},
            "next": {
                "type": ["string", "null"],
                "description": "the cursor of the next page, null on the last",
            },
            "total": {"type": "integer", "description": "runs that match, on all pages"},
        },
    },
    "Snapshot": {
        "type": "object",
        "required": ["run", "nodes", "edges"],
        "properties": {
            "run": _ref("RunFields"),
            "nodes": {"type": "object", "additionalProperties": _ref("NodeSummary")},
            "edges": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        },
    },
    "Project": {
        "type": "object",
        "required": ["id", "graph", "params", "status", "created"],
        "properties": {
            "id": {"type": "string"},
            "graph": {"type": "string"},
            "params": {"type": "object"},
            "status": {"enum": _STATUSES},
            "created": _NUMBER,
            "run_id": {"type": "string", "description": "the id of the project's latest run"},
            "run": _ref("RunFields"),
            "snapshot": {
                "type": "object",
                "description": "the run's whole state (with ?full=1), as in docs/protocol.md",
                "required": ["run", "nodes", "edges"],
                "properties": {
                    "run": _ref("RunFields"),
                    "nodes": {"type": "object", "additionalProperties": _ref("NodeSummary")},
                    "edges": {
                        "type": "array",
                        "items": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "ProjectList": {
        "type": "object",
        "required": ["projects"],
        "properties": {"projects": {"type": "array", "items": _ref("Project")}},
    },
    "NodeSummary": _SUMMARY,
    "NodePage": {
        "type": "object",
        "required": ["nodes"],
        "properties": {
            "nodes": {"type": "object", "additionalProperties": _ref("NodeSummary")},
            "cursor": {"type": "string", "description": "pass it back for the next page"},
        },
    },
    "NodeDetails": {
        "allOf": [_SUMMARY],
        "type": "object",
        "required": ["id", "deps"],
        "properties": {
            "id": {"type": "string"},
            "deps": {"type": "array", "items": {"type": "string"}},
            "result": {"type": "string", "description": "a longer preview of the result"},
            "output": {"type": "string", "description": "what the task printed"},
            "output_from": {
                "type": "integer",
                "description": "the position of the output's first character in all it printed",
            },
            "children": {"type": "array", "items": {"type": "string"}},
        },
    },
}


def _control(summary: str, *errors: int) -> dict[str, Any]:
    codes = (400, 404, 409, 413, 503, *errors)
    return _operation(summary, "Accepted: the project now", "Project", 202, codes)


def _resume() -> dict[str, Any]:
    """``resume``: un-pause; its old meaning (continue a stored run) is deprecated."""
    operation = _control("Resume a paused run: new nodes start again; 409 when not paused", 422)
    operation["description"] = (
        "Un-pauses the project's paused run. Deprecated meaning: on a stored run "
        "(interrupted, failed or cancelled) it still continues the run, as "
        "`POST /api/projects/{project_id}/continue` does, and the response carries "
        '`Deprecation: true` and a `Link` to that route (`rel="successor-version"`); '
        "this meaning goes in a later release."
    )
    operation["responses"]["202"]["headers"] = {
        "Deprecation": {
            "description": "`true` when the deprecated meaning was used (a stored run continued)",
            "schema": {"type": "string", "enum": ["true"]},
        },
        "Link": {
            "description": "with `Deprecation`: `</api/projects/{id}/continue>; "
            'rel="successor-version"`',
            "schema": {"type": "string"},
        },
    }
    return operation


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "taskbeam server",
        "version": "1",
        "description": "Start registered task graphs by name and follow their runs. "
        "Live state is on Socket.IO; see docs/server.md.",
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/health": {
            "get": {
                "summary": "Whether the server is up (no token needed)",
                "security": [],
                "responses": {"200": _json(_ref("Health"), "Up")},
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document (no token needed)",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document")},
            }
        },
        "/api/graphs": {"get": _operation("The graphs that can be started", "Graphs", "GraphList")},
        "/api/projects": {
            "get": _operation("Every project", "Projects", "ProjectList", errors=(503,)),
            "post": {
                **_operation(
                    "Create a project from a registered graph (and start it unless start is false)",
                    "Created",
                    "Project",
                    201,
                    (400, 404, 409, 413, 422, 503),
                ),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewProject")}},
                },
            },
        },
        "/api/projects/{project_id}": {
            "parameters": [_PROJECT_ID],
            "get": {
                **_operation(
                    "A project: status, counts", "The project", "Project", 200, (400, 404, 422, 503)
                ),
                "parameters": [
                    {
                        "name": "full",
                        "in": "query",
                        "description": "1 or true: include the run's whole state as `snapshot`",
                        "schema": {"enum": ["", "0", "1", "false", "true"]},
                    }
                ],
            },
        },
        "/api/projects/{project_id}/execute": {
            "parameters": [_PROJECT_ID],
            "post": _control("Start the project's graph, or again once it has ended", 422),
        },
        "/api/projects/{project_id}/pause": {
            "parameters": [_PROJECT_ID],
            "post": _control("Start no new node until resumed"),
        },
        "/api/projects/{project_id}/resume": {
            "parameters": [_PROJECT_ID],
            "post": _resume(),
        },
        "/api/projects/{project_id}/continue": {
            "parameters": [_PROJECT_ID],
            "post": _control(
                "Continue an interrupted, failed or cancelled run from the store "
                "(done nodes are not run again); 409 when running, paused or done",
                422,
            ),
        },
        "/api/projects/{project_id}/rerun": {
            "parameters": [_PROJECT_ID],
            "post": {
                **_control(
                    "A new run of the project that runs the given nodes and what they change, "
                    "reusing every other result of its latest run; 409 while it runs, 422 for "
                    "a node it does not have",
                    422,
                ),
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("RerunBody")}},
                },
            },
        },
        "/api/projects/{project_id}/stop": {
            "parameters": [_PROJECT_ID],
            "post": _control("Cancel the run: open nodes end cancelled"),
        },
        "/api/projects/{project_id}/nodes": {
            "parameters": [_PROJECT_ID],
            "get": {
                **_operation(
                    "Node summaries in id order, a page at a time",
                    "A page",
                    "NodePage",
                    200,
                    (400, 404, 409, 422, 503),
                ),
                "parameters": [
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 5000},
                    },
                ],
            },
        },
        "/api/projects/{project_id}/nodes/{node_id}": {
            "parameters": [_PROJECT_ID, _NODE_ID],
            "get": _operation(
                "One node: summary, deps, result preview, traceback, output, children",
                "The node",
                "NodeDetails",
                200,
                (400, 404, 409, 503),
            ),
        },
        "/api/projects/{project_id}/questions": {
            "parameters": [_PROJECT_ID],
            "get": _operation(
                "The open questions of the project's run, in asked order",
                "The questions",
                "QuestionList",
                200,
                (400, 404, 409, 503),
            ),
        },
        "/api/projects/{project_id}/questions/{question_id}": {
            "parameters": [_PROJECT_ID, {**_PROJECT_ID, "name": "question_id"}],
            "post": {
                **_operation(
                    "Answer an open question: 400 when the value does not fit it (it stays "
                    "open), 404 no such question, 409 answered, withdrawn or not running",
                    "Answered: the task goes on",
                    "Answered",
                    200,
                    (400, 404, 409, 413, 422, 503),
                ),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("AnswerBody")}},
                },
            },
        },
        "/api/runs": {
            "get": {
                **_operation(
                    "Every run, stored ones included, newest first, a page at a time",
                    "A page",
                    "RunPage",
                    200,
                    (422, 503),
                ),
                "parameters": [
                    {
                        "name": "name",
                        "in": "query",
                        "description": "runs whose name contains this (case-insensitive)",
                        "schema": {"type": "string", "maxLength": 200},
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "description": "a status, or several separated by commas",
                        "schema": {"type": "string", "maxLength": 200, "pattern": STATUS_FILTER},
                    },
                    {
                        "name": "project",
                        "in": "query",
                        "description": "runs of this project id",
                        "schema": {"type": "string", "maxLength": 200},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "description": "`next` of the page before",
                        "schema": {"type": "string", "maxLength": 200, "pattern": CURSOR},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                ],
            }
        },
        "/api/runs/{run_id}": {
            "parameters": [{**_PROJECT_ID, "name": "run_id"}],
            "get": _operation(
                "A run's whole state (live, or as stored)",
                "The snapshot",
                "Snapshot",
                200,
                (400, 404, 503),
            ),
        },
    },
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
}
