"""Gateway keys and identity (shared/auth.py): HMAC at rest, the key ring, `authenticate` and every error
it raises, and the development key's lifecycle (env key, generated once, stored as a hash, rotated)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import stat
from pathlib import Path

import pytest
from starlette.datastructures import Headers

from shared import auth, local_secrets
from shared.auth import (
    DEV_TENANT,
    DevKey,
    KeyRecord,
    KeyRing,
    authenticate,
    dev_key_path,
    ensure_dev_key,
    hash_key,
    rotate_dev_key,
)
from shared.errors import AuthError, RequestError
from shared.identity import SCOPES, Identity
from shared.settings import Settings, SettingsError

SALT = "test-salt-0123456789"
APP_KEY = "gw-app-key-123"
PLATFORM_KEY = "gw-platform-key-456"
USER_KEY = "gw-user-key-789"
PLATFORM_NO_ACT = "gw-platform-plain"
TENANT_ACT = "gw-tenant-with-act"


def record(key: str, key_id: str, **kwargs: object) -> KeyRecord:
    fields: dict[str, object] = {"tenant": "app-1", "user": None, "scopes": frozenset({"chat"}), "platform": False}
    fields.update(kwargs)
    return KeyRecord(key_id=key_id, hash=hash_key(key, SALT), **fields)  # type: ignore[arg-type]


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing(
        SALT,
        [
            record(APP_KEY, "k-app", scopes=frozenset({"chat", "analytics"})),
            record(
                PLATFORM_KEY, "k-platform", tenant="market", scopes=frozenset({"chat", "act_as_user"}), platform=True
            ),
            record(USER_KEY, "k-user", user="alice"),
            record(PLATFORM_NO_ACT, "k-platform-plain", platform=True),
            record(TENANT_ACT, "k-tenant-act", scopes=frozenset({"chat", "act_as_user"}), platform=False),
        ],
    )


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


# ---------------------------------------------------------------------------------------- hashing


def test_hash_is_hmac_sha256_of_the_key_with_the_salt() -> None:
    expected = hmac.new(SALT.encode(), APP_KEY.encode(), hashlib.sha256).hexdigest()
    assert hash_key(APP_KEY, SALT) == expected
    assert hash_key(APP_KEY, SALT + "x") != expected
    assert hash_key(APP_KEY, SALT) != hashlib.sha256(APP_KEY.encode()).hexdigest()


def test_a_different_salt_does_not_authenticate() -> None:
    stored = record(APP_KEY, "k-app")
    other = KeyRing("another-salt", [stored])
    with pytest.raises(AuthError) as caught:
        authenticate({"Authorization": f"Bearer {APP_KEY}"}, other)
    assert caught.value.status == 401
    assert stored.matches(APP_KEY, SALT)
    assert not stored.matches(APP_KEY, "another-salt")
    assert not stored.matches("gw-app-key-124", SALT)


def test_key_record_validates_and_hides_its_hash() -> None:
    good = record(APP_KEY, "k-app")
    assert good.hash not in repr(good)
    with pytest.raises(ValueError, match="unknown scopes"):
        record(APP_KEY, "k", scopes=frozenset({"root"}))
    with pytest.raises(ValueError, match="64 lowercase hex"):
        KeyRecord(key_id="k", tenant="t", user=None, scopes=frozenset(), platform=False, hash=APP_KEY)
    with pytest.raises(ValueError, match="key_id and a tenant"):
        record(APP_KEY, "")


# --------------------------------------------------------------------------------------- key ring


def test_ring_finds_by_key_and_never_shows_salt_or_hashes(ring: KeyRing) -> None:
    found = ring.find(APP_KEY)
    assert found is not None
    assert found.key_id == "k-app"
    assert ring.find("gw-nope") is None
    assert ring.find("") is None
    assert ring.find("x" * 10_000) is None
    assert len(ring) == 5
    assert repr(ring) == "KeyRing(5 keys)"
    assert SALT not in repr(ring)


def test_ring_add_replaces_the_same_key_id_and_remove_drops_it(ring: KeyRing) -> None:
    ring.add(record("gw-app-key-rotated", "k-app"))
    assert ring.find(APP_KEY) is None
    assert ring.find("gw-app-key-rotated") is not None
    assert len(ring) == 5
    ring.remove("k-app")
    assert ring.find("gw-app-key-rotated") is None
    assert len(ring) == 4
    ring.remove("never-there")


def test_ring_needs_a_salt() -> None:
    with pytest.raises(ValueError, match="API_KEY_HASH_SALT"):
        KeyRing("")


# ------------------------------------------------------------------------------------ authenticate


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {APP_KEY}"},
        {"authorization": f"bearer {APP_KEY}"},
        {"AUTHORIZATION": f"BEARER   {APP_KEY}  "},
        {"x-api-key": APP_KEY},
        {"X-Api-Key": f" {APP_KEY} "},
        {"Authorization": f"Bearer {APP_KEY}", "x-api-key": APP_KEY},
        Headers({"Authorization": f"Bearer {APP_KEY}"}),
        Headers(raw=[(b"x-api-key", APP_KEY.encode())]),
    ],
)
def test_authenticate_accepts_bearer_or_x_api_key(headers: dict[str, str] | Headers, ring: KeyRing) -> None:
    identity = authenticate(headers, ring)
    assert identity == Identity(
        tenant="app-1", key_id="k-app", user=None, scopes=frozenset({"chat", "analytics"}), platform=False
    )


def test_a_user_bound_key_carries_its_user(ring: KeyRing) -> None:
    assert authenticate({"x-api-key": USER_KEY}, ring).user == "alice"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"x-api-key": ""},
        {"x-api-key": "   "},
        {"Content-Type": "application/json"},
    ],
)
def test_missing_key_is_401_with_how_to_send_one(headers: dict[str, str], ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        authenticate(headers, ring)
    assert caught.value.status == 401
    assert caught.value.message == "missing gateway key: send Authorization: Bearer <key>"


def test_a_non_bearer_authorization_is_401_naming_the_scheme(ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        authenticate({"Authorization": "Basic dXNlcjpwYXNz"}, ring)
    assert caught.value.status == 401
    assert "Bearer" in caught.value.message
    assert "dXNlcjpwYXNz" not in caught.value.message


def test_a_non_bearer_authorization_beside_an_x_api_key_is_ignored(ring: KeyRing) -> None:
    assert authenticate({"Authorization": "Basic abc", "x-api-key": APP_KEY}, ring).key_id == "k-app"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer gw-unknown-secret-key"},
        {"x-api-key": "gw-unknown-secret-key"},
    ],
)
def test_unknown_key_is_401_and_never_echoed(headers: dict[str, str], ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        authenticate(headers, ring)
    assert caught.value.status == 401
    assert "unknown gateway key" in caught.value.message
    assert "gw-unknown-secret-key" not in caught.value.message
    assert "gw-unknown-secret-key" not in repr(caught.value)


def test_two_different_keys_are_401_and_neither_is_echoed(ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        authenticate({"Authorization": f"Bearer {APP_KEY}", "x-api-key": PLATFORM_KEY}, ring)
    assert caught.value.status == 401
    assert APP_KEY not in caught.value.message
    assert PLATFORM_KEY not in caught.value.message


@pytest.mark.parametrize("user_header", ["X-User-Id", "x-user-id", "X-USER-ID"])
def test_a_platform_key_with_act_as_user_may_name_the_user(user_header: str, ring: KeyRing) -> None:
    identity = authenticate({"Authorization": f"Bearer {PLATFORM_KEY}", user_header: "user_42@example.com"}, ring)
    assert identity == Identity(
        tenant="market",
        key_id="k-platform",
        user="user_42@example.com",
        scopes=frozenset({"chat", "act_as_user"}),
        platform=True,
    )


def test_without_x_user_id_a_platform_key_has_no_user(ring: KeyRing) -> None:
    assert authenticate({"x-api-key": PLATFORM_KEY}, ring).user is None


@pytest.mark.parametrize("key", [APP_KEY, USER_KEY, PLATFORM_NO_ACT, TENANT_ACT])
def test_x_user_id_with_any_other_key_is_403_naming_the_header(key: str, ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        authenticate({"x-api-key": key, "X-User-Id": "bob"}, ring)
    assert caught.value.status == 403
    assert "X-User-Id" in caught.value.message
    assert "act_as_user" in caught.value.message


def test_x_user_id_with_an_unknown_key_is_still_401(ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        authenticate({"x-api-key": "gw-nope", "X-User-Id": "bob"}, ring)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "user",
    ["", "   ", "a" * 129, "a/b", "a|b", "a b", "名前", "..", ".", "__admin__", "bob;drop", "x\ty", "%2e%2e"],
)
def test_an_invalid_user_id_is_400_naming_the_header(user: str, ring: KeyRing) -> None:
    with pytest.raises(RequestError) as caught:
        authenticate({"x-api-key": PLATFORM_KEY, "X-User-Id": user}, ring)
    assert caught.value.status == 400
    assert caught.value.field == "X-User-Id"
    assert "X-User-Id" in caught.value.message


@pytest.mark.parametrize("user", ["a", "a" * 128, "u-1.2_3:4@x+y", "550e8400-e29b-41d4-a716-446655440000", "_x_"])
def test_valid_user_ids(user: str, ring: KeyRing) -> None:
    assert authenticate({"x-api-key": PLATFORM_KEY, "X-User-Id": user}, ring).user == user


def test_conflicting_repeated_x_user_id_is_400(ring: KeyRing) -> None:
    headers = Headers(raw=[(b"x-api-key", PLATFORM_KEY.encode()), (b"x-user-id", b"alice"), (b"x-user-id", b"bob")])
    with pytest.raises(RequestError) as caught:
        authenticate(headers, ring)
    assert caught.value.field == "X-User-Id"


# ---------------------------------------------------------------------------------- development key


def dev_settings(tmp_path: Path, dev_key: str | None = None) -> Settings:
    return Settings(data_dir=tmp_path / "state", dev_key=dev_key)


def dev_ring(dev: DevKey, salt: str = SALT) -> KeyRing:
    return KeyRing(salt, [dev.record])


def test_env_dev_key_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path, dev_key="my-local-dev-key")
    dev = ensure_dev_key(settings, SALT)
    assert (dev.source, dev.fresh, dev.plaintext, dev.path) == ("env", False, None, None)
    assert "my-local-dev-key" not in repr(dev)
    assert not settings.data_dir.exists()
    identity = authenticate({"Authorization": "Bearer my-local-dev-key"}, dev_ring(dev))
    assert identity == Identity(tenant=DEV_TENANT, key_id=dev.key_id, user=None, scopes=SCOPES, platform=True)
    assert identity.tenant == "local"
    # The same key and salt give the same key id across restarts (usage events stay attributable).
    assert ensure_dev_key(settings, SALT).key_id == dev.key_id


def test_dev_key_is_generated_once_and_stored_only_as_its_hmac(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    first = ensure_dev_key(settings, SALT, clock=FakeClock(0.0))
    assert first.source == "generated"
    assert first.fresh is True
    assert first.plaintext is not None
    assert re.fullmatch(r"gw-dev-[A-Za-z0-9_-]{32}", first.plaintext)
    assert first.plaintext not in repr(first)
    path = dev_key_path(settings.data_dir)
    assert first.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    secret_part = first.plaintext.removeprefix("gw-dev-")
    assert secret_part not in text
    assert not any(secret_part[i : i + 8] in text for i in range(len(secret_part) - 7))
    document = json.loads(text)
    assert document["key_id"] == first.key_id
    assert document["hash"] == hash_key(first.plaintext, SALT)
    assert document["created"] == "1970-01-01T00:00:00+00:00"

    second = ensure_dev_key(settings, SALT)
    assert (second.source, second.fresh, second.plaintext) == ("stored", False, None)
    assert second.record == first.record
    identity = authenticate({"x-api-key": first.plaintext}, dev_ring(second))
    assert (identity.tenant, identity.platform, identity.scopes) == ("local", True, SCOPES)
    assert identity.can("act_as_user")


def test_the_dev_key_may_act_as_a_user(tmp_path: Path) -> None:
    dev = ensure_dev_key(dev_settings(tmp_path), SALT)
    assert dev.plaintext is not None
    identity = authenticate({"Authorization": f"Bearer {dev.plaintext}", "X-User-Id": "tester"}, dev_ring(dev))
    assert identity.user == "tester"


def test_env_dev_key_wins_over_a_stored_record(tmp_path: Path) -> None:
    ensure_dev_key(dev_settings(tmp_path), SALT)
    dev = ensure_dev_key(dev_settings(tmp_path, dev_key="from-env"), SALT)
    assert dev.source == "env"
    assert dev_ring(dev).find("from-env") is not None


def test_rotate_gives_a_new_fresh_key_and_retires_the_old(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    old = ensure_dev_key(settings, SALT)
    new = rotate_dev_key(settings.data_dir, SALT)
    assert new.fresh is True
    assert new.plaintext is not None
    assert new.plaintext != old.plaintext
    assert new.key_id != old.key_id
    stored = ensure_dev_key(settings, SALT)
    assert (stored.fresh, stored.record) == (False, new.record)
    ring = dev_ring(stored)
    assert old.plaintext is not None
    assert ring.find(old.plaintext) is None
    assert ring.find(new.plaintext) is not None
    assert stat.S_IMODE(dev_key_path(settings.data_dir).stat().st_mode) == 0o600
    assert new.plaintext not in dev_key_path(settings.data_dir).read_text()


def test_rotate_works_with_no_record_yet(tmp_path: Path) -> None:
    dev = rotate_dev_key(tmp_path / "fresh-dir", SALT)
    assert dev.fresh is True
    assert dev_key_path(tmp_path / "fresh-dir").exists()


def test_deleting_the_record_gives_a_new_key(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    first = ensure_dev_key(settings, SALT)
    dev_key_path(settings.data_dir).unlink()
    again = ensure_dev_key(settings, SALT)
    assert again.fresh is True
    assert again.plaintext != first.plaintext


def test_a_record_made_under_another_salt_is_reported(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    ensure_dev_key(settings, SALT)
    with pytest.raises(SettingsError) as caught:
        ensure_dev_key(settings, "a-different-salt")
    assert caught.value.variable == "GATEWAY_DEV_KEY"
    assert "different API_KEY_HASH_SALT" in caught.value.message
    assert str(dev_key_path(settings.data_dir)) in caught.value.message


@pytest.mark.parametrize(
    "content",
    ["", "not json", "[]", '{"hash": "ab"}', '{"key_id": "dev-1", "hash": "xyz", "created": "now"}', '{"key_id": 5}'],
)
def test_a_damaged_record_is_reported_with_the_fix(tmp_path: Path, content: str) -> None:
    settings = dev_settings(tmp_path)
    path = dev_key_path(settings.data_dir)
    settings.data_dir.mkdir()
    path.write_text(content)
    with pytest.raises(SettingsError) as caught:
        ensure_dev_key(settings, SALT)
    assert f"delete {path}" in caught.value.message
    assert "GATEWAY_DEV_KEY" in caught.value.message


def test_a_record_created_concurrently_is_used_not_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = dev_settings(tmp_path)
    theirs = rotate_dev_key(settings.data_dir, SALT)
    real_read = local_secrets.read_private_file
    calls: list[Path] = []

    def read_missing_first(path: Path) -> str | None:
        calls.append(path)
        return None if len(calls) == 1 else real_read(path)

    # Our first read misses the file another process is about to have created.
    monkeypatch.setattr(auth, "read_private_file", read_missing_first)
    dev = ensure_dev_key(settings, SALT)
    assert (dev.source, dev.fresh, dev.plaintext) == ("stored", False, None)
    assert dev.record == theirs.record
