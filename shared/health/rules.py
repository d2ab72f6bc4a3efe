"""The health status rules: `healthy`, `degraded` or `unhealthy` from the facts, and nothing else.

Pure and table-tested; README.md ("Health") states the same rules in words. In order:

unhealthy when
  - every provider's catalog routes have their route breaker open (nothing left to route to), or
  - the document store is unreachable and no provider has a route whose breaker is closed (half-open
    routes need the store's probe leases to recover);
degraded when
  - the document store, the cache (Redis) or KMS is unreachable, or
  - usage limits are in the `degraded` mode (Redis configured and away: each instance enforces its local
    share; never unhealthy, requests are still limited), or
  - the events backlog is above `BACKLOG_LIMIT` (a backlog not measured yet counts as fine), or
  - any route breaker is open or half-open, or
  - more than `ERROR_RATIO_LIMIT` of the requests in the metrics window failed;
healthy otherwise.

Only route breakers count: a credential breaker is one caller's key, not the gateway's health.
"""

from __future__ import annotations

from typing import Literal

from shared.health.facts import EventsFact, HealthFacts

__all__ = ["BACKLOG_LIMIT", "ERROR_RATIO_LIMIT", "Status", "assess", "events_ok"]

Status = Literal["healthy", "degraded", "unhealthy"]

ERROR_RATIO_LIMIT = 0.05
BACKLOG_LIMIT = 1000


def events_ok(events: EventsFact) -> bool | None:
    """Whether the backlog is within bounds; `None` while nothing measures it."""
    return None if events.backlog is None else events.backlog <= BACKLOG_LIMIT


def assess(facts: HealthFacts) -> Status:
    providers = list(facts.providers.values())
    all_open = bool(providers) and all(p.routes > 0 and p.open >= p.routes for p in providers)
    any_closed = any(p.closed > 0 for p in providers)
    if all_open or (not facts.store.ok and not any_closed):
        return "unhealthy"
    ratio = facts.error_ratio
    if (
        not (facts.store.ok and facts.cache.ok and facts.kms.ok)
        or facts.limits.mode == "degraded"
        or events_ok(facts.events) is False
        or any(p.open or p.half_open for p in providers)
        or (ratio is not None and ratio > ERROR_RATIO_LIMIT)
    ):
        return "degraded"
    return "healthy"
