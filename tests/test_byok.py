"""The BYOK credential source: the caller's own keys first, then platform keys only if the tenant allows
them; key lists and the tenant switch cached briefly; a key that no longer opens is left out; the key
service being down is the vault's 503. Real vault on SQLite with an AES-GCM box (tests/vault)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.byok import ByokCredentials
from shared.credentials import PlatformCredentials
from shared.gateway_keys import TenantSettings
from shared.identity import Identity
from shared.store import SqliteStore
from shared.vault.audit import MemoryAuditSink
from shared.vault.errors import KeyServiceDown
from shared.vault.records import KEYS
from shared.vault.service import Vault
from tests.fakes import FakeClock
from tests.vault.conftest import SALT, AesGcmBox

U = Identity(tenant="shop", key_id="gk_u", user="u-1", scopes=frozenset({"chat", "keys"}))
V = Identity(tenant="shop", key_id="gk_v", user="v-2", scopes=frozenset({"chat", "keys"}))
PLATFORM = {"openai": ("sk-platform-openai",), "gemini": ("sk-platform-gemini",)}


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.store = SqliteStore(tmp_path / "gateway.sqlite3")
        self.box = AesGcmBox()
        self.audit = MemoryAuditSink()
        self.vault = Vault(self.store, self.box, SALT, self.clock, self.audit)
        self.tenants = TenantSettings(self.store)
        self.source = ByokCredentials(self.vault, PlatformCredentials(PLATFORM), self.tenants, self.clock)

    async def keys(self, who: Identity, provider: str) -> list[tuple[str, str, str | None]]:
        keys_for = await self.source.keys_for(who)
        return [(c.key, c.owner, c.key_id) for c in keys_for(provider)]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    made = Rig(tmp_path)
    yield made
    await made.store.close()


async def test_the_users_own_key_comes_before_the_platform_keys(rig: Rig) -> None:
    own = await rig.vault.store_key(U, "mine", "OPENAI", "sk-user-openai-1")
    assert await rig.keys(U, "openai") == [
        ("sk-user-openai-1", "user", own.key_id),
        ("sk-platform-openai", "platform", None),
    ]
    # Another user of the same tenant never gets U's key.
    assert await rig.keys(V, "openai") == [("sk-platform-openai", "platform", None)]
    assert await rig.keys(U, "anthropic") == []


async def test_a_tenant_without_platform_keys_runs_only_on_its_users_keys(rig: Rig) -> None:
    await rig.tenants.set_platform_keys("shop", False)
    await rig.vault.store_key(U, "mine", "google", "AIza-user-gemini-1")
    assert [k for k, _, _ in await rig.keys(U, "gemini")] == ["AIza-user-gemini-1"]
    assert await rig.keys(U, "openai") == []
    assert await rig.keys(V, "gemini") == []


async def test_key_lists_and_the_tenant_switch_are_cached_for_their_ttl(rig: Rig) -> None:
    assert await rig.keys(U, "openai") == [("sk-platform-openai", "platform", None)]
    own = await rig.vault.store_key(U, "mine", "OPENAI", "sk-user-openai-2")
    await rig.tenants.set_platform_keys("shop", False)
    # The new key is seen at once (this instance stored it); the tenant's switch only after 30 s.
    assert await rig.keys(U, "openai") == [
        ("sk-user-openai-2", "user", own.key_id),
        ("sk-platform-openai", "platform", None),
    ]
    rig.clock.advance(30.0)
    assert await rig.keys(U, "openai") == [("sk-user-openai-2", "user", own.key_id)]


async def test_a_key_that_no_longer_opens_is_left_out_and_audited(rig: Rig) -> None:
    a = await rig.vault.store_key(U, "a", "OPENAI", "sk-user-openai-a")
    b = await rig.vault.store_key(V, "b", "OPENAI", "sk-user-openai-b")
    # Swap: V's record now holds U's ciphertext. It must not open as V's key (nor yield U's).
    docs = await rig.store.list(KEYS)
    await rig.store.set(KEYS, b.key_id, {**docs[b.key_id], "ciphertext": docs[a.key_id]["ciphertext"]})
    assert await rig.keys(V, "openai") == [("sk-platform-openai", "platform", None)]
    failed = [e for e in rig.audit.events if e.action == "decrypt_failed"]
    assert [e.key_id for e in failed] == [b.key_id]


async def test_the_key_service_down_is_a_503_unless_the_key_is_cached(rig: Rig) -> None:
    await rig.vault.store_key(U, "mine", "OPENAI", "sk-user-openai-3")
    await rig.vault.store_key(V, "theirs", "OPENAI", "sk-user-openai-4")
    assert (await rig.keys(U, "openai"))[0][0] == "sk-user-openai-3"  # decrypted, now cached
    rig.box.down = True
    assert (await rig.keys(U, "openai"))[0][0] == "sk-user-openai-3"
    with pytest.raises(KeyServiceDown) as caught:
        await rig.keys(V, "openai")
    assert caught.value.status == 503


async def test_a_key_list_changed_on_another_instance_is_seen_after_the_ttl(rig: Rig) -> None:
    elsewhere = Vault(rig.store, rig.box, SALT, rig.clock, rig.audit)  # another instance's vault
    assert await rig.keys(U, "openai") == [("sk-platform-openai", "platform", None)]
    own = await elsewhere.store_key(U, "mine", "OPENAI", "sk-user-openai-5")
    assert await rig.keys(U, "openai") == [("sk-platform-openai", "platform", None)]
    rig.clock.advance(30.0)
    assert (await rig.keys(U, "openai"))[0] == ("sk-user-openai-5", "user", own.key_id)
    await rig.vault.delete_key(U, own.key_id)  # here: dropped at once
    assert await rig.keys(U, "openai") == [("sk-platform-openai", "platform", None)]
