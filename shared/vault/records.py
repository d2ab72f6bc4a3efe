"""Provider-key records on the document store: metadata, the ciphertext, and the name claims.

Collection `provider_keys`, document id = the key id (`pk_` + 16 random base32 characters, lower case).
A document: tenant, user (None for a tenant-level key), name, provider (internal name), last4,
fingerprint (`shared.credentials.fingerprint`), ciphertext (base64 of the sealed bytes), kek_version,
aad_version, status, created_at / rotated_at / last_used_at (RFC 3339 UTC or None) and an integer
`version`, bumped by every write, so that writes go through `put_if_newer` and a late write (a stale
`last_used_at`) can never undo a rotation.

Decisions:
- Delete removes the document (and its name claim): a deleted key's ciphertext does not linger. So
  `status` is only ever "active" today; it is kept in the record and the API for the states the
  breakers and the re-wrap job will add.
- Names are unique per (tenant, user) through a claim document in `provider_key_names` whose id is a
  hash of (tenant, user, name), taken with `create` (create-if-absent), so two concurrent stores with
  one name cannot both win. A claim whose key document is gone (a crash between the two writes) is stale
  and may be taken over.
- The store has no queries: listing reads the collection and filters by owner.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shared.store.port import Document

__all__ = [
    "KEYS",
    "NAMES",
    "KeyMetadata",
    "KeyStatus",
    "StoredKey",
    "from_timestamp",
    "name_claim_id",
    "new_key_id",
]

KEYS = "provider_keys"
NAMES = "provider_key_names"
KEY_ID_PREFIX = "pk_"
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"

KeyStatus = Literal["active"]


def new_key_id() -> str:
    return KEY_ID_PREFIX + "".join(secrets.choice(_BASE32) for _ in range(16))


def name_claim_id(tenant: str, user: str | None, name: str) -> str:
    """The claim document's id: a hash, since names may hold characters no document id can."""
    owner = "\x00".join((tenant, user or "", name))
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:40]


def from_timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


@dataclass(frozen=True, slots=True)
class KeyMetadata:
    """What may be shown about a provider key: never the key, never its ciphertext."""

    key_id: str
    tenant: str
    user: str | None
    name: str
    provider: str
    last4: str
    fingerprint: str
    kek_version: str | None
    status: KeyStatus
    created_at: datetime
    rotated_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One document of `provider_keys`: the metadata, the sealed key and the write version."""

    meta: KeyMetadata
    ciphertext: bytes
    aad_version: str
    version: int

    def to_doc(self) -> Document:
        m = self.meta
        return {
            "tenant": m.tenant,
            "user": m.user,
            "name": m.name,
            "provider": m.provider,
            "last4": m.last4,
            "fingerprint": m.fingerprint,
            "ciphertext": base64.b64encode(self.ciphertext).decode("ascii"),
            "kek_version": m.kek_version,
            "aad_version": self.aad_version,
            "status": m.status,
            "created_at": _iso(m.created_at),
            "rotated_at": _iso(m.rotated_at),
            "last_used_at": _iso(m.last_used_at),
            "version": self.version,
        }

    @classmethod
    def from_doc(cls, key_id: str, doc: Document) -> StoredKey:
        """Parse a stored document; ValueError (or KeyError/TypeError) when it is not one of ours."""
        created = _moment(doc["created_at"])
        if created is None:
            raise ValueError("created_at is missing")
        if doc.get("status") != "active":
            raise ValueError(f"unknown status {doc.get('status')!r}")
        meta = KeyMetadata(
            key_id=key_id,
            tenant=str(doc["tenant"]),
            user=None if doc.get("user") is None else str(doc["user"]),
            name=str(doc["name"]),
            provider=str(doc["provider"]),
            last4=str(doc["last4"]),
            fingerprint=str(doc["fingerprint"]),
            kek_version=None if doc.get("kek_version") is None else str(doc["kek_version"]),
            status="active",
            created_at=created,
            rotated_at=_moment(doc.get("rotated_at")),
            last_used_at=_moment(doc.get("last_used_at")),
        )
        return cls(
            meta=meta,
            ciphertext=base64.b64decode(str(doc["ciphertext"]), validate=True),
            aad_version=str(doc["aad_version"]),
            version=int(doc["version"]),
        )

    def owned_by(self, tenant: str, user: str | None) -> bool:
        return self.meta.tenant == tenant and self.meta.user == user
