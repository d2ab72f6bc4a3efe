"""KeysApi in process over httpx2.ASGITransport, through the ASGI app (the dev server's mount) and through
`dispatch` (the Cloud Function entry): every route, authentication and the `keys` scope, whose keys a
caller manages (act_as_user + X-User-Id, a key with a fixed user, a tenant key), the seed envelope, the
400s and 413s naming fields, 404/405, the KMS down, the audit trail, and that no reply ever holds the
apiKey that was sent. The store is the real SQLite adapter; the box a real AES-256-GCM one."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from shared.api.keys import KeysApi
from shared.api.keys_deps import KeysDeps, build_keys_deps
from shared.gateway_keys import GatewayKeyStore
from shared.settings import Settings
from shared.vault.audit import MemoryAuditSink
from tests.fakes import FakeClock
from tests.vault.conftest import AesGcmBox

DEV_KEY = "gw-keys-test-key"
SALT = "api-key-hash-salt-for-the-keys-tests"
PATH = "/api/ai/keys"
SECRET = "sk-proj-abcdefghijklmnop1234"
NEW_SECRET = "sk-proj-zyxwvutsrqponm9876"
ENTRIES = ["asgi", "dispatch"]
ENVELOPE = {"code", "message", "type", "provider", "retryable", "attempts"}


@dataclasses.dataclass
class Gateway:
    clients: dict[str, httpx2.AsyncClient]
    deps: KeysDeps
    audit: MemoryAuditSink
    box: AesGcmBox
    gateway_keys: GatewayKeyStore

    async def key(
        self, tenant: str, *, scopes: set[str], user: str | None = None, platform: bool = False
    ) -> dict[str, str]:
        """Auth headers of a new gateway key."""
        _, key = await self.gateway_keys.create(tenant, user=user, scopes=frozenset(scopes), platform=platform)
        return {"authorization": f"Bearer {key}"}


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    clock = FakeClock()
    settings = dataclasses.replace(Settings(), data_dir=tmp_path, dev_key=DEV_KEY, api_key_hash_salt=SALT)
    audit, box = MemoryAuditSink(), AesGcmBox()
    deps = build_keys_deps(settings, box=box, audit=audit, clock=clock)

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
        yield Gateway(clients, deps, audit, box, GatewayKeyStore(deps.store, SALT, clock))


DEV = {"authorization": f"Bearer {DEV_KEY}"}


def error_of(response: httpx2.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= ENVELOPE, error
    assert SECRET not in response.text
    assert NEW_SECRET not in response.text
    return error


def body(**fields: Any) -> bytes:
    return orjson.dumps({"name": "work", "provider": "OPENAI", "apiKey": SECRET, **fields})


# --- every route ------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
async def test_store_list_rotate_delete(gw: Gateway, entry: str) -> None:
    client = gw.clients[entry]
    created = await client.post(PATH, content=body(provider="google"), headers=DEV)
    assert created.status_code == 201, created.text
    meta = created.json()
    assert set(meta) == {
        "id",
        "name",
        "provider",
        "last4",
        "fingerprint",
        "createdAt",
        "rotatedAt",
        "lastUsedAt",
        "status",
    }
    assert (meta["name"], meta["provider"], meta["last4"], meta["status"]) == ("work", "GOOGLE", "1234", "active")
    assert meta["id"].startswith("pk_")
    assert meta["createdAt"].endswith("Z")
    assert meta["rotatedAt"] is None
    assert SECRET not in created.text
    assert "server-timing" in created.headers

    listed = await client.get(PATH, headers=DEV)
    assert listed.status_code == 200
    assert listed.json() == {"keys": [meta]}

    rotated = await client.post(
        f"{PATH}/{meta['id']}/rotate", content=orjson.dumps({"apiKey": NEW_SECRET}), headers=DEV
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["id"] == meta["id"]
    assert rotated.json()["last4"] == "9876"
    assert rotated.json()["rotatedAt"] is not None
    assert NEW_SECRET not in rotated.text
    assert await gw.deps.vault.secret_for("local", None, meta["id"]) == NEW_SECRET

    deleted = await client.delete(f"{PATH}/{meta['id']}", headers=DEV)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await client.get(PATH, headers=DEV)).json() == {"keys": []}
    again = await client.delete(f"{PATH}/{meta['id']}", headers=DEV)
    assert again.status_code == 404
    assert error_of(again)["field"] == "id"
    assert gw.audit.actions() == ["store", "rotate", "first_use", "delete"]
    actors = {e.action: e.actor for e in gw.audit.events}
    assert actors["first_use"] is None  # a vault call of the gateway itself, no caller's key
    assert actors["store"] == actors["rotate"] == actors["delete"] is not None  # the development key's id


# --- authentication and owners ----------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", PATH), ("GET", PATH), ("DELETE", f"{PATH}/pk_x"), ("POST", f"{PATH}/pk_x/rotate")]
)
async def test_401_without_a_valid_key_and_403_without_the_scope(
    gw: Gateway, entry: str, method: str, path: str
) -> None:
    client = gw.clients[entry]
    for headers in ({}, {"authorization": "Bearer gw-wrong"}, {"x-api-key": "gw-wrong"}):
        response = await client.request(method, path, content=body(), headers=headers)
        assert response.status_code == 401
        error = error_of(response)
        assert (error["code"], error["type"]) == ("unauthorized", "authentication")
        assert "gw-wrong" not in response.text
    chat_only = await gw.key("app1", scopes={"chat"})
    response = await client.request(method, path, content=body(), headers=chat_only)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert gw.audit.events == []


async def test_x_user_id_needs_an_act_as_user_platform_key(gw: Gateway) -> None:
    tenant_key = await gw.key("app1", scopes={"keys"})
    response = await gw.clients["asgi"].get(PATH, headers={**tenant_key, "x-user-id": "alice"})
    assert response.status_code == 403


async def test_each_caller_manages_only_its_own_keys(gw: Gateway) -> None:
    client = gw.clients["dispatch"]
    platform = await gw.key("market", scopes={"keys", "act_as_user"}, platform=True)
    alice = {**platform, "x-user-id": "alice"}
    bob = {**platform, "x-user-id": "bob"}
    bob_own_key = await gw.key("market", scopes={"keys"}, user="bob")
    tenant = await gw.key("market", scopes={"keys"})
    other_tenant_alice = await gw.key("elsewhere", scopes={"keys"}, user="alice")

    a = (await client.post(PATH, content=body(), headers=alice)).json()
    assert (await client.post(PATH, content=body(apiKey=NEW_SECRET), headers=bob_own_key)).status_code == 201
    # The platform key acting for bob and bob's own key are the same owner.
    assert [k["name"] for k in (await client.get(PATH, headers=bob)).json()["keys"]] == ["work"]
    for other in (bob, bob_own_key, tenant, other_tenant_alice, DEV):
        assert a["id"] not in (await client.get(PATH, headers=other)).text
        rotate = await client.post(
            f"{PATH}/{a['id']}/rotate", content=orjson.dumps({"apiKey": NEW_SECRET}), headers=other
        )
        delete = await client.delete(f"{PATH}/{a['id']}", headers=other)
        assert (rotate.status_code, delete.status_code) == (404, 404)
        error_of(rotate)
    assert (await client.get(PATH, headers=alice)).json()["keys"] == [a]
    assert await gw.deps.vault.secret_for("market", "alice", a["id"]) == SECRET


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b"", "body"),
        (orjson.dumps({"provider": "OPENAI", "apiKey": SECRET}), "name"),
        (body(name=7), "name"),
        (body(name=""), "name"),
        (body(provider="mistral"), "provider"),
        (body(provider=None), "provider"),
        (body(apiKey=12345678), "apiKey"),
        (body(apiKey=""), "apiKey"),
        (body(apiKey="k" * 513), "apiKey"),
        (body(apiKey=SECRET + " trailing"), "apiKey"),
    ],
)
async def test_400_names_the_field(gw: Gateway, entry: str, content: bytes, field: str) -> None:
    response = await gw.clients[entry].post(PATH, content=content, headers=DEV)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["field"], error["code"], error["type"], error["retryable"]) == (
        field,
        "invalid_request",
        "invalid_request",
        False,
    )
    assert (await gw.clients[entry].get(PATH, headers=DEV)).json() == {"keys": []}


async def test_rotate_body_is_checked(gw: Gateway) -> None:
    client = gw.clients["asgi"]
    key_id = (await client.post(PATH, content=body(), headers=DEV)).json()["id"]
    for content, field in ((b"nope", "body"), (b"{}", "apiKey"), (orjson.dumps({"apiKey": ["x"]}), "apiKey")):
        response = await client.post(f"{PATH}/{key_id}/rotate", content=content, headers=DEV)
        assert response.status_code == 400
        assert error_of(response)["field"] == field


@pytest.mark.parametrize("entry", ENTRIES)
async def test_413_over_64_kib_with_and_without_content_length(gw: Gateway, entry: str) -> None:
    client = gw.clients[entry]
    big = body(name="n" * (64 * 1024))
    declared = await client.post(PATH, content=big, headers=DEV)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    streamed = await client.post(PATH, content=chunks(), headers=DEV)
    for response in (declared, streamed):
        assert response.status_code == 413
        assert error_of(response)["field"] == "body"


async def test_duplicate_name_is_409(gw: Gateway) -> None:
    client = gw.clients["asgi"]
    assert (await client.post(PATH, content=body(), headers=DEV)).status_code == 201
    response = await client.post(PATH, content=body(provider="ANTHROPIC", apiKey=NEW_SECRET), headers=DEV)
    assert response.status_code == 409
    assert error_of(response)["field"] == "name"


# --- routes, KMS down ---------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
async def test_unknown_route_404_and_wrong_method_405(gw: Gateway, entry: str) -> None:
    client = gw.clients[entry]
    missing = await client.get("/api/ai/keyz", headers=DEV)
    assert missing.status_code == 404
    assert "/api/ai/keyz" in error_of(missing)["message"]
    deep = await client.post(f"{PATH}/pk_x/rotate/more", headers=DEV)
    assert deep.status_code == 404
    for method, path, allow in (
        ("PUT", PATH, "GET, POST"),
        ("GET", f"{PATH}/pk_x", "DELETE"),
        ("GET", f"{PATH}/pk_x/rotate", "POST"),
    ):
        response = await client.request(method, path, headers=DEV)
        assert response.status_code == 405
        assert response.headers["allow"] == allow
        error_of(response)


async def test_kms_down_is_a_clear_503(gw: Gateway) -> None:
    gw.box.down = True
    response = await gw.clients["dispatch"].post(PATH, content=body(), headers=DEV)
    assert response.status_code == 503
    error = error_of(response)
    assert "KMS" in error["message"]
    assert error["retryable"] is True
    assert response.headers["retry-after"] == "5"
    gw.box.down = False
    assert (await gw.clients["dispatch"].post(PATH, content=body(), headers=DEV)).status_code == 201
