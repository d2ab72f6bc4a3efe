"""From what the service core knows about a finished request to its one `UsageEvent`.

Kept apart from `service.py` so the event rules (which status, which error kind, what a failure costs)
sit in one small place. A failed attempt costs nothing unless the provider reported usage for it
(architecture, Money); a request that reached no provider costs a known 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from shared.cost import Cost
from shared.errors import (
    AuthError,
    ErrorKind,
    GatewayError,
    LimitExceeded,
    ProviderError,
    RequestError,
    UpstreamFailure,
)
from shared.events.schema import UsageEvent
from shared.identity import Identity
from shared.unified import Usage

__all__ = ["FREE", "EventFacts", "build_event", "error_kind"]

FREE = Cost(usd=Decimal(0), micros=0, unpriced=False)
# The status a stream reports once its 200 status line has gone out.
_STREAM_STARTED = 200


@dataclass(frozen=True, slots=True)
class EventFacts:
    identity: Identity
    route: str
    request_id: str
    model_requested: str
    provider: str | None
    model: str | None
    price_verified: bool | None
    stream: bool
    started_at: float
    latency: float
    ttft: float | None
    attempts: int
    usage: Usage | None
    cost: Cost | None
    error: GatewayError | None
    cache_hit: bool = False  # `cost` is then what the stored reply cost: the event records it as saved
    credential_id: str | None = None  # the key that paid for the final attempt (Credential.id)
    route_reason: str | None = None  # x-gateway-route
    requested_cost: Cost | None = None  # `usage` priced at the requested model, when another model served


def error_kind(error: GatewayError) -> ErrorKind:
    if isinstance(error, (ProviderError, UpstreamFailure)):
        return error.kind
    if isinstance(error, RequestError):
        return "invalid_request"
    if isinstance(error, LimitExceeded):
        return "rate_limit"
    if isinstance(error, AuthError):
        return "authentication" if error.status == 401 else "permission"
    if error.status == 499:  # the client went away mid-stream
        return "network_error"
    return "api_error"


def build_event(facts: EventFacts) -> UsageEvent:
    error = facts.error
    # A served request costs what its reply shows (unpriced when the provider reported no usage: never a
    # made-up $0); a failure costs only what the provider reported using.
    billable = error is None or facts.usage is not None
    cost = facts.cost if facts.cost is not None and billable else FREE
    provider = facts.provider if facts.attempts > 0 or facts.cache_hit else None
    if error is None:
        status, http_status = "ok", 200
    else:
        status = "error"
        started = facts.stream and facts.ttft is not None
        http_status = _STREAM_STARTED if started else (error.status if 400 <= error.status <= 599 else 502)
    return UsageEvent.from_usage(
        facts.usage,
        cost,
        cache_hit=facts.cache_hit,
        ts=datetime.fromtimestamp(facts.started_at, UTC),
        request_id=facts.request_id,
        tenant=facts.identity.tenant,
        user=facts.identity.user,
        key_id=facts.identity.key_id,
        route=facts.route,
        provider=provider,
        model_requested=facts.model_requested,
        model=facts.model if provider is not None else None,
        stream=facts.stream,
        status=status,
        http_status=http_status,
        error_kind=error_kind(error) if error is not None else None,
        attempts=facts.attempts,
        latency_ms=round(facts.latency * 1000),
        ttft_ms=round(facts.ttft * 1000) if facts.ttft is not None and facts.stream else None,
        price_verified=None if cost.unpriced else facts.price_verified,
        credential_id=facts.credential_id if facts.attempts > 0 else None,
        route_reason=facts.route_reason if facts.attempts > 0 or facts.cache_hit else None,
        requested_cost_micros=_requested_micros(facts, cost),
    )


def _requested_micros(facts: EventFacts, cost: Cost) -> int | None:
    """What the billed usage would have cost on the requested model (schema: `requested_cost_micros`)."""
    asked = facts.requested_cost
    if asked is None or asked.unpriced or cost.unpriced or facts.attempts == 0 or facts.cache_hit:
        return None
    if facts.usage is None or cost is FREE:
        return None
    return asked.micros
