"""DuckDB over real segment files: exact totals and breakdowns, exact percentiles, scoping, the time
window, dedupe on event_id, `.partial` files unseen, and an empty directory."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from shared.analytics.duckdb_adapter import DuckDbAnalytics, event_columns
from shared.analytics.port import QueryParams
from shared.events.schema import UsageEvent
from tests.analytics import limit_events as limit_events_module
from tests.analytics.events import DAY0, event, quantile_cont, write_segment

WEEK = QueryParams("acme", DAY0, DAY0 + timedelta(days=7))


def test_columns_cover_the_schema() -> None:
    assert list(event_columns()) == list(UsageEvent.model_fields)
    assert event_columns()["ts"] == "TIMESTAMP"
    assert event_columns()["cost_micros"] == "BIGINT"


async def test_empty_or_missing_directory_gives_no_rows(tmp_path: Path) -> None:
    port = DuckDbAnalytics(tmp_path / "events")
    assert await port.run("by_provider", WEEK) == []
    (totals,) = await port.run("totals", WEEK)
    assert totals["requests"] == 0
    assert totals["cost_micros"] == 0


async def test_exact_totals_and_breakdowns(tmp_path: Path) -> None:
    day1 = DAY0 + timedelta(days=1, hours=3)
    events = [
        event(cost_micros=1_234_567, input_tokens=100, output_tokens=40, reasoning_tokens=10),
        event(provider="ANTHROPIC", model="claude-haiku", model_requested="claude-haiku", cost_micros=7, ts=day1),
        event(provider="ANTHROPIC", model="claude-haiku", model_requested="claude-haiku", cost_micros=3, ts=day1),
        event(cache_hit=True, attempts=0, cost_micros=0, cost_saved_micros=555, credential_id=None),
        event(cost_micros=None, unpriced=True, model="x-unknown", model_requested="x-unknown"),
    ]
    write_segment(tmp_path, events[:2])
    write_segment(tmp_path, events[2:], name="events-2-20260301T000000000Z-000000")
    port = DuckDbAnalytics(tmp_path)
    (totals,) = await port.run("totals", WEEK)
    assert totals == {
        "requests": 5,
        "errors": 0,
        "cache_hits": 1,
        "input_tokens": 100 + 10 + 10 + 10,  # the cache hit's tokens are not consumed
        "output_tokens": 40 + 5 + 5 + 5,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 0,
        "reasoning_tokens": 10,
        "cost_micros": 1_234_567 + 7 + 3,
        "unpriced": 1,
        "cost_saved_micros": 555,
        "routing_saved_micros": 0,
    }
    by_provider = {r["provider"]: (r["requests"], r["cost_micros"]) for r in await port.run("by_provider", WEEK)}
    assert by_provider == {"ANTHROPIC": (2, 10), "OPENAI": (3, 1_234_567)}
    by_model = {(r["provider"], r["model"]): r["cost_micros"] for r in await port.run("by_model", WEEK)}
    assert by_model == {
        ("ANTHROPIC", "claude-haiku"): 10,
        ("OPENAI", "gpt-4o-mini"): 1_234_567,
        ("OPENAI", "x-unknown"): 0,
    }
    by_day = [(r["day"].isoformat(), r["requests"], r["cost_micros"]) for r in await port.run("by_day", WEEK)]  # type: ignore[attr-defined]
    assert by_day == [("2026-03-01", 3, 1_234_567), ("2026-03-02", 2, 10)]


async def test_routing_savings_count_only_cheaper_routes(tmp_path: Path) -> None:
    routed = {"model_requested": "gpt-4o", "model": "gpt-4o-mini"}
    events = [
        event(**routed, route_reason="cheapest", cost_micros=300, requested_cost_micros=5_000),
        event(**routed, route_reason="cheapest", cost_micros=10, requested_cost_micros=171),
        event(
            **routed, route_reason="fallback after openai/gpt-4o (overloaded)", cost_micros=9, requested_cost_micros=1
        ),
        event(**routed, route_reason="preferred", cost_micros=50, requested_cost_micros=70),
        event(route_reason="requested"),
    ]
    write_segment(tmp_path, events)
    (totals,) = await DuckDbAnalytics(tmp_path).run("totals", WEEK)
    assert totals["routing_saved_micros"] == (5_000 - 300) + (171 - 10)
    assert totals["cost_micros"] == 300 + 10 + 9 + 50 + 100


async def test_percentiles_are_exact(tmp_path: Path) -> None:
    latencies = [5, 17, 23, 42, 80, 81, 99, 150, 310, 1_000, 2_500]
    ttfts = [3, 9, 30, 200]
    events = [event(latency_ms=ms) for ms in latencies]
    events += [event(latency_ms=900, stream=True, ttft_ms=t) for t in ttfts]
    events.append(event(status="error", http_status=502, error_kind="api_error", latency_ms=99_999))
    write_segment(tmp_path, events)
    (row,) = await DuckDbAnalytics(tmp_path).run("performance", WEEK)
    served = latencies + [900] * len(ttfts)  # the error's latency is not a served request's
    assert row["latency_p50_ms"] == pytest.approx(quantile_cont(served, 0.5), abs=1e-9)
    assert row["latency_p95_ms"] == pytest.approx(quantile_cont(served, 0.95), abs=1e-9)
    assert row["ttft_p50_ms"] == pytest.approx(quantile_cont(ttfts, 0.5), abs=1e-9)
    assert row["ttft_p95_ms"] == pytest.approx(quantile_cont(ttfts, 0.95), abs=1e-9)
    assert (row["requests"], row["errors"]) == (16, 1)


async def test_failovers_errors_and_cache_hits(tmp_path: Path) -> None:
    write_segment(
        tmp_path,
        [
            event(attempts=2),
            event(
                model_requested="gpt-4o",
                model="claude-haiku",
                provider="ANTHROPIC",
                route_reason="fallback after openai/gpt-4o (breaker open)",
            ),
            event(model_requested="gpt-4o", route_reason="cheapest"),  # routing's choice: not a failover
            event(),
            event(cache_hit=True, attempts=0, cost_micros=0, cost_saved_micros=1, credential_id=None),
            event(status="error", http_status=429, error_kind="rate_limit", attempts=3),
            event(status="error", http_status=429, error_kind="rate_limit", attempts=1),
            event(status="error", http_status=504, error_kind="timeout"),
        ],
    )
    port = DuckDbAnalytics(tmp_path)
    (row,) = await port.run("performance", WEEK)
    assert (row["requests"], row["errors"], row["cache_hits"], row["failovers"]) == (8, 3, 1, 3)
    kinds = [(r["error_kind"], r["errors"]) for r in await port.run("errors_by_kind", WEEK)]
    assert kinds == [("rate_limit", 2), ("timeout", 1)]


async def test_scope_window_dedupe_and_partial_files(tmp_path: Path) -> None:
    mine = event(user="u1", cost_micros=10)
    write_segment(
        tmp_path,
        [
            mine,
            event(user="u2", cost_micros=20),
            event(cost_micros=40, key_id="key-b"),
            event(tenant="other", cost_micros=1_000),
            event(cost_micros=5_000, ts=DAY0 - timedelta(microseconds=1)),  # before the window
            event(cost_micros=7_000, ts=DAY0 + timedelta(days=7)),  # the window is half-open
        ],
    )
    write_segment(tmp_path, [mine], name="events-9-20260301T000000000Z-000000")  # a duplicate delivery
    (tmp_path / "events-3-20260301T000000000Z-000000.jsonl.partial").write_bytes(event(cost_micros=9).to_json_bytes())
    port = DuckDbAnalytics(tmp_path)

    async def cost(params: QueryParams) -> object:
        return (await port.run("totals", params))[0]["cost_micros"]

    assert await cost(WEEK) == 70
    assert await cost(QueryParams("acme", WEEK.since, WEEK.until, user="u1")) == 10
    assert await cost(QueryParams("acme", WEEK.since, WEEK.until, key_id="key-b")) == 40
    assert await cost(QueryParams("other", WEEK.since, WEEK.until)) == 1_000
    assert await cost(QueryParams("acme", DAY0 - timedelta(days=1), DAY0 + timedelta(days=8))) == 12_070


async def test_unknown_query_is_a_key_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown analytics query"):
        await DuckDbAnalytics(tmp_path).run("nope", WEEK)


@pytest.mark.parametrize("scope", sorted(limit_events_module.SCOPES))
async def test_spend_by_day_and_limited_requests_are_exact(tmp_path: Path, scope: str) -> None:
    write_segment(tmp_path, limit_events_module.limit_events())
    port = DuckDbAnalytics(tmp_path)
    params = limit_events_module.SCOPES[scope]
    rows = await port.run("spend_by_day", params)
    assert [(r["day"], r["cost_micros"]) for r in rows] == limit_events_module.SPEND[scope]
    assert await port.run("limited_requests", params) == [{"limited_requests": limit_events_module.LIMITED[scope]}]


async def test_limited_requests_over_no_events_is_zero(tmp_path: Path) -> None:
    port = DuckDbAnalytics(tmp_path / "events")
    assert await port.run("limited_requests", WEEK) == [{"limited_requests": 0}]
    assert await port.run("spend_by_day", WEEK) == []
