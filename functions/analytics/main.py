"""Cloud Functions `analytics`: GET /api/ai/analytics and POST /api/ai/analytics/costs; and
`analytics_rollup`: the daily rollups, a CloudEvent from the Pub/Sub topic a Cloud Scheduler job feeds.

Thin by design: the routes live in `shared.api.analytics`, the queries, the report and the rollup job in
`shared.analytics` (shared.analytics.rollup_job says which failures are retried and which are not).
"""

from __future__ import annotations

import os

import functions_framework
import functions_framework.aio
from cloudevents.http import CloudEvent
from starlette.requests import Request
from starlette.responses import Response

from shared.analytics.rollup_job import rollup_event
from shared.api.analytics_deps import analytics_api


@functions_framework.aio.http
async def analytics(request: Request) -> Response:
    return await analytics_api(os.environ).dispatch(request)


@functions_framework.cloud_event
def analytics_rollup(event: CloudEvent) -> None:
    # The message data: empty (the last complete days), {"day": "YYYY-MM-DD"} or {"days": N}.
    rollup_event(os.environ, event.data, event_id=str(event["id"]))
