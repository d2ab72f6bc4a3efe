"""BigQuery (the emulator) and DuckDB answer every analytics query alike on the same known events.

The events go into a DAY-partitioned table made from the generated schema
(shared/events/schemas/usage_events.bigquery.json; the rollup tables beside it stay empty: no day is rolled
here, tests/analytics/test_rollup.py rolls them) with `insert_rows_json` and into segment files for DuckDB.
Sums and counts must be equal, and equal to the Python reference; percentiles differ by design
(APPROX_QUANTILES in BigQuery, exact QUANTILE_CONT in DuckDB), so each must lie within the rank tolerance
of APPROX_QUANTILES(x, 100): a value whose rank is within one bucket (1/100 of the values) of the target.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.analytics.bigquery_adapter import BigQueryAnalytics, bigquery_client, qualify
from shared.analytics.duckdb_adapter import DuckDbAnalytics
from shared.analytics.port import AnalyticsUnavailable, QueryParams, Row
from shared.analytics.queries import QUERIES
from shared.events.schema import UsageEvent
from tests.analytics import limit_events as limit_events_module
from tests.analytics.bigquery_tables import create_tables, insert_events
from tests.analytics.events import DAY0, event, quantile_cont, write_segment
from tests.bigquery_emulator import BigQueryEmulator

WEEK = (DAY0, DAY0 + timedelta(days=7))
SCOPES = {
    "tenant": QueryParams("acme", *WEEK),
    "user": QueryParams("acme", *WEEK, user="u1"),
    "key": QueryParams("acme", *WEEK, key_id="key-b"),
    "other tenant": QueryParams("other", *WEEK),
    "no such tenant": QueryParams("nobody", *WEEK),
    "one day": QueryParams("acme", DAY0 + timedelta(days=2), DAY0 + timedelta(days=3)),
}
BUCKETS = 100  # APPROX_QUANTILES(x, 100) in shared.analytics.queries
PERCENTILES = {  # column -> (quantile, the values it is taken over)
    "latency_p50_ms": (0.50, "latency"),
    "latency_p95_ms": (0.95, "latency"),
    "ttft_p50_ms": (0.50, "ttft"),
    "ttft_p95_ms": (0.95, "ttft"),
}


def _events() -> list[UsageEvent]:
    """Two tenants, three providers, five days, users and keys, errors, cache hits, failovers, streams."""
    rng = random.Random(7)
    events: list[UsageEvent] = []
    models = [("OPENAI", "gpt-4o-mini"), ("ANTHROPIC", "claude-haiku"), ("GOOGLE", "gemini-flash")]
    for i in range(240):
        provider, model = models[i % 3]
        stream = i % 4 == 0
        events.append(
            event(
                ts=DAY0 + timedelta(days=i % 5, minutes=i),
                tenant="acme" if i % 8 else "other",
                user=("u1", "u2", None)[i % 3],
                key_id=("key-a", "key-b")[i % 2],
                provider=provider,
                model=model,
                model_requested=model if i % 11 else "gpt-4o",  # routed to another model
                route_reason="requested" if i % 11 else ("cheapest", "fallback after openai/gpt-4o (timeout)")[i % 2],
                requested_cost_micros=None if i % 11 else rng.randint(3_000_000, 9_000_000),
                attempts=2 if i % 13 == 0 else 1,
                input_tokens=rng.randint(1, 5_000),
                output_tokens=rng.randint(1, 2_000),
                cached_input_tokens=rng.randint(0, 100),
                reasoning_tokens=rng.randint(0, 50),
                cost_micros=rng.randint(1, 3_000_000),
                latency_ms=int(rng.lognormvariate(6, 1)),
                stream=stream,
                ttft_ms=rng.randint(50, 900) if stream else None,
            )
        )
    for i in range(12):
        events.append(event(cache_hit=True, attempts=0, cost_micros=0, cost_saved_micros=1_000 + i, credential_id=None))
    for i, kind in enumerate(["rate_limit", "timeout", "rate_limit", "api_error", "rate_limit", "timeout"]):
        events.append(event(status="error", http_status=502, error_kind=kind, latency_ms=60_000 + i, attempts=3))
    events += [event(cost_micros=None, unpriced=True, model="x-new", model_requested="x-new") for _ in range(3)]
    events.append(event(cost_micros=9_999_999, ts=DAY0 - timedelta(microseconds=1)))  # before the window
    events.append(event(cost_micros=9_999_999, ts=WEEK[1]))  # the window is half-open
    return events


def _scoped(events: Sequence[UsageEvent], params: QueryParams) -> list[UsageEvent]:
    """The queries' event set, in Python: scope, window, one row per event_id."""
    unique = {e.event_id: e for e in events}.values()
    return [
        e
        for e in unique
        if e.tenant == params.tenant
        and params.user in (None, e.user)
        and params.key_id in (None, e.key_id)
        and params.since <= e.ts < params.until
    ]


@dataclass(frozen=True, slots=True)
class Loaded:
    events: list[UsageEvent]
    bigquery: BigQueryAnalytics
    duckdb: DuckDbAnalytics


@pytest.fixture(scope="module")
def loaded(bigquery_emulator: BigQueryEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    events = _events()
    duplicate = events[5]  # delivered twice (at-least-once): once more, under another row id / segment
    client = bigquery_client(bigquery_emulator.project, bigquery_emulator.endpoint)
    table = create_tables(client, "parity")["usage_events"]
    insert_events(client, table, events)
    insert_events(client, table, [duplicate], suffix="-redelivered")
    (stored,) = client.query_and_wait(f"SELECT COUNT(*) AS n FROM `{table}`")
    assert stored["n"] == len(events) + 1  # the queries' dedupe, not the insert, removes the second copy
    directory = tmp_path_factory.mktemp("events")
    write_segment(directory, events)
    write_segment(directory, [duplicate], name="events-2-20260301T000000000Z-000000")
    yield Loaded(events, BigQueryAnalytics(client, "parity"), DuckDbAnalytics(directory))
    client.close()  # type: ignore[no-untyped-call]


def _rank_band(values: Sequence[int], q: float) -> tuple[int, int]:
    """The smallest and largest values whose rank is within one bucket of quantile `q`'s."""
    ordered = sorted(values)
    last = len(ordered) - 1
    low = max(0, math.floor((q - 1 / BUCKETS) * last))
    high = min(last, math.ceil((q + 1 / BUCKETS) * last))
    return ordered[low], ordered[high]


def _samples(events: Sequence[UsageEvent], row: Row) -> dict[str, list[int]]:
    """The latencies and TTFTs behind one performance row (its group, when it has one)."""
    group = [e for e in events if all(getattr(e, k) == row[k] for k in ("provider", "model") if k in row)]
    return {
        "latency": [e.latency_ms for e in group if e.status == "ok"],
        "ttft": [e.ttft_ms for e in group if e.ttft_ms is not None],
    }


def _assert_percentile(column: str, got: object, exact: object, samples: dict[str, list[int]]) -> None:
    q, source = PERCENTILES[column]
    values = samples[source]
    if not values:
        assert got is None, column
        assert exact is None, column
        return
    assert isinstance(got, int | float), (column, got)
    assert isinstance(exact, int | float), (column, exact)
    assert exact == pytest.approx(quantile_cont(values, q), abs=1e-9), column
    low, high = _rank_band(values, q)
    assert low <= got <= high, (column, got, (low, high), exact)


# Every query in every scope, the empty ones too (a COUNTIF over no rows is 0 on both: translate.py).
CASES = [pytest.param(scope, query) for scope in sorted(SCOPES) for query in sorted(QUERIES)]


@pytest.mark.parametrize(("scope", "query"), CASES)
async def test_every_query_matches_duckdb(loaded: Loaded, query: str, scope: str) -> None:
    params = SCOPES[scope]
    from_bigquery = await loaded.bigquery.run(query, params)
    from_duckdb = await loaded.duckdb.run(query, params)
    assert len(from_bigquery) == len(from_duckdb)
    events = _scoped(loaded.events, params)
    for got, exact in zip(from_bigquery, from_duckdb, strict=True):
        assert list(got) == list(exact)
        samples = _samples(events, got)
        for column, value in got.items():
            if column in PERCENTILES:
                _assert_percentile(column, value, exact[column], samples)
            else:
                assert value == exact[column], (column, got, exact)


@pytest.mark.parametrize("scope", sorted(SCOPES))
async def test_totals_are_exact(loaded: Loaded, scope: str) -> None:
    params = SCOPES[scope]
    events = _scoped(loaded.events, params)
    consumed = [e for e in events if not e.cache_hit]
    (totals,) = await loaded.bigquery.run("totals", params)
    assert totals["requests"] == len(events)
    assert totals["errors"] == sum(e.status == "error" for e in events)
    assert totals["cache_hits"] == sum(e.cache_hit for e in events)
    assert totals["input_tokens"] == sum(e.input_tokens for e in consumed)
    assert totals["output_tokens"] == sum(e.output_tokens for e in consumed)
    assert totals["cost_micros"] == sum(e.cost_micros or 0 for e in events)
    assert totals["unpriced"] == sum(e.unpriced for e in events)
    assert totals["cost_saved_micros"] == sum(e.cost_saved_micros for e in events)
    routed = [e for e in events if e.route_reason == "cheapest" and e.requested_cost_micros is not None]
    assert totals["routing_saved_micros"] == sum((e.requested_cost_micros or 0) - (e.cost_micros or 0) for e in routed)


async def _requests(port: BigQueryAnalytics, params: QueryParams) -> int:
    (totals,) = await port.run("totals", params)
    count = totals["requests"]
    assert isinstance(count, int)
    return count


async def test_scoping_holds(loaded: Loaded) -> None:
    """Tenants never mix, and the users' (and the keys') shares add up to the tenant's requests."""
    port = loaded.bigquery
    tenant = await _requests(port, SCOPES["tenant"])
    other = await _requests(port, SCOPES["other tenant"])
    in_window = {e.event_id for e in loaded.events if WEEK[0] <= e.ts < WEEK[1]}
    assert tenant + other == len(in_window)
    assert await _requests(port, SCOPES["no such tenant"]) == 0
    assert await port.run("by_provider", SCOPES["no such tenant"]) == []
    users = [await _requests(port, QueryParams("acme", *WEEK, user=u)) for u in ("u1", "u2")]
    without_user = sum(e.user is None for e in _scoped(loaded.events, SCOPES["tenant"]))
    assert all(0 < n < tenant for n in users)
    assert sum(users) + without_user == tenant
    keys = [await _requests(port, QueryParams("acme", *WEEK, key_id=k)) for k in ("key-a", "key-b")]
    assert all(0 < n < tenant for n in keys)
    assert sum(keys) == tenant


async def test_breakdowns_by_day_and_provider(loaded: Loaded) -> None:
    rows = await loaded.bigquery.run("by_day_provider", SCOPES["tenant"])
    keys = [(r["day"].isoformat(), r["provider"]) for r in rows]  # type: ignore[attr-defined]
    assert keys == sorted(keys)
    assert {day for day, _ in keys} == {(DAY0 + timedelta(days=d)).date().isoformat() for d in range(5)}
    (totals,) = await loaded.bigquery.run("totals", SCOPES["tenant"])
    assert sum(r["cost_micros"] for r in rows) == totals["cost_micros"]  # type: ignore[misc]


class _Refusing(BaseHTTPRequestHandler):
    """BigQuery answering every call with 403 (the emulator itself answers a missing table with no rows)."""

    def do_POST(self) -> None:
        body = b'{"error": {"code": 403, "message": "Access Denied: Table usage_events", "errors": []}}'
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_an_api_error_is_unavailable(refusing_endpoint: str) -> None:
    port = BigQueryAnalytics(bigquery_client("demo-test", refusing_endpoint), "parity", timeout=5)
    with pytest.raises(AnalyticsUnavailable, match="Access Denied") as caught:
        await port.run("totals", SCOPES["tenant"])
    assert caught.value.__cause__ is not None


async def test_unreachable_bigquery_is_unavailable() -> None:
    client = bigquery_client("demo-test", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(AnalyticsUnavailable):
        await BigQueryAnalytics(client, "parity", timeout=0.5).run("totals", SCOPES["tenant"])


async def test_unknown_query_is_a_key_error() -> None:
    port = BigQueryAnalytics(bigquery_client("demo-test", "http://127.0.0.1:9"), "parity")
    with pytest.raises(KeyError, match="unknown analytics query"):
        await port.run("nope", SCOPES["tenant"])


def test_table_is_qualified_in_every_query() -> None:
    assert qualify("SELECT * FROM usage_events JOIN usage_events AS u USING (event_id)", "p.d.t") == (
        "SELECT * FROM `p.d.t` JOIN `p.d.t` AS u USING (event_id)"
    )
    with pytest.raises(ValueError, match="does not read usage_events"):
        qualify("SELECT 1", "p.d.t")


@pytest.mark.parametrize(
    ("dataset", "table"), [("analytics; DROP", "usage_events"), ("analytics", "usage events"), ("Bad_Project.d", "t")]
)
def test_table_names_are_checked(dataset: str, table: str) -> None:
    with pytest.raises(ValueError, match="not a BigQuery table path"):
        BigQueryAnalytics(bigquery_client("demo-test", "http://127.0.0.1:9"), dataset, table)


@pytest.fixture(scope="module")
def limits_bigquery(bigquery_emulator: BigQueryEmulator) -> Iterator[BigQueryAnalytics]:
    """The known events of the limits queries in a dataset of their own (the duplicate under a second row id)."""
    client = bigquery_client(bigquery_emulator.project, bigquery_emulator.endpoint)
    table = create_tables(client, "limits")["usage_events"]
    events = limit_events_module.limit_events()
    insert_events(client, table, events[:-1])
    insert_events(client, table, events[-1:], suffix="-redelivered")
    yield BigQueryAnalytics(client, "limits")
    client.close()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("scope", sorted(limit_events_module.SCOPES))
async def test_spend_by_day_and_limited_requests_are_exact(limits_bigquery: BigQueryAnalytics, scope: str) -> None:
    params = limit_events_module.SCOPES[scope]
    rows = await limits_bigquery.run("spend_by_day", params)
    assert [(r["day"], r["cost_micros"]) for r in rows] == limit_events_module.SPEND[scope]
    limited = await limits_bigquery.run("limited_requests", params)
    assert limited == [{"limited_requests": limit_events_module.LIMITED[scope]}]


async def test_dataset_may_name_its_project(loaded: Loaded, bigquery_emulator: BigQueryEmulator) -> None:
    client = bigquery_client("another-project", bigquery_emulator.endpoint)
    port = BigQueryAnalytics(client, f"{bigquery_emulator.project}.parity")
    assert await port.run("by_model", SCOPES["tenant"]) == await loaded.bigquery.run("by_model", SCOPES["tenant"])
