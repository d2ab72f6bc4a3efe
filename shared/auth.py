"""Gateway keys and who is calling (architecture, Identity): key records, the `KeyLookup` port with an
in-memory key ring, and `authenticate` (request headers -> `Identity`).

A gateway key is stored only as HMAC-SHA256(API_KEY_HASH_SALT, key), hex. Nothing here logs, returns
or stores a plaintext key. The keys themselves live in the document store (`shared.gateway_keys`),
read through the cached `shared.keys_ring.StoreKeyRing`; the development key is `shared.keys_dev`.
`KeyRing` holds records in memory (tests, fixed key sets). `authenticate` is async because a lookup
may reach the store.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from shared.errors import AuthError, RequestError
from shared.identity import SCOPES, Identity

__all__ = [
    "MAX_KEY_CHARS",
    "MISSING_KEY",
    "KeyLookup",
    "KeyRecord",
    "KeyRing",
    "authenticate",
    "hash_key",
    "valid_id",
]

MISSING_KEY = "missing gateway key: send Authorization: Bearer <key>"
_HASH_FORM = re.compile(r"[0-9a-f]{64}")
# A header longer than any key we issue is unknown without hashing it.
MAX_KEY_CHARS = 512
# User ids become part of store document ids and of BYOK associated data (`v1|tenant|user|...`), so no
# '/' or '|'; Firestore also reserves the ids "." and ".." and names like "__x__".
_USER_ID = re.compile(r"[A-Za-z0-9._:@+-]{1,128}")
_RESERVED_USER_ID = re.compile(r"\.{1,2}|__.*__")


def valid_id(value: str) -> bool:
    """Whether `value` may be a user or tenant id: safe in document ids and in BYOK associated data."""
    return bool(_USER_ID.fullmatch(value)) and not _RESERVED_USER_ID.fullmatch(value)


def hash_key(key: str, salt: str) -> str:
    """The stored form of a gateway key: HMAC-SHA256 keyed by the salt, hex."""
    return hmac.new(salt.encode("utf-8"), key.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    tenant: str
    user: str | None
    scopes: frozenset[str]
    platform: bool
    hash: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.key_id or not self.tenant:
            raise ValueError("a key record needs a key_id and a tenant")
        unknown = self.scopes - SCOPES
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}: expected some of {sorted(SCOPES)}")
        if not _HASH_FORM.fullmatch(self.hash):
            raise ValueError("hash must be a hex HMAC-SHA256 (64 lowercase hex digits)")

    def matches(self, key: str, salt: str) -> bool:
        """Whether `key` is this record's key (constant-time comparison of the HMACs)."""
        return hmac.compare_digest(self.hash, hash_key(key, salt))

    def identity(self, user: str | None = None) -> Identity:
        return Identity(
            tenant=self.tenant,
            key_id=self.key_id,
            user=user if user is not None else self.user,
            scopes=self.scopes,
            platform=self.platform,
        )


class KeyLookup(Protocol):
    """Where `authenticate` finds the record of a presented key: None when unknown or revoked."""

    async def find(self, key: str) -> KeyRecord | None: ...


class KeyRing:
    """Gateway keys in memory, looked up by HMAC. Holds the salt; never shows it or a hash in its repr."""

    def __init__(self, salt: str, records: Iterable[KeyRecord] = ()) -> None:
        if not salt:
            raise ValueError("a key ring needs the API_KEY_HASH_SALT")
        self._salt = salt
        self._by_hash: dict[str, KeyRecord] = {}
        for record in records:
            self.add(record)

    def add(self, record: KeyRecord) -> None:
        """Add a record; one with the same key_id is replaced (a rotated key)."""
        self.remove(record.key_id)
        self._by_hash[record.hash] = record

    def remove(self, key_id: str) -> None:
        for digest in [d for d, r in self._by_hash.items() if r.key_id == key_id]:
            del self._by_hash[digest]

    async def find(self, key: str) -> KeyRecord | None:
        if not key or len(key) > MAX_KEY_CHARS:
            return None
        digest = hash_key(key, self._salt)
        # The dict lookup is on the HMAC, which a caller cannot steer without the salt, so its timing
        # tells nothing about stored keys; the final check is constant-time all the same.
        record = self._by_hash.get(digest)
        if record is None or not hmac.compare_digest(record.hash, digest):
            return None
        return record

    def __len__(self) -> int:
        return len(self._by_hash)

    def __repr__(self) -> str:
        return f"KeyRing({len(self)} keys)"


async def authenticate(headers: Mapping[str, str], keys: KeyLookup, *, scope: str | None = None) -> Identity:
    """The caller's identity from `Authorization: Bearer <key>` or `x-api-key`, and `X-User-Id`.

    401 when the key is missing, malformed, unknown or revoked (never echoed); 403 when the key lacks
    `scope` (the route's), or when `X-User-Id` comes with a key that may not act for a user; 400 (field
    "X-User-Id") when the user id is not valid; whatever `keys` raises when it cannot answer (the store
    ring: 503). Header names are case-insensitive: a Starlette `Headers` or a plain dict.
    """
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: expected one of {sorted(SCOPES)}")
    found: dict[str, list[str]] = {"authorization": [], "x-api-key": [], "x-user-id": []}
    for name, value in headers.items():
        values = found.get(name.lower())
        if values is not None:
            values.append(value.strip())
    record = await keys.find(_presented_key(found["authorization"], found["x-api-key"]))
    if record is None:
        raise AuthError("unknown or revoked gateway key: check the key sent (it is not shown here)")
    if scope is not None and scope not in record.scopes:
        raise AuthError(f"this gateway key lacks the {scope!r} scope this route needs", status=403)
    if not found["x-user-id"]:
        return record.identity()
    if not (record.platform and "act_as_user" in record.scopes):
        raise AuthError("X-User-Id is accepted only with a platform key that has the act_as_user scope", status=403)
    return record.identity(_user_id(found["x-user-id"]))


def _presented_key(authorization: list[str], api_keys: list[str]) -> str:
    keys: set[str] = {key for key in api_keys if key}
    other_scheme = False
    for value in authorization:
        parts = value.split(None, 1)
        if len(parts) == 2 and parts[0].lower() == "bearer":
            keys.add(parts[1].strip())
        elif parts and parts[0].lower() != "bearer":
            other_scheme = True
    if len(keys) > 1:
        raise AuthError("more than one gateway key sent (Authorization and x-api-key differ): send one")
    if keys:
        return keys.pop()
    if other_scheme:
        raise AuthError("the Authorization header must use the Bearer scheme: send Authorization: Bearer <key>")
    raise AuthError(MISSING_KEY)


def _user_id(values: list[str]) -> str:
    accepted = "X-User-Id must be 1 to 128 characters: letters, digits and . _ : @ + -"
    if len(set(values)) > 1:
        raise RequestError("X-User-Id was sent more than once with different values: send one", field="X-User-Id")
    user = values[0]
    if not valid_id(user):
        raise RequestError(f"{accepted} (not only dots, not __name__)", field="X-User-Id")
    return user
