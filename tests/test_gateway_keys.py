"""Gateway keys and tenant settings on the document store (shared/gateway_keys.py), against both
adapters (SQLite and the Firestore emulator, the `store` fixture of tests/store): one document per key
under its HMAC, holding no part of the key; found by the key it stands for; listed as metadata;
revoked by key id; tenants allow platform keys unless turned off."""

from __future__ import annotations

import re

import orjson
import pytest

from shared.auth import hash_key
from shared.gateway_keys import (
    KEYS_COLLECTION,
    TENANTS_COLLECTION,
    GatewayKey,
    GatewayKeyStore,
    TenantSettings,
    new_key_id,
)
from shared.store import DocumentStore
from tests.fakes import FakeClock
from tests.store.conftest import firestore_host, firestore_store, sqlite_store, store

__all__ = ["firestore_host", "firestore_store", "sqlite_store", "store"]  # the fixtures, for pytest

SALT = "gateway-keys-test-salt"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=1_767_225_600.0)  # 2026-01-01T00:00:00Z


@pytest.fixture
def keys(store: DocumentStore, clock: FakeClock) -> GatewayKeyStore:
    return GatewayKeyStore(store, SALT, clock)


def pieces(secret: str, size: int = 8) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


async def test_create_returns_the_key_once_and_stores_only_its_hmac(
    keys: GatewayKeyStore, store: DocumentStore
) -> None:
    meta, key = await keys.create("app-1", user="alice", scopes=frozenset({"chat", "keys"}), name="alice's app")
    assert re.fullmatch(r"gw_[A-Za-z0-9_-]{40}", key)
    assert re.fullmatch(r"gk_[a-z2-7]{12}", meta.key_id)
    assert (meta.tenant, meta.user, meta.scopes, meta.platform) == (
        "app-1",
        "alice",
        frozenset({"chat", "keys"}),
        False,
    )
    assert (meta.status, meta.name, meta.created_at, meta.revoked_at) == (
        "active",
        "alice's app",
        "2026-01-01T00:00:00+00:00",
        None,
    )
    docs = await store.list(KEYS_COLLECTION)
    assert list(docs) == [hash_key(key, SALT)]
    text = orjson.dumps(docs).decode()
    assert not any(piece in text for piece in pieces(key.removeprefix("gw_")))
    assert set(docs[hash_key(key, SALT)]) == {
        "key_id",
        "tenant",
        "user",
        "scopes",
        "platform",
        "status",
        "name",
        "created_at",
        "revoked_at",
    }
    assert key not in repr(meta)


async def test_find_by_the_presented_key(keys: GatewayKeyStore) -> None:
    meta, key = await keys.create("app-1", scopes=frozenset({"chat", "act_as_user"}), platform=True)
    record = await keys.find(key)
    assert record is not None
    assert record.identity().key_id == meta.key_id
    assert (record.tenant, record.platform, record.scopes) == ("app-1", True, frozenset({"chat", "act_as_user"}))
    assert await keys.find(key + "x") is None
    assert await keys.find("gw_" + "a" * 40) is None


async def test_another_salt_finds_nothing(keys: GatewayKeyStore, store: DocumentStore, clock: FakeClock) -> None:
    _, key = await keys.create("app-1")
    assert await GatewayKeyStore(store, SALT + "-other", clock).find(key) is None


async def test_keys_are_distinct(keys: GatewayKeyStore) -> None:
    made = [await keys.create("app-1") for _ in range(5)]
    assert len({key for _, key in made}) == len({meta.key_id for meta, _ in made}) == 5


async def test_list_is_metadata_oldest_first_and_filters_by_tenant(keys: GatewayKeyStore, clock: FakeClock) -> None:
    a, key_a = await keys.create("app-1", name="first")
    clock.advance(60)
    b, _ = await keys.create("app-2")
    clock.advance(60)
    c, _ = await keys.create("app-1", name="third")
    assert await keys.list() == [a, b, c]
    assert await keys.list("app-1") == [a, c]
    assert await keys.list("nobody") == []
    assert all(isinstance(meta, GatewayKey) for meta in await keys.list())
    assert key_a not in repr(await keys.list())


async def test_revoke_by_key_id(keys: GatewayKeyStore, clock: FakeClock) -> None:
    meta, key = await keys.create("app-1")
    other, other_key = await keys.create("app-1")
    clock.advance(3600)
    assert await keys.revoke(meta.key_id) is True
    assert await keys.find(key) is None
    assert await keys.find(other_key) is not None
    (revoked,) = [m for m in await keys.list() if m.key_id == meta.key_id]
    assert (revoked.status, revoked.revoked_at, revoked.active) == ("revoked", "2026-01-01T01:00:00+00:00", False)
    clock.advance(3600)
    assert await keys.revoke(meta.key_id) is True  # again: still revoked, first time kept
    assert await keys.get(keys.digest(key)) == revoked
    assert await keys.revoke("gk_nosuchkey000") is False
    assert other.active


@pytest.mark.parametrize(
    ("tenant", "changes", "message"),
    [
        ("", {}, "tenant"),
        ("a|b", {}, "tenant"),
        ("app-1", {"user": "a/b"}, "user"),
        ("app-1", {"scopes": frozenset({"root"})}, "unknown scopes"),
        ("app-1", {"name": "x" * 201}, "name"),
    ],
)
async def test_create_rejects_bad_input_and_writes_nothing(
    keys: GatewayKeyStore, store: DocumentStore, tenant: str, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await keys.create(tenant, **changes)  # type: ignore[arg-type]
    assert await store.list(KEYS_COLLECTION) == {}


async def test_a_damaged_document_is_an_error_not_a_guess(keys: GatewayKeyStore, store: DocumentStore) -> None:
    meta, key = await keys.create("app-1")
    await store.set(KEYS_COLLECTION, keys.digest(key), {**meta.document(), "status": "maybe"})
    with pytest.raises(ValueError, match="damaged"):
        await keys.find(key)
    await store.set(KEYS_COLLECTION, keys.digest(key), {**meta.document(), "platform": "yes"})
    with pytest.raises(ValueError, match="platform"):
        await keys.list()


def test_new_key_id_form() -> None:
    assert new_key_id(b"\x00" * 8) == "gk_aaaaaaaaaaaa"
    assert re.fullmatch(r"gk_[a-z2-7]{12}", new_key_id())


def test_the_salt_is_required_and_never_shown(store: DocumentStore, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="API_KEY_HASH_SALT"):
        GatewayKeyStore(store, "", clock)
    assert SALT not in repr(GatewayKeyStore(store, SALT, clock))


# ---------------------------------------------------------------------------------------- tenants


async def test_platform_keys_are_allowed_by_default_and_can_be_turned_off(store: DocumentStore) -> None:
    tenants = TenantSettings(store)
    assert await tenants.platform_keys_allowed("app-1") is True
    await tenants.set_platform_keys("app-1", False)
    assert await tenants.platform_keys_allowed("app-1") is False
    assert await tenants.platform_keys_allowed("app-2") is True
    await tenants.set_platform_keys("app-1", True)
    assert await tenants.platform_keys_allowed("app-1") is True


async def test_setting_a_switch_keeps_the_tenants_other_fields(store: DocumentStore) -> None:
    await store.set(TENANTS_COLLECTION, "app-1", {"display": "App One"})
    await TenantSettings(store).set_platform_keys("app-1", False)
    assert await store.get(TENANTS_COLLECTION, "app-1") == {"display": "App One", "platform_keys": False}


async def test_a_bad_tenant_is_refused(store: DocumentStore) -> None:
    with pytest.raises(ValueError, match="tenant"):
        await TenantSettings(store).set_platform_keys("a/b", False)
    await store.set(TENANTS_COLLECTION, "app-1", {"platform_keys": "no"})
    with pytest.raises(ValueError, match="platform_keys"):
        await TenantSettings(store).platform_keys_allowed("app-1")
