"""The vault against both document stores (SQLite and the Firestore emulator), with a real AES-256-GCM box:
storing, listing, rotating and deleting; the swap attacks on the associated data; isolation between
tenants and users; the decrypted-key cache (TTL, eviction on delete and rotate); the KMS down; no
plaintext at rest; and the audit trail."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from shared.errors import GatewayError, RequestError
from shared.identity import Identity
from shared.store import DocumentStore, SqliteStore
from shared.vault.audit import MemoryAuditSink
from shared.vault.errors import DuplicateKeyName, KeyNotFound, KeyServiceDown, KeyUnusable
from shared.vault.records import KEYS, NAMES, name_claim_id
from shared.vault.service import Vault
from tests.fakes import FakeClock
from tests.vault.conftest import AesGcmBox, MakeVault

ALICE = Identity(tenant="app1", key_id="gk_alice", user="alice", scopes=frozenset({"keys"}))
BOB = Identity(tenant="app1", key_id="gk_bob", user="bob", scopes=frozenset({"keys"}))
TENANT = Identity(tenant="app1", key_id="gk_app1", scopes=frozenset({"keys"}))
OTHER_TENANT_ALICE = Identity(tenant="app2", key_id="gk_app2", user="alice", scopes=frozenset({"keys"}))
KEY_A = "sk-alice-0123456789abcdef"
KEY_B = "sk-bob-fedcba9876543210"


@pytest.fixture
def vault(store: DocumentStore, make_vault: MakeVault) -> Vault:
    return make_vault(store)


async def test_store_list_and_use(vault: Vault, audit: MemoryAuditSink, clock: FakeClock) -> None:
    meta = await vault.store_key(ALICE, "work", "OpenAI", KEY_A)
    assert meta.key_id.startswith("pk_")
    assert len(meta.key_id) == 19
    assert (meta.tenant, meta.user, meta.name, meta.provider, meta.last4) == ("app1", "alice", "work", "openai", "cdef")
    assert meta.kek_version == "1"
    assert meta.status == "active"
    assert meta.rotated_at is None
    assert await vault.list_keys(ALICE) == [meta]
    assert await vault.secret_for("app1", "alice", meta.key_id, actor="gk_chat") == KEY_A
    assert audit.actions() == ["store", "first_use"]
    assert audit.events[0].actor == "gk_alice"
    assert audit.events[1].actor == "gk_chat"
    assert {e.provider for e in audit.events} == {"OPENAI"}
    (listed,) = await vault.list_keys(ALICE)
    assert listed.last_used_at is not None
    assert listed.last_used_at.timestamp() == clock.now


@pytest.mark.parametrize(
    ("spelling", "internal"), [("GOOGLE", "gemini"), ("gemini", "gemini"), ("ANTHROPIC", "anthropic")]
)
async def test_provider_spellings(vault: Vault, spelling: str, internal: str) -> None:
    assert (await vault.store_key(ALICE, "k", spelling, KEY_A)).provider == internal


async def test_active_keys_filter_by_owner_and_provider(vault: Vault) -> None:
    first = await vault.store_key(ALICE, "one", "openai", KEY_A)
    await vault.store_key(ALICE, "two", "anthropic", KEY_B)
    await vault.store_key(BOB, "one", "openai", KEY_B)
    assert [m.key_id for m in await vault.active_keys("app1", "alice", "openai")] == [first.key_id]
    assert await vault.active_keys("app1", None, "openai") == []


# --- isolation --------------------------------------------------------------------------------------


@pytest.mark.parametrize("other", [BOB, TENANT, OTHER_TENANT_ALICE])
async def test_another_owner_sees_nothing_and_gets_404(vault: Vault, audit: MemoryAuditSink, other: Identity) -> None:
    meta = await vault.store_key(ALICE, "work", "openai", KEY_A)
    assert await vault.list_keys(other) == []
    for attempt in (
        vault.rotate_key(other, meta.key_id, KEY_B),
        vault.delete_key(other, meta.key_id),
        vault.secret_for(other.tenant, other.user, meta.key_id),
    ):
        with pytest.raises(KeyNotFound) as caught:
            await attempt
        assert caught.value.status == 404
        assert caught.value.field == "id"
    assert await vault.secret_for("app1", "alice", meta.key_id) == KEY_A  # untouched
    assert audit.actions() == ["store", "first_use"]


async def test_unknown_and_unaddressable_ids_are_404(vault: Vault) -> None:
    for key_id in ("pk_nothere", "a/b", "..", "x" * 300):
        with pytest.raises(KeyNotFound):
            await vault.delete_key(ALICE, key_id)


# --- names ------------------------------------------------------------------------------------------


async def test_names_are_unique_per_owner(vault: Vault) -> None:
    meta = await vault.store_key(ALICE, "work", "openai", KEY_A)
    with pytest.raises(DuplicateKeyName) as caught:
        await vault.store_key(ALICE, "work", "anthropic", KEY_B)
    assert (caught.value.status, caught.value.field) == (409, "name")
    await vault.store_key(BOB, "work", "openai", KEY_B)  # another owner may use it
    await vault.store_key(TENANT, "work", "openai", KEY_B)
    await vault.delete_key(ALICE, meta.key_id)
    await vault.store_key(ALICE, "work", "openai", KEY_B)  # freed by the delete
    assert [m.name for m in await vault.list_keys(ALICE)] == ["work"]


async def test_a_stale_name_claim_is_taken_over(vault: Vault, store: DocumentStore) -> None:
    claim = name_claim_id("app1", "alice", "work")
    await store.create(NAMES, claim, {"key_id": "pk_crashedbefore", "tenant": "app1", "user": "alice", "version": 1})
    meta = await vault.store_key(ALICE, "work", "openai", KEY_A)
    assert (await store.get(NAMES, claim) or {})["key_id"] == meta.key_id


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "provider", "api_key", "field"),
    [
        ("", "openai", KEY_A, "name"),
        ("n" * 65, "openai", KEY_A, "name"),
        ("bad\nname", "openai", KEY_A, "name"),
        ("   ", "openai", KEY_A, "name"),
        ("ok", "mistral", KEY_A, "provider"),
        ("ok", "", KEY_A, "provider"),
        ("ok", "openai", "", "apiKey"),
        ("ok", "openai", "short", "apiKey"),
        ("ok", "openai", "k" * 513, "apiKey"),
        ("ok", "openai", "sk-with space-123", "apiKey"),
        ("ok", "openai", "sk-ünïcode-12345", "apiKey"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    vault: Vault, store: DocumentStore, name: str, provider: str, api_key: str, field: str
) -> None:
    with pytest.raises(RequestError) as caught:
        await vault.store_key(ALICE, name, provider, api_key)
    assert (caught.value.status, caught.value.field) == (400, field)
    if api_key:
        assert api_key not in caught.value.message
    assert await store.list(KEYS) == {}
    assert await store.list(NAMES) == {}


async def test_rotate_validates_the_new_key(vault: Vault) -> None:
    meta = await vault.store_key(ALICE, "work", "openai", KEY_A)
    with pytest.raises(RequestError) as caught:
        await vault.rotate_key(ALICE, meta.key_id, "tiny")
    assert caught.value.field == "apiKey"


# --- rotate, delete, cache --------------------------------------------------------------------------


async def test_rotate_keeps_the_id_and_evicts_the_cached_secret(
    vault: Vault, audit: MemoryAuditSink, clock: FakeClock, box: AesGcmBox
) -> None:
    meta = await vault.store_key(ALICE, "work", "openai", KEY_A)
    assert await vault.secret_for("app1", "alice", meta.key_id) == KEY_A
    clock.advance(5)
    box.version = "2"
    rotated = await vault.rotate_key(ALICE, meta.key_id, KEY_B)
    assert rotated.key_id == meta.key_id
    assert rotated.created_at == meta.created_at
    assert (rotated.last4, rotated.kek_version) == ("3210", "2")
    assert rotated.fingerprint != meta.fingerprint
    assert rotated.rotated_at is not None
    assert rotated.rotated_at.timestamp() == clock.now
    assert await vault.secret_for("app1", "alice", meta.key_id) == KEY_B  # at once, well within the TTL
    assert audit.actions() == ["store", "first_use", "rotate", "first_use"]
    (listed,) = await vault.list_keys(ALICE)
    assert dataclasses.replace(listed, last_used_at=None) == dataclasses.replace(rotated, last_used_at=None)


async def test_delete_removes_the_record_and_evicts_at_once(
    vault: Vault, store: DocumentStore, audit: MemoryAuditSink
) -> None:
    meta = await vault.store_key(ALICE, "work", "openai", KEY_A)
    assert await vault.secret_for("app1", "alice", meta.key_id) == KEY_A
    await vault.delete_key(ALICE, meta.key_id)
    assert await store.get(KEYS, meta.key_id) is None
    assert await store.list(NAMES) == {}
    with pytest.raises(KeyNotFound):
        await vault.secret_for("app1", "alice", meta.key_id)
    with pytest.raises(KeyNotFound):
        await vault.delete_key(ALICE, meta.key_id)
    assert audit.actions() == ["store", "first_use", "delete"]


async def test_cache_serves_until_the_ttl_then_decrypts_again(
    store: DocumentStore, make_vault: MakeVault, box: AesGcmBox, clock: FakeClock, audit: MemoryAuditSink
) -> None:
    vault = make_vault(store, cache_ttl=30.0)
    meta = await vault.store_key(ALICE, "work", "openai", KEY_A)
    for _ in range(3):
        assert await vault.secret_for("app1", "alice", meta.key_id) == KEY_A
    assert box.opens == 1
    clock.advance(29.9)
    assert await vault.secret_for("app1", "alice", meta.key_id) == KEY_A
    assert box.opens == 1
    clock.advance(0.1)
    assert await vault.secret_for("app1", "alice", meta.key_id) == KEY_A
    assert box.opens == 2
    assert audit.actions() == ["store", "first_use", "first_use"]  # once per cache fill


async def test_another_instance_sees_a_rotation_within_the_ttl(
    store: DocumentStore, make_vault: MakeVault, clock: FakeClock
) -> None:
    here, there = make_vault(store, cache_ttl=30.0), make_vault(store, cache_ttl=30.0)
    meta = await here.store_key(ALICE, "work", "openai", KEY_A)
    assert await there.secret_for("app1", "alice", meta.key_id) == KEY_A
    await here.rotate_key(ALICE, meta.key_id, KEY_B)
    assert await there.secret_for("app1", "alice", meta.key_id) == KEY_A  # its cache, until the TTL
    clock.advance(30.0)
    assert await there.secret_for("app1", "alice", meta.key_id) == KEY_B


class RacingStore:
    """A store where another writer bumps the record's version just before each of our conditional
    writes, `races` times (a rotation elsewhere, or a use recording last_used_at)."""

    def __init__(self, inner: DocumentStore, races: int) -> None:
        self.inner = inner
        self.races = races

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def put_if_newer(
        self, collection: str, doc_id: str, doc: Mapping[str, Any], *, must_exist: bool = False
    ) -> bool:
        if self.races and collection == KEYS:
            self.races -= 1
            stored = await self.inner.get(collection, doc_id)
            assert stored is not None
            await self.inner.set(collection, doc_id, {**stored, "version": stored["version"] + 1})
        return await self.inner.put_if_newer(collection, doc_id, doc, must_exist=must_exist)


@pytest.mark.parametrize(("races", "rotated"), [(2, True), (3, False)])
async def test_rotate_retries_a_lost_conditional_write_then_409(
    store: DocumentStore, make_vault: MakeVault, races: int, rotated: bool
) -> None:
    meta = await make_vault(store).store_key(ALICE, "work", "openai", KEY_A)
    racing = RacingStore(store, races)
    vault = make_vault(racing)
    if rotated:
        assert (await vault.rotate_key(ALICE, meta.key_id, KEY_B)).last4 == "3210"
    else:
        with pytest.raises(RequestError) as caught:
            await vault.rotate_key(ALICE, meta.key_id, KEY_B)
        assert caught.value.status == 409
    assert await vault.secret_for("app1", "alice", meta.key_id) == (KEY_B if rotated else KEY_A)


# --- KMS down ---------------------------------------------------------------------------------------


async def test_kms_down_cached_keys_work_until_the_ttl_then_503(
    store: DocumentStore, make_vault: MakeVault, box: AesGcmBox, clock: FakeClock, audit: MemoryAuditSink
) -> None:
    vault = make_vault(store, cache_ttl=30.0)
    cached = await vault.store_key(ALICE, "cached", "openai", KEY_A)
    cold = await vault.store_key(ALICE, "cold", "openai", KEY_B)
    assert await vault.secret_for("app1", "alice", cached.key_id) == KEY_A
    box.down = True
    assert await vault.secret_for("app1", "alice", cached.key_id) == KEY_A
    with pytest.raises(KeyServiceDown) as caught:
        await vault.secret_for("app1", "alice", cold.key_id)
    assert caught.value.status == 503
    assert "KMS" in caught.value.message
    clock.advance(30.0)
    with pytest.raises(KeyServiceDown):
        await vault.secret_for("app1", "alice", cached.key_id)
    with pytest.raises(KeyServiceDown):
        await vault.store_key(ALICE, "new", "openai", KEY_A)
    with pytest.raises(KeyServiceDown):
        await vault.rotate_key(ALICE, cold.key_id, KEY_A)
    assert sorted(m.name for m in await vault.list_keys(ALICE)) == ["cached", "cold"]  # nothing lost or half made
    box.down = False
    assert await vault.secret_for("app1", "alice", cold.key_id) == KEY_B
    await vault.store_key(ALICE, "new", "openai", KEY_A)  # its name was not left claimed
    failed = [e for e in audit.events if e.outcome == "error"]
    assert [e.action for e in failed] == ["decrypt_failed", "decrypt_failed", "store", "rotate"]


# --- swap attacks -----------------------------------------------------------------------------------


async def _doc(store: DocumentStore, key_id: str) -> dict[str, Any]:
    doc = await store.get(KEYS, key_id)
    assert doc is not None
    return doc


async def _assert_swap_fails(vault: Vault, audit: MemoryAuditSink, owner: Identity, key_id: str) -> None:
    with pytest.raises(KeyUnusable) as caught:
        await vault.secret_for(owner.tenant, owner.user, key_id, actor="gk_chat")
    assert caught.value.status == 500
    assert "rotate" in caught.value.message
    event = audit.events[-1]
    assert (event.action, event.outcome, event.key_id, event.actor) == ("decrypt_failed", "error", key_id, "gk_chat")


async def test_swap_a_ciphertext_onto_another_users_record(
    vault: Vault, store: DocumentStore, audit: MemoryAuditSink
) -> None:
    a = await vault.store_key(ALICE, "work", "openai", KEY_A)
    b = await vault.store_key(BOB, "work", "openai", KEY_B)
    await store.set(
        KEYS, b.key_id, {**await _doc(store, b.key_id), "ciphertext": (await _doc(store, a.key_id))["ciphertext"]}
    )
    await _assert_swap_fails(vault, audit, BOB, b.key_id)
    assert await vault.secret_for("app1", "alice", a.key_id) == KEY_A


async def test_move_a_record_to_another_user(vault: Vault, store: DocumentStore, audit: MemoryAuditSink) -> None:
    a = await vault.store_key(ALICE, "work", "openai", KEY_A)
    await store.set(KEYS, a.key_id, {**await _doc(store, a.key_id), "user": "bob"})
    await _assert_swap_fails(vault, audit, BOB, a.key_id)


async def test_copy_a_ciphertext_under_another_key_id(
    vault: Vault, store: DocumentStore, audit: MemoryAuditSink
) -> None:
    a = await vault.store_key(ALICE, "work", "openai", KEY_A)
    await store.set(KEYS, "pk_copiedrecord000", await _doc(store, a.key_id))
    await _assert_swap_fails(vault, audit, ALICE, "pk_copiedrecord000")


async def test_change_a_records_provider(vault: Vault, store: DocumentStore, audit: MemoryAuditSink) -> None:
    a = await vault.store_key(ALICE, "work", "openai", KEY_A)
    await store.set(KEYS, a.key_id, {**await _doc(store, a.key_id), "provider": "anthropic"})
    await _assert_swap_fails(vault, audit, ALICE, a.key_id)


async def test_another_salt_does_not_open(
    store: DocumentStore, box: AesGcmBox, clock: FakeClock, audit: MemoryAuditSink, make_vault: MakeVault
) -> None:
    a = await make_vault(store).store_key(ALICE, "work", "openai", KEY_A)
    other = Vault(store, box, "another-salt", clock, audit)
    await _assert_swap_fails(other, audit, ALICE, a.key_id)


# --- nothing in the clear ---------------------------------------------------------------------------


def sqlite_files(directory: Path) -> list[bytes]:
    """The SQLite database and its WAL, as bytes."""
    return [path.read_bytes() for path in directory.glob("store.sqlite3*")]


def _forms(key: str) -> list[bytes]:
    raw = key.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw), raw.hex().encode()]


async def test_no_plaintext_in_any_stored_document(
    vault: Vault, store: DocumentStore, audit: MemoryAuditSink, tmp_path: Path
) -> None:
    a = await vault.store_key(ALICE, "work", "openai", KEY_A)
    b = await vault.store_key(BOB, "work", "gemini", KEY_B)
    await vault.rotate_key(BOB, b.key_id, KEY_B[::-1])
    await vault.secret_for("app1", "alice", a.key_id)
    await vault.secret_for("app1", "bob", b.key_id)
    dumps = [repr(await store.list(collection)).encode() for collection in (KEYS, NAMES)]
    dumps += [e.to_json_bytes() for e in audit.events]
    dumps.append(repr(vault).encode())
    if isinstance(store, SqliteStore):
        dumps += sqlite_files(tmp_path)
    assert len(await store.list(KEYS)) == 2
    for secret in (KEY_A, KEY_B, KEY_B[::-1]):
        for form in _forms(secret):
            assert not any(form in dump for dump in dumps), form


async def test_gateway_errors_never_hold_the_key(vault: Vault) -> None:
    meta = await vault.store_key(ALICE, "work", "openai", KEY_A)
    errors: list[GatewayError] = []
    for attempt in (vault.store_key(ALICE, "work", "openai", KEY_A), vault.rotate_key(BOB, meta.key_id, KEY_B)):
        try:
            await attempt
        except GatewayError as error:
            errors.append(error)
    assert len(errors) == 2
    assert not any(KEY_A in e.message or KEY_B in e.message for e in errors)
