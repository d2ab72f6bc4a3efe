"""The routing every seed-envelope app shares (keys, analytics, health): the same routes served as an ASGI
app (the dev server, tests) and matched by hand on the full path (the Cloud Function entry), with one 404
/ 405 answer in the seed envelope; and the scoped endpoint wrapper (authenticate, handle, map errors)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from shared.api.body import ECHO
from shared.api.envelopes import seed_error
from shared.api.timing import ServerTiming
from shared.auth import KeyLookup, authenticate
from shared.errors import GatewayError, RequestError
from shared.identity import Identity

__all__ = ["RouteTable", "error_response", "no_route", "scoped_endpoint"]


def no_route(path: str, allowed: Sequence[str]) -> Response:
    """404 for an unknown path, 405 (with `Allow`) for a known path and another method; seed envelope."""
    if allowed:
        status, headers, content = seed_error(RequestError("method not allowed", status=405))
        headers = {**headers, "allow": ", ".join(allowed)}
    else:
        # The path is the caller's: serialized by the envelope, never spliced, and echoed only in part.
        status, headers, content = seed_error(RequestError(f"no route for {path[:ECHO]}", status=404))
    return Response(content, status_code=status, headers={**headers, **ServerTiming().header()})


class RouteTable:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)

    def asgi(self) -> Starlette:
        async def not_found(request: Request, exc: Exception) -> Response:
            return no_route(request.url.path, ())

        async def not_allowed(request: Request, exc: Exception) -> Response:
            return no_route(request.url.path, self.allowed(request))

        return Starlette(routes=self.routes, exception_handlers={404: not_found, 405: not_allowed})

    async def dispatch(self, request: Request) -> Response:
        """The Cloud Function entry: the same routes, matched on the full path."""
        for route in self.routes:
            match, child = route.matches(request.scope)
            if match is Match.FULL:
                response: Response = await route.endpoint(Request({**request.scope, **child}, request.receive))
                return response
        return no_route(request.url.path, self.allowed(request))

    def allowed(self, request: Request) -> list[str]:
        """The methods of the routes whose path matches (PARTIAL: the path matched, the method did not)."""
        methods: set[str] = set()
        for route in self.routes:
            if route.matches(request.scope)[0] is not Match.NONE:
                methods.update(m for m in route.methods or () if m != "HEAD")
        return sorted(methods)


class _Deps(Protocol):
    keys: KeyLookup


D = TypeVar("D", bound=_Deps)


def scoped_endpoint(
    deps: Callable[[], Awaitable[D]],
    scope: str,
    handler: Callable[[D, Identity, Request], Awaitable[Response]],
    *,
    outage: type[Exception],
    outage_message: str,
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that authenticates a gateway key with `scope`, runs `handler`, answers a `GatewayError`
    in the seed envelope and an `outage` of its backend as a 503 with `outage_message`; Server-Timing on all."""

    async def endpoint(request: Request) -> Response:
        timing = ServerTiming()
        ready = await deps()
        try:
            identity = await authenticate(request.headers, ready.keys, scope=scope)
            response = await handler(ready, identity, request)
        except GatewayError as error:
            return error_response(error, timing)
        except outage:
            return error_response(GatewayError(outage_message, status=503), timing)
        response.headers.update(timing.header())
        return response

    return endpoint


def error_response(error: GatewayError, timing: ServerTiming) -> Response:
    status, headers, content = seed_error(error)
    return Response(content, status_code=status, headers={**headers, **timing.header()})
