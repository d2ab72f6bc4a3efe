"""The health reply bodies, in the seed's camelCase with its provider names (OPENAI, ANTHROPIC, GOOGLE).

Public (no key): `{"status"}` only. With a gateway key, the full report:

    {"status",
     "services": {"providers": {"OPENAI": {"gpt-4o-mini": {"breaker", "requests", "errorRatio",
                                                         "latencyP50Ms", "latencyP95Ms", "lastErrorKind"}}},
                  "dependencies": {"store": {"ok", "latencyMs"}, "cache": ..., "kms": ...,
                                   "events": {"ok", "backlog"}},
                  "limits": {"status", "mode", "detail", "instances"}},
     "metrics": {"requestRate", "errorRate", "cacheHitRate", "windowSeconds"}}

`requestRate` is requests per second over the window, `errorRate` a ratio (null without requests).
`cacheHitRate` is cache hits over all answered requests in the window (null without any). A dependency that failed also
says why (`detail`), never more than an error type. `limits` is how usage limits are enforced
(shared.health.limits): `status` "ok", or "degraded" while they fail open to a local share, the `mode` and
a sentence; `instances` (the expected instance count) only when health was given it.
"""

from __future__ import annotations

from typing import Any

from shared.health.facts import EventsFact, HealthFacts, LimitsFact, Reachability, RouteFact
from shared.health.limits import describe
from shared.health.rules import Status, events_ok
from shared.providers import SEED_NAMES

__all__ = ["full_body", "public_body"]


def public_body(status: Status) -> dict[str, Any]:
    return {"status": status}


def full_body(facts: HealthFacts, status: Status) -> dict[str, Any]:
    providers: dict[str, dict[str, Any]] = {SEED_NAMES.get(p, p.upper()): {} for p in facts.providers}
    for route in facts.routes:
        providers.setdefault(SEED_NAMES.get(route.provider, route.provider.upper()), {})[route.model] = _route(route)
    ratio = facts.error_ratio
    return {
        "status": status,
        "services": {
            "providers": providers,
            "dependencies": {
                "store": _reachability(facts.store),
                "cache": _reachability(facts.cache),
                "events": _events(facts.events),
                "kms": _reachability(facts.kms),
            },
            "limits": _limits(facts.limits),
        },
        "metrics": {
            "requestRate": round(facts.requests / facts.window_seconds, 4),
            "errorRate": None if ratio is None else round(ratio, 4),
            "cacheHitRate": None if facts.cache_hit_rate is None else round(facts.cache_hit_rate, 4),
            "windowSeconds": round(facts.window_seconds, 1),
        },
    }


def _route(route: RouteFact) -> dict[str, Any]:
    ratio = route.error_ratio
    return {
        "breaker": route.breaker,
        "requests": route.requests,
        "errorRatio": None if ratio is None else round(ratio, 4),
        "latencyP50Ms": route.latency_p50_ms,
        "latencyP95Ms": route.latency_p95_ms,
        "lastErrorKind": route.last_error_kind,
    }


def _reachability(fact: Reachability) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": fact.ok, "latencyMs": fact.latency_ms}
    if fact.detail is not None:
        body["detail"] = fact.detail
    return body


def _events(fact: EventsFact) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": events_ok(fact), "backlog": fact.backlog}
    if fact.instances is not None:
        body["instances"] = fact.instances
    if fact.detail is not None:
        body["detail"] = fact.detail
    return body


def _limits(fact: LimitsFact) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "degraded" if fact.mode == "degraded" else "ok",
        "mode": fact.mode,
        "detail": describe(fact),
    }
    if fact.instances is not None:
        body["instances"] = fact.instances
    return body
