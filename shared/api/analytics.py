"""The analytics function's HTTP surface.

    GET  /api/ai/analytics?days=30&detailed=true   -> 200 the analytics report (shared.analytics.service)
    POST /api/ai/analytics/costs   {seed chat body} -> 200 the seed's `analyzeCosts` (no provider is called)
    GET  /api/ai/dashboard                          -> 200 the dashboard page (public; shared.dashboard)
    GET  /api/ai/dashboard/<name>                   -> 200 one of its static files (public), else 404

Routes on the full path, served by the same `AnalyticsApi` behind the Cloud Function entry point
(`dispatch`, called by `functions/analytics/main.py`) and mounted in the dev server (`asgi`). Every
analytics route needs a gateway key with the `analytics` scope (401 without a valid key, 403 without the scope).
`days` is 1 to 365 (default 30) and `detailed` true or false (default false), else 400 naming the
parameter. Errors use the seed envelope. USD amounts are written with exactly 6 decimals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.analytics.port import AnalyticsUnavailable
from shared.api.body import ECHO
from shared.api.http_io import json_response, read_body
from shared.api.route_table import RouteTable, scoped_endpoint
from shared.api.seed_wire import parse_seed_request
from shared.dashboard.assets import Dashboard
from shared.errors import RequestError
from shared.identity import Identity
from shared.routing.analysis import to_seed

if TYPE_CHECKING:
    from shared.api.analytics_deps import AnalyticsDeps

__all__ = ["ANALYTICS_PATH", "COSTS_PATH", "AnalyticsApi", "parse_days", "parse_detailed"]

ANALYTICS_PATH = "/api/ai/analytics"
COSTS_PATH = ANALYTICS_PATH + "/costs"
JSON = "application/json"
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}

Handler = Callable[["AnalyticsDeps", Identity, Request], Awaitable[Response]]


class AnalyticsApi:
    def __init__(self, deps: Callable[[], Awaitable[AnalyticsDeps]]) -> None:
        self._deps = deps
        self.table = RouteTable(
            [
                Route(ANALYTICS_PATH, self._endpoint(_report), methods=["GET"]),
                Route(COSTS_PATH, self._endpoint(_costs), methods=["POST"]),
                # Public: the page holds no data; it sends the caller's key to ANALYTICS_PATH itself.
                *Dashboard.load().routes(),
            ]
        )

    def asgi(self) -> Starlette:
        return self.table.asgi()

    async def dispatch(self, request: Request) -> Response:
        """The Cloud Function entry: the same routes, matched on the full path."""
        return await self.table.dispatch(request)

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return scoped_endpoint(
            self._deps,
            "analytics",
            handler,
            outage=AnalyticsUnavailable,
            outage_message="analytics are unavailable: try again shortly",
        )


# --- handlers -------------------------------------------------------------------------------------


async def _report(deps: AnalyticsDeps, identity: Identity, request: Request) -> Response:
    days = parse_days(request.query_params.getlist("days"))
    detailed = parse_detailed(request.query_params.getlist("detailed"))
    return json_response(await deps.analytics.report(identity, days, detailed))


async def _costs(deps: AnalyticsDeps, identity: Identity, request: Request) -> Response:
    body = await read_body(request, deps.body_limit)
    chat_request, options = parse_seed_request(body, request.headers)
    service = await deps.chat_service()
    return json_response(to_seed(service.analyze_costs(chat_request, options)))


# --- parameters and rendering ---------------------------------------------------------------------


def _one(values: Sequence[str], name: str) -> str | None:
    if len(set(values)) > 1:
        raise RequestError(f"{name} was sent more than once with different values: send one", field=name)
    return values[0].strip() if values else None


def parse_days(values: Sequence[str]) -> int:
    """The `days` query parameter: an integer 1 to 365, 30 when absent."""
    value = _one(values, "days")
    if value is None:
        return 30
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 365:
        raise RequestError(f"days must be an integer from 1 to 365, not {value[:ECHO]!r}", field="days")
    return int(value)


def parse_detailed(values: Sequence[str]) -> bool:
    """The `detailed` query parameter: true/false (or 1/0), false when absent."""
    value = _one(values, "detailed")
    if value is None:
        return False
    found = _BOOLEANS.get(value.lower())
    if found is None:
        raise RequestError(f"detailed must be true or false, not {value[:ECHO]!r}", field="detailed")
    return found
