"""Gateway keys and identity (shared/auth.py): HMAC at rest, the in-memory key ring, `authenticate` and
every error it raises (401 unknown, 403 scope and X-User-Id rules, 400 bad user id), over any `KeyLookup`."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from starlette.datastructures import Headers

from shared.auth import KeyLookup, KeyRecord, KeyRing, authenticate, hash_key, valid_id
from shared.errors import AuthError, GatewayError, RequestError
from shared.identity import Identity

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


# ---------------------------------------------------------------------------------------- hashing


def test_hash_is_hmac_sha256_of_the_key_with_the_salt() -> None:
    expected = hmac.new(SALT.encode(), APP_KEY.encode(), hashlib.sha256).hexdigest()
    assert hash_key(APP_KEY, SALT) == expected
    assert hash_key(APP_KEY, SALT + "x") != expected
    assert hash_key(APP_KEY, SALT) != hashlib.sha256(APP_KEY.encode()).hexdigest()


async def test_a_different_salt_does_not_authenticate() -> None:
    stored = record(APP_KEY, "k-app")
    other = KeyRing("another-salt", [stored])
    with pytest.raises(AuthError) as caught:
        await authenticate({"Authorization": f"Bearer {APP_KEY}"}, other)
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


async def test_ring_finds_by_key_and_never_shows_salt_or_hashes(ring: KeyRing) -> None:
    found = await ring.find(APP_KEY)
    assert found is not None
    assert found.key_id == "k-app"
    assert (await ring.find("gw-nope")) is None
    assert (await ring.find("")) is None
    assert (await ring.find("x" * 10_000)) is None
    assert len(ring) == 5
    assert repr(ring) == "KeyRing(5 keys)"
    assert SALT not in repr(ring)


async def test_ring_add_replaces_the_same_key_id_and_remove_drops_it(ring: KeyRing) -> None:
    ring.add(record("gw-app-key-rotated", "k-app"))
    assert (await ring.find(APP_KEY)) is None
    assert (await ring.find("gw-app-key-rotated")) is not None
    assert len(ring) == 5
    ring.remove("k-app")
    assert (await ring.find("gw-app-key-rotated")) is None
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
async def test_authenticate_accepts_bearer_or_x_api_key(headers: dict[str, str] | Headers, ring: KeyRing) -> None:
    identity = await authenticate(headers, ring)
    assert identity == Identity(
        tenant="app-1", key_id="k-app", user=None, scopes=frozenset({"chat", "analytics"}), platform=False
    )


async def test_a_user_bound_key_carries_its_user(ring: KeyRing) -> None:
    assert (await authenticate({"x-api-key": USER_KEY}, ring)).user == "alice"


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
async def test_missing_key_is_401_with_how_to_send_one(headers: dict[str, str], ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        await authenticate(headers, ring)
    assert caught.value.status == 401
    assert caught.value.message == "missing gateway key: send Authorization: Bearer <key>"


async def test_a_non_bearer_authorization_is_401_naming_the_scheme(ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        await authenticate({"Authorization": "Basic dXNlcjpwYXNz"}, ring)
    assert caught.value.status == 401
    assert "Bearer" in caught.value.message
    assert "dXNlcjpwYXNz" not in caught.value.message


async def test_a_non_bearer_authorization_beside_an_x_api_key_is_ignored(ring: KeyRing) -> None:
    assert (await authenticate({"Authorization": "Basic abc", "x-api-key": APP_KEY}, ring)).key_id == "k-app"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer gw-unknown-secret-key"},
        {"x-api-key": "gw-unknown-secret-key"},
    ],
)
async def test_unknown_key_is_401_and_never_echoed(headers: dict[str, str], ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        await authenticate(headers, ring)
    assert caught.value.status == 401
    assert "unknown or revoked gateway key" in caught.value.message
    assert "gw-unknown-secret-key" not in caught.value.message
    assert "gw-unknown-secret-key" not in repr(caught.value)


async def test_two_different_keys_are_401_and_neither_is_echoed(ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        await authenticate({"Authorization": f"Bearer {APP_KEY}", "x-api-key": PLATFORM_KEY}, ring)
    assert caught.value.status == 401
    assert APP_KEY not in caught.value.message
    assert PLATFORM_KEY not in caught.value.message


@pytest.mark.parametrize("user_header", ["X-User-Id", "x-user-id", "X-USER-ID"])
async def test_a_platform_key_with_act_as_user_may_name_the_user(user_header: str, ring: KeyRing) -> None:
    identity = await authenticate({"Authorization": f"Bearer {PLATFORM_KEY}", user_header: "user_42@example.com"}, ring)
    assert identity == Identity(
        tenant="market",
        key_id="k-platform",
        user="user_42@example.com",
        scopes=frozenset({"chat", "act_as_user"}),
        platform=True,
    )


async def test_without_x_user_id_a_platform_key_has_no_user(ring: KeyRing) -> None:
    assert (await authenticate({"x-api-key": PLATFORM_KEY}, ring)).user is None


@pytest.mark.parametrize("key", [APP_KEY, USER_KEY, PLATFORM_NO_ACT, TENANT_ACT])
async def test_x_user_id_with_any_other_key_is_403_naming_the_header(key: str, ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        await authenticate({"x-api-key": key, "X-User-Id": "bob"}, ring)
    assert caught.value.status == 403
    assert "X-User-Id" in caught.value.message
    assert "act_as_user" in caught.value.message


async def test_x_user_id_with_an_unknown_key_is_still_401(ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        await authenticate({"x-api-key": "gw-nope", "X-User-Id": "bob"}, ring)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "user",
    ["", "   ", "a" * 129, "a/b", "a|b", "a b", "名前", "..", ".", "__admin__", "bob;drop", "x\ty", "%2e%2e"],
)
async def test_an_invalid_user_id_is_400_naming_the_header(user: str, ring: KeyRing) -> None:
    with pytest.raises(RequestError) as caught:
        await authenticate({"x-api-key": PLATFORM_KEY, "X-User-Id": user}, ring)
    assert caught.value.status == 400
    assert caught.value.field == "X-User-Id"
    assert "X-User-Id" in caught.value.message


@pytest.mark.parametrize("user", ["a", "a" * 128, "u-1.2_3:4@x+y", "550e8400-e29b-41d4-a716-446655440000", "_x_"])
async def test_valid_user_ids(user: str, ring: KeyRing) -> None:
    assert (await authenticate({"x-api-key": PLATFORM_KEY, "X-User-Id": user}, ring)).user == user


async def test_conflicting_repeated_x_user_id_is_400(ring: KeyRing) -> None:
    headers = Headers(raw=[(b"x-api-key", PLATFORM_KEY.encode()), (b"x-user-id", b"alice"), (b"x-user-id", b"bob")])
    with pytest.raises(RequestError) as caught:
        await authenticate(headers, ring)
    assert caught.value.field == "X-User-Id"


# ------------------------------------------------------------------------------------------ scopes


async def test_a_key_with_the_routes_scope_passes(ring: KeyRing) -> None:
    identity = await authenticate({"x-api-key": APP_KEY}, ring, scope="analytics")
    assert identity.can("analytics")


@pytest.mark.parametrize(("key", "scope"), [(APP_KEY, "keys"), (USER_KEY, "admin"), (PLATFORM_KEY, "analytics")])
async def test_a_key_without_the_routes_scope_is_403_naming_it(key: str, scope: str, ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        await authenticate({"x-api-key": key}, ring, scope=scope)
    assert caught.value.status == 403
    assert repr(scope) in caught.value.message


async def test_an_unknown_key_is_401_before_any_scope_check(ring: KeyRing) -> None:
    with pytest.raises(AuthError) as caught:
        await authenticate({"x-api-key": "gw-nope"}, ring, scope="admin")
    assert caught.value.status == 401


async def test_an_unknown_route_scope_is_a_programming_error(ring: KeyRing) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        await authenticate({"x-api-key": APP_KEY}, ring, scope="root")


# ------------------------------------------------------------------------------------- any lookup


class Failing:
    """A `KeyLookup` that cannot answer: its error reaches the caller as it is (no 401 in its place)."""

    async def find(self, key: str) -> KeyRecord | None:
        raise GatewayError("key store unavailable", status=503)


class Revoking:
    """A `KeyLookup` whose keys are all revoked: it answers None, like an unknown key."""

    async def find(self, key: str) -> KeyRecord | None:
        return None


async def test_a_lookup_that_cannot_answer_is_its_error_not_a_401() -> None:
    lookup: KeyLookup = Failing()
    with pytest.raises(GatewayError) as caught:
        await authenticate({"x-api-key": APP_KEY}, lookup)
    assert caught.value.status == 503


async def test_a_revoked_key_is_401() -> None:
    with pytest.raises(AuthError) as caught:
        await authenticate({"x-api-key": APP_KEY}, Revoking())
    assert caught.value.status == 401
    assert "revoked" in caught.value.message


@pytest.mark.parametrize("value", ["app-1", "a", "x" * 128, "u@x.y"])
def test_valid_ids(value: str) -> None:
    assert valid_id(value)


@pytest.mark.parametrize("value", ["", "a|b", "a/b", "..", "__x__", "x" * 129])
def test_invalid_ids(value: str) -> None:
    assert not valid_id(value)
