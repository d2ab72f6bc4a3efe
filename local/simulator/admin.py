"""The admin API under `/_sim`: defaults, per-key fault rules, reset, statistics.

Bodies and replies are JSON. Directive values are validated exactly like `[sim ...]` tags. A key sent to
`POST /_sim/keys` is hashed at once; only its fingerprint (first 12 hex of SHA-256) is ever returned.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from local.simulator.directives import DirectiveError, Directives, directives_from_mapping
from local.simulator.state import SimState

__all__ = ["ADMIN_ROUTES"]

_HEX: Final = re.compile(r"^[0-9a-fA-F]{12,64}$")


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _state(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


async def _object(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as err:
        raise DirectiveError(f"body is not JSON: {err}") from err
    if not isinstance(body, dict):
        raise DirectiveError("body must be a JSON object")
    return body


async def health(request: Request) -> Response:
    return _json({"ok": True})


async def stats(request: Request) -> Response:
    return _json(_state(request).stats())


async def reset(request: Request) -> Response:
    _state(request).reset()
    return _json({"reset": True})


async def defaults(request: Request) -> Response:
    state = _state(request)
    if request.method == "PUT":
        try:
            state.defaults = directives_from_mapping(await _object(request))
        except DirectiveError as err:
            return _json({"error": str(err)}, 400)
    elif request.method == "DELETE":
        state.defaults = Directives()
    return _json({"defaults": state.defaults.as_dict()})


async def keys(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        try:
            body = await _object(request)
            key = body.pop("key", None)
            if not isinstance(key, str) or not key:
                raise DirectiveError("'key' must be a non-empty string")
            times = body.pop("times", None)
            counted = isinstance(times, int) and not isinstance(times, bool) and 1 <= times <= 10_000
            if times is not None and not counted:
                raise DirectiveError("'times' must be an integer from 1 to 10000")
            rule = directives_from_mapping(body)
        except DirectiveError as err:
            return _json({"error": str(err)}, 400)
        return _json({"fingerprint": state.set_rule(key, rule, times), "rule": rule.as_dict()}, 201)
    if request.method == "DELETE":
        return _json({"removed": state.clear_rules()})
    return _json({"rules": state.rules()})


async def key(request: Request) -> Response:
    fingerprint = request.path_params["fingerprint"]
    if not _HEX.match(fingerprint):
        return _json({"error": "expected at least 12 hex characters of the key's SHA-256"}, 400)
    removed = _state(request).clear_rules(fingerprint)
    return _json({"removed": removed}, 200 if removed else 404)


ADMIN_ROUTES: Final = [
    Route("/_sim/health", health, methods=["GET"]),
    Route("/_sim/stats", stats, methods=["GET"]),
    Route("/_sim/reset", reset, methods=["POST"]),
    Route("/_sim/defaults", defaults, methods=["GET", "PUT", "DELETE"]),
    Route("/_sim/keys", keys, methods=["GET", "POST", "DELETE"]),
    Route("/_sim/keys/{fingerprint}", key, methods=["DELETE"]),
]
