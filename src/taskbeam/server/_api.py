"""The REST API: projects of registered graphs, their runs, their nodes.

Handlers check every input themselves and raise; the exception handlers
of :func:`taskbeam.server._app.create_app` turn each error into its status
(400 bad JSON or id, or JSON past the limits of ``_limits``, 404 unknown,
409 conflict, 422 wrong types or params). Integer query parameters are read
by ``_limits.query_int`` only.
Calls that may block (starting a run, reading a run) go to a worker thread.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from taskbeam._errors import AnswerError, NotRunning, QuestionClosed
from taskbeam._stored import StoredRun
from taskbeam._version import __version__
from taskbeam.broadcast._requests import BadRequest, rerun_fields
from taskbeam.engine import Question, Run
from taskbeam.server._hub import Hub
from taskbeam.server._limits import MAX_DEPTH, JSONLimitError, check_json, query_int, strict_loads
from taskbeam.server._openapi import OPENAPI
from taskbeam.server._projects import Projects
from taskbeam.server._restore import BadNodes, find_run, list_runs
from taskbeam.server._sio import MAX_ID_CHARS, check_id

__all__ = ["Api", "json_response"]

_CREATE_FIELDS = frozenset({"graph", "params", "start"})
_FLAGS = {"": False, "0": False, "false": False, "1": True, "true": True}


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as JSON, never cached (it is live state)."""
    return Response(
        orjson.dumps(data),
        status,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


class Api:
    """The REST endpoints over ``projects``; ``hub`` moves subscribers to new runs."""

    def __init__(self, projects: Projects, hub: Hub) -> None:
        self.projects = projects
        self.hub = hub

    def routes(self) -> list[Route]:
        project = "/api/projects/{project_id}"
        return [
            Route("/api/health", self.health, methods=["GET"]),
            Route("/api/openapi.json", self.openapi, methods=["GET"]),
            Route("/api/graphs", self.graphs, methods=["GET"]),
            Route("/api/projects", self.projects_route, methods=["GET", "POST"]),
            Route(project, self.project, methods=["GET"]),
            Route(f"{project}/execute", self.execute, methods=["POST"]),
            Route(f"{project}/pause", self.control, methods=["POST"], name="pause"),
            Route(f"{project}/resume", self.control, methods=["POST"], name="resume"),
            Route(f"{project}/continue", self.control, methods=["POST"], name="continue"),
            Route(f"{project}/stop", self.control, methods=["POST"], name="stop"),
            Route(f"{project}/rerun", self.rerun, methods=["POST"]),
            Route(f"{project}/nodes", self.nodes, methods=["GET"]),
            Route(f"{project}/nodes/{{node_id:path}}", self.node, methods=["GET"]),
            Route(f"{project}/questions", self.questions, methods=["GET"]),
            Route(f"{project}/questions/{{question_id}}", self.answer, methods=["POST"]),
            Route("/api/runs", self.runs, methods=["GET"]),
            Route("/api/runs/{run_id}", self.run, methods=["GET"]),
        ]

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok", "version": __version__})

    async def openapi(self, request: Request) -> Response:
        return json_response(OPENAPI)

    async def graphs(self, request: Request) -> Response:
        return json_response({"graphs": self.projects.registry.describe()})

    async def projects_route(self, request: Request) -> Response:
        # One route for both methods, so a 405 lists both in ``Allow``.
        if request.method == "POST":
            return await self.create(request)
        return await self.list_projects(request)

    async def list_projects(self, request: Request) -> Response:
        return json_response({"projects": await run_in_threadpool(self.projects.describe_all)})

    async def create(self, request: Request) -> Response:
        data = await _json_object(request)
        unknown = sorted(set(data) - _CREATE_FIELDS)
        if unknown:
            raise HTTPException(422, f"unknown fields {unknown[:10]}; fields: graph, params, start")
        graph, params, start = data.get("graph"), data.get("params", {}), data.get("start", True)
        if not isinstance(graph, str):
            raise HTTPException(422, "'graph' must be the name of a registered graph (a string)")
        if not isinstance(params, dict):
            raise HTTPException(422, "'params' must be an object")
        if not isinstance(start, bool):
            raise HTTPException(422, "'start' must be true or false")
        created = await run_in_threadpool(self.projects.create, graph, params, start)
        described = await run_in_threadpool(self.projects.describe, created.id)
        return json_response(described, 201)

    async def project(self, request: Request) -> Response:
        project_id = _project_id(request)
        flag = request.query_params.get("full", "").lower()
        if flag not in _FLAGS:
            raise HTTPException(422, "'full' is 1, true, 0 or false")
        described = await run_in_threadpool(self.projects.describe, project_id, _FLAGS[flag])
        return json_response(described)

    async def execute(self, request: Request) -> Response:
        project_id = _project_id(request)
        run = await run_in_threadpool(self.projects.execute, project_id)
        await self.hub.follow(project_id, run)
        return json_response(await run_in_threadpool(self.projects.describe, project_id), 202)

    async def control(self, request: Request) -> Response:
        project_id = _project_id(request)
        command = request.url.path.rsplit("/", 1)[1]
        done = await run_in_threadpool(self.projects.control, project_id, command)
        if done.continued:  # a continued run takes over the room of the stored one
            await self.hub.attach(done.run)
        response = json_response(await run_in_threadpool(self.projects.describe, project_id), 202)
        if done.deprecated:  # resume on a stored run: the old meaning of continue
            response.headers["Deprecation"] = "true"
            successor = f"/api/projects/{quote(project_id, safe='')}/continue"
            response.headers["Link"] = f'<{successor}>; rel="successor-version"'
        return response

    async def rerun(self, request: Request) -> Response:
        """A new run of the project: ``{"nodes": [...]}`` run again (and what they change),
        or no body / ``{"nodes": null}`` to run what changed; the rest is reused."""
        project_id = _project_id(request)
        data = await _json_object(request) if await request.body() else {}
        unknown = sorted(set(data) - {"nodes"})
        if unknown:
            raise HTTPException(422, f"unknown fields {unknown[:10]}; fields: nodes")
        try:
            nodes = rerun_fields(data)["nodes"]
        except BadRequest as exc:
            raise HTTPException(422, str(exc)) from None
        try:
            run = await run_in_threadpool(self.projects.rerun, project_id, nodes)
        except BadNodes as exc:
            raise HTTPException(422, str(exc)) from None
        await self.hub.follow(project_id, run)
        return json_response(await run_in_threadpool(self.projects.describe, project_id), 202)

    async def nodes(self, request: Request) -> Response:
        project_id = _project_id(request)
        cursor = request.query_params.get("cursor", "")
        if len(cursor) > MAX_ID_CHARS:
            raise HTTPException(422, f"'cursor' is a node id of at most {MAX_ID_CHARS} characters")
        try:
            limit = query_int(request.query_params, "limit", 500, 1, 5000)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        run = await run_in_threadpool(self.projects.started, project_id)
        message = {"type": "nodes", "cursor": cursor, "limit": limit}
        answer = await self.hub.request(run, message)
        if answer.get("type") != "nodes":
            raise HTTPException(422, str(answer.get("error", "bad request")))
        return json_response({k: v for k, v in answer.items() if k != "type"})

    async def node(self, request: Request) -> Response:
        project_id = _project_id(request)
        node_id = check_id(request.path_params["node_id"], "node id")
        run = await run_in_threadpool(self.projects.started, project_id)
        try:
            details = await run_in_threadpool(run.details, node_id)
        except KeyError:
            raise HTTPException(
                404, f"no node {node_id[:200]!r} in project {project_id!r}"
            ) from None
        return json_response(details)

    async def questions(self, request: Request) -> Response:
        """The open questions of the project's run, in asked order (a stored run has none)."""
        run = await run_in_threadpool(self.projects.started, _project_id(request))
        asked = await run_in_threadpool(_open_questions, run)
        return json_response({"questions": [q.to_dict() for q in asked]})

    async def answer(self, request: Request) -> Response:
        """Answer one: 400 a value that does not fit, 404 unknown, 409 no longer open."""
        project_id = _project_id(request)
        question_id = check_id(request.path_params["question_id"], "question id", 200)
        data = await _json_object(request)
        unknown = sorted(set(data) - {"value"})
        if unknown or "value" not in data:
            raise HTTPException(422, 'the body is {"value": <the answer, any JSON>}')
        run = await run_in_threadpool(self.projects.started, project_id)
        if not isinstance(run, Run):
            raise HTTPException(409, f"project {project_id!r} is not running: nothing to answer")
        asked = {q.id: q for q in await run_in_threadpool(_open_questions, run)}
        try:
            await run_in_threadpool(run.answer, question_id, data["value"])
        except QuestionClosed as exc:
            raise HTTPException(404 if exc.reason == "unknown" else 409, str(exc)) from None
        except AnswerError as exc:  # the value does not fit: the question stays open
            raise HTTPException(400, str(exc)) from None
        except NotRunning as exc:  # the run ended meanwhile
            raise HTTPException(409, str(exc)) from None
        question = asked.get(question_id)
        return json_response(
            {"answered": question_id, "question": None if question is None else question.to_dict()}
        )

    async def runs(self, request: Request) -> Response:
        """A page of the runs (stored ones included), newest first; see docs/server.md."""
        query = request.query_params
        unknown = sorted(set(query) - {"name", "status", "project", "cursor", "limit"})
        if unknown:
            raise HTTPException(422, f"unknown parameters {unknown[:10]}")
        filters: dict[str, Any] = {}
        for key in ("name", "status", "project", "cursor"):
            value = query.get(key, "")
            if len(value) > 200:
                raise HTTPException(422, f"'{key}' is at most 200 characters")
            if value:
                filters[key] = value
        limit_text = query.get("limit", "50")
        if not limit_text.isdigit():
            raise HTTPException(422, "'limit' is an integer from 1 to 500")
        filters["limit"] = int(limit_text)
        try:
            page = await run_in_threadpool(lambda: list_runs(self.projects, **filters))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return json_response(page)

    async def run(self, request: Request) -> Response:
        """One run's snapshot, live or stored."""
        run_id = check_id(request.path_params["run_id"], "run id", 200)
        found = await run_in_threadpool(find_run, self.projects, run_id)
        return json_response(await run_in_threadpool(found.snapshot))


def _open_questions(run: Run | StoredRun) -> list[Question]:
    return run.questions() if isinstance(run, Run) and not run.done else []


def _project_id(request: Request) -> str:
    return check_id(request.path_params["project_id"], "project id", 200)


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()  # BodyLimit stops it at the limit while it is read
    try:
        data = strict_loads(body)
    except JSONLimitError as exc:
        raise HTTPException(400, f"the body is refused: {exc}") from None
    except RecursionError:
        raise HTTPException(400, f"the body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise HTTPException(400, f"the body is not JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise HTTPException(422, "the body must be a JSON object")
    try:
        check_json(data, what="the body")
    except JSONLimitError as exc:
        raise HTTPException(400, str(exc)) from None
    return data
