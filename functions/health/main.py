"""Cloud Function `health`: GET /api/ai/health.

Thin by design: the route lives in `shared.api.health`, the facts and the status rules in `shared.health`.
"""

from __future__ import annotations

import os

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from shared.api.health_deps import health_api


@functions_framework.aio.http
async def health(request: Request) -> Response:
    return await health_api(os.environ).dispatch(request)
