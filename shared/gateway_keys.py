"""Gateway keys and tenant settings on the document store (architecture, Identity).

Collection "gateway_keys": one document per key, its id the key's HMAC (`hash_key`, hex), so the key a
caller presents is found with one `get`. The document holds the key's metadata only: `key_id` (a short
random public id, "gk_" + 12 base32), `tenant`, `user`, `scopes`, `platform`, `status` ("active" or
"revoked"), `name`, `created_at` and `revoked_at` (ISO 8601, UTC). Never the key, nor any part of it.
A key is "gw_" + 40 URL-safe characters (240 random bits), returned once by `create`.

Revoking by `key_id` lists the collection and filters: it is an admin operation, and one document per
key leaves nothing to keep consistent (no second index document that a crash could leave dangling).
Key ids are 60 random bits: a collision is not a practical concern, and `create` is create-if-absent on
the HMAC, so a key can never overwrite another.

Collection "tenants": one document per tenant with `platform_keys` (bool, default true when absent):
whether calls of that tenant may run on the platform's provider keys (the BYOK credential source asks).
"""

from __future__ import annotations

import base64
import builtins
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from shared.auth import KeyRecord, hash_key, valid_id
from shared.clock import Clock
from shared.identity import SCOPES
from shared.store.port import Document, DocumentStore

__all__ = [
    "KEYS_COLLECTION",
    "KEY_PREFIX",
    "TENANTS_COLLECTION",
    "GatewayKey",
    "GatewayKeyStore",
    "KeyStatus",
    "TenantSettings",
    "new_key_id",
]

KEYS_COLLECTION = "gateway_keys"
TENANTS_COLLECTION = "tenants"
KEY_PREFIX = "gw_"
KEY_ID_PREFIX = "gk_"
KeyStatus = Literal["active", "revoked"]
_STATUSES = ("active", "revoked")
_MAX_NAME = 200


def new_key_id(entropy: bytes | None = None) -> str:
    """ "gk_" + 12 lowercase base32 characters: 60 bits, random unless `entropy` is given."""
    raw = entropy if entropy is not None else secrets.token_bytes(8)
    return KEY_ID_PREFIX + base64.b32encode(raw).decode("ascii")[:12].lower()


def _now(clock: Clock) -> str:
    return datetime.fromtimestamp(clock.time(), UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class GatewayKey:
    """A gateway key's metadata, as stored and listed: never the key, never its hash."""

    key_id: str
    tenant: str
    user: str | None
    scopes: frozenset[str]
    platform: bool
    status: KeyStatus
    name: str
    created_at: str
    revoked_at: str | None = None

    def __post_init__(self) -> None:
        if not valid_id(self.tenant):
            raise ValueError("tenant must be 1 to 128 characters: letters, digits and . _ : @ + -")
        if self.user is not None and not valid_id(self.user):
            raise ValueError("user must be 1 to 128 characters: letters, digits and . _ : @ + -")
        unknown = self.scopes - SCOPES
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}: expected some of {sorted(SCOPES)}")
        if self.status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}")
        if len(self.name) > _MAX_NAME:
            raise ValueError(f"name is longer than {_MAX_NAME} characters")

    @property
    def active(self) -> bool:
        return self.status == "active"

    def record(self, digest: str) -> KeyRecord:
        """What `authenticate` works with: this key under its stored HMAC."""
        return KeyRecord(
            key_id=self.key_id,
            tenant=self.tenant,
            user=self.user,
            scopes=self.scopes,
            platform=self.platform,
            hash=digest,
        )

    def document(self) -> Document:
        return {
            "key_id": self.key_id,
            "tenant": self.tenant,
            "user": self.user,
            "scopes": sorted(self.scopes),
            "platform": self.platform,
            "status": self.status,
            "name": self.name,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }

    @classmethod
    def from_document(cls, doc: Document) -> GatewayKey:
        """Strict: a damaged document is an error to fix, not a key to guess at."""
        try:
            return cls(
                key_id=_text(doc, "key_id"),
                tenant=_text(doc, "tenant"),
                user=_optional_text(doc, "user"),
                scopes=frozenset(_texts(doc, "scopes")),
                platform=_flag(doc, "platform"),
                status=_text(doc, "status"),  # type: ignore[arg-type]  # checked in __post_init__
                name=_text(doc, "name"),
                created_at=_text(doc, "created_at"),
                revoked_at=_optional_text(doc, "revoked_at"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"gateway key document {doc.get('key_id')!r} is damaged: {error}") from None


def _text(doc: Document, name: str) -> str:
    value = doc[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _optional_text(doc: Document, name: str) -> str | None:
    return None if doc.get(name) is None else _text(doc, name)


def _texts(doc: Document, name: str) -> list[str]:
    value = doc[name]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} is not a list of strings")
    return value


def _flag(doc: Document, name: str) -> bool:
    value = doc[name]
    if not isinstance(value, bool):
        raise TypeError(f"{name} is not a boolean")
    return value


class GatewayKeyStore:
    """Gateway keys on a `DocumentStore`, addressed by HMAC. Holds the salt; never shows it."""

    def __init__(self, store: DocumentStore, salt: str, clock: Clock) -> None:
        if not salt:
            raise ValueError("a gateway key store needs the API_KEY_HASH_SALT")
        self._store = store
        self._salt = salt
        self._clock = clock

    def digest(self, key: str) -> str:
        """The stored form of `key` (its document id)."""
        return hash_key(key, self._salt)

    async def create(
        self,
        tenant: str,
        *,
        user: str | None = None,
        scopes: frozenset[str] = frozenset({"chat"}),
        platform: bool = False,
        name: str = "",
    ) -> tuple[GatewayKey, str]:
        """A new active key: its metadata and the key itself, which exists nowhere else (show it once)."""
        key = KEY_PREFIX + secrets.token_urlsafe(30)
        meta = GatewayKey(
            key_id=new_key_id(),
            tenant=tenant,
            user=user,
            scopes=frozenset(scopes),
            platform=platform,
            status="active",
            name=name,
            created_at=_now(self._clock),
        )
        if not await self._store.create(KEYS_COLLECTION, self.digest(key), meta.document()):
            raise RuntimeError("a fresh gateway key collided with a stored one; create again")
        return meta, key

    async def get(self, digest: str) -> GatewayKey | None:
        """The metadata stored under an HMAC, whatever its status."""
        doc = await self._store.get(KEYS_COLLECTION, digest)
        return None if doc is None else GatewayKey.from_document(doc)

    async def put(self, digest: str, meta: GatewayKey) -> None:
        """Create or replace the key stored under `digest` (the development key's upsert)."""
        await self._store.set(KEYS_COLLECTION, digest, meta.document())

    async def lookup(self, digest: str) -> KeyRecord | None:
        """The active key stored under an HMAC; None when absent or revoked."""
        meta = await self.get(digest)
        return meta.record(digest) if meta is not None and meta.active else None

    async def find(self, key: str) -> KeyRecord | None:
        """The active key a caller presented; None when unknown or revoked. One store `get`."""
        return await self.lookup(self.digest(key))

    async def list(self, tenant: str | None = None) -> list[GatewayKey]:
        """Every key's metadata (of one tenant when given), oldest first."""
        keys = [meta for _, meta in await self._listed() if tenant is None or meta.tenant == tenant]
        return sorted(keys, key=lambda meta: (meta.created_at, meta.key_id))

    async def revoke(self, key_id: str) -> bool:
        """Revoke the key with this id: True when it exists (now revoked; revoking again keeps the first
        `revoked_at`), False when no key has this id."""
        for digest, meta in await self._listed():
            if meta.key_id == key_id:
                if meta.active:
                    await self.put(digest, replace(meta, status="revoked", revoked_at=_now(self._clock)))
                return True
        return False

    async def _listed(self) -> builtins.list[tuple[str, GatewayKey]]:
        docs = await self._store.list(KEYS_COLLECTION)
        return [(digest, GatewayKey.from_document(doc)) for digest, doc in docs.items()]

    def __repr__(self) -> str:
        return f"GatewayKeyStore({self._store!r})"


class TenantSettings:
    """Per-tenant switches on the document store. Unknown tenants get the defaults."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def platform_keys_allowed(self, tenant: str) -> bool:
        """Whether the tenant's calls may run on platform provider keys (default: yes)."""
        doc = await self._store.get(TENANTS_COLLECTION, tenant)
        return True if doc is None else _platform_keys(doc)

    async def set_platform_keys(self, tenant: str, allowed: bool) -> None:
        if not valid_id(tenant):
            raise ValueError("tenant must be 1 to 128 characters: letters, digits and . _ : @ + -")
        doc: dict[str, Any] = dict(await self._store.get(TENANTS_COLLECTION, tenant) or {})
        doc["platform_keys"] = allowed
        await self._store.set(TENANTS_COLLECTION, tenant, doc)


def _platform_keys(doc: Document) -> bool:
    value = doc.get("platform_keys", True)
    if not isinstance(value, bool):
        raise ValueError("tenant document's platform_keys is not a boolean")
    return value
