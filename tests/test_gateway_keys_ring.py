"""The cached key ring of the hot path (shared/keys_ring.py), on a SQLite store behind `FlakyStore` (counts
the calls, can go down) and a fake clock: one store read per key per TTL, found or not; a revocation
seen at once where it was made and after the TTL elsewhere; the store down is a 503 for uncached keys
only; the caches are bounded, negatives apart; and `authenticate` over the ring."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.auth import KeyRecord, authenticate
from shared.errors import AuthError
from shared.gateway_keys import GatewayKeyStore
from shared.keys_ring import KeyStoreUnavailable, StoreKeyRing
from shared.store import SqliteStore
from tests.breakers import FlakyStore
from tests.fakes import FakeClock

SALT = "ring-test-salt"


@pytest.fixture
async def flaky(tmp_path: Path) -> AsyncIterator[FlakyStore]:
    store = FlakyStore(SqliteStore(tmp_path / "store.sqlite3"))
    yield store
    await store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def ring_on(flaky: FlakyStore, clock: FakeClock, **options: int) -> StoreKeyRing:
    """One instance's ring (each instance has its own cache over the shared store)."""
    return StoreKeyRing(GatewayKeyStore(flaky, SALT, clock), clock=clock, ttl_seconds=30, **options)


def gets(flaky: FlakyStore) -> int:
    return flaky.calls.count("get")


async def test_a_known_key_costs_one_store_read_per_ttl(flaky: FlakyStore, clock: FakeClock) -> None:
    ring = ring_on(flaky, clock)
    meta, key = await ring.keys.create("app-1")
    before = gets(flaky)
    for _ in range(50):
        record = await ring.find(key)
        assert record is not None
        assert record.key_id == meta.key_id
    assert gets(flaky) == before + 1
    clock.advance(29.9)
    await ring.find(key)
    assert gets(flaky) == before + 1
    clock.advance(0.2)
    await ring.find(key)
    assert gets(flaky) == before + 2


async def test_an_unknown_key_is_cached_as_unknown_for_the_ttl(flaky: FlakyStore, clock: FakeClock) -> None:
    ring = ring_on(flaky, clock)
    for _ in range(10):
        assert await ring.find("gw_made-up") is None
    assert gets(flaky) == 1
    clock.advance(31)
    assert await ring.find("gw_made-up") is None
    assert gets(flaky) == 2


async def test_empty_or_oversized_keys_never_reach_the_store(flaky: FlakyStore, clock: FakeClock) -> None:
    ring = ring_on(flaky, clock)
    assert await ring.find("") is None
    assert await ring.find("x" * 513) is None
    assert flaky.calls == []
    assert len(ring) == 0


async def test_revoked_elsewhere_stops_after_the_ttl(flaky: FlakyStore, clock: FakeClock) -> None:
    here, there = ring_on(flaky, clock), ring_on(flaky, clock)
    meta, key = await here.keys.create("app-1")
    assert await here.find(key) is not None
    assert await there.find(key) is not None
    assert await here.revoke(meta.key_id) is True
    assert await here.find(key) is None  # the instance that revoked: at once
    clock.advance(29)
    assert await there.find(key) is not None  # another instance: until its entry expires
    clock.advance(2)
    assert await there.find(key) is None


async def test_a_lookup_in_flight_during_a_revoke_does_not_cache_the_old_answer(
    flaky: FlakyStore, clock: FakeClock
) -> None:
    ring = ring_on(flaky, clock)
    meta, key = await ring.keys.create("app-1")
    real_lookup = ring.keys.lookup

    async def revoked_meanwhile(digest: str) -> KeyRecord | None:
        found = await real_lookup(digest)
        await ring.revoke(meta.key_id)  # lands while the read's answer is on its way
        return found

    ring.keys.lookup = revoked_meanwhile  # type: ignore[method-assign]
    assert await ring.find(key) is not None  # that request was already past the check
    ring.keys.lookup = real_lookup  # type: ignore[method-assign]
    assert await ring.find(key) is None


async def test_store_down_cached_keys_work_until_the_ttl_others_are_503(flaky: FlakyStore, clock: FakeClock) -> None:
    ring = ring_on(flaky, clock)
    _, key = await ring.keys.create("app-1")
    assert await ring.find(key) is not None
    assert await ring.find("gw_unknown") is None
    flaky.down = True
    assert await ring.find(key) is not None
    assert await ring.find("gw_unknown") is None
    with pytest.raises(KeyStoreUnavailable) as caught:
        await ring.find("gw_never-seen")
    assert caught.value.status == 503
    assert "key store unavailable" in caught.value.message
    assert "gw_never-seen" not in caught.value.message
    clock.advance(31)
    with pytest.raises(KeyStoreUnavailable):
        await ring.find(key)
    flaky.down = False
    assert await ring.find(key) is not None


async def test_the_caches_are_bounded_and_unknown_keys_cannot_evict_known_ones(
    flaky: FlakyStore, clock: FakeClock
) -> None:
    ring = ring_on(flaky, clock, max_entries=3, max_negative=2)
    made = [(await ring.keys.create("app-1"))[1] for _ in range(4)]
    for key in made:
        await ring.find(key)
    for n in range(20):
        await ring.find(f"gw_flood-{n}")
    assert len(ring) == 5
    before = gets(flaky)
    for key in made[1:]:
        assert await ring.find(key) is not None
    assert gets(flaky) == before  # the three most recent known keys survived the flood
    assert await ring.find(made[0]) is not None
    assert gets(flaky) == before + 1  # the oldest was evicted by the bound


async def test_recently_used_entries_stay(flaky: FlakyStore, clock: FakeClock) -> None:
    ring = ring_on(flaky, clock, max_entries=2)
    a, b, c = [(await ring.keys.create("app-1"))[1] for _ in range(3)]
    await ring.find(a)
    await ring.find(b)
    await ring.find(a)  # a is now the most recent
    await ring.find(c)  # evicts b
    before = gets(flaky)
    await ring.find(a)
    assert gets(flaky) == before
    await ring.find(b)
    assert gets(flaky) == before + 1


def test_options_are_checked_and_nothing_secret_is_shown(flaky: FlakyStore, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="TTL"):
        StoreKeyRing(GatewayKeyStore(flaky, SALT, clock), clock=clock, ttl_seconds=0)
    with pytest.raises(ValueError, match="bounds"):
        StoreKeyRing(GatewayKeyStore(flaky, SALT, clock), clock=clock, max_negative=0)
    assert SALT not in repr(ring_on(flaky, clock))


async def test_authenticate_over_the_ring(flaky: FlakyStore, clock: FakeClock) -> None:
    ring = ring_on(flaky, clock)
    platform, platform_key = await ring.keys.create("market", scopes=frozenset({"chat", "act_as_user"}), platform=True)
    _, chat_key = await ring.keys.create("app-1", user="alice")
    identity = await authenticate({"Authorization": f"Bearer {platform_key}", "X-User-Id": "bob"}, ring, scope="chat")
    assert (identity.tenant, identity.key_id, identity.user, identity.platform) == (
        "market",
        platform.key_id,
        "bob",
        True,
    )
    assert (await authenticate({"x-api-key": chat_key}, ring, scope="chat")).user == "alice"
    with pytest.raises(AuthError) as forbidden:
        await authenticate({"x-api-key": chat_key}, ring, scope="keys")
    assert forbidden.value.status == 403
    with pytest.raises(AuthError) as acting:
        await authenticate({"x-api-key": chat_key, "X-User-Id": "bob"}, ring)
    assert acting.value.status == 403
    await ring.revoke(platform.key_id)
    with pytest.raises(AuthError) as revoked:
        await authenticate({"x-api-key": platform_key}, ring)
    assert revoked.value.status == 401
    flaky.down = True
    with pytest.raises(KeyStoreUnavailable):
        await authenticate({"x-api-key": "gw_new-to-this-instance"}, ring)
