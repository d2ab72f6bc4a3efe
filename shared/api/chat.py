"""The chat function's HTTP surface: `POST /api/ai/chat`, `POST /v1/chat/completions`, `GET /v1/models`.

Routes on the full path (architecture, Layout), so the same `ChatApi` serves behind the Cloud Function
entry point (`dispatch`, called by `functions/chat/main.py`) and mounted in the local dev server
(`asgi`). Each handler authenticates, reads the body under the size limit, parses it with the route's
wire format, calls the service core, and renders the reply, the stream or the route's error envelope.
Every reply carries `Server-Timing`; chat replies also `x-request-id` and the `x-gateway-*` headers.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.api.body import ECHO
from shared.api.deps import ChatDeps
from shared.api.envelopes import Reply, openai_error, seed_error
from shared.api.http_io import read_body
from shared.api.openai_wire import OpenAIStreamRenderer, parse_openai_request, render_models, render_openai_response
from shared.api.seed_wire import SeedStreamRenderer, parse_seed_request, render_seed_response
from shared.api.timing import ServerTiming
from shared.auth import authenticate
from shared.chat_types import ChatOptions, ChatResult
from shared.cost import Cost, format_usd
from shared.errors import GatewayError
from shared.identity import Identity
from shared.providers import SEED_NAMES
from shared.service import LiveStream, ReplayStream
from shared.unified import ChatChunk, ChatRequest, Usage

__all__ = ["ChatApi"]

AnyStream = LiveStream | ReplayStream

JSON = "application/json"
SSE = "text/event-stream"
_log = logging.getLogger(__name__)


class StreamRenderer(Protocol):
    """What both routes' stream renderers offer (shared.api.openai_wire / seed_wire)."""

    def chunk(self, c: ChatChunk) -> bytes: ...

    def usage_chunk(self, usage: Usage | None, cost: Cost) -> bytes: ...

    def done(self) -> bytes: ...

    def error(self, exc: GatewayError) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Wire:
    """One route's wire format: how to parse, render and report errors."""

    route: str  # "seed" | "openai": the usage event's route
    parse: Callable[[bytes, Mapping[str, str]], tuple[ChatRequest, ChatOptions]]
    render: Callable[[ChatResult, int], bytes]
    renderer: Callable[[AnyStream, ChatRequest], StreamRenderer]
    error: Callable[[GatewayError], Reply]


SEED = Wire(
    route="seed",
    parse=parse_seed_request,
    render=render_seed_response,
    renderer=lambda s, r: SeedStreamRenderer(
        s.model, s.created, s.provider, response_id=f"chatcmpl-{s.request_id}", attempts=s.attempts
    ),
    error=seed_error,
)
OPENAI = Wire(
    route="openai",
    parse=parse_openai_request,
    render=render_openai_response,
    renderer=lambda s, r: OpenAIStreamRenderer(
        s.model, s.created, r.include_usage, response_id=f"chatcmpl-{s.request_id}"
    ),
    error=openai_error,
)


class ChatApi:
    def __init__(self, deps: Callable[[], Awaitable[ChatDeps]]) -> None:
        self._deps = deps
        self.routes = [
            Route("/api/ai/chat", self.seed_chat, methods=["POST"]),
            Route("/v1/chat/completions", self.openai_chat, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
        ]
        self._table = {(r.path, m): r.endpoint for r in self.routes for m in r.methods or ()}

    def asgi(self) -> ASGIApp:
        """The dev server's mount: `dispatch` as a plain ASGI app. Not a Starlette app: its middleware
        stack and router cost some 20 µs per request for nothing these three exact paths need."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":  # lifespan (uvicorn runs with it off) or a websocket: nothing to serve
                return
            try:
                response = await self.dispatch(Request(scope, receive))
            except Exception:
                _log.exception("chat: unhandled error")
                response = _internal_error()
            await response(scope, receive, send)

        return app

    async def dispatch(self, request: Request) -> Response:
        """The Cloud Function entry: the same routes, matched on the full path."""
        path: str = request.scope["path"]
        endpoint = self._table.get((path, request.scope["method"]))
        if endpoint is not None:
            response: Response = await endpoint(request)
            return response
        return _no_route(path, self._allowed(path))

    def _allowed(self, path: str) -> list[str]:
        return sorted(m for p, m in self._table if p == path)

    async def seed_chat(self, request: Request) -> Response:
        return await self._chat(request, SEED)

    async def openai_chat(self, request: Request) -> Response:
        return await self._chat(request, OPENAI)

    async def models(self, request: Request) -> Response:
        timing = ServerTiming()
        deps = await self._deps()
        try:
            await authenticate(request.headers, deps.keys, scope="chat")
        except GatewayError as error:
            return _error_response(OPENAI, error, timing)
        return Response(render_models(deps.catalog), media_type=JSON, headers=timing.header())

    async def _chat(self, request: Request, wire: Wire) -> Response:
        timing = ServerTiming()
        deps = await self._deps()
        try:
            identity = await authenticate(request.headers, deps.keys, scope="chat")
        except GatewayError as error:
            return _error_response(wire, error, timing)
        timing.mark("auth")
        try:
            body = await read_body(request, deps.settings.max_body_bytes)
            chat_request, options = wire.parse(body, request.headers)
            options = dataclasses.replace(options, cache=deps.service.cache_decision(chat_request, request.headers))
        except GatewayError as error:
            await deps.service.reject(identity, wire.route, error)
            return _error_response(wire, error, timing)
        timing.mark("parse")
        if chat_request.stream:
            return await self._stream(deps, wire, chat_request, options, identity, timing)
        try:
            result = await deps.service.chat(chat_request, identity, options, route=wire.route)
        except GatewayError as error:
            timing.mark("upstream")
            return _error_response(wire, error, timing, options)
        timing.mark("upstream")
        content = wire.render(result, int(time.time()))
        headers = _route_headers(result.provider, result.model, result.request_id, result.attempts, result.route)
        headers["x-gateway-cost-usd"] = format_usd(result.cost.micros) if result.cost.micros is not None else "unpriced"
        headers["x-gateway-cache"] = result.cache_status
        headers.update(result.limit_headers)
        headers.update(timing.header())
        return Response(content, media_type=JSON, headers=headers)

    async def _stream(
        self,
        deps: ChatDeps,
        wire: Wire,
        chat_request: ChatRequest,
        options: ChatOptions,
        identity: Identity,
        timing: ServerTiming,
    ) -> Response:
        try:
            stream = await deps.service.chat_stream(chat_request, identity, options, route=wire.route)
        except GatewayError as error:
            timing.mark("upstream")
            return _error_response(wire, error, timing, options)
        timing.mark("first-chunk")
        renderer = wire.renderer(stream, chat_request)
        headers = _route_headers(stream.provider, stream.model, stream.request_id, stream.attempts, stream.route)
        headers.update({"cache-control": "no-cache", "x-accel-buffering": "no", "x-gateway-cache": stream.cache_status})
        headers.update(stream.limit_headers)  # as reserved: the stream settles after these are sent
        headers.update(timing.header())
        return StreamingResponse(_sse(stream, renderer), media_type=SSE, headers=headers)


async def _sse(stream: AnyStream, renderer: StreamRenderer) -> AsyncIterator[bytes]:
    """Forward each chunk as soon as it is parsed; usage and [DONE] at the end; a typed error event
    (and no [DONE]) when the stream fails after it started."""
    try:
        async for chunk in stream:
            if chunk.choices:
                data = renderer.chunk(chunk)
                if data:
                    yield data
    except GatewayError as error:
        yield renderer.error(error)
        return
    tail = renderer.usage_chunk(stream.usage, stream.cost)
    if tail:
        yield tail
    yield renderer.done()


def _route_headers(provider: str, model: str, request_id: str, attempts: int, route: str) -> dict[str, str]:
    return {
        "x-request-id": request_id,
        "x-gateway-provider": SEED_NAMES[provider],
        "x-gateway-model": model,
        "x-gateway-route": route,
        "x-gateway-attempts": str(attempts),
    }


def _error_response(
    wire: Wire, error: GatewayError, timing: ServerTiming, options: ChatOptions | None = None
) -> Response:
    status, headers, content = wire.error(error)
    consulted = options is not None and options.cache is not None and options.cache.lookup
    headers = {**headers, "x-gateway-cache": "MISS" if consulted else "BYPASS"}
    if error.request_id is not None:
        headers = {**headers, "x-request-id": error.request_id}
    return Response(content, status_code=status, headers={**headers, **timing.header()})


def _internal_error() -> Response:
    """A bug of the gateway's own (logged with its traceback): 500 in OpenAI's envelope, which both routes'
    SDKs read as a server error."""
    body = orjson.dumps(
        {"error": {"message": "internal error", "type": "server_error", "param": None, "code": "internal_error"}}
    )
    return Response(body, status_code=500, media_type=JSON, headers=ServerTiming().header())


def _no_route(path: str, allowed: Sequence[str]) -> Response:
    """404 for an unknown path, 405 (with `Allow`, RFC 9110) for a known path and another method."""
    headers = ServerTiming().header()
    if allowed:
        status, message = 405, "method not allowed"
        headers["allow"] = ", ".join(allowed)
    else:
        # The path is the caller's (percent-decoded, so it may hold quotes): serialized, never spliced,
        # and echoed only in part.
        status, message = 404, f"no route for {path[:ECHO]}"
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}})
    return Response(body, status_code=status, media_type=JSON, headers=headers)
