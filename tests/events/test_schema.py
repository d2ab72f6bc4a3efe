"""The usage event schema (shared/events/schema.py): types, cross-field rules, JSON round trip, from_usage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.catalog import default_catalog
from shared.cost import UNPRICED, Cost, cost_of
from shared.errors import ErrorKind
from shared.events import TOKEN_FIELDS, UsageEvent
from shared.events.schema import _SEED_SPELLING, SeedProvider
from shared.providers import SEED_NAMES
from shared.unified import Usage

TS = datetime(2025, 3, 1, 10, 15, 0, 123456, tzinfo=UTC)


def fields(**overrides: Any) -> dict[str, Any]:
    """A valid ok, priced, non-stream event's fields, with overrides."""
    base: dict[str, Any] = {
        "ts": TS,
        "request_id": "req_1",
        "tenant": "app-1",
        "user": "u-1",
        "key_id": "key-1",
        "route": "openai",
        "provider": "OPENAI",
        "model_requested": "gpt-4o",
        "model": "gpt-4o",
        "status": "ok",
        "http_status": 200,
        "attempts": 1,
        "input_tokens": 1000,
        "output_tokens": 500,
        "cost_micros": 7000,
        "unpriced": False,
        "latency_ms": 420,
        "price_verified": True,
    }
    base.update(overrides)
    return base


def event(**overrides: Any) -> UsageEvent:
    return UsageEvent(**fields(**overrides))


def error_text(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(exc.value)


# ------------------------------------------------------------------------------------------ round trip


def test_json_round_trip_is_identity() -> None:
    original = event(stream=True, ttft_ms=80, cached_input_tokens=400, reasoning_tokens=3)
    data = original.to_json_bytes()
    assert b"\n" not in data
    assert UsageEvent.from_json_bytes(data) == original
    assert UsageEvent.from_json_bytes(data.decode()) == original


def test_json_is_flat_with_utc_z_timestamp() -> None:
    raw = orjson.loads(event().to_json_bytes())
    assert raw["ts"] == "2025-03-01T10:15:00.123456Z"
    assert raw["provider"] == "OPENAI"
    assert raw["cost_micros"] == 7000
    assert all(not isinstance(value, dict | list) for value in raw.values())


def test_event_id_is_a_fresh_uuid4_hex() -> None:
    first, second = event(), event()
    assert len(first.event_id) == 32
    parsed = uuid.UUID(hex=first.event_id)
    assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    assert parsed.hex == first.event_id
    assert first.event_id != second.event_id


def test_ts_is_normalized_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    stamped = event(ts=datetime(2025, 3, 1, 11, 15, 0, 123456, tzinfo=paris))
    assert stamped.ts == TS
    assert stamped.ts.tzinfo is UTC
    assert event(ts="2025-03-01T11:15:00.123456+01:00").ts == TS


@pytest.mark.parametrize("ts", [datetime(2025, 3, 1, 10, 15), "2025-03-01T10:15:00", "yesterday", 1740824100])
def test_ts_must_be_an_aware_timestamp(ts: object) -> None:
    with pytest.raises(ValidationError) as exc:
        event(ts=ts)
    assert "ts" in error_text(exc)


@given(
    tokens=st.lists(st.integers(min_value=0, max_value=10**12), min_size=6, max_size=6),
    text=st.text(min_size=1, max_size=40),
    latency=st.integers(min_value=0, max_value=10**9),
    micros=st.integers(min_value=0, max_value=10**15),
)
def test_round_trip_property(tokens: list[int], text: str, latency: int, micros: int) -> None:
    original = event(
        **dict(zip(TOKEN_FIELDS, tokens, strict=True)),
        request_id=text,
        tenant=text,
        user=text,
        model_requested=text,
        latency_ms=latency,
        cost_micros=micros,
    )
    assert UsageEvent.from_json_bytes(original.to_json_bytes()) == original


# ------------------------------------------------------------------------------------------- field types


def test_provider_takes_seed_spelling_or_internal_names() -> None:
    assert event(provider="gemini").provider == "GOOGLE"
    assert event(provider="anthropic").provider == "ANTHROPIC"
    assert event(provider="GOOGLE").provider == "GOOGLE"
    with pytest.raises(ValidationError) as exc:
        event(provider="mistral")
    assert "provider" in error_text(exc)


def test_seed_spelling_table_matches_the_provider_registry() -> None:
    assert _SEED_SPELLING == SEED_NAMES
    assert set(get_args(SeedProvider)) == set(SEED_NAMES.values())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("input_tokens", -1),
        ("output_tokens", True),  # strict: a bool is not a count
        ("attempts", "1"),
        ("latency_ms", 1.5),
        ("stream", 1),
        ("cost_micros", -5),
        ("cost_saved_micros", -1),
        ("ttft_ms", -1),
        ("http_status", 99),
        ("http_status", 600),
        ("route", "v1"),
        ("status", "partial"),
        ("error_kind", "boom"),
        ("event_id", "not-hex"),
        ("request_id", ""),
        ("user", ""),
    ],
)
def test_bad_field_values_name_the_field(name: str, value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        event(**{name: value})
    assert exc.value.errors()[0]["loc"][0] == name


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        event(input_token=3)
    assert exc.value.errors()[0]["loc"] == ("input_token",)


def test_missing_required_fields_are_named() -> None:
    data = fields()
    del data["cost_micros"]
    with pytest.raises(ValidationError) as exc:
        UsageEvent(**data)
    assert exc.value.errors()[0]["loc"] == ("cost_micros",)


def test_events_are_frozen() -> None:
    with pytest.raises(ValidationError):
        event().tenant = "other"


@pytest.mark.parametrize("kind", get_args(ErrorKind))
def test_every_error_kind_is_accepted(kind: str) -> None:
    assert event(status="error", http_status=502, error_kind=kind).error_kind == kind


def test_the_json_schema_has_only_flat_scalar_columns() -> None:
    # Later issues generate the Pub/Sub and BigQuery schemas from this: nothing nested, nothing exotic.
    schema = UsageEvent.model_json_schema()
    for name, prop in schema["properties"].items():
        variants = prop.get("anyOf", [prop])
        types = {variant["type"] for variant in variants}
        assert types <= {"string", "integer", "boolean", "null"}, name
        assert len(types - {"null"}) == 1, name
    assert schema["properties"]["ts"]["format"] == "date-time"


# ----------------------------------------------------------------------------------------- cross-field


def test_an_unpriced_event_has_no_cost() -> None:
    unpriced = event(model_requested="gpt-9", model="gpt-9", cost_micros=None, unpriced=True, price_verified=None)
    assert unpriced.cost_micros is None
    assert orjson.loads(unpriced.to_json_bytes())["cost_micros"] is None


def test_an_error_before_any_provider_costs_a_known_zero() -> None:
    refused = event(
        status="error",
        http_status=400,
        error_kind="invalid_request",
        provider=None,
        model=None,
        attempts=0,
        input_tokens=0,
        output_tokens=0,
        cost_micros=0,
        unpriced=False,
        price_verified=None,
    )
    assert (refused.cost_micros, refused.unpriced, refused.provider) == (0, False, None)


def test_an_authentication_failure_may_have_no_tenant() -> None:
    anonymous = event(
        tenant="",
        key_id="",
        user=None,
        model_requested="",
        status="error",
        http_status=401,
        error_kind="authentication",
        provider=None,
        model=None,
        attempts=0,
        input_tokens=0,
        output_tokens=0,
        cost_micros=0,
    )
    assert anonymous.tenant == ""


def test_a_stream_cut_after_its_first_byte_is_an_error_with_status_200() -> None:
    cut = event(stream=True, ttft_ms=50, status="error", http_status=200, error_kind="network_error")
    assert (cut.status, cut.http_status) == ("error", 200)


NO_PROVIDER: dict[str, Any] = {"provider": None, "attempts": 0, "input_tokens": 0, "output_tokens": 0}
ERROR: dict[str, Any] = {"status": "error", "http_status": 502, "error_kind": "api_error"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cost_micros": None}, "cost_micros must be null exactly when unpriced"),
        ({"unpriced": True}, "cost_micros must be null exactly when unpriced"),
        ({"cost_micros": None, "unpriced": True, "price_verified": False}, "price_verified must be null"),
        ({"provider": None}, "provider is required when attempts > 0"),
        ({"attempts": 0}, "provider must be null when no attempt was made"),
        ({**NO_PROVIDER, **ERROR, "cost_micros": 10}, "no provider reached"),
        ({**NO_PROVIDER, **ERROR, "cost_micros": 0, "output_tokens": 3}, "no provider reached"),
        ({"cache_hit": True, "attempts": 0}, "a cache hit has cost_micros 0"),
        ({"cache_hit": True, "cost_micros": 0}, "a cache hit has cost_micros 0"),
        ({"cost_saved_micros": 5}, "cost_saved_micros is only for cache hits"),
        ({"error_kind": "timeout"}, "error_kind must be null when status is ok"),
        ({"http_status": 500}, "http_status must be 2xx"),
        ({"model": None}, "an ok event names model_requested and model"),
        ({"model_requested": ""}, "an ok event names model_requested and model"),
        ({"status": "error", "http_status": 502}, "error_kind is required"),
        ({"tenant": ""}, "tenant and key_id may be empty only when authentication failed"),
        ({**ERROR, "key_id": ""}, "tenant and key_id may be empty only when authentication failed"),
        ({"ttft_ms": 10}, "ttft_ms is only for streams"),
    ],
)
def test_cross_field_rules(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        event(**overrides)


# ------------------------------------------------------------------------------------------ from_usage

REQUEST: dict[str, Any] = {
    "ts": TS,
    "request_id": "req_2",
    "tenant": "app-1",
    "key_id": "key-1",
    "route": "seed",
    "provider": "openai",
    "model_requested": "gpt-4o",
    "model": "gpt-4o",
    "status": "ok",
    "http_status": 200,
    "attempts": 2,
    "latency_ms": 300,
}


def test_from_usage_fills_tokens_and_cost() -> None:
    usage = Usage(input_tokens=1000, cached_input_tokens=400, output_tokens=500, reasoning_tokens=20)
    cost = cost_of(usage, default_catalog()["gpt-4o"])
    built = UsageEvent.from_usage(usage, cost, price_verified=True, **REQUEST)
    assert (built.input_tokens, built.cached_input_tokens, built.output_tokens) == (1000, 400, 500)
    assert (built.reasoning_tokens, built.cache_write_tokens, built.cache_write_1h_tokens) == (20, 0, 0)
    assert (built.cost_micros, built.unpriced, built.cache_hit) == (7000, False, False)
    assert built.provider == "OPENAI"


def test_from_usage_unpriced() -> None:
    built = UsageEvent.from_usage(Usage(input_tokens=5, output_tokens=5), UNPRICED, **REQUEST)
    assert (built.cost_micros, built.unpriced, built.price_verified) == (None, True, None)


def test_from_usage_without_reported_usage_records_zero_tokens() -> None:
    failed = {**REQUEST, "status": "error", "http_status": 502, "error_kind": "overloaded"}
    built = UsageEvent.from_usage(None, Cost(usd=None, micros=0, unpriced=False), **failed)
    assert all(getattr(built, name) == 0 for name in TOKEN_FIELDS)
    assert built.cost_micros == 0


def test_from_usage_cache_hit_costs_zero_and_records_the_saving() -> None:
    usage = Usage(input_tokens=1000, output_tokens=500)
    cost = cost_of(usage, default_catalog()["gpt-4o"])
    hit = UsageEvent.from_usage(usage, cost, cache_hit=True, **{**REQUEST, "attempts": 0})
    assert (hit.cost_micros, hit.unpriced, hit.cost_saved_micros, hit.cache_hit) == (0, False, 7500, True)
    unpriced_hit = UsageEvent.from_usage(usage, UNPRICED, cache_hit=True, **{**REQUEST, "attempts": 0})
    assert (unpriced_hit.cost_micros, unpriced_hit.cost_saved_micros) == (0, 0)


def test_from_usage_refuses_fields_it_fills() -> None:
    with pytest.raises(TypeError, match="cost_micros, input_tokens"):
        UsageEvent.from_usage(Usage(), UNPRICED, input_tokens=3, cost_micros=1, **REQUEST)


def test_from_usage_validates_the_rest() -> None:
    with pytest.raises(ValidationError) as exc:
        UsageEvent.from_usage(Usage(), UNPRICED, **{**REQUEST, "route": "grpc"})
    assert exc.value.errors()[0]["loc"] == ("route",)
