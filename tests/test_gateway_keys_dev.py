"""The development key in the document store (shared/keys_dev.py), against both adapters: an ordinary
platform key of tenant "local" with every scope; GATEWAY_DEV_KEY upserted under a stable id; otherwise
generated once (handed back once), found again, replaced after a revoke; a store made under another salt
reported; of two processes starting at once, one key wins. And `ensure_dev_key_blocking` for the
synchronous builders, from inside a running loop."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from shared.auth import authenticate
from shared.gateway_keys import KEYS_COLLECTION, GatewayKeyStore
from shared.identity import SCOPES
from shared.keys_dev import DEV_KEY_NAME, DEV_MARKER, DEV_TENANT, ensure_dev_key, ensure_dev_key_blocking
from shared.keys_ring import StoreKeyRing
from shared.settings import Settings, SettingsError
from shared.store import DocumentStore, SqliteStore
from shared.store.build import SQLITE_FILE
from tests.fakes import FakeClock
from tests.store.conftest import firestore_host, firestore_store, sqlite_store, store

__all__ = ["firestore_host", "firestore_store", "sqlite_store", "store"]  # the fixtures, for pytest

SALT = "dev-key-test-salt"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=0.0)


def ring(store: DocumentStore, clock: FakeClock, salt: str = SALT) -> StoreKeyRing:
    return StoreKeyRing(GatewayKeyStore(store, salt, clock), clock=clock)


async def test_the_env_key_is_upserted_as_a_platform_key_with_every_scope(
    store: DocumentStore, clock: FakeClock
) -> None:
    dev = await ensure_dev_key(store, SALT, "my-local-dev-key", clock=clock)
    assert (dev.source, dev.fresh, dev.plaintext) == ("env", False, None)
    assert "my-local-dev-key" not in repr(dev)
    identity = await authenticate({"Authorization": "Bearer my-local-dev-key"}, ring(store, clock))
    assert (identity.tenant, identity.key_id, identity.scopes, identity.platform) == (
        DEV_TENANT,
        dev.key_id,
        SCOPES,
        True,
    )
    (meta,) = await GatewayKeyStore(store, SALT, clock).list()
    assert (meta.key_id, meta.name, meta.status, meta.created_at) == (
        dev.key_id,
        DEV_KEY_NAME,
        "active",
        "1970-01-01T00:00:00+00:00",
    )
    # The same key and salt: the same id on a restart, and on any other store.
    clock.advance(3600)
    assert (await ensure_dev_key(store, SALT, "my-local-dev-key", clock=clock)).key_id == dev.key_id
    assert (await GatewayKeyStore(store, SALT, clock).list())[0].created_at == "1970-01-01T00:00:00+00:00"
    assert re.fullmatch(r"gk_[a-z2-7]{12}", dev.key_id)


async def test_the_env_key_is_restored_if_revoked_or_narrowed(store: DocumentStore, clock: FakeClock) -> None:
    dev = await ensure_dev_key(store, SALT, "my-local-dev-key", clock=clock)
    keys = GatewayKeyStore(store, SALT, clock)
    await keys.revoke(dev.key_id)
    assert await keys.find("my-local-dev-key") is None
    again = await ensure_dev_key(store, SALT, "my-local-dev-key", clock=clock)
    assert again.record == dev.record
    assert await keys.find("my-local-dev-key") == dev.record


async def test_a_generated_key_is_made_once_and_stored_only_as_its_hmac(store: DocumentStore, clock: FakeClock) -> None:
    first = await ensure_dev_key(store, SALT, None, clock=clock)
    assert (first.source, first.fresh) == ("generated", True)
    assert first.plaintext is not None
    assert re.fullmatch(r"gw_[A-Za-z0-9_-]{40}", first.plaintext)
    assert first.plaintext not in repr(first)
    everything = orjson.dumps([await store.list(KEYS_COLLECTION), await store.get(*DEV_MARKER)]).decode()
    secret = first.plaintext.removeprefix("gw_")
    assert not any(secret[i : i + 8] in everything for i in range(len(secret) - 7))

    second = await ensure_dev_key(store, SALT, None, clock=clock)
    assert (second.source, second.fresh, second.plaintext) == ("stored", False, None)
    assert second.record == first.record
    identity = await authenticate({"x-api-key": first.plaintext, "X-User-Id": "tester"}, ring(store, clock))
    assert (identity.tenant, identity.platform, identity.scopes, identity.user) == ("local", True, SCOPES, "tester")


async def test_revoking_the_generated_key_gives_a_new_one_at_the_next_start(
    store: DocumentStore, clock: FakeClock
) -> None:
    old = await ensure_dev_key(store, SALT, None, clock=clock)
    assert await GatewayKeyStore(store, SALT, clock).revoke(old.key_id)
    new = await ensure_dev_key(store, SALT, None, clock=clock)
    assert (new.source, new.fresh) == ("generated", True)
    assert new.key_id != old.key_id
    assert new.plaintext is not None
    assert old.plaintext is not None
    keys = ring(store, clock)
    assert await keys.find(old.plaintext) is None
    assert await keys.find(new.plaintext) is not None
    assert (await ensure_dev_key(store, SALT, None, clock=clock)).record == new.record


async def test_a_store_made_under_another_salt_is_reported(store: DocumentStore, clock: FakeClock) -> None:
    await ensure_dev_key(store, SALT, None, clock=clock)
    with pytest.raises(SettingsError) as caught:
        await ensure_dev_key(store, "a-different-salt", None, clock=clock)
    assert caught.value.variable == "GATEWAY_DEV_KEY"
    assert "different API_KEY_HASH_SALT" in caught.value.message
    assert "local.admin keys revoke" in caught.value.message


async def test_a_damaged_marker_is_reported(store: DocumentStore, clock: FakeClock) -> None:
    await store.set(*DEV_MARKER, {"hash": 5, "version": 1})
    with pytest.raises(SettingsError, match="damaged"):
        await ensure_dev_key(store, SALT, None, clock=clock)


class RacingStore:
    """Another process writes its development key between our marker read and our marker write."""

    def __init__(self, inner: DocumentStore, rival: Any) -> None:
        self.inner = inner
        self.rival = rival

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def put_if_newer(
        self, collection: str, doc_id: str, doc: dict[str, Any], *, must_exist: bool = False
    ) -> bool:
        if self.rival is not None:
            rival, self.rival = self.rival, None
            await rival()
        return await self.inner.put_if_newer(collection, doc_id, doc, must_exist=must_exist)


async def test_of_two_starting_at_once_one_key_wins(store: DocumentStore, clock: FakeClock) -> None:
    theirs: list[Any] = []

    async def rival() -> None:
        theirs.append(await ensure_dev_key(store, SALT, None, clock=clock))

    ours = await ensure_dev_key(RacingStore(store, rival), SALT, None, clock=clock)  # type: ignore[arg-type]
    (winner,) = theirs
    assert (winner.source, winner.fresh) == ("generated", True)
    assert (ours.source, ours.fresh, ours.plaintext, ours.record) == ("stored", False, None, winner.record)
    listed = await GatewayKeyStore(store, SALT, clock).list()
    assert sorted(meta.status for meta in listed) == ["active", "revoked"]  # the loser revoked its own key


async def test_the_blocking_form_works_inside_a_running_loop(tmp_path: Path, clock: FakeClock) -> None:
    settings = Settings(data_dir=tmp_path / "state")
    first = ensure_dev_key_blocking(settings, SALT, clock=clock)
    again = ensure_dev_key_blocking(settings, SALT, clock=clock)
    assert first is not None
    assert again is not None
    assert (first.fresh, again.source, again.record) == (True, "stored", first.record)
    store = SqliteStore(settings.data_dir / SQLITE_FILE)
    try:
        assert first.plaintext is not None
        assert await GatewayKeyStore(store, SALT, clock).find(first.plaintext) == first.record
    finally:
        await store.close()


def test_no_development_key_is_made_on_a_shared_cloud_store(tmp_path: Path) -> None:
    # Firestore without GATEWAY_DEV_KEY: no key nobody was shown; the store is not even contacted.
    cloud = Settings(data_dir=tmp_path, store_backend="firestore", google_cloud_project_id="no-such-project")
    assert ensure_dev_key_blocking(cloud, SALT, clock=FakeClock()) is None
