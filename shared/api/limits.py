"""The limits routes of the keys function (issue 11): set a scope's usage limits, read the ones that apply.

    PUT /api/ai/limits   {"scope": {"tenantId", "userId"?, "keyId"?},
                          "requestsPerMinute"?, "tokensPerMinute"?, "dailyBudgetUsd"?, "monthlyBudgetUsd"?}
                         -> 200 the scope's limits after the change
    GET /api/ai/limits   [?tenantId=&userId=&keyId=]  -> 200 {"limits": [per applicable scope]}

PUT needs the `admin` scope (403 otherwise) and a scope within the caller's own tenant (403 naming
`scope.tenantId` otherwise); it merges (a field sent sets that limit, null removes it, a field left out
stays), is audited (`shared.limits.audit`) and is in force on this instance at once, on the others within
their cache's refresh interval. GET answers any valid key with its own applicable scopes (tenant, user when
it has one, key), each with its limits (null: unlimited); an admin key may name another identity of its
tenant in the query. Errors use the seed envelope; 400s name the field (`dailyBudgetUsd`, `scope.keyId`).
The routes join the keys function's route table (shared.api.keys), so they share its deployment and deps.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.api.body import decode_json, request_error, usd_json
from shared.api.http_io import json_response, read_body
from shared.api.limits_deps import LimitsDeps
from shared.api.route_table import error_response
from shared.api.timing import ServerTiming
from shared.auth import KeyLookup, authenticate, valid_id
from shared.errors import AuthError, GatewayError, RequestError
from shared.identity import Identity
from shared.limits.audit import LimitsAuditEvent
from shared.limits.config import LIMIT_FIELDS, LimitRecord, Limits, LimitScope, applicable_scopes
from shared.store.port import StoreUnavailable

__all__ = ["LIMITS_PATH", "LimitsHost", "limits_routes", "parse_update", "render_limits"]

LIMITS_PATH = "/api/ai/limits"
JSON = "application/json"
# Wire names of the snake_case fields pydantic may report.
_NAMES = {**LIMIT_FIELDS, "tenant_id": "tenantId", "user_id": "userId", "key_id": "keyId"}
_QUERY = ("tenantId", "userId", "keyId")

_log = logging.getLogger(__name__)


class LimitsHost(Protocol):
    """The deps the routes run on (the keys function's `KeysDeps`)."""

    @property
    def keys(self) -> KeyLookup: ...

    @property
    def limits(self) -> LimitsDeps: ...

    @property
    def body_limit(self) -> int: ...


H = TypeVar("H", bound=LimitsHost)


def limits_routes(deps: Callable[[], Awaitable[H]]) -> list[Route]:
    """The two routes, on the full path, for a route table whose deps carry `limits`."""
    return [
        Route(LIMITS_PATH, _endpoint(deps, "admin", _put), methods=["PUT"]),
        Route(LIMITS_PATH, _endpoint(deps, None, _get), methods=["GET"]),
    ]


def _endpoint(
    deps: Callable[[], Awaitable[H]], scope: str | None, handler: Callable[[H, Identity, Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    # shared.api.route_table.scoped_endpoint always demands a scope; GET takes any valid key.
    async def endpoint(request: Request) -> Response:
        timing = ServerTiming()
        ready = await deps()
        try:
            identity = await authenticate(request.headers, ready.keys, scope=scope)
            response = await handler(ready, identity, request)
        except GatewayError as error:
            return error_response(error, timing)
        except StoreUnavailable:
            return error_response(
                GatewayError("the limits store is unavailable: try again shortly", status=503), timing
            )
        response.headers.update(timing.header())
        return response

    return endpoint


# --- handlers -------------------------------------------------------------------------------------


async def _put(deps: LimitsHost, identity: Identity, request: Request) -> Response:
    scope, change = parse_update(decode_json(await read_body(request, deps.body_limit)))
    if scope.tenant_id != identity.tenant:
        raise RequestError(
            "scope.tenantId must be this admin key's own tenant: limits are set only within it",
            field="scope.tenantId",
            status=403,
        )
    limits = deps.limits
    _, after = await limits.store.update(scope, change, actor=identity.key_id)
    limits.cache.remember(after)
    changed = [LIMIT_FIELDS[name] for name in LIMIT_FIELDS if name in change.model_fields_set]
    event = LimitsAuditEvent.of_change(
        after, actor=identity.key_id, changed=changed, ts=datetime.fromtimestamp(limits.clock.time(), UTC)
    )
    try:
        await limits.audit.publish(event)
    except Exception as error:  # the change is made; a lost audit line is logged, as the vault does
        _log.error(
            "limits: audit event of %s version %d was not recorded (%s)",
            after.scope.doc_id,
            after.version,
            type(error).__name__,
        )
    return json_response(render_limits(after.scope, after))


async def _get(deps: LimitsHost, identity: Identity, request: Request) -> Response:
    scopes = _target(identity, request)
    records = await deps.limits.store.get_many(scopes)
    return json_response(
        {"limits": [render_limits(scope, record) for scope, record in zip(scopes, records, strict=True)]}
    )


# --- reading --------------------------------------------------------------------------------------


class _ScopeBody(BaseModel):
    scope: LimitScope


def parse_update(body: dict[str, Any]) -> tuple[LimitScope, Limits]:
    """A PUT body as its scope and its change (fields sent, nulls included); 400 naming the field."""
    try:
        scope = _ScopeBody.model_validate({"scope": body["scope"]} if "scope" in body else {}).scope
    except ValidationError as exc:
        raise request_error(exc, _NAMES) from None
    try:
        change = Limits.model_validate({name: value for name, value in body.items() if name != "scope"})
    except ValidationError as exc:
        raise request_error(exc, _NAMES) from None
    if not change.model_fields_set:
        raise RequestError(f"send at least one of {', '.join(LIMIT_FIELDS.values())} (null removes one)", field="body")
    return scope, change


def _target(identity: Identity, request: Request) -> Sequence[LimitScope]:
    """The scopes GET shows: the caller's own, or (admin keys) the identity the query names in its tenant."""
    query = {name: request.query_params.get(name) for name in _QUERY}
    if all(value is None for value in query.values()):
        return applicable_scopes(identity.tenant, user=identity.user, key_id=identity.key_id)
    if not identity.can("admin"):
        raise AuthError(
            "reading another identity's limits (tenantId, userId, keyId) needs the 'admin' scope", status=403
        )
    for name, value in query.items():
        if value is not None and not valid_id(value):
            raise RequestError(f"{name} must be 1 to 128 characters: letters, digits and . _ : @ + -", field=name)
    tenant = query["tenantId"] or identity.tenant
    if tenant != identity.tenant:
        raise RequestError("tenantId must be this admin key's own tenant", field="tenantId", status=403)
    return applicable_scopes(tenant, user=query["userId"], key_id=query["keyId"])


# --- rendering ------------------------------------------------------------------------------------


def render_limits(scope: LimitScope, record: LimitRecord | None) -> dict[str, Any]:
    """One scope's limits as the API shows them: USD with 6 decimals, null for no limit (unlimited);
    `version` 0 and `updatedAt` null when none was ever set."""
    limits = record.limits if record is not None else Limits()
    return {
        "scope": scope.wire(),
        "requestsPerMinute": limits.requests_per_minute,
        "tokensPerMinute": limits.tokens_per_minute,
        "dailyBudgetUsd": usd_json(limits.daily_budget_micros),
        "monthlyBudgetUsd": usd_json(limits.monthly_budget_micros),
        "version": 0 if record is None else record.version,
        "updatedAt": None if record is None else record.updated_at.replace("+00:00", "Z"),
    }
