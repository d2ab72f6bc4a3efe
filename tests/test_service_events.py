"""The usage-event rules of shared.service_events: status and http_status (a stream that failed after its
first byte reports 200), the error kind of every error class, what a request costs (served: its reply's
cost; failed: only reported usage; no provider reached: a known 0), and the no-provider rule."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.cost import UNPRICED, Cost
from shared.errors import (
    AuthError,
    ErrorKind,
    GatewayError,
    ProviderError,
    RequestError,
    UnknownModelError,
    UpstreamFailure,
)
from shared.events.port import EventSinkError
from shared.identity import Identity
from shared.service_events import FREE, EventFacts, build_event, error_kind
from shared.unified import Usage

IDENTITY = Identity(tenant="app-1", key_id="key-1", user="u-7", scopes=frozenset({"chat"}))
USAGE = Usage(input_tokens=100, output_tokens=20, cached_input_tokens=40, reasoning_tokens=5)
COST = Cost(usd=Decimal("0.0000305"), micros=31, unpriced=False)
STARTED = 1_760_000_000.25


def facts(**changes: object) -> EventFacts:
    """A served, priced JSON request; `changes` override fields."""
    base = EventFacts(
        identity=IDENTITY,
        route="openai",
        request_id="req-1",
        model_requested="gpt-4o-mini-2024-07-18",
        provider="openai",
        model="gpt-4o-mini",
        price_verified=True,
        stream=False,
        started_at=STARTED,
        latency=0.1234,
        ttft=None,
        attempts=1,
        usage=USAGE,
        cost=COST,
        error=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def rate_limited(retry_after: float | None = None) -> ProviderError:
    return ProviderError(
        "slow down", kind="rate_limit", provider="openai", status=429, retryable=True, retry_after=retry_after
    )


# --- ok -------------------------------------------------------------------------------------------


def test_a_served_request_is_ok_with_its_usage_cost_and_identity() -> None:
    event = build_event(facts())
    assert (event.status, event.http_status, event.error_kind) == ("ok", 200, None)
    assert (event.tenant, event.user, event.key_id, event.route, event.request_id) == (
        "app-1",
        "u-7",
        "key-1",
        "openai",
        "req-1",
    )
    assert (event.provider, event.model, event.model_requested) == ("OPENAI", "gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (event.input_tokens, event.output_tokens, event.cached_input_tokens, event.reasoning_tokens) == (
        100,
        20,
        40,
        5,
    )
    assert (event.cost_micros, event.unpriced, event.price_verified) == (31, False, True)
    assert (event.attempts, event.latency_ms, event.ttft_ms, event.stream) == (1, 123, None, False)
    assert event.ts == datetime.fromtimestamp(STARTED, UTC)


def test_an_unpriced_model_is_never_billed_as_zero() -> None:
    event = build_event(
        facts(model="gpt-9-preview", model_requested="gpt-9-preview", cost=UNPRICED, price_verified=None)
    )
    assert (event.cost_micros, event.unpriced, event.price_verified) == (None, True, None)
    assert event.input_tokens == 100


def test_a_served_request_without_reported_usage_shows_the_replys_cost() -> None:
    # The service prices a reply with no usage as unpriced (the reply says `cost: null`); the event
    # must say the same, not a made-up $0 (architecture, Money: the event's cost equals the reply's).
    event = build_event(facts(usage=None, cost=UNPRICED))
    assert (event.status, event.cost_micros, event.unpriced, event.price_verified) == ("ok", None, True, None)
    assert event.input_tokens == event.output_tokens == 0


def test_a_stream_records_its_time_to_first_token() -> None:
    event = build_event(facts(stream=True, ttft=0.0456, latency=1.5))
    assert (event.stream, event.ttft_ms, event.latency_ms, event.http_status) == (True, 46, 1500, 200)


def test_ttft_is_dropped_for_json_requests() -> None:
    assert build_event(facts(ttft=0.05)).ttft_ms is None


# --- errors ---------------------------------------------------------------------------------------


def test_an_upstream_failure_reports_its_status_kind_and_attempts_at_no_cost() -> None:
    failure = UpstreamFailure((rate_limited(1.0), rate_limited(2.0)))
    event = build_event(facts(error=failure, attempts=2, usage=None, cost=None))
    assert (event.status, event.http_status, event.error_kind, event.attempts) == ("error", 429, "rate_limit", 2)
    # The provider that failed last is named; nothing was spent.
    assert (event.provider, event.model) == ("OPENAI", "gpt-4o-mini")
    assert (event.cost_micros, event.unpriced, event.input_tokens) == (0, False, 0)
    assert event.price_verified is True


def test_a_failure_costs_nothing_even_when_a_cost_was_computed_without_usage() -> None:
    event = build_event(facts(error=UpstreamFailure((rate_limited(),)), usage=None, cost=UNPRICED))
    assert (event.cost_micros, event.unpriced) == (0, False)


def test_a_stream_that_failed_after_its_first_byte_reports_200_and_its_partial_usage() -> None:
    cut = ProviderError("cut", kind="network_error", provider="anthropic", retryable=True, in_stream=True)
    event = build_event(
        facts(
            provider="anthropic",
            model="claude-haiku-4-5-20251001",
            stream=True,
            ttft=0.2,
            error=cut,
            usage=Usage(input_tokens=10, output_tokens=3),
            cost=COST,
        )
    )
    assert (event.status, event.http_status, event.error_kind) == ("error", 200, "network_error")
    assert (event.provider, event.ttft_ms, event.input_tokens, event.cost_micros) == ("ANTHROPIC", 200, 10, 31)


def test_a_stream_that_failed_before_its_first_byte_reports_the_errors_status() -> None:
    failure = UpstreamFailure((ProviderError("boom", kind="api_error", provider="gemini", status=500, retryable=True),))
    event = build_event(
        facts(provider="gemini", model="gemini-2.5-flash", stream=True, ttft=None, error=failure, usage=None, cost=None)
    )
    assert (event.http_status, event.error_kind, event.ttft_ms, event.provider) == (502, "api_error", None, "GOOGLE")


def test_a_client_that_went_away_mid_stream() -> None:
    gone = GatewayError("the client closed the stream", status=499)
    event = build_event(facts(stream=True, ttft=0.01, error=gone, usage=None, cost=UNPRICED))
    assert (event.status, event.http_status, event.error_kind, event.cost_micros) == ("error", 200, "network_error", 0)


@pytest.mark.parametrize(
    ("status", "expected"), [(400, 400), (413, 413), (503, 503), (599, 599), (399, 502), (600, 502), (200, 502)]
)
def test_http_status_outside_4xx_5xx_becomes_502(status: int, expected: int) -> None:
    event = build_event(facts(error=GatewayError("odd", status=status), attempts=0, usage=None, cost=None))
    assert event.http_status == expected


# --- no provider reached --------------------------------------------------------------------------


def test_a_rejected_body_reached_no_provider_and_costs_a_known_zero() -> None:
    error = RequestError("request body is larger than the 100-byte limit", field="body", status=413)
    event = build_event(
        facts(
            model_requested="",
            provider=None,
            model=None,
            price_verified=None,
            attempts=0,
            usage=None,
            cost=None,
            error=error,
        )
    )
    assert (event.status, event.http_status, event.error_kind) == ("error", 413, "invalid_request")
    assert (event.provider, event.model, event.attempts) == (None, None, 0)
    assert (event.cost_micros, event.unpriced, event.price_verified) == (0, False, None)


def test_without_attempts_the_provider_and_model_are_dropped() -> None:
    # The service knows which provider *would* have served (e.g. no key configured for it); the event
    # names only a provider that was reached.
    error = GatewayError("no API key is configured for provider 'gemini'", status=503)
    event = build_event(
        facts(provider="gemini", model="gemini-2.5-flash", attempts=0, usage=None, cost=None, error=error)
    )
    assert (event.provider, event.model, event.http_status, event.error_kind) == (None, None, 503, "api_error")
    assert event.cost_micros == 0


def test_free_is_a_known_zero() -> None:
    assert (FREE.micros, FREE.unpriced, FREE.usd) == (0, False, Decimal(0))


# --- error_kind -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ProviderError("x", kind="context_length", provider="openai"), "context_length"),
        (ProviderError("x", kind="overloaded", provider="anthropic", status=529), "overloaded"),
        (UpstreamFailure((rate_limited(), ProviderError("t", kind="timeout", provider="openai"))), "timeout"),
        (RequestError("bad", field="temperature"), "invalid_request"),
        (RequestError("too big", field="body", status=413), "invalid_request"),
        (UnknownModelError("nope"), "invalid_request"),
        (AuthError("who are you"), "authentication"),
        (AuthError("not for you", status=403), "permission"),
        (GatewayError("gone", status=499), "network_error"),
        (GatewayError("no key", status=503), "api_error"),
        (GatewayError("bug"), "api_error"),
        (EventSinkError("disk full"), "api_error"),
    ],
)
def test_error_kind(error: GatewayError, kind: ErrorKind) -> None:
    assert error_kind(error) == kind


def test_an_authentication_failure_may_have_no_tenant() -> None:
    anonymous = Identity(tenant="", key_id="")
    event = build_event(
        facts(identity=anonymous, error=AuthError("missing key"), attempts=0, provider=None, usage=None, cost=None)
    )
    assert (event.error_kind, event.http_status, event.tenant) == ("authentication", 401, "")
