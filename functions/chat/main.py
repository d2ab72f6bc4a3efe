"""Cloud Function `chat`: POST /api/ai/chat, POST /v1/chat/completions, GET /v1/models.

Thin by design: the routes, parsing and the service core live in `shared.api.chat`.
"""

from __future__ import annotations

import os

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from shared.api.instance import chat_api


@functions_framework.aio.http
async def chat(request: Request) -> Response:
    return await chat_api(os.environ).dispatch(request)
