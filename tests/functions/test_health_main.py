"""The Cloud Function `health` (functions/health/main.py) as functions-framework serves it: the ASGI app of
`functions_framework.aio.create_asgi_app`, configured only by environment variables read at the first
request. The public status, the full report with the development key, 401 for a bad key, 404/405, and the
dependencies built once per instance. It reads breakers from the same SQLite file the chat function uses.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest
from functions_framework.aio import create_asgi_app
from starlette.types import ASGIApp

from shared.api import health_deps
from shared.breakers import BreakerBoard, BreakerPolicy, route_scope
from shared.clock import SystemClock
from shared.settings import ENV_VARS
from shared.store import SqliteStore
from shared.store.build import SQLITE_FILE

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "health" / "main.py"
DEV_KEY = "gw-health-function-key"
AUTH = {"authorization": f"Bearer {DEV_KEY}"}
PATH = "/api/ai/health"


@pytest.fixture
def function_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[ASGIApp]:
    """The function's ASGI app, loaded as the framework loads it (module `main`), and a fresh holder."""
    monkeypatch.setattr(health_deps, "_api", None)
    monkeypatch.setenv("FUNCTION_TARGET", "health")
    monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "http")
    monkeypatch.setattr(sys, "path", list(sys.path))
    previous = sys.modules.get("main")
    app: ASGIApp = create_asgi_app(target="health", source=str(SOURCE))  # type: ignore[no-untyped-call]
    yield app
    if previous is None:
        sys.modules.pop("main", None)
    else:
        sys.modules["main"] = previous


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The deployment's environment (set after the app was loaded: nothing is read at import)."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATEWAY_DEV_KEY", DEV_KEY)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
async def client(function_app: ASGIApp, function_env: Path) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=function_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://function.test") as c:
        yield c
    api = health_deps._api
    if api is not None:  # close what the first request built
        deps = await api._deps()
        await deps.aclose()


async def test_the_public_status(client: httpx2.AsyncClient) -> None:
    response = await client.get(PATH)
    assert (response.status_code, response.json()) == (200, {"status": "healthy"})


async def test_the_full_report_shows_a_breaker_the_chat_function_opened(
    client: httpx2.AsyncClient, function_env: Path
) -> None:
    # What a chat instance on the same store does when a route fails for good.
    store = SqliteStore(function_env / SQLITE_FILE)
    try:
        chat = BreakerBoard(store, BreakerPolicy(), SystemClock(), instance_id="chat")
        await chat.record(
            route_scope("anthropic", "claude-haiku-4-5-20251001"), ok=False, definitive=True, reason="overloaded"
        )
    finally:
        await store.close()
    response = await client.get(PATH, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["services"]["providers"]["ANTHROPIC"]["claude-haiku-4-5-20251001"]["breaker"] == "open"
    assert set(body["services"]["providers"]) == {"OPENAI", "ANTHROPIC", "GOOGLE"}
    assert body["services"]["dependencies"]["store"]["ok"] is True


async def test_a_bad_key_is_401(client: httpx2.AsyncClient) -> None:
    response = await client.get(PATH, headers={"authorization": "Bearer gw-not-this-one"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication"


async def test_an_unknown_path_is_404_and_a_wrong_method_405(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/api/ai/healthz")).status_code == 404
    wrong = await client.post(PATH)
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET")


async def test_the_instance_builds_once_and_reuses_its_dependencies(client: httpx2.AsyncClient) -> None:
    for _ in range(3):
        assert (await client.get(PATH)).status_code == 200
    api = health_deps._api
    assert api is not None
    first = await api._deps()
    assert await api._deps() is first


async def test_limits_without_redis_are_embedded(client: httpx2.AsyncClient) -> None:
    limits = (await client.get(PATH, headers=AUTH)).json()["services"]["limits"]
    assert (limits["status"], limits["mode"]) == ("ok", "embedded")
    assert "instances" not in limits  # LIMITS_INSTANCES is the share of a Redis outage: no Redis, no share


async def test_limits_on_redis_report_the_deployments_instance_count(
    client: httpx2.AsyncClient, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("LIMITS_INSTANCES", "6")  # Terraform: the chat function's maximum instance count
    limits = (await client.get(PATH, headers=AUTH)).json()["services"]["limits"]
    assert (limits["status"], limits["mode"], limits["instances"]) == ("ok", "shared", 6)
