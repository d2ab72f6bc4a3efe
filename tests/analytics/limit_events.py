"""Known usage events for the limits queries (`spend_by_day`, `limited_requests`), with their exact answers.

"Now" is 2026-03-10 12:00 UTC: the budget day is March 10, the month March. Spend lands on two days of the
month, one event in February (another month) and one of another tenant; one event is delivered twice.
Three requests were refused by a usage limit (429, no provider reached); one 429 came from a provider and
is not such a refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.analytics.port import QueryParams
from shared.events.schema import UsageEvent
from tests.analytics.events import event

__all__ = ["LIMITED", "MARCH", "NOW", "SCOPES", "SPEND", "TODAY", "limit_events", "limited"]

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
TODAY = datetime(2026, 3, 10, tzinfo=UTC)
MARCH = (datetime(2026, 3, 1, tzinfo=UTC), TODAY + timedelta(days=1))  # the month so far, as the report asks


def limited(**fields: object) -> UsageEvent:
    """A request a usage limit refused, as the request path records it."""
    base: dict[str, object] = {
        "provider": None,
        "status": "error",
        "http_status": 429,
        "error_kind": "rate_limit",
        "attempts": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_micros": 0,
        "latency_ms": 1,
        "credential_id": None,
    }
    return event(**{**base, **fields})


def limit_events() -> list[UsageEvent]:
    spent = [
        event(ts=TODAY + timedelta(hours=1), user="u1", key_id="key-a", cost_micros=1_000_000),
        event(ts=TODAY + timedelta(hours=2), user="u1", key_id="key-b", cost_micros=250_000),
        event(ts=datetime(2026, 3, 3, 8, tzinfo=UTC), user=None, key_id="key-a", cost_micros=2_000_000),
        event(ts=TODAY + timedelta(hours=3), user="u2", key_id="key-a", cost_micros=500_000),
        event(ts=TODAY + timedelta(hours=4), user="u1", key_id="key-a", cost_micros=None, unpriced=True),
        event(ts=datetime(2026, 2, 28, 23, 59, tzinfo=UTC), user="u1", key_id="key-a", cost_micros=9_999_999),
        event(ts=TODAY + timedelta(hours=1), tenant="other", key_id="key-x", cost_micros=7_000_000),
    ]
    refused = [
        limited(ts=TODAY + timedelta(hours=5), user="u1", key_id="key-a"),
        limited(ts=TODAY + timedelta(hours=6), user="u1", key_id="key-a"),
        limited(ts=datetime(2026, 3, 4, tzinfo=UTC), user=None, key_id="key-b"),
        limited(ts=TODAY + timedelta(hours=5), tenant="other", key_id="key-x"),
        # A provider's own 429: a provider was reached, so no usage limit refused it.
        event(ts=TODAY + timedelta(hours=7), status="error", http_status=429, error_kind="rate_limit", cost_micros=0),
    ]
    return [*spent, *refused, spent[0]]  # the first one delivered twice (at-least-once)


# Scope over the month so far -> its [(day, cost micro-USD)] (a day with only refused requests costs 0), and
# the requests a limit refused in it.
SCOPES = {
    "tenant": QueryParams("acme", *MARCH),
    "user u1": QueryParams("acme", *MARCH, user="u1"),
    "key key-a": QueryParams("acme", *MARCH, key_id="key-a"),
    "user u2": QueryParams("acme", *MARCH, user="u2"),
}
SPEND = {
    "tenant": [(datetime(2026, 3, 3).date(), 2_000_000), (datetime(2026, 3, 4).date(), 0), (TODAY.date(), 1_750_000)],
    "user u1": [(TODAY.date(), 1_250_000)],
    "key key-a": [(datetime(2026, 3, 3).date(), 2_000_000), (TODAY.date(), 1_500_000)],
    "user u2": [(TODAY.date(), 500_000)],
}
LIMITED = {"tenant": 3, "user u1": 2, "key key-a": 2, "user u2": 0}
