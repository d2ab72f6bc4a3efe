"""Cloud Function `analytics`: GET /api/ai/analytics and POST /api/ai/analytics/costs.

Thin by design: the routes live in `shared.api.analytics`, the queries and the report in `shared.analytics`.
"""

from __future__ import annotations

import os

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from shared.api.analytics_deps import analytics_api


@functions_framework.aio.http
async def analytics(request: Request) -> Response:
    return await analytics_api(os.environ).dispatch(request)
