"""Health (architecture, Live metrics and health; issue 7): facts, status rules, collection and rendering.

- `facts`: the frozen values health reasons about.
- `rules`: `assess(facts)` -> `healthy` / `degraded` / `unhealthy` (the rules README.md states).
- `probes`: bounded pings of the document store, cache and KMS.
- `limits`: how usage limits are enforced (embedded, shared on Redis, or degraded), from the cache's ping.
- `routes`: route breakers per provider, and live metrics per (provider, model).
- `collector`: `HealthCollector`, everything gathered concurrently with short timeouts.
- `render`: the JSON bodies (status only for the public; the full report for a gateway key).
"""

from shared.health.collector import HealthCollector
from shared.health.facts import (
    EventsFact,
    HealthFacts,
    LimitsFact,
    LimitsMode,
    ProviderBreakers,
    Reachability,
    RouteFact,
)
from shared.health.render import full_body, public_body
from shared.health.rules import BACKLOG_LIMIT, ERROR_RATIO_LIMIT, Status, assess, events_ok

__all__ = [
    "BACKLOG_LIMIT",
    "ERROR_RATIO_LIMIT",
    "EventsFact",
    "HealthCollector",
    "HealthFacts",
    "LimitsFact",
    "LimitsMode",
    "ProviderBreakers",
    "Reachability",
    "RouteFact",
    "Status",
    "assess",
    "events_ok",
    "full_body",
    "public_body",
]
