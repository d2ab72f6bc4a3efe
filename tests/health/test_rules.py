"""The status rules, table by table: each row one situation and the status README.md says it has."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.health.facts import EventsFact, HealthFacts, LimitsFact, ProviderBreakers, Reachability
from shared.health.rules import BACKLOG_LIMIT, Status, assess, events_ok

UP = Reachability(ok=True, latency_ms=1.0)
DOWN = Reachability(ok=False, latency_ms=500.0, detail="timeout")
CLOSED = {"openai": ProviderBreakers(routes=3), "anthropic": ProviderBreakers(routes=2)}
BASE = HealthFacts(store=UP, cache=UP, kms=UP, events=EventsFact(backlog=None), providers=CLOSED)

ALL_OPEN = {"openai": ProviderBreakers(routes=3, open=3), "anthropic": ProviderBreakers(routes=2, open=2)}
ONE_PROVIDER_OPEN = {"openai": ProviderBreakers(routes=3, open=3), "anthropic": ProviderBreakers(routes=2)}
HALF_OPEN_ONLY = {
    "openai": ProviderBreakers(routes=3, open=2, half_open=1),
    "anthropic": ProviderBreakers(routes=2, half_open=2),
}

CASES: list[tuple[str, HealthFacts, Status]] = [
    ("everything fine", BASE, "healthy"),
    ("no traffic at all", replace(BASE, requests=0, errors=0), "healthy"),
    ("errors at exactly 5 %", replace(BASE, requests=100, errors=5), "healthy"),
    ("errors above 5 %", replace(BASE, requests=100, errors=6), "degraded"),
    ("cache down", replace(BASE, cache=DOWN), "degraded"),
    ("kms down", replace(BASE, kms=DOWN), "degraded"),
    ("store down, closed routes left", replace(BASE, store=DOWN), "degraded"),
    ("backlog at the limit", replace(BASE, events=EventsFact(backlog=BACKLOG_LIMIT)), "healthy"),
    ("backlog above the limit", replace(BASE, events=EventsFact(backlog=BACKLOG_LIMIT + 1)), "degraded"),
    ("backlog not measured", replace(BASE, events=EventsFact(backlog=None, detail="not measured yet")), "healthy"),
    ("one route open", replace(BASE, providers={**CLOSED, "openai": ProviderBreakers(3, open=1)}), "degraded"),
    ("one route half-open", replace(BASE, providers={**CLOSED, "openai": ProviderBreakers(3, 0, 1)}), "degraded"),
    ("one provider wholly open", replace(BASE, providers=ONE_PROVIDER_OPEN), "degraded"),
    ("every provider wholly open", replace(BASE, providers=ALL_OPEN), "unhealthy"),
    ("every route open, store down too", replace(BASE, providers=ALL_OPEN, store=DOWN), "unhealthy"),
    ("only half-open routes, store up", replace(BASE, providers=HALF_OPEN_ONLY), "degraded"),
    ("only half-open routes, store down", replace(BASE, providers=HALF_OPEN_ONLY, store=DOWN), "unhealthy"),
    ("store down, one provider open", replace(BASE, providers=ONE_PROVIDER_OPEN, store=DOWN), "degraded"),
    ("everything down but routes closed", replace(BASE, store=DOWN, cache=DOWN, kms=DOWN), "degraded"),
    ("limits shared on Redis", replace(BASE, limits=LimitsFact("shared", 4)), "healthy"),
    ("limits embedded", replace(BASE, limits=LimitsFact("embedded")), "healthy"),
    ("limits failing open to a local share", replace(BASE, limits=LimitsFact("degraded", 4)), "degraded"),
    (
        "limits degraded, every route open",
        replace(BASE, limits=LimitsFact("degraded"), providers=ALL_OPEN),
        "unhealthy",
    ),
]


@pytest.mark.parametrize(("facts", "expected"), [(f, s) for _, f, s in CASES], ids=[name for name, _, _ in CASES])
def test_status(facts: HealthFacts, expected: Status) -> None:
    assert assess(facts) == expected


@pytest.mark.parametrize(
    ("backlog", "ok"), [(None, None), (0, True), (BACKLOG_LIMIT, True), (BACKLOG_LIMIT + 1, False)]
)
def test_events_ok(backlog: int | None, ok: bool | None) -> None:
    assert events_ok(EventsFact(backlog=backlog)) is ok


def test_a_provider_without_catalog_routes_cannot_make_everything_open() -> None:
    facts = replace(BASE, providers={"openai": ProviderBreakers(routes=3, open=3), "gemini": ProviderBreakers(0)})
    assert assess(facts) == "degraded"


@pytest.mark.parametrize(("requests", "hits", "rate"), [(0, 0, None), (3, 1, 0.25), (0, 2, 1.0), (4, 0, 0.0)])
def test_the_cache_hit_rate_is_hits_over_every_answered_request(requests: int, hits: int, rate: float | None) -> None:
    assert replace(BASE, requests=requests, cache_hits=hits).cache_hit_rate == rate
