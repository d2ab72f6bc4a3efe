"""Routing parts for unit tests of the service core: a router pinned to the named model (no substitutes,
no fallback: what a scripted single-provider transport can answer) and breakers on an in-memory store."""

from __future__ import annotations

from datetime import date

from shared.breakers import BreakerBoard, BreakerPolicy
from shared.catalog import Catalog, default_catalog
from shared.clock import Clock, SystemClock
from shared.routing import Router, RouterConfig
from shared.store import SqliteStore

TODAY = date(2026, 7, 1)


def pinned_router(catalog: Catalog | None = None, **config: object) -> Router:
    settings = {"cost_optimization": False, "fallback_enabled": False, **config}
    return Router(catalog or default_catalog(), RouterConfig(**settings), today=lambda: TODAY)  # type: ignore[arg-type]


def memory_breakers(clock: Clock | None = None, **policy: float) -> BreakerBoard:
    return BreakerBoard(SqliteStore(":memory:"), BreakerPolicy(**policy), clock or SystemClock())  # type: ignore[arg-type]
