"""The re-wrap job (shared/vault/rewrap.py) with the real `KmsEnvelopeBox` over gRPC to the KMS test server
and the real stores (SQLite and the Firestore emulator): the issue's Rotation proof, resumability, lost races
against a real rotation and delete, a tampered record, and the local keyset's "nothing to do"."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from shared.crypto.factory import kms_client
from shared.crypto.kms import KmsEnvelopeBox
from shared.crypto.local_keyset import LocalKeysetBox
from shared.identity import Identity
from shared.store import DocumentStore, StoreUnavailable
from shared.store.port import Document
from shared.vault.audit import MemoryAuditSink
from shared.vault.errors import KeyServiceDown
from shared.vault.records import KEYS
from shared.vault.rewrap import RewrapReport, rewrap
from shared.vault.service import Vault
from tests.fakes import FakeClock
from tests.kms_server import KmsServer, run_kms_server
from tests.vault.conftest import SALT

ALICE = Identity(tenant="app1", key_id="gk_alice", user="alice", scopes=frozenset({"keys"}))
BOB = Identity(tenant="app1", key_id="gk_bob", user="bob", scopes=frozenset({"keys"}))
TENANT = Identity(tenant="app2", key_id="gk_app2", scopes=frozenset({"keys"}))
SECRETS = {
    ALICE: ("openai", "sk-alice-0123456789abcdef"),
    BOB: ("anthropic", "sk-ant-bob-0123456789abcdef"),
    TENANT: ("google", "AIza-tenant-0123456789abcdef"),
}
VERSION_TTL = 60.0


@pytest.fixture
def kms_server() -> Iterator[KmsServer]:
    with run_kms_server() as server:
        yield server


@pytest.fixture
def key_name(kms_server: KmsServer) -> str:
    return kms_server.create_key("demo-test", "global", "gateway", "provider-keys")


@pytest.fixture
def kms_box(kms_server: KmsServer, key_name: str, clock: FakeClock) -> Iterator[KmsEnvelopeBox]:
    client = kms_client(kms_server.host)
    yield KmsEnvelopeBox(client, key_name, clock=clock, version_ttl_seconds=VERSION_TTL)
    client.transport.close()  # type: ignore[no-untyped-call]  # google-api-core leaves it unannotated


def version(key_name: str, number: int) -> str:
    return f"{key_name}/cryptoKeyVersions/{number}"


def vault(
    store: DocumentStore, box: KmsEnvelopeBox | LocalKeysetBox, clock: FakeClock, audit: MemoryAuditSink
) -> Vault:
    return Vault(store, box, SALT, clock, audit)


async def store_keys(v: Vault) -> dict[str, tuple[Identity, str]]:
    """The three owners' keys, by key id -> (owner, plaintext)."""
    stored = {}
    for who, (provider, secret) in SECRETS.items():
        meta = await v.store_key(who, f"{provider}-key", provider, secret)
        stored[meta.key_id] = (who, secret)
    return stored


async def new_primary(kms_server: KmsServer, key_name: str, clock: FakeClock) -> str:
    kms_server.set_primary(key_name, kms_server.add_version(key_name))
    clock.advance(VERSION_TTL + 1)  # the box's cached primary version expires
    return version(key_name, 2)


async def docs(store: DocumentStore) -> dict[str, Document]:
    return await store.list(KEYS)


async def assert_all_open(
    store: DocumentStore, box: KmsEnvelopeBox, clock: FakeClock, stored: Mapping[str, tuple[Identity, str]]
) -> None:
    fresh = vault(store, box, clock, MemoryAuditSink())  # an empty cache: every secret is decrypted again
    for key_id, (who, secret) in stored.items():
        assert await fresh.secret_for(who.tenant, who.user, key_id) == secret


async def test_rotation_proof(
    store: DocumentStore,
    kms_box: KmsEnvelopeBox,
    kms_server: KmsServer,
    key_name: str,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    audit = MemoryAuditSink()
    stored = await store_keys(vault(store, kms_box, clock, audit))
    before = await docs(store)
    assert {doc["kek_version"] for doc in before.values()} == {version(key_name, 1)}
    primary = await new_primary(kms_server, key_name, clock)

    with caplog.at_level(logging.INFO, logger="shared.vault.rewrap"):
        report = await rewrap(store, kms_box, SALT, clock, audit)

    assert report == RewrapReport(primary=primary, examined=3, rewrapped=3)
    assert "rewrapped 3/3" in caplog.text
    after = await docs(store)
    for key_id, doc in after.items():
        assert (doc["kek_version"], doc["version"]) == (primary, before[key_id]["version"] + 1)
        assert doc["ciphertext"] != before[key_id]["ciphertext"]
        assert {k: v for k, v in doc.items() if k not in {"kek_version", "version", "ciphertext"}} == {
            k: v for k, v in before[key_id].items() if k not in {"kek_version", "version", "ciphertext"}
        }
    rewraps = [e for e in audit.events if e.action == "rewrap"]
    assert sorted(e.key_id for e in rewraps) == sorted(stored)
    assert {(e.outcome, e.actor) for e in rewraps} == {("ok", None)}

    kms_server.set_enabled(key_name, 1, enabled=False)
    await assert_all_open(store, kms_box, clock, stored)
    again = await rewrap(store, kms_box, SALT, clock, audit)
    assert again == RewrapReport(primary=primary, examined=3, skipped_current=3)
    for secret in (s for _, s in stored.values()):
        assert secret not in caplog.text


async def test_without_the_rewrap_a_disabled_version_breaks_decrypts_and_the_job_resumes_once_enabled(
    sqlite_store: DocumentStore, kms_box: KmsEnvelopeBox, kms_server: KmsServer, key_name: str, clock: FakeClock
) -> None:
    audit = MemoryAuditSink()
    stored = await store_keys(vault(sqlite_store, kms_box, clock, audit))
    primary = await new_primary(kms_server, key_name, clock)
    kms_server.set_enabled(key_name, 1, enabled=False)
    who, _ = next(iter(stored.values()))
    with pytest.raises(KeyServiceDown):
        await vault(sqlite_store, kms_box, clock, MemoryAuditSink()).secret_for(
            who.tenant, who.user, next(iter(stored))
        )

    failed = await rewrap(sqlite_store, kms_box, SALT, clock, audit)
    assert failed == RewrapReport(primary=primary, examined=3, failed=3)
    assert len(await docs(sqlite_store)) == 3  # never deleted
    assert [(e.action, e.detail) for e in audit.events[-3:]] == [("decrypt_failed", "key service unavailable")] * 3

    kms_server.set_enabled(key_name, 1, enabled=True)
    assert await rewrap(sqlite_store, kms_box, SALT, clock, audit) == RewrapReport(
        primary=primary, examined=3, rewrapped=3
    )
    kms_server.set_enabled(key_name, 1, enabled=False)
    await assert_all_open(sqlite_store, kms_box, clock, stored)


class CrashingStore:
    """Delegates to `inner`; the `crash_at`-th `put_if_newer` raises StoreUnavailable (a crash mid-run)."""

    def __init__(self, inner: DocumentStore, crash_at: int) -> None:
        self.inner = inner
        self.crash_at = crash_at
        self.puts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def put_if_newer(
        self, collection: str, doc_id: str, doc: Mapping[str, Any], *, must_exist: bool = False
    ) -> bool:
        self.puts += 1
        if self.puts == self.crash_at:
            raise StoreUnavailable("store went away")
        return await self.inner.put_if_newer(collection, doc_id, doc, must_exist=must_exist)


async def test_a_rerun_after_a_crash_touches_only_what_is_still_under_an_old_version(
    sqlite_store: DocumentStore, kms_box: KmsEnvelopeBox, kms_server: KmsServer, key_name: str, clock: FakeClock
) -> None:
    audit = MemoryAuditSink()
    stored = await store_keys(vault(sqlite_store, kms_box, clock, audit))
    primary = await new_primary(kms_server, key_name, clock)
    crashing = CrashingStore(sqlite_store, crash_at=2)

    with pytest.raises(StoreUnavailable):
        await rewrap(crashing, kms_box, SALT, clock, audit, batch=1)

    first = await docs(sqlite_store)
    done = {key_id for key_id, doc in first.items() if doc["kek_version"] == primary}
    assert len(done) == 1
    resumed = await rewrap(sqlite_store, kms_box, SALT, clock, audit, batch=1)
    assert resumed == RewrapReport(primary=primary, examined=3, rewrapped=2, skipped_current=1)
    final = await docs(sqlite_store)
    assert {doc["version"] for doc in final.values()} == {2}  # the first one was not re-wrapped twice
    assert sorted(e.key_id for e in audit.events if e.action == "rewrap") == sorted(stored)
    kms_server.set_enabled(key_name, 1, enabled=False)
    await assert_all_open(sqlite_store, kms_box, clock, stored)


class RacingStore:
    """Delegates to `inner`; just before the job's write (`on="put"`) or its last read (`on="get"`) of
    `target`, runs `race` once: a real rotation or delete through the vault landing in that window."""

    def __init__(self, inner: DocumentStore, target: str, on: str) -> None:
        self.inner = inner
        self.target = target
        self.on = on
        self.race: Any = None
        self.gets = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _maybe_race(self) -> None:
        race, self.race = self.race, None
        if race is not None:
            await race()

    async def get(self, collection: str, doc_id: str) -> Document | None:
        if self.on == "get" and doc_id == self.target:
            await self._maybe_race()
        return await self.inner.get(collection, doc_id)

    async def put_if_newer(
        self, collection: str, doc_id: str, doc: Mapping[str, Any], *, must_exist: bool = False
    ) -> bool:
        if self.on == "put" and doc_id == self.target:
            await self._maybe_race()
        return await self.inner.put_if_newer(collection, doc_id, doc, must_exist=must_exist)


async def test_a_concurrent_rotation_wins_and_is_not_clobbered(
    store: DocumentStore, kms_box: KmsEnvelopeBox, kms_server: KmsServer, key_name: str, clock: FakeClock
) -> None:
    audit = MemoryAuditSink()
    users = vault(store, kms_box, clock, audit)
    stored = await store_keys(users)
    target, (who, _) = next(iter(stored.items()))
    primary = await new_primary(kms_server, key_name, clock)
    racing = RacingStore(store, target, on="put")

    async def rotate() -> None:
        await users.rotate_key(who, target, "sk-rotated-meanwhile-0123456789")

    racing.race = rotate
    report = await rewrap(racing, kms_box, SALT, clock, audit)

    assert report == RewrapReport(primary=primary, examined=3, rewrapped=2, lost_races=1)
    assert target not in {e.key_id for e in audit.events if e.action == "rewrap"}
    stored[target] = (who, "sk-rotated-meanwhile-0123456789")
    kms_server.set_enabled(key_name, 1, enabled=False)
    await assert_all_open(store, kms_box, clock, stored)  # the rotation's secret, under the new primary
    assert await rewrap(store, kms_box, SALT, clock, audit) == RewrapReport(
        primary=primary, examined=3, skipped_current=3
    )


async def test_a_concurrent_delete_is_not_undone(
    sqlite_store: DocumentStore, kms_box: KmsEnvelopeBox, kms_server: KmsServer, key_name: str, clock: FakeClock
) -> None:
    audit = MemoryAuditSink()
    users = vault(sqlite_store, kms_box, clock, audit)
    stored = await store_keys(users)
    target, (who, _) = next(iter(stored.items()))
    primary = await new_primary(kms_server, key_name, clock)
    racing = RacingStore(sqlite_store, target, on="get")

    async def delete() -> None:
        await users.delete_key(who, target)

    racing.race = delete
    report = await rewrap(racing, kms_box, SALT, clock, audit)

    assert report == RewrapReport(primary=primary, examined=3, rewrapped=2, lost_races=1)
    assert await sqlite_store.get(KEYS, target) is None
    assert await users.list_keys(who) == []


async def test_a_tampered_record_fails_is_audited_and_kept_while_the_others_are_rewrapped(
    store: DocumentStore, kms_box: KmsEnvelopeBox, kms_server: KmsServer, key_name: str, clock: FakeClock
) -> None:
    audit = MemoryAuditSink()
    stored = await store_keys(vault(store, kms_box, clock, audit))
    (alice_id, _), (bob_id, _), _ = stored.items()
    alice_doc, bob_doc = await store.get(KEYS, alice_id), await store.get(KEYS, bob_id)
    assert alice_doc is not None
    assert bob_doc is not None
    swapped = {**bob_doc, "ciphertext": alice_doc["ciphertext"]}  # the swap attack: A's ciphertext on B's record
    await store.set(KEYS, bob_id, swapped)
    await store.set(KEYS, "pk_notarecord", {"tenant": "app1", "kek_version": "old", "version": 1})
    primary = await new_primary(kms_server, key_name, clock)

    report = await rewrap(store, kms_box, SALT, clock, audit)

    assert report == RewrapReport(primary=primary, examined=4, rewrapped=2, failed=2)
    assert await store.get(KEYS, bob_id) == swapped  # kept as it was, for the owner to rotate
    assert await store.get(KEYS, "pk_notarecord") is not None
    failures = [e for e in audit.events if e.action == "decrypt_failed"]
    assert [(e.key_id, e.user, e.outcome, e.detail) for e in failures] == [
        (bob_id, "bob", "error", "ciphertext does not open")
    ]
    del stored[bob_id]
    kms_server.set_enabled(key_name, 1, enabled=False)
    await assert_all_open(store, kms_box, clock, stored)


async def test_a_local_keyset_has_nothing_to_rewrap(
    sqlite_store: DocumentStore, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    box = LocalKeysetBox(tmp_path / "keyset.json")
    audit = MemoryAuditSink()
    await store_keys(vault(sqlite_store, box, clock, audit))
    before = await docs(sqlite_store)

    with caplog.at_level(logging.INFO, logger="shared.vault.rewrap"):
        report = await rewrap(sqlite_store, box, SALT, clock, audit)

    assert report == RewrapReport(primary=None)
    assert "local keyset" in report.summary()
    assert "nothing to re-wrap" in caplog.text
    assert await docs(sqlite_store) == before
    assert "rewrap" not in audit.actions()


async def test_arguments_are_checked(sqlite_store: DocumentStore, tmp_path: Path, clock: FakeClock) -> None:
    box = LocalKeysetBox(tmp_path / "keyset.json")
    with pytest.raises(ValueError, match="ENCRYPTION_CONTEXT_SALT"):
        await rewrap(sqlite_store, box, "", clock, MemoryAuditSink())
    with pytest.raises(ValueError, match="batch"):
        await rewrap(sqlite_store, box, SALT, clock, MemoryAuditSink(), batch=0)


def test_the_report_summary_names_every_count() -> None:
    report = RewrapReport(primary="k/cryptoKeyVersions/2", examined=5, rewrapped=1, skipped_current=2, failed=2)
    assert report.summary() == (
        "rewrap under k/cryptoKeyVersions/2: examined 5, rewrapped 1, already current 2, lost races 0, failed 2"
    )
