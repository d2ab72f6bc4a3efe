"""The BYOK vault: provider keys stored sealed, listed as metadata, rotated, deleted, and opened for calls.

Every operation takes the owner explicitly (an `Identity`, or tenant and user) and only ever sees that
owner's records: another owner's key id is `KeyNotFound`, the same as an unknown one. The ciphertext of
a key is bound to its record by the associated data (shared.vault.aad), so a record edited or swapped
in the store fails to open; that failure is audited and reported as `KeyUnusable`, never worked around.

Plaintext keys exist only in the arguments of `store_key`/`rotate_key`, in the `SecretBox` call, and in
the `SecretCache`. Writes of an existing record go through `put_if_newer` on its `version`, so a
concurrent rotation is never silently overwritten (the loser gets a 409) and a late `last_used_at`
update never undoes one. An audit write that fails is logged (action and key id) and does not fail or
undo the operation it records.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from shared.clock import Clock
from shared.credentials import fingerprint
from shared.crypto.port import DecryptError, KeyServiceUnavailable, SecretBox
from shared.errors import RequestError
from shared.identity import Identity
from shared.store.port import DocumentStore
from shared.vault.aad import AAD_VERSION, associated_data
from shared.vault.audit import AuditAction, AuditEvent, AuditOutcome, AuditSink
from shared.vault.cache import Owner, SecretCache
from shared.vault.errors import DuplicateKeyName, KeyNotFound, KeyServiceDown, KeyUnusable
from shared.vault.records import KEYS, NAMES, KeyMetadata, StoredKey, from_timestamp, name_claim_id, new_key_id
from shared.vault.validation import check_api_key, check_name, check_provider

__all__ = ["Vault"]

_log = logging.getLogger(__name__)
_ROTATE_ATTEMPTS = 3


class Vault:
    def __init__(
        self,
        store: DocumentStore,
        box: SecretBox,
        salt: str,
        clock: Clock,
        audit: AuditSink,
        *,
        cache_ttl: float = 60.0,
        cache_size: int = 1000,
    ) -> None:
        if not salt:
            raise ValueError("the vault needs the ENCRYPTION_CONTEXT_SALT")
        self._store = store
        self._box = box
        self._salt = salt
        self._clock = clock
        self._audit = audit
        self._cache = SecretCache(clock, ttl=cache_ttl, size=cache_size)
        # Told (tenant, user) whenever this instance stores, rotates or deletes a key of that owner: caches
        # of key lists in the same process (the BYOK credential source) drop theirs at once.
        self.on_change: list[Callable[[str, str | None], None]] = []

    def __repr__(self) -> str:
        return f"Vault({self._cache!r})"

    # --- managing keys (the HTTP API) -------------------------------------------------------------

    async def store_key(self, identity: Identity, name: str, provider: str, api_key: str) -> KeyMetadata:
        name, provider, api_key = check_name(name), check_provider(provider), check_api_key(api_key)
        tenant, user = identity.tenant, identity.user
        key_id = new_key_id()
        claim = name_claim_id(tenant, user, name)
        await self._claim_name(claim, key_id, tenant, user, name)
        try:
            meta = KeyMetadata(
                key_id=key_id,
                tenant=tenant,
                user=user,
                name=name,
                provider=provider,
                last4=api_key[-4:],
                fingerprint=fingerprint(api_key),
                kek_version=None,
                status="active",
                created_at=from_timestamp(self._clock.time()),
            )
            record = await self._seal(meta, api_key, version=1, actor=identity.key_id, action="store")
            if not await self._store.create(KEYS, key_id, record.to_doc()):
                raise RuntimeError(f"provider key id {key_id} already exists")  # 80 random bits: a bug
        except BaseException:
            await self._release_name(claim, key_id)
            raise
        await self._record("store", record.meta, "ok", actor=identity.key_id)
        self._changed(tenant, user)
        return record.meta

    async def list_keys(self, identity: Identity) -> list[KeyMetadata]:
        return [r.meta for r in await self._owned(identity.tenant, identity.user)]

    async def rotate_key(self, identity: Identity, key_id: str, api_key: str) -> KeyMetadata:
        api_key = check_api_key(api_key)
        # A concurrent write (another rotation, or a use recording `last_used_at`) makes the conditional
        # write lose: read again and retry a few times before giving up with a 409.
        for _ in range(_ROTATE_ATTEMPTS):
            current = await self._load(identity.tenant, identity.user, key_id)
            meta = dataclasses.replace(
                current.meta,
                last4=api_key[-4:],
                fingerprint=fingerprint(api_key),
                rotated_at=from_timestamp(self._clock.time()),
            )
            version = current.version + 1
            record = await self._seal(meta, api_key, version=version, actor=identity.key_id, action="rotate")
            written = await self._store.put_if_newer(KEYS, key_id, record.to_doc(), must_exist=True)
            self._cache.evict(_owner(current.meta))
            if written:
                await self._record("rotate", record.meta, "ok", actor=identity.key_id)
                self._changed(current.meta.tenant, current.meta.user)
                return record.meta
        raise RequestError(f"provider key {key_id} was changed at the same time: try again", field="id", status=409)

    async def delete_key(self, identity: Identity, key_id: str) -> None:
        current = await self._load(identity.tenant, identity.user, key_id)
        await self._store.delete(KEYS, key_id)
        self._cache.evict(_owner(current.meta))
        await self._release_name(name_claim_id(current.meta.tenant, current.meta.user, current.meta.name), key_id)
        await self._record("delete", current.meta, "ok", actor=identity.key_id)
        self._changed(current.meta.tenant, current.meta.user)

    def _changed(self, tenant: str, user: str | None) -> None:
        for listener in self.on_change:
            listener(tenant, user)

    # --- using keys (the credential source) -------------------------------------------------------

    async def active_keys(self, tenant: str, user: str | None, provider: str) -> list[KeyMetadata]:
        """The owner's active keys for `provider` (internal name), oldest first."""
        return [r.meta for r in await self._owned(tenant, user) if r.meta.provider == provider]

    async def secret_for(self, tenant: str, user: str | None, key_id: str, *, actor: str | None = None) -> str:
        """The plaintext key, from the cache or decrypted (then cached, audited as "first_use").

        KeyNotFound for another owner's or an unknown id; KeyUnusable when the ciphertext does not open
        under its record's context (audited "decrypt_failed"); KeyServiceDown when the KMS is down.
        """
        owner: Owner = (tenant, user, key_id)
        cached = self._cache.get(owner)
        if cached is not None:
            return cached
        ticket = self._cache.ticket()
        record = await self._load(tenant, user, key_id)
        aad = self._aad(record.meta)
        try:
            secret = (await self._box.open(record.ciphertext, aad)).decode("ascii")
        except (DecryptError, UnicodeDecodeError):
            await self._record("decrypt_failed", record.meta, "error", actor=actor, detail="ciphertext does not open")
            raise KeyUnusable(key_id) from None
        except KeyServiceUnavailable:
            await self._record("decrypt_failed", record.meta, "error", actor=actor, detail="key service unavailable")
            raise KeyServiceDown() from None
        self._cache.put(owner, secret, ticket)
        await self._record("first_use", record.meta, "ok", actor=actor)
        await self._touch(record)
        return secret

    # --- internals --------------------------------------------------------------------------------

    def _aad(self, meta: KeyMetadata) -> bytes:
        return associated_data(
            self._salt, tenant=meta.tenant, user=meta.user, key_id=meta.key_id, provider=meta.provider
        )

    async def _seal(
        self, meta: KeyMetadata, api_key: str, *, version: int, actor: str, action: AuditAction
    ) -> StoredKey:
        try:
            sealed = await self._box.seal(api_key.encode("ascii"), self._aad(meta))
        except KeyServiceUnavailable:
            await self._record(action, meta, "error", actor=actor, detail="key service unavailable")
            raise KeyServiceDown() from None
        meta = dataclasses.replace(meta, kek_version=sealed.kek_version)
        return StoredKey(meta=meta, ciphertext=sealed.ciphertext, aad_version=AAD_VERSION, version=version)

    async def _load(self, tenant: str, user: str | None, key_id: str) -> StoredKey:
        doc = await self._store.get(KEYS, key_id) if _plausible_id(key_id) else None
        record = _parse(key_id, doc) if doc is not None else None
        if record is None or not record.owned_by(tenant, user):
            raise KeyNotFound(key_id)
        return record

    async def _owned(self, tenant: str, user: str | None) -> list[StoredKey]:
        docs = await self._store.list(KEYS)
        records = [r for key_id, doc in docs.items() if (r := _parse(key_id, doc)) and r.owned_by(tenant, user)]
        return sorted(records, key=lambda r: (r.meta.created_at, r.meta.key_id))

    async def _claim_name(self, claim: str, key_id: str, tenant: str, user: str | None, name: str) -> None:
        doc = {"key_id": key_id, "tenant": tenant, "user": user, "version": 1}
        if await self._store.create(NAMES, claim, doc):
            return
        held = await self._store.get(NAMES, claim)
        holder = str(held.get("key_id")) if held else ""
        if held is not None and await self._store.get(KEYS, holder) is not None:
            raise DuplicateKeyName(name)
        # A stale claim (its key document never landed or is gone): take it over, once, monotonically.
        stale_version = held.get("version", 0) if held is not None else 0
        version = stale_version + 1 if isinstance(stale_version, int) else 1
        if not await self._store.put_if_newer(NAMES, claim, {**doc, "version": version}):
            raise DuplicateKeyName(name)

    async def _release_name(self, claim: str, key_id: str) -> None:
        held = await self._store.get(NAMES, claim)
        if held is not None and held.get("key_id") == key_id:
            await self._store.delete(NAMES, claim)

    async def _touch(self, record: StoredKey) -> None:
        """Record `last_used_at` (once per cache fill); best effort, and never over a newer write."""
        meta = dataclasses.replace(record.meta, last_used_at=from_timestamp(self._clock.time()))
        touched = dataclasses.replace(record, meta=meta, version=record.version + 1)
        try:
            await self._store.put_if_newer(KEYS, meta.key_id, touched.to_doc(), must_exist=True)
        except Exception as error:  # the key works; only its last-used time is late
            _log.warning("vault: could not record last use of %s (%s)", meta.key_id, type(error).__name__)

    async def _record(
        self,
        action: AuditAction,
        meta: KeyMetadata,
        outcome: AuditOutcome,
        *,
        actor: str | None,
        detail: str = "",
    ) -> None:
        event = AuditEvent.about(
            meta, action, outcome, ts=from_timestamp(self._clock.time()), actor=actor, detail=detail
        )
        try:
            await self._audit.publish(event)
        except Exception as error:
            _log.error("vault: audit event %s of %s was not recorded (%s)", action, meta.key_id, type(error).__name__)


def _owner(meta: KeyMetadata) -> Owner:
    return meta.tenant, meta.user, meta.key_id


def _plausible_id(key_id: str) -> bool:
    """Ids the store can address (a caller's path segment may be anything)."""
    return 0 < len(key_id) <= 64 and "/" not in key_id and key_id not in {".", ".."}


def _parse(key_id: str, doc: dict[str, object]) -> StoredKey | None:
    try:
        return StoredKey.from_doc(key_id, doc)
    except (KeyError, TypeError, ValueError):
        _log.warning("vault: provider key record %s is not readable; ignored", key_id)
        return None
