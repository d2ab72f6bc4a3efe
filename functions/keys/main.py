"""Cloud Functions `keys`: a caller's own provider keys (BYOK) under /api/ai/keys; and `keys_rewrap`: the
re-wrap job, a CloudEvent from the Pub/Sub topic a Cloud Scheduler job feeds.

Thin by design: the routes live in `shared.api.keys`, the vault and its re-wrap job in `shared.vault`.
"""

from __future__ import annotations

import os

import functions_framework
import functions_framework.aio
from cloudevents.http import CloudEvent
from starlette.requests import Request
from starlette.responses import Response

from shared.api.keys_deps import keys_api
from shared.vault.rewrap_job import run_rewrap_from_env


@functions_framework.aio.http
async def keys(request: Request) -> Response:
    return await keys_api(os.environ).dispatch(request)


@functions_framework.cloud_event
def keys_rewrap(event: CloudEvent) -> None:
    run_rewrap_from_env(os.environ, trigger=f"event {event['id']}")  # the payload carries nothing else
