"""The limits routes of the keys function over httpx2.ASGITransport, through the ASGI app (the dev server's
mount) and through `dispatch` (the Cloud Function entry): PUT (admin only, own tenant only, merge with
nulls, 400s naming the field, audited) and GET (any key: its own tenant, user and key scopes; admin keys:
another identity of their tenant), the seed envelope, and a change reaching a second instance's cache
after its refresh interval (fake clock). The store is the real SQLite adapter."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx2
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from local.devserver import build_app
from shared.api.keys import KeysApi
from shared.api.keys_deps import KeysDeps, build_keys_deps
from shared.api.limits_deps import build_limits_deps
from shared.gateway_keys import GatewayKeyStore
from shared.identity import Identity
from shared.limits.audit import MemoryLimitsAuditSink
from shared.settings import Settings
from shared.store import SqliteStore
from shared.store.build import SQLITE_FILE
from shared.vault.audit import MemoryAuditSink
from tests.fakes import FakeClock
from tests.vault.conftest import AesGcmBox

DEV_KEY = "gw-limits-test-key"
SALT = "api-key-hash-salt-for-the-limits-tests"
PATH = "/api/ai/limits"
ENTRIES = ["asgi", "dispatch"]
ENVELOPE = {"code", "message", "type", "provider", "retryable", "attempts"}


@dataclasses.dataclass(frozen=True)
class Caller:
    key_id: str
    headers: dict[str, str]


@dataclasses.dataclass
class Gateway:
    clients: dict[str, httpx2.AsyncClient]
    deps: KeysDeps
    audit: MemoryLimitsAuditSink
    clock: FakeClock
    gateway_keys: GatewayKeyStore
    settings: Settings

    async def key(self, tenant: str, *, scopes: set[str], user: str | None = None, platform: bool = False) -> Caller:
        meta, key = await self.gateway_keys.create(tenant, user=user, scopes=frozenset(scopes), platform=platform)
        return Caller(meta.key_id, {"authorization": f"Bearer {key}"})


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    clock = FakeClock(now=1_767_225_600.0)  # 2026-01-01T00:00:00Z
    settings = dataclasses.replace(Settings(), data_dir=tmp_path, dev_key=DEV_KEY, api_key_hash_salt=SALT)
    audit = MemoryLimitsAuditSink()
    deps = build_keys_deps(settings, box=AesGcmBox(), audit=MemoryAuditSink(), clock=clock, limits_audit=audit)

    async def ready() -> KeysDeps:
        return deps

    api = KeysApi(ready)

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
        yield Gateway(clients, deps, audit, clock, GatewayKeyStore(deps.store, SALT, clock), settings)


def error_of(response: httpx2.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= ENVELOPE, error
    return error


def put_body(scope: dict[str, Any], **limits: Any) -> bytes:
    return orjson.dumps({"scope": scope, **limits})


def unset(scope: dict[str, Any]) -> dict[str, Any]:
    return {
        "scope": {"tenantId": None, "userId": None, "keyId": None, **scope},
        "requestsPerMinute": None,
        "tokensPerMinute": None,
        "dailyBudgetUsd": None,
        "monthlyBudgetUsd": None,
        "version": 0,
        "updatedAt": None,
    }


# --- PUT and GET -----------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
async def test_admin_sets_limits_and_every_key_reads_its_own(gw: Gateway, entry: str) -> None:
    client = gw.clients[entry]
    admin = await gw.key("acme", scopes={"admin"})
    put = await client.put(
        PATH,
        content=put_body({"tenantId": "acme"}, requestsPerMinute=600, dailyBudgetUsd=12.5, monthlyBudgetUsd="300"),
        headers=admin.headers,
    )
    assert put.status_code == 200, put.text
    assert "server-timing" in put.headers
    # USD with exactly 6 decimals, as every cost the gateway shows.
    assert b'"dailyBudgetUsd":12.500000' in put.content
    assert put.json() == {
        "scope": {"tenantId": "acme", "userId": None, "keyId": None},
        "requestsPerMinute": 600,
        "tokensPerMinute": None,
        "dailyBudgetUsd": 12.5,
        "monthlyBudgetUsd": 300,
        "version": 1,
        "updatedAt": "2026-01-01T00:00:00Z",
    }
    chat = await gw.key("acme", scopes={"chat"}, user="bob")
    got = await client.get(PATH, headers=chat.headers)
    assert got.status_code == 200, got.text
    tenant, user, key = got.json()["limits"]
    assert tenant == put.json()
    assert user == unset({"tenantId": "acme", "userId": "bob"})
    assert key == unset({"tenantId": "acme", "keyId": chat.key_id})
    # Another tenant's keys see none of it.
    other = await gw.key("zeta", scopes={"chat"})
    assert [s["requestsPerMinute"] for s in (await client.get(PATH, headers=other.headers)).json()["limits"]] == [
        None,
        None,
    ]


@pytest.mark.parametrize("entry", ENTRIES)
async def test_a_put_merges_and_null_removes(gw: Gateway, entry: str) -> None:
    client = gw.clients[entry]
    admin = await gw.key("acme", scopes={"admin"})
    target = await gw.key("acme", scopes={"chat"})
    scope = {"tenantId": "acme", "keyId": target.key_id}
    first = await client.put(
        PATH, content=put_body(scope, requestsPerMinute=5, tokensPerMinute=10), headers=admin.headers
    )
    assert first.status_code == 200, first.text
    gw.clock.advance(30)
    second = await client.put(PATH, content=put_body(scope, requestsPerMinute=None), headers=admin.headers)
    assert second.status_code == 200, second.text
    assert (second.json()["requestsPerMinute"], second.json()["tokensPerMinute"]) == (None, 10)
    assert second.json()["version"] == 2
    assert second.json()["updatedAt"] == "2026-01-01T00:00:30Z"
    key_scope = (await client.get(PATH, headers=target.headers)).json()["limits"][-1]
    assert key_scope == second.json()


async def test_snake_case_is_accepted_too(gw: Gateway) -> None:
    body = orjson.dumps({"scope": {"tenant_id": "local", "user_id": "u1"}, "tokens_per_minute": 99})
    reply = await gw.clients["asgi"].put(PATH, content=body, headers={"authorization": f"Bearer {DEV_KEY}"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["scope"]["userId"] == "u1"
    assert reply.json()["tokensPerMinute"] == 99


@pytest.mark.parametrize("entry", ENTRIES)
async def test_changes_are_audited(gw: Gateway, entry: str) -> None:
    admin = await gw.key("acme", scopes={"admin"})
    client = gw.clients[entry]
    scope = {"tenantId": "acme", "userId": "bob"}
    await client.put(
        PATH, content=put_body(scope, dailyBudgetUsd="0.000250", requestsPerMinute=3), headers=admin.headers
    )
    await client.put(PATH, content=put_body(scope, requestsPerMinute=None), headers=admin.headers)
    first, second = gw.audit.events
    assert (first.tenant, first.user, first.key_id, first.scope_kind) == ("acme", "bob", None, "user")
    assert (first.actor, first.action, first.version) == (admin.key_id, "set", 1)
    assert first.changed == "requestsPerMinute,dailyBudgetUsd"
    assert (first.requests_per_minute, first.daily_budget_micros) == (3, 250)
    assert (second.version, second.changed, second.requests_per_minute, second.daily_budget_micros) == (
        2,
        "requestsPerMinute",
        None,
        250,
    )
    assert second.ts.isoformat() == "2026-01-01T00:00:00+00:00"


async def test_a_lost_audit_line_does_not_undo_the_change(gw: Gateway) -> None:
    admin = await gw.key("acme", scopes={"admin"})
    gw.audit.error = OSError("disk full")
    reply = await gw.clients["asgi"].put(
        PATH, content=put_body({"tenantId": "acme"}, requestsPerMinute=1), headers=admin.headers
    )
    assert reply.status_code == 200
    assert gw.audit.events == []
    record = (await gw.clients["asgi"].get(PATH, headers=admin.headers)).json()["limits"][0]
    assert record["requestsPerMinute"] == 1


# --- who may do what -------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
async def test_put_needs_a_key_and_the_admin_scope(gw: Gateway, entry: str) -> None:
    client = gw.clients[entry]
    body = put_body({"tenantId": "acme"}, requestsPerMinute=1)
    missing = await client.put(PATH, content=body)
    assert missing.status_code == 401
    assert error_of(missing)["type"] == "authentication"
    for scopes in ({"chat"}, {"keys", "analytics", "chat", "act_as_user"}):
        caller = await gw.key("acme", scopes=scopes, platform=True)
        refused = await client.put(PATH, content=body, headers=caller.headers)
        assert refused.status_code == 403
        assert error_of(refused)["code"] == "forbidden"
        assert "admin" in error_of(refused)["message"]
    assert gw.audit.events == []
    assert await gw.deps.store.list("limits") == {}


@pytest.mark.parametrize("entry", ENTRIES)
async def test_an_admin_sets_limits_only_in_its_own_tenant(gw: Gateway, entry: str) -> None:
    client = gw.clients[entry]
    admin = await gw.key("acme", scopes={"admin", "chat"}, platform=True)
    for scope in ({"tenantId": "zeta"}, {"tenantId": "zeta", "userId": "bob"}, {"tenantId": "zeta", "keyId": "gk_x"}):
        refused = await client.put(PATH, content=put_body(scope, requestsPerMinute=1), headers=admin.headers)
        assert refused.status_code == 403
        error = error_of(refused)
        assert error["field"] == "scope.tenantId"
        assert "own tenant" in error["message"]
    assert gw.audit.events == []
    assert await gw.deps.store.list("limits") == {}


@pytest.mark.parametrize("entry", ENTRIES)
async def test_get_of_another_identity_is_for_admins_of_its_tenant(gw: Gateway, entry: str) -> None:
    client = gw.clients[entry]
    admin = await gw.key("acme", scopes={"admin"})
    await client.put(
        PATH, content=put_body({"tenantId": "acme", "userId": "bob"}, tokensPerMinute=7), headers=admin.headers
    )
    seen = await client.get(PATH, params={"userId": "bob", "keyId": "gk_someone"}, headers=admin.headers)
    assert seen.status_code == 200, seen.text
    assert [(s["scope"], s["tokensPerMinute"]) for s in seen.json()["limits"]] == [
        ({"tenantId": "acme", "userId": None, "keyId": None}, None),
        ({"tenantId": "acme", "userId": "bob", "keyId": None}, 7),
        ({"tenantId": "acme", "userId": None, "keyId": "gk_someone"}, None),
    ]
    tenant_only = await client.get(PATH, params={"tenantId": "acme"}, headers=admin.headers)
    assert len(tenant_only.json()["limits"]) == 1
    other_tenant = await client.get(PATH, params={"tenantId": "zeta"}, headers=admin.headers)
    assert other_tenant.status_code == 403
    assert error_of(other_tenant)["field"] == "tenantId"
    bad_id = await client.get(PATH, params={"userId": "a|b"}, headers=admin.headers)
    assert (bad_id.status_code, error_of(bad_id)["field"]) == (400, "userId")
    chat = await gw.key("acme", scopes={"chat"})
    not_admin = await client.get(PATH, params={"userId": "bob"}, headers=chat.headers)
    assert not_admin.status_code == 403
    assert error_of(not_admin)["code"] == "forbidden"
    assert (await client.get(PATH)).status_code == 401


async def test_get_follows_x_user_id_of_an_act_as_user_key(gw: Gateway) -> None:
    platform = await gw.key("acme", scopes={"chat", "act_as_user"}, platform=True)
    got = await gw.clients["asgi"].get(PATH, headers={**platform.headers, "x-user-id": "carol"})
    assert [s["scope"]["userId"] for s in got.json()["limits"]] == [None, "carol", None]


# --- 400s name the field ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1]", "body"),
        (orjson.dumps({"requestsPerMinute": 1}), "scope"),
        (orjson.dumps({"scope": "acme", "requestsPerMinute": 1}), "scope"),
        (orjson.dumps({"scope": {"userId": "bob"}, "requestsPerMinute": 1}), "scope.tenantId"),
        (
            orjson.dumps({"scope": {"tenantId": "acme", "userId": "b", "keyId": "k"}, "tokensPerMinute": 1}),
            "scope.keyId",
        ),
        (orjson.dumps({"scope": {"tenantId": "acme", "userId": "no/slash"}, "tokensPerMinute": 1}), "scope.userId"),
        (orjson.dumps({"scope": {"tenantId": "acme", "team": "x"}, "tokensPerMinute": 1}), "scope.team"),
        (orjson.dumps({"scope": {"tenantId": "acme"}, "dailyBudgetUsd": -1}), "dailyBudgetUsd"),
        (orjson.dumps({"scope": {"tenantId": "acme"}, "dailyBudgetUsd": "0.0000001"}), "dailyBudgetUsd"),
        (orjson.dumps({"scope": {"tenantId": "acme"}, "monthlyBudgetUsd": "lots"}), "monthlyBudgetUsd"),
        (orjson.dumps({"scope": {"tenantId": "acme"}, "requestsPerMinute": 0}), "requestsPerMinute"),
        (orjson.dumps({"scope": {"tenantId": "acme"}, "tokensPerMinute": 2.5}), "tokensPerMinute"),
        (orjson.dumps({"scope": {"tenantId": "acme"}, "budget": 5}), "budget"),
        (orjson.dumps({"scope": {"tenantId": "acme"}}), "body"),
    ],
)
@pytest.mark.parametrize("entry", ENTRIES)
async def test_bad_input_is_a_400_naming_the_field(gw: Gateway, entry: str, body: bytes, field: str) -> None:
    admin = await gw.key("acme", scopes={"admin"})
    reply = await gw.clients[entry].put(PATH, content=body, headers=admin.headers)
    assert reply.status_code == 400, reply.text
    error = error_of(reply)
    assert (error["field"], error["type"], error["code"]) == (field, "invalid_request", "invalid_request")
    assert field == "body" or error["message"].startswith(field)
    assert gw.audit.events == []


async def test_a_huge_body_is_a_413(gw: Gateway) -> None:
    admin = await gw.key("acme", scopes={"admin"})
    body = put_body({"tenantId": "acme"}, requestsPerMinute=1, pad="x" * (gw.deps.body_limit + 1))
    reply = await gw.clients["asgi"].put(PATH, content=body, headers=admin.headers)
    assert (reply.status_code, error_of(reply)["field"]) == (413, "body")


@pytest.mark.parametrize("entry", ENTRIES)
async def test_other_methods_are_405_listing_get_and_put(gw: Gateway, entry: str) -> None:
    reply = await gw.clients[entry].delete(PATH, headers={"authorization": f"Bearer {DEV_KEY}"})
    assert reply.status_code == 405
    assert reply.headers["allow"] == "GET, PUT"


async def test_the_store_down_is_a_503(gw: Gateway) -> None:
    admin = await gw.key("acme", scopes={"admin"})
    # The key ring caches the admin key at its first use, so only the limits store is missed below.
    assert (await gw.clients["asgi"].get(PATH, headers=admin.headers)).status_code == 200
    store = gw.deps.store
    assert isinstance(store, SqliteStore)
    await store.close()  # a closed store answers StoreUnavailable
    reply = await gw.clients["asgi"].put(
        PATH, content=put_body({"tenantId": "acme"}, requestsPerMinute=1), headers=admin.headers
    )
    assert reply.status_code == 503
    assert "limits store" in error_of(reply)["message"]


# --- another instance ------------------------------------------------------------------------------


async def test_a_change_reaches_another_instance_after_its_refresh_interval(gw: Gateway) -> None:
    # A second instance: its own store client on the same SQLite file, its own caches, the same clock.
    store_b = SqliteStore(gw.settings.data_dir / SQLITE_FILE)
    deps_b = build_keys_deps(
        gw.settings,
        box=AesGcmBox(),
        audit=MemoryAuditSink(),
        clock=gw.clock,
        store=store_b,
        limits_audit=MemoryLimitsAuditSink(),
    )
    try:
        admin = await gw.key("acme", scopes={"admin"})
        bob = Identity(tenant="acme", key_id="gk_bob", user="bob", scopes=frozenset({"chat"}))
        assert await deps_b.limits.cache.applicable(bob) == ()  # instance B has read: unlimited
        reply = await gw.clients["asgi"].put(
            PATH, content=put_body({"tenantId": "acme", "userId": "bob"}, dailyBudgetUsd=3), headers=admin.headers
        )
        assert reply.status_code == 200
        (mine,) = await gw.deps.limits.cache.applicable(bob)  # instance A, which wrote it: at once
        assert mine.limits.daily_budget_micros == 3_000_000
        gw.clock.advance(4.9)
        assert await deps_b.limits.cache.applicable(bob) == ()
        gw.clock.advance(0.2)
        (theirs,) = await deps_b.limits.cache.applicable(bob)
        assert theirs == mine
    finally:
        await deps_b.aclose()


# --- the dev server --------------------------------------------------------------------------------


class _Elsewhere:
    """Any other function's app: answers nothing (404), so a 200 proves the keys app got the request."""

    def asgi(self) -> Starlette:
        return Starlette()


async def test_the_dev_server_routes_limits_to_the_keys_app(gw: Gateway) -> None:
    async def ready() -> KeysDeps:
        return gw.deps

    other = cast(Any, _Elsewhere())
    app = build_app(other, KeysApi(ready), other, other)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        reply = await client.get(PATH, headers={"authorization": f"Bearer {DEV_KEY}"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["limits"][0]["scope"]["tenantId"] == "local"
        assert (await client.get(PATH + "/nothing")).status_code == 404


async def test_limits_deps_can_share_the_instance_cache(gw: Gateway) -> None:
    shared_cache = gw.deps.limits.cache
    deps = build_limits_deps(gw.settings, gw.deps.store, gw.clock, audit=MemoryLimitsAuditSink(), cache=shared_cache)
    assert deps.cache is shared_cache
    assert deps.store is shared_cache.store
