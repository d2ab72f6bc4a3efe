"""HealthApi in process over httpx2.ASGITransport, through the ASGI app (the dev server's mount) and through
`dispatch` (the Cloud Function entry): the public status without a key, the full report with the
development key, 401 in the seed envelope for a bad key, 503 when unhealthy, status only with a note when
the key store cannot check a key, 404/405; and the dev server's routing, which shares the chat deps so
health shows that process's live metrics. Real SQLite store, real in-process live metrics, real breakers."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx2
import pytest
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from local.devserver import app_for, health_deps_for
from shared.api.deps import build_chat_deps
from shared.api.health import HEALTH_PATH, HealthApi
from shared.api.health_deps import HealthDeps, build_health_deps
from shared.breakers import BreakerBoard, BreakerPolicy, route_scope
from shared.catalog import Catalog, default_catalog
from shared.gateway_keys import GatewayKeyStore
from shared.health import LimitsFact
from shared.health.limits import describe
from shared.metrics import LiveMetrics, MemoryMetricsBackend
from shared.settings import Settings
from shared.store import SqliteStore
from shared.store.build import SQLITE_FILE
from tests.breakers import FlakyStore
from tests.fakes import FakeClock

DEV_KEY = "gw-health-test-key"
SALT = "api-key-hash-salt-for-the-health-tests"
AUTH = {"authorization": f"Bearer {DEV_KEY}"}
ENTRIES = ["asgi", "dispatch"]
ENVELOPE = {"code", "message", "type", "provider", "retryable", "attempts"}
ROUTES = (("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("gemini", "gemini-2.5-flash"))


@dataclasses.dataclass
class Gateway:
    clients: dict[str, httpx2.AsyncClient]
    deps: HealthDeps
    store: FlakyStore
    clock: FakeClock

    async def trip(self, provider: str, model: str) -> None:
        """A chat instance's breaker for the route trips (through the shared store)."""
        chat = BreakerBoard(self.store, BreakerPolicy(), self.clock, instance_id="chat")
        await chat.record(route_scope(provider, model), ok=False, definitive=True, reason="overloaded")


def settings_in(data_dir: Path) -> Settings:
    return dataclasses.replace(Settings(), data_dir=data_dir, dev_key=DEV_KEY, api_key_hash_salt=SALT)


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    clock = FakeClock(now=60 * 29_000_000 + 5.0)
    store = FlakyStore(SqliteStore(tmp_path / SQLITE_FILE))
    catalog = Catalog(tuple(m for m in default_catalog() if (m.provider, m.id) in ROUTES))
    metrics = LiveMetrics(MemoryMetricsBackend(clock), clock=clock)
    deps = build_health_deps(settings_in(tmp_path), clock=clock, store=store, metrics=metrics, catalog=catalog)
    api = HealthApi(_ready(deps))

    async def function(scope: Scope, receive: Receive, send: Send) -> None:
        response = await api.dispatch(Request(scope, receive))
        await response(scope, receive, send)

    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(deps.aclose)
        clients = {
            entry: await stack.enter_async_context(
                httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gateway.test")
            )
            for entry, app in (("asgi", api.asgi()), ("dispatch", function))
        }
        yield Gateway(clients, deps, store, clock)


def _ready(deps: HealthDeps) -> Callable[[], Awaitable[HealthDeps]]:
    async def ready() -> HealthDeps:
        return deps

    return ready


@pytest.mark.parametrize("entry", ENTRIES)
async def test_without_a_key_only_the_status(gw: Gateway, entry: str) -> None:
    response = await gw.clients[entry].get(HEALTH_PATH)
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}
    assert response.headers["cache-control"] == "no-store"
    assert "server-timing" in response.headers


@pytest.mark.parametrize("entry", ENTRIES)
async def test_the_dev_key_gets_the_full_report(gw: Gateway, entry: str) -> None:
    await gw.trip("openai", "gpt-4o")
    for _ in range(9):
        gw.deps.metrics.record("openai", "gpt-4o-mini", error_kind=None, latency_s=0.3, ttft_s=0.1)
    gw.deps.metrics.record("openai", "gpt-4o-mini", error_kind="timeout", latency_s=30.0, ttft_s=None)

    response = await gw.clients[entry].get(HEALTH_PATH, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    providers = body["services"]["providers"]
    assert set(providers) == {"OPENAI", "GOOGLE"}  # the catalog's providers, in the seed's names
    assert providers["GOOGLE"] == {}
    mini = providers["OPENAI"]["gpt-4o-mini"]
    assert mini["breaker"] == "closed"
    assert (mini["requests"], mini["errorRatio"], mini["lastErrorKind"]) == (10, 0.1, "timeout")
    assert 250 < mini["latencyP50Ms"] <= 500
    assert providers["OPENAI"]["gpt-4o"] == {
        "breaker": "open",
        "requests": 0,
        "errorRatio": None,
        "latencyP50Ms": None,
        "latencyP95Ms": None,
        "lastErrorKind": None,
    }
    dependencies = body["services"]["dependencies"]
    assert dependencies["store"]["ok"] is True
    assert isinstance(dependencies["store"]["latencyMs"], float)
    assert dependencies["cache"]["ok"] is True
    assert dependencies["kms"] == {"ok": True, "latencyMs": None, "detail": "local"}
    assert dependencies["events"] == {
        "ok": True,
        "backlog": 0,
        "instances": 0,
        "detail": "no instance reported in the last 2 minutes",  # no chat deps in this process
    }
    assert body["services"]["limits"] == {  # no REDIS_URL: each instance's own ledger
        "status": "ok",
        "mode": "embedded",
        "detail": describe(LimitsFact("embedded")),
    }
    assert body["metrics"] == {
        "requestRate": round(10 / 245, 4),
        "errorRate": 0.1,
        "cacheHitRate": 0.0,  # requests, and not one answered from the cache
        "windowSeconds": 245.0,
    }


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("headers", [{"authorization": "Bearer gw-not-this-one"}, {"x-api-key": ""}])
async def test_a_bad_key_is_401_in_the_seed_envelope(gw: Gateway, entry: str, headers: dict[str, str]) -> None:
    response = await gw.clients[entry].get(HEALTH_PATH, headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == ENVELOPE
    assert error["type"] == "authentication"
    assert "status" not in response.json()


@pytest.mark.parametrize("entry", ENTRIES)
async def test_unhealthy_is_503(gw: Gateway, entry: str) -> None:
    for provider, model in ROUTES:
        await gw.trip(provider, model)
    public = await gw.clients[entry].get(HEALTH_PATH)
    assert (public.status_code, public.json()) == (503, {"status": "unhealthy"})
    full = await gw.clients[entry].get(HEALTH_PATH, headers=AUTH)
    assert full.status_code == 503
    assert {m["breaker"] for p in full.json()["services"]["providers"].values() for m in p.values()} == {"open"}


async def test_a_key_the_store_cannot_check_gets_the_status_only(gw: Gateway) -> None:
    _, other_key = await GatewayKeyStore(gw.store, SALT, gw.clock).create("app", scopes=frozenset({"chat"}))
    gw.store.down = True
    response = await gw.clients["dispatch"].get(HEALTH_PATH, headers={"authorization": f"Bearer {other_key}"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"  # the store is down
    assert set(body) == {"status", "note"}


@pytest.mark.parametrize("entry", ENTRIES)
async def test_other_methods_and_paths(gw: Gateway, entry: str) -> None:
    wrong = await gw.clients[entry].post(HEALTH_PATH, headers=AUTH)
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET")
    assert set(wrong.json()["error"]) >= ENVELOPE
    missing = await gw.clients[entry].get(HEALTH_PATH + "/deep", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"no route for {HEALTH_PATH}/deep"


async def test_limits_failing_open_are_degraded_in_words_not_down(tmp_path: Path) -> None:
    """REDIS_URL set and Redis gone: the limits component says the instances enforce their local share (with
    LIMITS_INSTANCES), and the status is degraded (200), not unhealthy."""
    clock = FakeClock(now=60 * 29_000_000 + 5.0)
    # nothing listens there; LIMITS_INSTANCES=4
    settings = dataclasses.replace(settings_in(tmp_path), redis_url="redis://127.0.0.1:1/0", limits_instances=4)
    metrics = LiveMetrics(MemoryMetricsBackend(clock), clock=clock)
    deps = build_health_deps(settings, clock=clock, metrics=metrics)
    try:
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=HealthApi(_ready(deps)).asgi()), base_url="http://gateway.test"
        ) as client:
            response = await client.get(HEALTH_PATH, headers=AUTH)
    finally:
        await deps.aclose()
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    limits = body["services"]["limits"]
    assert (limits["status"], limits["mode"], limits["instances"]) == ("degraded", "degraded", 4)
    assert "at most 1/4 of every limit" in limits["detail"]
    assert body["services"]["dependencies"]["cache"]["ok"] is False  # the one Redis ping both come from


async def test_the_dev_server_routes_health_over_the_chat_deps(tmp_path: Path) -> None:
    chat = build_chat_deps(settings_in(tmp_path))
    try:
        health = health_deps_for(chat)
        assert (health.store, health.metrics, health.breakers) == (chat.store, chat.metrics, chat.service.breakers)

        app = app_for(chat)
        chat.metrics.record("anthropic", "claude-haiku-4-5-20251001", error_kind=None, latency_s=0.1, ttft_s=None)
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://dev.test") as client:
            response = await client.get(HEALTH_PATH, headers=AUTH)
        assert response.status_code == 200
        haiku = response.json()["services"]["providers"]["ANTHROPIC"]["claude-haiku-4-5-20251001"]
        assert haiku["requests"] == 1
        # The chat deps in this process report their event backlog (the local sink's: nothing waiting).
        events = response.json()["services"]["dependencies"]["events"]
        assert (events["backlog"], events["instances"]) == (0, 1)
        # The same port serves every function's app by path.
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://dev.test") as client:
            analytics = await client.get("/api/ai/analytics?days=7", headers=AUTH)
            keys = await client.get("/api/ai/keys", headers=AUTH)
            models = await client.get("/v1/models", headers=AUTH)
        assert (analytics.status_code, keys.status_code, models.status_code) == (200, 200, 200)
        assert analytics.json()["usage"]["requests"] == 0
        assert keys.json() == {"keys": []}
    finally:
        await chat.aclose()
