"""The health function's HTTP surface: `GET /api/ai/health`.

Routes on the full path, served by the same `HealthApi` behind the Cloud Function entry point
(`dispatch`, called by `functions/health/main.py`) and mounted in the dev server (`asgi`).

- No gateway key: the status only (public, for load balancers and uptime checks).
- A valid gateway key, any scope: the full report (`shared.health.render`).
- A key that is sent but not valid: 401 in the seed envelope (403/400 for a bad `X-User-Id`), as on
  every other route. A key the store cannot check right now (the store is down and the key not cached)
  gets the status only, with a note: health must stay answerable in exactly that outage.

200 for `healthy` and `degraded`, 503 for `unhealthy`. Never calls a provider, never bills anyone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.api.envelopes import seed_error
from shared.api.route_table import RouteTable
from shared.api.timing import ServerTiming
from shared.auth import authenticate
from shared.errors import GatewayError
from shared.health import assess, full_body, public_body
from shared.keys_ring import KeyStoreUnavailable

if TYPE_CHECKING:
    from shared.api.health_deps import HealthDeps

__all__ = ["HEALTH_PATH", "HealthApi"]

HEALTH_PATH = "/api/ai/health"
JSON = "application/json"
UNVERIFIED = "the key store is unavailable, so the key could not be checked: status only"
_KEY_HEADERS = ("authorization", "x-api-key")


class HealthApi:
    def __init__(self, deps: Callable[[], Awaitable[HealthDeps]]) -> None:
        self._deps = deps
        self.table = RouteTable([Route(HEALTH_PATH, self.health, methods=["GET"])])

    def asgi(self) -> Starlette:
        return self.table.asgi()

    async def dispatch(self, request: Request) -> Response:
        """The Cloud Function entry: the same route, matched on the full path."""
        return await self.table.dispatch(request)

    async def health(self, request: Request) -> Response:
        timing = ServerTiming()
        deps = await self._deps()
        detailed, note = False, None
        if _sends_key(request.headers):
            try:
                await authenticate(request.headers, deps.keys)
                detailed = True
            except KeyStoreUnavailable:
                note = UNVERIFIED
            except GatewayError as error:
                code, headers, content = seed_error(error)
                return Response(content, status_code=code, headers={**headers, **timing.header()})
        timing.mark("auth")
        facts = await deps.collector.collect()
        timing.mark("collect")
        status = assess(facts)
        body: dict[str, Any] = full_body(facts, status) if detailed else public_body(status)
        if note is not None:
            body["note"] = note
        headers = {"cache-control": "no-store", **timing.header()}
        return Response(
            orjson.dumps(body), status_code=503 if status == "unhealthy" else 200, media_type=JSON, headers=headers
        )


def _sends_key(headers: Mapping[str, str]) -> bool:
    """Any credential header at all (even an empty or malformed one): then it must be a valid key."""
    return any(name in headers for name in _KEY_HEADERS)
