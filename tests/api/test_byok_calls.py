"""Calls on the user's own provider keys, end to end (issue 6, "Calls on the user's keys" and "Proof").

Keys are stored through the keys API, calls go through the chat API and the official `openai` SDK to the
provider simulator; both APIs share one SQLite file, one SecretBox (a local Tink keyset, or Tink's
KmsEnvelopeAead on the gRPC KMS test server) and one audit sink (tests/api/byok_harness.py). Which key
paid is read where it shows: the simulator's calls per key, the usage event's `credential_id`, the
credential breakers. The chat deps use no Redis here (no REDIS_URL: the in-process cache port), so the
plaintext scan covers the SQLite file, the data dir, the events, the audit trail and the logs.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import openai
import orjson
import pytest
import redis.asyncio as aioredis
from google.cloud.kms_v1.services.key_management_service.transports import KeyManagementServiceGrpcTransport

from shared.breakers import credential_scope
from shared.catalog import default_catalog
from shared.credentials import fingerprint
from shared.crypto.factory import kms_client
from shared.crypto.kms import KmsEnvelopeBox
from shared.crypto.local_keyset import LocalKeysetBox
from shared.vault.records import KEYS
from tests.api.byok_harness import COST_ON, KEYS_PATH, PLATFORM, Gateway, open_gateway
from tests.kms_server import KmsServer, run_kms_server
from tests.simulator_server import SimulatorAdmin

U_OPENAI = "sk-byok-user-u-openai-4f1a9c"
U_GEMINI = "AIzaByokUserUGeminiKey-77c2e1"
B_OPENAI = "sk-byok-user-b-openai-0d93b7"
T2_OPENAI = "sk-byok-tenant2-openai-5e61aa"
W_OPENAI = "sk-byok-user-w-openai-c3c0de"


@pytest.fixture
async def gateway(sim_url: str, admin: SimulatorAdmin, tmp_path: Path) -> AsyncIterator[Gateway]:
    """Tenant "market" allows platform keys; tenant "strict" has turned them off."""
    box = LocalKeysetBox(tmp_path / "data" / "keyset.json")
    async with open_gateway(sim_url, admin, tmp_path / "data", box, platform_off=("strict",)) as gw:
        yield gw


def served(raw: Any) -> tuple[str, str, str]:
    h = raw.headers
    return h["x-gateway-provider"], h["x-gateway-model"], h["x-gateway-attempts"]


def openai_error(caught: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, Any]:
    error: dict[str, Any] = orjson.loads(caught.value.response.content)["error"]
    assert set(error) >= {"message", "type", "param", "code"}, error
    return error


# --- 1. a user's call runs on the user's own key ---------------------------------------------------------


async def test_a_users_call_runs_on_their_own_key_and_another_user_on_the_platform_key(gateway: Gateway) -> None:
    gw = gateway
    u, v = await gw.caller("market", "u"), await gw.caller("market", "v")
    # U's key is stored by a gateway key issued to U (a key with a fixed user), used by the platform
    # key acting for U: the same owner.
    _, u_own = await gw.gateway_keys.create("market", user="u", scopes=frozenset({"keys"}), name="u-own")
    gw.used_gateway_keys.append(u_own)
    response = await gw.keys_http.post(
        KEYS_PATH,
        json={"name": "mine", "provider": "openai", "apiKey": U_OPENAI},
        headers={"authorization": f"Bearer {u_own}"},
    )
    assert response.status_code == 201, response.text
    key_id = response.json()["id"]

    raw = await gw.chat(u)
    assert served(raw) == ("OPENAI", "gpt-4o-mini", "1")
    assert (gw.calls(U_OPENAI), gw.calls(PLATFORM["openai"])) == (1, 0)
    (event,) = gw.sink.events
    assert (event.tenant, event.user, event.credential_id, event.status) == ("market", "u", key_id, "ok")

    raw = await gw.chat(v)
    assert served(raw) == ("OPENAI", "gpt-4o-mini", "1")
    assert (gw.calls(U_OPENAI), gw.calls(PLATFORM["openai"])) == (1, 1)
    assert gw.sink.events[-1].credential_id == f"platform:{fingerprint(PLATFORM['openai'])}"
    assert gw.sink.events[-1].user == "v"
    assert [e.action for e in gw.audit.events if e.key_id == key_id] == ["store", "first_use"]


# --- 2. platform keys off ------------------------------------------------------------------------------


async def test_with_platform_keys_off_only_the_users_own_providers_are_candidates(gateway: Gateway) -> None:
    gw = gateway
    u, v = await gw.caller("strict", "u"), await gw.caller("strict", "v")
    gemini_key = (await gw.store_key(u, "GOOGLE", U_GEMINI))["id"]

    raw = await gw.chat(u, switches=COST_ON)
    provider, model, _ = served(raw)
    assert provider == "GOOGLE"
    assert default_catalog()[model].equivalence_class == default_catalog()["gpt-4o-mini"].equivalence_class
    assert gw.calls(U_GEMINI) == 1
    assert gw.sink.events[-1].credential_id == gemini_key

    with pytest.raises(openai.APIStatusError) as pinned:
        await gw.chat(u)
    assert pinned.value.status_code == 503
    assert "no usable API key for openai/gpt-4o-mini" in openai_error(pinned)["message"]

    for switches in (COST_ON, {}):
        with pytest.raises(openai.APIStatusError) as nothing:
            await gw.chat(v, switches=switches)
        assert nothing.value.status_code == 503
        assert "no usable API key" in openai_error(nothing)["message"]
    assert sum(gw.admin.stats()["calls_by_key"].values()) == 1  # no platform key was ever called


# --- 3. credential breaker end to end ------------------------------------------------------------------


async def test_a_users_rejected_key_is_theirs_to_fix_and_opens_only_their_credential_breaker(
    gateway: Gateway,
) -> None:
    gw = gateway
    breakers = gw.chat_deps.service.breakers
    u, other = await gw.caller("strict", "u"), await gw.caller("strict", "b")
    v = await gw.caller("market", "v")
    u_key = (await gw.store_key(u, "OPENAI", U_OPENAI))["id"]
    await gw.store_key(other, "OPENAI", B_OPENAI)
    gw.admin.add_key_rule(U_OPENAI, status=401)

    with pytest.raises(openai.AuthenticationError) as caught:
        await gw.chat(u)
    error = openai_error(caught)
    # The provider's own words about the key, passed through on the OpenAI route: the key is U's to fix.
    assert (error["type"], error["code"]) == ("authentication_error", "invalid_api_key")
    assert "API key" in error["message"]
    # ... and the gateway says which stored key it was and how to fix it (its id, never the key).
    assert f"your stored key {u_key} " in error["message"]
    assert f"/api/ai/keys/{u_key}/rotate" in error["message"]
    assert U_OPENAI not in error["message"]
    assert gw.calls(U_OPENAI) == 1
    assert breakers.is_open(credential_scope("openai", fingerprint(U_OPENAI)))

    # Same provider, same model: another user's own key and the platform key are unaffected.
    assert served(await gw.chat(other)) == ("OPENAI", "gpt-4o-mini", "1")
    assert served(await gw.chat(v)) == ("OPENAI", "gpt-4o-mini", "1")
    assert (gw.calls(B_OPENAI), gw.calls(PLATFORM["openai"])) == (1, 1)
    assert not breakers.is_open(credential_scope("openai", fingerprint(B_OPENAI)))
    assert not breakers.is_open(credential_scope("openai", fingerprint(PLATFORM["openai"])))

    # While U's breaker is open U's key is not called again: U has no other key, so a 503.
    with pytest.raises(openai.APIStatusError) as again:
        await gw.chat(u)
    assert again.value.status_code == 503
    assert "openai/gpt-4o-mini" in openai_error(again)["message"]
    assert "resting" in openai_error(again)["message"]
    assert int(again.value.response.headers["retry-after"]) > 0
    assert gw.calls(U_OPENAI) == 1


async def test_with_platform_keys_on_a_users_rejected_key_is_skipped_for_the_platform_key(gateway: Gateway) -> None:
    gw = gateway
    u = await gw.caller("market", "u")
    await gw.store_key(u, "OPENAI", U_OPENAI)
    gw.admin.add_key_rule(U_OPENAI, status=401)

    first = await gw.chat(u)
    assert served(first) == ("OPENAI", "gpt-4o-mini", "2")  # U's key (401), then the platform key: no retry
    assert gw.calls(U_OPENAI) == 1
    assert gw.chat_deps.service.breakers.is_open(credential_scope("openai", fingerprint(U_OPENAI)))
    second = await gw.chat(u)
    assert served(second) == ("OPENAI", "gpt-4o-mini", "1")  # U's own key first, but its breaker is open
    assert (gw.calls(U_OPENAI), gw.calls(PLATFORM["openai"])) == (1, 2)
    assert {e.credential_id for e in gw.sink.events} == {f"platform:{fingerprint(PLATFORM['openai'])}"}


# --- 4. swap attack ------------------------------------------------------------------------------------


async def test_a_ciphertext_copied_onto_another_users_record_fails_cleanly_and_is_audited(gateway: Gateway) -> None:
    gw = gateway
    a, b = await gw.caller("strict", "a"), await gw.caller("strict", "b")
    a_id = (await gw.store_key(a, "OPENAI", U_OPENAI))["id"]
    b_id = (await gw.store_key(b, "OPENAI", B_OPENAI))["id"]
    store = gw.chat_deps.store
    a_doc, b_doc = await store.get(KEYS, a_id), await store.get(KEYS, b_id)
    assert a_doc is not None
    assert b_doc is not None
    await store.set(KEYS, b_id, {**b_doc, "ciphertext": a_doc["ciphertext"]})

    with pytest.raises(openai.APIStatusError) as caught:
        await gw.chat(b)
    assert caught.value.status_code == 503
    assert "no usable API key for openai/gpt-4o-mini" in openai_error(caught)["message"]
    assert gw.calls(U_OPENAI) == gw.calls(B_OPENAI) == 0
    (failed,) = [e for e in gw.audit.events if e.action == "decrypt_failed"]
    assert (failed.key_id, failed.tenant, failed.user, failed.outcome) == (b_id, "strict", "b", "error")
    # A's own record is untouched and still serves A.
    assert served(await gw.chat(a))[0] == "OPENAI"
    assert gw.calls(U_OPENAI) == 1


# --- 5. no plaintext at rest ---------------------------------------------------------------------------


async def test_no_provider_or_gateway_key_in_the_store_events_audit_or_logs(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gw = gateway
    u, b = await gw.caller("market", "u"), await gw.caller("strict", "b")
    u_id = (await gw.store_key(u, "OPENAI", U_OPENAI))["id"]
    await gw.store_key(u, "GOOGLE", U_GEMINI, name="gemini")
    await gw.store_key(b, "OPENAI", B_OPENAI)
    response = await gw.keys_http.post(f"{KEYS_PATH}/{u_id}/rotate", json={"apiKey": W_OPENAI}, headers=u.headers)
    assert response.status_code == 200
    await gw.chat(u)
    await gw.chat(u, "gemini-2.5-flash")
    await gw.chat(b)
    await gw.chat(await gw.caller("market", "v"), "claude-haiku-4-5")
    assert gw.calls(W_OPENAI) == gw.calls(U_GEMINI) == gw.calls(B_OPENAI) == 1
    assert gw.chat_deps.settings.redis_url is None  # the chat deps hold nothing in Redis here

    secrets = [U_OPENAI, U_GEMINI, B_OPENAI, W_OPENAI, *PLATFORM.values(), *gw.used_gateway_keys]
    needles = {s.encode() for s in secrets} | {base64.b64encode(s.encode()) for s in secrets}
    files = [p for p in gw.data_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"gateway.sqlite3", "gateway.sqlite3-wal"}
    places = {str(p): p.read_bytes() for p in files}
    places["usage events"] = b"\n".join(orjson.dumps(e.model_dump(mode="json")) for e in gw.sink.events)
    places["audit events"] = b"\n".join(e.to_json_bytes() for e in gw.audit.events)
    places["logs"] = caplog.text.encode()
    assert len(gw.sink.events) == 4
    assert len(gw.audit.events) >= 7
    found = [(place, n) for place, data in places.items() for n in needles if n in data]
    assert found == []


# --- 6. isolation through HTTP ---------------------------------------------------------------------------


async def test_a_user_cannot_list_rotate_delete_or_use_another_users_key(gateway: Gateway) -> None:
    gw = gateway
    a, b = await gw.caller("strict", "a"), await gw.caller("strict", "b")
    a_key = await gw.store_key(a, "OPENAI", U_OPENAI)
    assert (await gw.keys_http.get(KEYS_PATH, headers=b.headers)).json() == {"keys": []}
    rotate = await gw.keys_http.post(f"{KEYS_PATH}/{a_key['id']}/rotate", json={"apiKey": B_OPENAI}, headers=b.headers)
    delete = await gw.keys_http.delete(f"{KEYS_PATH}/{a_key['id']}", headers=b.headers)
    assert (rotate.status_code, delete.status_code) == (404, 404)
    with pytest.raises(openai.APIStatusError) as caught:
        await gw.chat(b)
    assert caught.value.status_code == 503
    assert gw.calls(U_OPENAI) == 0
    assert (await gw.keys_http.get(KEYS_PATH, headers=a.headers)).json() == {"keys": [a_key]}


async def test_another_tenants_key_cannot_act_for_this_tenants_users(gateway: Gateway) -> None:
    gw = gateway
    a = await gw.caller("strict", "a")
    a_key = await gw.store_key(a, "OPENAI", U_OPENAI)
    intruder = await gw.caller("elsewhere", "a")  # same user id, other tenant's platform key
    own = await gw.store_key(intruder, "OPENAI", T2_OPENAI)
    listed = (await gw.keys_http.get(KEYS_PATH, headers=intruder.headers)).json()
    assert listed == {"keys": [own]}
    rotate = await gw.keys_http.post(
        f"{KEYS_PATH}/{a_key['id']}/rotate", json={"apiKey": B_OPENAI}, headers=intruder.headers
    )
    delete = await gw.keys_http.delete(f"{KEYS_PATH}/{a_key['id']}", headers=intruder.headers)
    assert (rotate.status_code, delete.status_code) == (404, 404)
    # Its calls for "a" run on its own tenant's keys, never on tenant strict's user a's key.
    assert served(await gw.chat(intruder))[0] == "OPENAI"
    assert (gw.calls(T2_OPENAI), gw.calls(U_OPENAI)) == (1, 0)
    assert (await gw.keys_http.get(KEYS_PATH, headers=a.headers)).json() == {"keys": [a_key]}


def _as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


async def _redis_values(url: str) -> bytes:
    """Every key and value in the Redis database, concatenated, read by type (DUMP may compress)."""
    client = aioredis.Redis.from_url(url)
    chunks: list[object] = []
    try:
        async for key in client.scan_iter(count=500):
            chunks.append(key)
            kind = _as_bytes(await client.type(key)).decode()
            if kind == "string":
                chunks.append(await client.get(key))
            elif kind == "hash":
                chunks.extend(item for pair in (await client.hgetall(key)).items() for item in pair)
            elif kind == "list":
                chunks.extend(await client.lrange(key, 0, -1))
            elif kind == "set":
                chunks.extend(await client.smembers(key))
            elif kind == "zset":
                chunks.extend(await client.zrange(key, 0, -1))
    finally:
        await client.aclose()
    return b"\n".join(_as_bytes(chunk) for chunk in chunks if chunk is not None)


async def test_with_redis_no_key_reaches_redis(
    sim_url: str, admin: SimulatorAdmin, tmp_path: Path, redis_url: str
) -> None:
    box = LocalKeysetBox(tmp_path / "data" / "keyset.json")
    async with open_gateway(sim_url, admin, tmp_path / "data", box, redis_url=redis_url) as gw:
        u = await gw.caller("market", "u")
        await gw.store_key(u, "OPENAI", U_OPENAI)
        for _ in range(2):  # the second is answered from the Redis response cache
            await gw.chat(u)
        assert gw.calls(U_OPENAI) == 1
        await gw.chat_deps.metrics.flush()
        stored = await _redis_values(redis_url)
    assert stored  # the cache and the metrics did write to Redis
    secrets = [U_OPENAI, *PLATFORM.values(), *gw.used_gateway_keys]
    for secret in secrets:
        assert secret.encode() not in stored
        assert base64.b64encode(secret.encode()) not in stored


# --- 7. KMS down -------------------------------------------------------------------------------------------


@pytest.fixture
def kms_server() -> Iterator[KmsServer]:
    with run_kms_server() as server:
        yield server


@pytest.fixture
async def kms_gateway(
    sim_url: str, admin: SimulatorAdmin, tmp_path: Path, kms_server: KmsServer
) -> AsyncIterator[tuple[Gateway, grpc.Channel]]:
    """The gateway with Tink's KmsEnvelopeAead on the KMS test server as the box of both APIs, and the
    gRPC channel of that box's client (the production client of shared.crypto.factory)."""
    key_name = kms_server.create_key("demo-test", "global", "gateway", "provider-keys")
    client = kms_client(kms_server.host)
    transport = client.transport
    assert isinstance(transport, KeyManagementServiceGrpcTransport)
    box = KmsEnvelopeBox(client, key_name, timeout_seconds=2.0)
    async with open_gateway(sim_url, admin, tmp_path / "data", box, platform_off=("strict",)) as gw:
        yield gw, transport.grpc_channel
    client.transport.close()  # type: ignore[no-untyped-call]  # google-api-core leaves it unannotated


async def test_kms_down_cached_keys_keep_working_new_decrypts_are_a_clear_503(
    kms_gateway: tuple[Gateway, grpc.Channel], kms_server: KmsServer
) -> None:
    gw, channel = kms_gateway
    u, w = await gw.caller("strict", "u"), await gw.caller("strict", "w")
    await gw.store_key(u, "OPENAI", U_OPENAI)
    w_id = (await gw.store_key(w, "OPENAI", W_OPENAI))["id"]
    assert served(await gw.chat(u))[0] == "OPENAI"

    kms_server.stop()
    assert served(await gw.chat(u))[0] == "OPENAI"  # the decrypted key is cached (TTL 60 s)
    assert gw.calls(U_OPENAI) == 2
    with pytest.raises(openai.APIStatusError) as caught:
        await gw.chat(w)
    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"] == "5"
    assert "key service" in openai_error(caught)["message"]
    assert gw.calls(W_OPENAI) == 0
    (failed,) = [e for e in gw.audit.events if e.action == "decrypt_failed"]
    assert (failed.key_id, failed.detail) == (w_id, "key service unavailable")

    kms_server.start()
    # The client's channel reconnects after gRPC's reconnect backoff (about 1 s): wait for that event.
    await asyncio.to_thread(grpc.channel_ready_future(channel).result, timeout=10)
    assert served(await gw.chat(w))[0] == "OPENAI"  # nothing was lost
    assert gw.calls(W_OPENAI) == 1
