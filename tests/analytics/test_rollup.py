"""Daily rollups on both backends, DuckDB over real segment files and the BigQuery emulator: known events in
(five days, two tenants, users, keys, duplicated event ids, cache hits, unpriced, routed, failovers, errors),
the exact rollup rows out; a re-run gives the same rows; a late event is picked up by the next run of its
day; and every usage query gives the same result with rollups as without, for windows that mix rolled and
unrolled days, partial days at the edges, and every scope."""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pytest
from google.cloud import bigquery

from shared.analytics.bigquery_adapter import BigQueryAnalytics, bigquery_client
from shared.analytics.bigquery_rollup import BigQueryRollups
from shared.analytics.duckdb_adapter import DuckDbAnalytics
from shared.analytics.duckdb_rollup import DuckDbRollups, rollups_path
from shared.analytics.port import AnalyticsPort, QueryParams, Row
from shared.analytics.queries import ROLLUP_KEYS, ROLLUP_MEASURES, TOKEN_COLUMNS, USAGE_QUERIES
from shared.analytics.rollup import RollupPort
from shared.analytics.service import AnalyticsService
from shared.events.schema import UsageEvent
from shared.identity import Identity
from tests.analytics.bigquery_tables import create_tables, insert_events
from tests.analytics.events import DAY0, event, write_segment
from tests.bigquery_emulator import BigQueryEmulator
from tests.fakes import FakeClock

DAYS = [(DAY0 + timedelta(days=n)).date() for n in range(5)]
ROLLED_AT = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
RowKey = tuple[Any, ...]
_segments = itertools.count()


def _events() -> list[UsageEvent]:
    rng = random.Random(11)
    models = [("OPENAI", "gpt-4o-mini"), ("ANTHROPIC", "claude-haiku"), ("GOOGLE", "gemini-flash")]
    events = []
    for i in range(150):
        provider, model = models[i % 3]
        routed = i % 7 == 0
        events.append(
            event(
                ts=DAY0 + timedelta(days=i % 5, hours=i % 24, minutes=i),
                tenant="acme" if i % 6 else "other",
                user=("u1", "u2", None)[i % 3],
                key_id=("key-a", "key-b")[i % 2],
                provider=provider,
                model=model,
                model_requested="gpt-4o" if routed else model,
                route_reason=("cheapest", "fallback after openai/gpt-4o (timeout)")[i % 2] if routed else "requested",
                requested_cost_micros=rng.randint(3_000_000, 9_000_000) if routed else None,
                attempts=2 if i % 13 == 0 else 1,
                input_tokens=rng.randint(1, 5_000),
                output_tokens=rng.randint(1, 2_000),
                cached_input_tokens=rng.randint(0, 100),
                cache_write_tokens=rng.randint(0, 30),
                reasoning_tokens=rng.randint(0, 50),
                cost_micros=rng.randint(1, 3_000_000),
                latency_ms=rng.randint(50, 5_000),
            )
        )
    for i in range(10):
        events.append(
            event(
                ts=DAY0 + timedelta(days=i % 5, hours=3),
                cache_hit=True,
                attempts=0,
                cost_micros=0,
                cost_saved_micros=1_000 + i,
                credential_id=None,
                user="u1",
            )
        )
    for i, kind in enumerate(["rate_limit", "timeout", "api_error", "rate_limit"]):
        events.append(
            event(ts=DAY0 + timedelta(days=i, hours=5), status="error", http_status=502, error_kind=kind, attempts=3)
        )
    for i in range(4):
        unpriced = {"cost_micros": None, "unpriced": True, "model": "x-new", "model_requested": "x-new"}
        events.append(event(ts=DAY0 + timedelta(days=i, hours=23, minutes=59), **unpriced))
    events.append(
        event(
            ts=DAY0 + timedelta(hours=7),
            provider=None,
            model=None,
            status="error",
            http_status=400,
            attempts=0,
            credential_id=None,
            error_kind="invalid_request",
            input_tokens=0,
            output_tokens=0,
            cost_micros=0,
        )
    )
    return events


def _unique(events: Sequence[UsageEvent]) -> list[UsageEvent]:
    return list({e.event_id: e for e in events}.values())


def _measures(events: Sequence[UsageEvent]) -> dict[str, int]:
    consumed = [e for e in events if not e.cache_hit]
    routed = [e for e in events if e.route_reason == "cheapest" and e.requested_cost_micros is not None]
    return {
        "requests": len(events),
        "errors": sum(e.status == "error" for e in events),
        "cache_hits": sum(e.cache_hit for e in events),
        **{c: sum(getattr(e, c) for e in consumed) for c in TOKEN_COLUMNS},
        "cost_micros": sum(e.cost_micros or 0 for e in events),
        "unpriced": sum(e.unpriced for e in events),
        "cost_saved_micros": sum(e.cost_saved_micros for e in events),
        "routing_saved_micros": sum(
            (e.requested_cost_micros or 0) - e.cost_micros for e in routed if e.cost_micros is not None
        ),
        "failovers": sum(
            not e.cache_hit and (e.attempts > 1 or (e.route_reason or "").startswith("fallback")) for e in events
        ),
    }


def expected_rows(events: Sequence[UsageEvent], days: Sequence[date]) -> list[RowKey]:
    """The usage_daily rows of `days`, in Python: one per (day, keys) of the deduplicated events."""
    groups: dict[RowKey, list[UsageEvent]] = defaultdict(list)
    for e in _unique(events):
        if e.ts.date() in days:
            groups[(e.ts.date(), *(getattr(e, k) for k in ROLLUP_KEYS))].append(e)
    rows = [(*key, *_measures(members).values()) for key, members in groups.items()]
    return sorted(rows, key=_order)


def _order(row: RowKey) -> tuple[Any, ...]:
    return tuple((value is not None, value) for value in row)


class Backend(Protocol):
    @property
    def rollup(self) -> RollupPort: ...
    @property
    def analytics(self) -> AnalyticsPort: ...

    def add(self, events: Sequence[UsageEvent], suffix: str = "") -> None: ...
    def rows(self) -> list[RowKey]: ...
    def marks(self) -> dict[date, tuple[datetime, int]]: ...


_COLUMNS = ", ".join(f'"{c}"' if c == "user" else c for c in ("day", *ROLLUP_KEYS, *ROLLUP_MEASURES))


class DuckDb:
    def __init__(self, data_dir: Path) -> None:
        self.events = data_dir / "events"
        self.database = rollups_path(data_dir)
        self.rollup = DuckDbRollups(self.events, self.database)
        self.analytics = DuckDbAnalytics(self.events, self.database)
        self.raw = DuckDbAnalytics(self.events)  # no rollups: every day from the events

    def add(self, events: Sequence[UsageEvent], suffix: str = "") -> None:
        write_segment(self.events, events, name=f"events-{next(_segments)}-20260301T000000000Z-000000")

    def _select(self, sql: str) -> list[RowKey]:
        with duckdb.connect(str(self.database), read_only=True) as connection:
            return [tuple(r) for r in connection.execute(sql).fetchall()]

    def rows(self) -> list[RowKey]:
        return sorted(self._select(f"SELECT {_COLUMNS} FROM usage_daily"), key=_order)

    def marks(self) -> dict[date, tuple[datetime, int]]:
        found = self._select("SELECT day, rolled_at, events FROM usage_rollup_days")
        return {day: (rolled_at.replace(tzinfo=UTC), events) for day, rolled_at, events in found}


class BigQuery:
    def __init__(self, client: bigquery.Client) -> None:
        dataset = f"rollup_{uuid.uuid4().hex[:12]}"
        self.client = client
        self.paths = create_tables(client, dataset)
        self.rollup = BigQueryRollups(client, dataset, timeout=30)
        self.analytics = BigQueryAnalytics(client, dataset)

    def add(self, events: Sequence[UsageEvent], suffix: str = "") -> None:
        insert_events(self.client, self.paths["usage_events"], events, suffix)

    def _select(self, sql: str) -> list[dict[str, Any]]:
        return [dict(r.items()) for r in self.client.query_and_wait(sql)]

    def rows(self) -> list[RowKey]:
        found = self._select(f"SELECT {_COLUMNS.replace(chr(34), '')} FROM `{self.paths['usage_daily']}`")
        return sorted((tuple(r.values()) for r in found), key=_order)

    def marks(self) -> dict[date, tuple[datetime, int]]:
        found = self._select(f"SELECT day, rolled_at, events FROM `{self.paths['usage_rollup_days']}`")
        return {r["day"]: (r["rolled_at"], r["events"]) for r in found}


@pytest.fixture(scope="module")
def bigquery_emulator_client(bigquery_emulator: BigQueryEmulator) -> Iterator[bigquery.Client]:
    client = bigquery_client(bigquery_emulator.project, bigquery_emulator.endpoint)
    yield client
    client.close()  # type: ignore[no-untyped-call]


@pytest.fixture(params=["duckdb", "bigquery"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "duckdb":
        return DuckDb(tmp_path)
    return BigQuery(request.getfixturevalue("bigquery_emulator_client"))


@dataclass(frozen=True, slots=True)
class Loaded:
    backend: Backend
    events: list[UsageEvent]


@pytest.fixture
def loaded(backend: Backend) -> Loaded:
    events = _events()
    backend.add(events)
    backend.add([events[3], events[40], events[-2]], suffix="-redelivered")  # at-least-once: copies
    return Loaded(backend, events)


def test_the_rollup_rows_are_exact(loaded: Loaded) -> None:
    rolled = loaded.backend.rollup.roll(DAYS[:3], ROLLED_AT)

    assert loaded.backend.rows() == expected_rows(loaded.events, DAYS[:3])
    per_day = {d: sum(e.ts.date() == d for e in _unique(loaded.events)) for d in DAYS[:3]}
    assert [(r.day, r.events, r.rolled_at) for r in rolled] == [(d, per_day[d], ROLLED_AT) for d in DAYS[:3]]
    assert loaded.backend.marks() == {d: (ROLLED_AT, per_day[d]) for d in DAYS[:3]}
    assert 20 < len(loaded.backend.rows()) < sum(per_day.values())  # many groups, several events in most


def test_rolling_a_day_again_gives_the_same_rows(loaded: Loaded) -> None:
    loaded.backend.rollup.roll(DAYS, ROLLED_AT)
    first = loaded.backend.rows()
    later = ROLLED_AT + timedelta(hours=1)

    loaded.backend.rollup.roll([DAYS[1], DAYS[2]], later)
    loaded.backend.rollup.roll([DAYS[2]], later)

    assert loaded.backend.rows() == first == expected_rows(loaded.events, DAYS)
    marks = loaded.backend.marks()
    assert {d: at for d, (at, _) in marks.items()} == {d: later if d in DAYS[1:3] else ROLLED_AT for d in DAYS}


def test_a_day_without_events_is_marked_with_no_rows(loaded: Loaded) -> None:
    empty = DAYS[-1] + timedelta(days=10)
    (rolled,) = loaded.backend.rollup.roll([empty], ROLLED_AT)
    assert rolled.events == 0
    assert loaded.backend.rows() == []
    assert loaded.backend.marks() == {empty: (ROLLED_AT, 0)}


async def _usage(port: AnalyticsPort, params: QueryParams, names: Sequence[str]) -> dict[str, list[Row]]:
    return {name: await port.run(name, params) for name in names}


WINDOWS = {
    "all days": (DAY0, DAY0 + timedelta(days=7)),
    "rolled and not": (DAY0 + timedelta(days=1), DAY0 + timedelta(days=4)),
    "partial rolled edges": (DAY0 + timedelta(hours=6), DAY0 + timedelta(days=2, hours=12)),
    "one rolled day": (DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)),
}
SCOPES = {
    "tenant": {"tenant": "acme"},
    "other tenant": {"tenant": "other"},
    "user": {"tenant": "acme", "user": "u1"},
    "key": {"tenant": "acme", "key_id": "key-b"},
    "user and key": {"tenant": "acme", "user": "u2", "key_id": "key-a"},
    "no such tenant": {"tenant": "nobody"},
}


def _reference(events: Sequence[UsageEvent], params: QueryParams) -> dict[str, int]:
    scoped = [
        e
        for e in _unique(events)
        if e.tenant == params.tenant
        and params.user in (None, e.user)
        and params.key_id in (None, e.key_id)
        and params.since <= e.ts < params.until
    ]
    totals = _measures(scoped)
    del totals["failovers"]
    return totals


def _cases(backend: Backend) -> list[tuple[QueryParams, list[str]]]:
    """Every window in every scope, every usage query; on the (slow) emulator, the breakdowns for the tenant
    scope only and the totals for the others."""
    every = sorted(USAGE_QUERIES)
    if isinstance(backend, DuckDb):
        scopes = [(scope, every) for scope in SCOPES.values()]
    else:
        scopes = [(SCOPES["tenant"], every), *((SCOPES[s], ["totals"]) for s in ("user", "key", "no such tenant"))]
    return [(QueryParams(since=s, until=u, **scope), names) for s, u in WINDOWS.values() for scope, names in scopes]


async def test_reads_with_rollups_equal_reads_without(loaded: Loaded) -> None:
    cases = _cases(loaded.backend)
    before = [await _usage(loaded.backend.analytics, *case) for case in cases]  # nothing rolled: raw only

    loaded.backend.rollup.roll(DAYS[:3], ROLLED_AT)  # days 0-2 rolled, 3 and 4 not

    for (params, names), raw in zip(cases, before, strict=True):
        assert await _usage(loaded.backend.analytics, params, names) == raw, params
        (totals,) = raw["totals"]
        assert totals == _reference(loaded.events, params), params
    assert _reference(loaded.events, cases[0][0])["requests"] > 100  # not vacuous


async def test_a_late_event_counts_from_the_next_rollup_of_its_day(loaded: Loaded) -> None:
    week = QueryParams("acme", DAY0, DAY0 + timedelta(days=7))
    loaded.backend.rollup.roll(DAYS, ROLLED_AT)
    (before,) = await loaded.backend.analytics.run("totals", week)
    late = event(ts=DAY0 + timedelta(days=1, hours=22), cost_micros=777_777, user="u1")

    loaded.backend.add([late])
    (snapshot,) = await loaded.backend.analytics.run("totals", week)
    loaded.backend.rollup.roll([DAYS[1]], ROLLED_AT + timedelta(days=1))
    (after,) = await loaded.backend.analytics.run("totals", week)

    assert snapshot == before  # the rolled day is read from its rollup, as of the run
    assert after["requests"] == before["requests"] + 1  # type: ignore[operator]
    assert after["cost_micros"] == before["cost_micros"] + 777_777  # type: ignore[operator]
    assert after == _reference([*loaded.events, late], week)
    assert loaded.backend.rows() == expected_rows([*loaded.events, late], DAYS)


async def test_the_report_is_the_same_with_rollups_as_without(tmp_path: Path) -> None:
    """The whole report (DuckDB, the service): rolled days 0-2, today and yesterday raw."""
    backend = DuckDb(tmp_path)
    events = _events()
    backend.add(events)
    backend.add(events[:5])
    clock = FakeClock(now=(DAY0 + timedelta(days=4, hours=12)).timestamp())  # today is day 4
    backend.rollup.roll(DAYS[:3], ROLLED_AT)
    admin = Identity(tenant="acme", key_id="key-a", scopes=frozenset({"admin", "analytics"}))
    for identity in (admin, Identity(tenant="acme", key_id="key-b"), Identity(tenant="acme", key_id="k", user="u2")):
        for days in (1, 4, 30):  # today only; days 1-4 (two rolled); all, from before the first event
            with_rollups = await AnalyticsService(backend.analytics, clock).report(identity, days, detailed=True)
            raw = await AnalyticsService(backend.raw, clock).report(identity, days, detailed=True)
            assert with_rollups == raw, (identity, days)
    assert json.dumps(raw, default=str).count('"date"') > 0


async def test_no_rollup_database_yet_reads_the_events(tmp_path: Path) -> None:
    backend = DuckDb(tmp_path)
    backend.add(_events())
    assert not backend.database.exists()
    week = QueryParams("acme", DAY0, DAY0 + timedelta(days=7))
    every = sorted(USAGE_QUERIES)
    assert await _usage(backend.analytics, week, every) == await _usage(backend.raw, week, every)
