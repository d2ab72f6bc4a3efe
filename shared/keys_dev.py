"""The local development key (architecture, Identity): an ordinary platform key of tenant "local" with
every scope, kept in the document store like any other gateway key.

- `GATEWAY_DEV_KEY` set: its HMAC record is upserted (active, every scope), under a key id derived from
  its HMAC, so the same key and salt keep the same id on every instance and restart.
- Not set: the store's marker document ("gateway_dev_key"/"current": the key's HMAC, id, a salt check
  and a version) names the generated key. When it names an active key, that key stands ("stored"; it
  cannot be shown again). Otherwise (first start, or the key was revoked with the admin command) a new
  key is created and handed back once (`DevKey.plaintext`) for the dev server to print: the one
  exception to "never print a key". The marker is written with `put_if_newer`, so of several processes
  starting at once exactly one key wins; a loser revokes its own key and uses the winner's.

The marker's `salt_check` (an HMAC of a fixed label) reports a store made under another
API_KEY_HASH_SALT instead of silently rejecting the key on every request.
"""

from __future__ import annotations

import asyncio
import hmac
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from shared.auth import KeyRecord
from shared.clock import Clock
from shared.gateway_keys import GatewayKey, GatewayKeyStore, new_key_id
from shared.identity import SCOPES
from shared.settings import Settings, SettingsError
from shared.store.build import build_store
from shared.store.port import DocumentStore

__all__ = ["DEV_KEY_NAME", "DEV_MARKER", "DEV_TENANT", "DevKey", "ensure_dev_key", "ensure_dev_key_blocking"]

DEV_TENANT = "local"
DEV_KEY_NAME = "development key"
DEV_MARKER = ("gateway_dev_key", "current")
_SALT_CHECK_LABEL = "gateway dev-key salt check v1"
_FIX = "set GATEWAY_DEV_KEY, or revoke the development key (python -m local.admin keys revoke <key_id>) and restart"


@dataclass(frozen=True, slots=True)
class DevKey:
    """The development key's record, and where it came from.

    `fresh` is True only right after generation; then, and only then, `plaintext` holds the key for the
    dev server to print once.
    """

    record: KeyRecord
    source: Literal["env", "generated", "stored"]
    fresh: bool = False
    plaintext: str | None = field(default=None, repr=False)

    @property
    def key_id(self) -> str:
        return self.record.key_id


async def ensure_dev_key(store: DocumentStore, salt: str, dev_key: str | None, *, clock: Clock) -> DevKey:
    """GATEWAY_DEV_KEY (`dev_key`) when set, upserted; else the generated key the store names; else a
    new one, stored as its HMAC only."""
    keys = GatewayKeyStore(store, salt, clock)
    if dev_key is not None:
        return DevKey(record=await _upsert(keys, keys.digest(dev_key), clock), source="env")
    salt_check = keys.digest(_SALT_CHECK_LABEL)[:16]
    marker = await store.get(*DEV_MARKER)
    version = 0
    if marker is not None:
        stored, version = await _stored(keys, marker, salt_check)
        if stored is not None:
            return DevKey(record=stored, source="stored")
    meta, key = await keys.create(DEV_TENANT, scopes=SCOPES, platform=True, name=DEV_KEY_NAME)
    digest = keys.digest(key)
    won = await store.put_if_newer(
        *DEV_MARKER, {"hash": digest, "key_id": meta.key_id, "salt_check": salt_check, "version": version + 1}
    )
    if won:
        return DevKey(record=meta.record(digest), source="generated", fresh=True, plaintext=key)
    # Another process made the development key between our read and our write: theirs stands.
    await keys.revoke(meta.key_id)
    marker = await store.get(*DEV_MARKER)
    stored = None if marker is None else (await _stored(keys, marker, salt_check))[0]
    if stored is None:
        raise SettingsError("GATEWAY_DEV_KEY", "the development key changed while it was being created; start again")
    return DevKey(record=stored, source="stored")


def ensure_dev_key_blocking(settings: Settings, salt: str, *, clock: Clock) -> DevKey | None:
    """`ensure_dev_key` for the synchronous dependency builders: run on a private event loop in a
    worker thread (the caller may be inside a running loop, `LazyDeps`), with a store client of its own
    (a Firestore client belongs to the loop it first ran on), closed when done.

    None on a shared cloud store (Firestore) without GATEWAY_DEV_KEY: a key nobody was shown would only
    be an unused platform key with every scope; the cloud's keys come from `python -m local.admin`."""
    if settings.dev_key is None and settings.store_backend != "sqlite":
        return None

    async def ensure() -> DevKey:
        store = build_store(settings)
        try:
            return await ensure_dev_key(store, salt, settings.dev_key, clock=clock)
        finally:
            await store.close()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dev-key") as pool:
        return pool.submit(asyncio.run, ensure()).result()


async def _stored(keys: GatewayKeyStore, marker: dict[str, object], salt_check: str) -> tuple[KeyRecord | None, int]:
    """The active key the marker names (None when revoked or gone), and the marker's version."""
    digest, version, check = marker.get("hash"), marker.get("version"), marker.get("salt_check")
    if not isinstance(digest, str) or not isinstance(version, int) or not isinstance(check, str):
        raise SettingsError("GATEWAY_DEV_KEY", f"the store's development-key marker is damaged: {_FIX}")
    if not hmac.compare_digest(check, salt_check):
        raise SettingsError(
            "GATEWAY_DEV_KEY",
            "the stored development key was made with a different API_KEY_HASH_SALT, so it cannot work: "
            f"restore that salt, or {_FIX}",
        )
    return await keys.lookup(digest), version


async def _upsert(keys: GatewayKeyStore, digest: str, clock: Clock) -> KeyRecord:
    existing = await keys.get(digest)
    wanted = GatewayKey(
        key_id=existing.key_id if existing is not None else _env_key_id(digest),
        tenant=DEV_TENANT,
        user=None,
        scopes=SCOPES,
        platform=True,
        status="active",
        name=existing.name if existing is not None else DEV_KEY_NAME,
        created_at=(
            existing.created_at
            if existing is not None
            else datetime.fromtimestamp(clock.time(), UTC).isoformat(timespec="seconds")
        ),
    )
    if wanted != existing:
        await keys.put(digest, wanted)
    return wanted.record(digest)


def _env_key_id(digest: str) -> str:
    """Derived from the HMAC (not random): the same key and salt give the same id everywhere."""
    return new_key_id(bytes.fromhex(digest)[:8])
