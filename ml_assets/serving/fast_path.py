"""``POST /v1/score`` and ``/v1/score/batch`` without FastAPI's per-request machinery, for the
requests that need none of it: a JSON body that validates as the route's request model while the
service is ready.

Measured on 2 cores: the service's own work for one transaction (online read + booster) is
~0.45 ms, and FastAPI's path around it (routing, dependency solving, body parsing, response
model) cost about as much again. Here the body is validated by the same pydantic model in JSON
mode (pydantic-core's parser) and the answer is the same ``JSONResponse``. Everything else
(a bad body, a non-JSON content type, not ready) is handed to FastAPI with the bytes already
read, so every error keeps FastAPI's status and shape, and the route stays in the OpenAPI
schema. A test sends the same requests through both paths and compares the answers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from starlette.responses import JSONResponse


class OffLoop:
    """Scoring calls of more than ``inline_rows`` events run on a worker thread, one at a time
    (an anyio ``CapacityLimiter`` of one): the event loop stays free for health checks and small
    requests while a large batch is scored (a 1,000-row batch held it for tens of milliseconds,
    and ``/healthz`` waited behind it). Smaller calls stay on the loop: the thread hop cost a
    batch of 100 a third of its time (BENCHMARKS.md), more than it holds the loop."""

    def __init__(self, inline_rows: int):
        self.inline_rows, self._limiter = inline_rows, None

    async def call(self, fn: Callable, arg, rows: int):
        if rows <= self.inline_rows:
            return fn(arg)
        import anyio
        import anyio.to_thread

        if self._limiter is None:  # made in the running loop
            self._limiter = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(fn, arg, limiter=self._limiter)


@dataclasses.dataclass(frozen=True)
class FastRoute:
    """A ``POST`` route the middleware answers itself: the body validates as ``model`` and
    ``answer`` returns the answer's content, or None to hand the request to FastAPI. A body over
    ``max_body`` bytes goes to FastAPI as it comes (its size limit and its 422 apply). With
    ``off_loop``, ``answer`` runs there for a request of ``rows(request)`` events."""

    model: type[BaseModel]
    answer: Callable[[BaseModel], dict | None]
    max_body: int
    off_loop: OffLoop | None = None
    rows: Callable[[BaseModel], int] = lambda request: 1


async def answered(route: FastRoute, request: BaseModel) -> dict | None:
    if route.off_loop is None:
        return route.answer(request)
    return await route.off_loop.call(route.answer, request, route.rows(request))


def _json_content(scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json"
    return False


class ScoreResponse(JSONResponse):
    """A scoring answer written by pydantic-core's serializer, a third of the standard library's
    time on a batch (BENCHMARKS.md); a non-finite float is written as null, never as NaN."""

    def render(self, content) -> bytes:
        return to_json(content)


class ScoreFastPath:
    """ASGI middleware: answers a ``POST`` to one of ``routes`` (by path) itself when its route's
    ``answer`` returns a body, and passes everything else on to ``app``."""

    def __init__(
        self,
        app,
        routes: dict[str, FastRoute],
        authorized: Callable[[dict], bool] = lambda scope: True,
    ):
        self.app, self.routes, self.authorized = app, routes, authorized

    async def __call__(self, scope, receive, send):
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if not (
            route is not None
            and scope["method"] == "POST"
            and _json_content(scope)
            and self.authorized(scope)  # else FastAPI answers 401 in its own words
        ):
            return await self.app(scope, receive, send)
        messages, body, complete = [], b"", False
        while len(body) <= route.max_body:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: FastAPI sees the same
            body += message.get("body", b"")
            if not message.get("more_body", False):
                complete = True
                break
        if complete:
            try:
                request = route.model.model_validate_json(body)
            except ValidationError:
                request = None  # FastAPI validates again and answers 422 in its own words
            answer = await answered(route, request) if request is not None else None
            if answer is not None:
                return await ScoreResponse(answer)(scope, receive, send)
        pending = iter(messages)

        async def replay():
            return next(pending, None) or await receive()

        return await self.app(scope, replay, send)
