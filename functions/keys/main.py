"""Cloud Function `keys`: a caller's own provider keys (BYOK) under /api/ai/keys.

Thin by design: the routes live in `shared.api.keys`, the vault in `shared.vault`.
"""

from __future__ import annotations

import os

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from shared.api.keys_deps import keys_api


@functions_framework.aio.http
async def keys(request: Request) -> Response:
    return await keys_api(os.environ).dispatch(request)
