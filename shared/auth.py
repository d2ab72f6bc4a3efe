"""Gateway keys and who is calling (architecture, Identity): key records, the in-memory key ring, the
local development key, and `authenticate` (request headers -> `Identity`).

A gateway key is stored only as HMAC-SHA256(API_KEY_HASH_SALT, key), hex. Nothing here logs, returns
or stores a plaintext key; the single exception is a freshly generated development key, handed back
once (`DevKey.plaintext`) so the dev server can print it at first start.

The development key is a platform key of tenant "local" with every scope. `GATEWAY_DEV_KEY` wins when
set (nothing is written); otherwise its HMAC record lives in `<data_dir>/dev-key.json` (0o600). The
record also holds `salt_check`, an HMAC of a fixed label, so a record made under another salt is
reported instead of silently rejecting the key on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from shared.clock import Clock, SystemClock
from shared.errors import AuthError, RequestError
from shared.identity import SCOPES, Identity
from shared.local_secrets import private_dir, read_private_file, write_private_file
from shared.settings import Settings, SettingsError

__all__ = [
    "DEV_KEY_FILE",
    "DEV_KEY_PREFIX",
    "DEV_TENANT",
    "MISSING_KEY",
    "DevKey",
    "KeyRecord",
    "KeyRing",
    "authenticate",
    "dev_key_path",
    "dev_key_record",
    "ensure_dev_key",
    "hash_key",
    "rotate_dev_key",
]

DEV_KEY_FILE = "dev-key.json"
DEV_TENANT = "local"
DEV_KEY_PREFIX = "gw-dev-"
MISSING_KEY = "missing gateway key: send Authorization: Bearer <key>"
_HASH_FORM = re.compile(r"[0-9a-f]{64}")
# A header longer than any key we issue is unknown without hashing it.
_MAX_KEY_CHARS = 512
# User ids become part of store document ids and of BYOK associated data (`v1|tenant|user|...`), so no
# '/' or '|'; Firestore also reserves the ids "." and ".." and names like "__x__".
_USER_ID = re.compile(r"[A-Za-z0-9._:@+-]{1,128}")
_RESERVED_USER_ID = re.compile(r"\.{1,2}|__.*__")
_SALT_CHECK_LABEL = b"gateway dev-key salt check v1"


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

    def find(self, key: str) -> KeyRecord | None:
        if not key or len(key) > _MAX_KEY_CHARS:
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


def authenticate(headers: Mapping[str, str], ring: KeyRing) -> Identity:
    """The caller's identity from `Authorization: Bearer <key>` or `x-api-key`, and `X-User-Id`.

    401 when the key is missing, malformed or unknown (never echoed); 403 when `X-User-Id` comes with a
    key that may not act for a user; 400 (field "X-User-Id") when the user id is not valid.
    Header names are case-insensitive: a Starlette `Headers` or a plain dict.
    """
    found: dict[str, list[str]] = {"authorization": [], "x-api-key": [], "x-user-id": []}
    for name, value in headers.items():
        values = found.get(name.lower())
        if values is not None:
            values.append(value.strip())
    record = ring.find(_presented_key(found["authorization"], found["x-api-key"]))
    if record is None:
        raise AuthError("unknown gateway key: check the key sent (it is not shown here)")
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
    if not _USER_ID.fullmatch(user) or _RESERVED_USER_ID.fullmatch(user):
        raise RequestError(f"{accepted} (not only dots, not __name__)", field="X-User-Id")
    return user


# ---------------------------------------------------------------------------------- development key


@dataclass(frozen=True, slots=True)
class DevKey:
    """The development key's record, and where it came from.

    `fresh` is True only right after generation; then, and only then, `plaintext` holds the key for the
    dev server to print once. A stored record cannot give the key back: delete `path` or use
    `rotate_dev_key` for a new one, or set GATEWAY_DEV_KEY.
    """

    record: KeyRecord
    source: Literal["env", "generated", "stored"]
    fresh: bool = False
    plaintext: str | None = field(default=None, repr=False)
    path: Path | None = None

    @property
    def key_id(self) -> str:
        return self.record.key_id


def dev_key_path(data_dir: Path) -> Path:
    return data_dir / DEV_KEY_FILE


def dev_key_record(digest: str) -> KeyRecord:
    """The development key: a platform key of tenant "local" with every scope."""
    return KeyRecord(
        key_id=f"dev-{digest[:12]}", tenant=DEV_TENANT, user=None, scopes=SCOPES, platform=True, hash=digest
    )


def ensure_dev_key(settings: Settings, salt: str, *, clock: Clock | None = None) -> DevKey:
    """GATEWAY_DEV_KEY when set; else the stored record; else a new key, stored as its HMAC only."""
    if settings.dev_key is not None:
        return DevKey(record=dev_key_record(hash_key(settings.dev_key, salt)), source="env")
    path = dev_key_path(settings.data_dir)
    stored = _load(path, salt)
    if stored is not None:
        return DevKey(record=stored, source="stored", path=path)
    key, record, text = _generate(salt, clock or SystemClock())
    private_dir(settings.data_dir)
    if write_private_file(path, text):
        return DevKey(record=record, source="generated", fresh=True, plaintext=key, path=path)
    # Another process created the record between our read and our write: theirs stands.
    stored = _load(path, salt)
    if stored is None:
        raise SettingsError("GATEWAY_DEV_KEY", f"{path} vanished while it was being created; start again")
    return DevKey(record=stored, source="stored", path=path)


def rotate_dev_key(data_dir: Path, salt: str, *, clock: Clock | None = None) -> DevKey:
    """Replace the stored development key with a new one (returned fresh, to be printed once)."""
    path = dev_key_path(data_dir)
    key, record, text = _generate(salt, clock or SystemClock())
    private_dir(data_dir)
    write_private_file(path, text, replace=True)
    return DevKey(record=record, source="generated", fresh=True, plaintext=key, path=path)


def _salt_check(salt: str) -> str:
    return hmac.new(salt.encode("utf-8"), _SALT_CHECK_LABEL, hashlib.sha256).hexdigest()[:16]


def _generate(salt: str, clock: Clock) -> tuple[str, KeyRecord, str]:
    # token_urlsafe(24): 24 random bytes -> 32 URL-safe characters.
    key = DEV_KEY_PREFIX + secrets.token_urlsafe(24)
    record = dev_key_record(hash_key(key, salt))
    created = datetime.fromtimestamp(clock.time(), UTC).isoformat(timespec="seconds")
    document = {"key_id": record.key_id, "hash": record.hash, "created": created, "salt_check": _salt_check(salt)}
    return key, record, json.dumps(document, indent=2) + "\n"


def _load(path: Path, salt: str) -> KeyRecord | None:
    text = read_private_file(path)
    if text is None:
        return None
    fix = f"delete {path} for a new development key, or set GATEWAY_DEV_KEY"
    try:
        document = json.loads(text)
        if not isinstance(document["key_id"], str):
            raise TypeError("key_id")
        record = KeyRecord(
            key_id=document["key_id"],
            tenant=DEV_TENANT,
            user=None,
            scopes=SCOPES,
            platform=True,
            hash=document["hash"],
        )
        check = document.get("salt_check")
    except (ValueError, TypeError, KeyError, AttributeError):
        raise SettingsError("GATEWAY_DEV_KEY", f"{path} is not a valid development-key record: {fix}") from None
    if check is not None and not hmac.compare_digest(str(check), _salt_check(salt)):
        raise SettingsError(
            "GATEWAY_DEV_KEY", f"{path} was made with a different API_KEY_HASH_SALT, so its key cannot work: {fix}"
        )
    return record
