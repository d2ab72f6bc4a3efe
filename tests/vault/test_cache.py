"""The decrypted-key cache: TTL on the fake clock, LRU bound, eviction, and fills racing an eviction."""

from __future__ import annotations

import pytest

from shared.vault.cache import SecretCache
from tests.fakes import FakeClock

A = ("app1", "alice", "pk_a")
B = ("app1", "bob", "pk_b")
C = ("app1", None, "pk_c")


def test_ttl() -> None:
    clock = FakeClock()
    cache = SecretCache(clock, ttl=10.0, size=10)
    cache.put(A, "secret-a", cache.ticket())
    clock.advance(9.99)
    assert cache.get(A) == "secret-a"
    clock.advance(0.01)
    assert cache.get(A) is None
    assert len(cache) == 0


def test_owner_is_part_of_the_key() -> None:
    cache = SecretCache(FakeClock(), ttl=10.0, size=10)
    cache.put(A, "secret-a", cache.ticket())
    assert cache.get(("app1", "bob", "pk_a")) is None
    assert cache.get(("app2", "alice", "pk_a")) is None


def test_least_recently_used_goes_first() -> None:
    cache = SecretCache(FakeClock(), ttl=10.0, size=2)
    cache.put(A, "a", cache.ticket())
    cache.put(B, "b", cache.ticket())
    assert cache.get(A) == "a"
    cache.put(C, "c", cache.ticket())
    assert (cache.get(A), cache.get(B), cache.get(C)) == ("a", None, "c")


def test_evict_and_a_fill_that_started_before_it() -> None:
    cache = SecretCache(FakeClock(), ttl=10.0, size=10)
    cache.put(A, "old", cache.ticket())
    ticket = cache.ticket()  # a decrypt begins
    cache.evict(A)  # a rotation lands meanwhile
    cache.put(A, "old", ticket)  # the decrypt's stale result
    assert cache.get(A) is None
    cache.put(A, "new", cache.ticket())
    assert cache.get(A) == "new"


def test_repr_shows_no_secret() -> None:
    cache = SecretCache(FakeClock(), ttl=10.0, size=10)
    cache.put(A, "sk-very-secret", cache.ticket())
    assert "sk-very-secret" not in repr(cache)


@pytest.mark.parametrize(("ttl", "size"), [(0.0, 1), (1.0, 0)])
def test_bounds_must_be_positive(ttl: float, size: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        SecretCache(FakeClock(), ttl=ttl, size=size)
