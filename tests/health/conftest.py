"""Fixtures for the health tests: a fake clock at the start of a minute, a small real catalog (two
providers, four chat routes), the real SQLite store, a real in-process `LiveMetrics`, and `make_collector`
which builds a `HealthCollector` on its own `BreakerBoard` (an "instance" of the health function)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from shared.breakers import BreakerBoard, BreakerPolicy
from shared.cache import MemoryCache
from shared.catalog import Catalog, default_catalog
from shared.health import HealthCollector
from shared.metrics import LiveMetrics, MemoryMetricsBackend
from shared.store import DocumentStore, SqliteStore
from tests.fakes import FakeClock

START = 60 * 29_000_000 + 5.0  # 5 s into a minute
ROUTES = ("gpt-4o-mini", "gpt-4o", "claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929")

MakeCollector = Callable[..., HealthCollector]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=START, mono=700.0)


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(tuple(m for m in default_catalog() if m.id in ROUTES))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    db = SqliteStore(tmp_path / "gateway.sqlite3")
    yield db
    await db.close()


@pytest.fixture
async def metrics(clock: FakeClock) -> AsyncIterator[LiveMetrics]:
    live = LiveMetrics(MemoryMetricsBackend(clock), clock=clock)
    yield live
    await live.close()


@pytest.fixture
async def make_collector(
    clock: FakeClock, catalog: Catalog, store: SqliteStore, metrics: LiveMetrics
) -> AsyncIterator[MakeCollector]:
    boards: list[BreakerBoard] = []

    def make(*, store_: DocumentStore | None = None, **options: Any) -> HealthCollector:
        board = BreakerBoard(store_ if store_ is not None else store, BreakerPolicy(), clock, instance_id="health")
        boards.append(board)
        parts: dict[str, Any] = {"cache": MemoryCache(16, clock), "metrics": metrics, "max_age": 0.0}
        return HealthCollector(
            store=store_ if store_ is not None else store,
            breakers=board,
            catalog=catalog,
            clock=clock,
            **{**parts, **options},
        )

    yield make
    for board in boards:
        await asyncio.wait_for(board.drain(), timeout=5)
