"""The Starlette app: the three providers' endpoints and the admin API on one port."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from local.simulator import anthropic_wire, gemini_wire, openai_wire
from local.simulator.admin import ADMIN_ROUTES
from local.simulator.exchange import Endpoint
from local.simulator.logs import install_log_filters
from local.simulator.pipeline import serve
from local.simulator.state import SimState

__all__ = ["create_app"]

_OPENAI = Endpoint(provider="openai", route="openai.chat")
_ANTHROPIC = Endpoint(provider="anthropic", route="anthropic.messages")
_GEMINI_METHOD_NOT_FOUND = (
    b'{\n  "error": {\n    "code": 404,\n    "message": "Method not found.",\n    "status": "NOT_FOUND"\n  }\n}\n'
)


async def openai_chat(request: Request) -> ASGIApp:
    return await serve(request, openai_wire, _OPENAI)


async def anthropic_messages(request: Request) -> ASGIApp:
    return await serve(request, anthropic_wire, _ANTHROPIC)


async def gemini_models(request: Request) -> ASGIApp:
    """`/v1beta/models/{model}:generateContent` and `:streamGenerateContent` (`?alt=sse` for SSE)."""
    model, _, method = str(request.path_params["target"]).rpartition(":")
    if method == "generateContent" and model:
        endpoint = Endpoint(provider="gemini", route="gemini.generate", model=model, stream=False)
    elif method == "streamGenerateContent" and model:
        sse = request.query_params.get("alt") == "sse"
        endpoint = Endpoint(provider="gemini", route="gemini.stream", model=model, stream=True, sse=sse)
    else:
        return Response(_GEMINI_METHOD_NOT_FOUND, status_code=404, media_type="application/json; charset=UTF-8")
    return await serve(request, gemini_wire, endpoint)


def create_app() -> Starlette:
    """A fresh simulator with its own state (`app.state.sim`)."""
    install_log_filters()
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", openai_chat, methods=["POST"]),
            Route("/v1/messages", anthropic_messages, methods=["POST"]),
            Route("/v1beta/models/{target}", gemini_models, methods=["POST"]),
            *ADMIN_ROUTES,
        ]
    )
    app.state.sim = SimState()
    return app
