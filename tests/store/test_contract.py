"""The document store contract: every test runs against each adapter (SQLite and the Firestore emulator).

The concurrent-create test holds on the emulator too: a document create is a single RPC that the
emulator checks against its state. Concurrent `put_if_newer` is not in the contract suite: the emulator
does not isolate transactions (tests/store/test_sqlite.py covers it on SQLite).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.store import DocumentStore

NESTED: dict[str, Any] = {
    "name": "ünïcødé ✓ 日本語",
    "ratio": 0.125,
    "big": 2**53 - 1,  # the emulator fails past 2^53 (JavaScript numbers); Firestore and SQLite hold int64
    "negative": -7,
    "on": True,
    "off": False,
    "nothing": None,
    "list": [1, "two", 3.5, None, False, {"inner": [1, 2]}],
    "empty_list": [],
    "empty_map": {},
    "map": {"deep": {"deeper": {"value": "x", "numbers": [0.1, 0.2]}}, "key.with:dots": 1},
}


async def test_get_absent_is_none(store: DocumentStore) -> None:
    assert await store.get("breakers", "route:openai:gpt-4o") is None


async def test_set_then_get_round_trips_nested_json(store: DocumentStore) -> None:
    await store.set("breakers", "route:openai:gpt-4.1", NESTED)
    got = await store.get("breakers", "route:openai:gpt-4.1")
    assert got == NESTED
    assert got is not None
    assert type(got["ratio"]) is float
    assert type(got["big"]) is int
    assert type(got["on"]) is bool


async def test_set_replaces_the_whole_document(store: DocumentStore) -> None:
    await store.set("breakers", "a", {"state": "open", "version": 3, "extra": 1})
    await store.set("breakers", "a", {"state": "closed"})
    assert await store.get("breakers", "a") == {"state": "closed"}


async def test_list_returns_every_document_of_one_collection(store: DocumentStore) -> None:
    await store.set("breakers", "a", {"n": 1})
    await store.set("breakers", "b", {"n": 2})
    await store.set("leases", "a", {"n": 3})
    assert await store.list("breakers") == {"a": {"n": 1}, "b": {"n": 2}}
    assert await store.list("leases") == {"a": {"n": 3}}
    assert await store.list("nothing-here") == {}


async def test_create_if_absent_keeps_the_first_document(store: DocumentStore) -> None:
    assert await store.create("leases", "probe", {"owner": "first"}) is True
    assert await store.create("leases", "probe", {"owner": "second"}) is False
    assert await store.get("leases", "probe") == {"owner": "first"}


async def test_concurrent_creates_have_exactly_one_winner(store: DocumentStore) -> None:
    results = await asyncio.gather(*(store.create("leases", "probe", {"owner": n}) for n in range(10)))
    assert sorted(results) == [False] * 9 + [True]
    stored = await store.get("leases", "probe")
    assert stored == {"owner": results.index(True)}


async def test_put_if_newer_writes_when_absent(store: DocumentStore) -> None:
    assert await store.put_if_newer("breakers", "a", {"version": 1, "state": "open"}) is True
    assert await store.get("breakers", "a") == {"version": 1, "state": "open"}


@pytest.mark.parametrize("version", [1, 5])
async def test_put_if_newer_refuses_an_equal_or_older_version(store: DocumentStore, version: int) -> None:
    await store.put_if_newer("breakers", "a", {"version": 5, "state": "open"})
    assert await store.put_if_newer("breakers", "a", {"version": version, "state": "closed"}) is False
    assert await store.get("breakers", "a") == {"version": 5, "state": "open"}


async def test_put_if_newer_writes_a_newer_version(store: DocumentStore) -> None:
    await store.put_if_newer("breakers", "a", {"version": 5, "state": "open"})
    assert await store.put_if_newer("breakers", "a", {"version": 6, "state": "half_open"}) is True
    assert await store.get("breakers", "a") == {"version": 6, "state": "half_open"}


async def test_put_if_newer_that_must_exist_never_recreates_a_deleted_document(store: DocumentStore) -> None:
    # An update racing a delete (a key rotated or re-wrapped as it is deleted) must not bring it back.
    assert await store.put_if_newer("provider_keys", "k", {"version": 1}, must_exist=True) is False
    assert await store.get("provider_keys", "k") is None
    await store.put_if_newer("provider_keys", "k", {"version": 1, "secret": "old"})
    assert await store.put_if_newer("provider_keys", "k", {"version": 1, "secret": "x"}, must_exist=True) is False
    assert await store.put_if_newer("provider_keys", "k", {"version": 2, "secret": "new"}, must_exist=True) is True
    assert await store.get("provider_keys", "k") == {"version": 2, "secret": "new"}
    await store.delete("provider_keys", "k")
    assert await store.put_if_newer("provider_keys", "k", {"version": 3, "secret": "late"}, must_exist=True) is False
    assert await store.get("provider_keys", "k") is None


async def test_put_if_newer_over_a_document_without_version_counts_it_as_zero(store: DocumentStore) -> None:
    await store.set("breakers", "a", {"state": "closed"})
    assert await store.put_if_newer("breakers", "a", {"version": 0, "state": "open"}) is False
    assert await store.put_if_newer("breakers", "a", {"version": 1, "state": "open"}) is True
    assert await store.get("breakers", "a") == {"version": 1, "state": "open"}


async def test_put_if_newer_replaces_the_whole_document(store: DocumentStore) -> None:
    await store.put_if_newer("breakers", "a", {"version": 1, "state": "half_open", "probe": {"owner": "i-1"}})
    assert await store.put_if_newer("breakers", "a", {"version": 2, "state": "closed"}) is True
    assert await store.get("breakers", "a") == {"version": 2, "state": "closed"}


@pytest.mark.parametrize("doc", [{"state": "open"}, {"version": "2"}, {"version": 2.0}, {"version": True}])
async def test_put_if_newer_needs_an_integer_version(store: DocumentStore, doc: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="version"):
        await store.put_if_newer("breakers", "a", doc)
    assert await store.get("breakers", "a") is None


async def test_delete_then_get_is_none(store: DocumentStore) -> None:
    await store.set("breakers", "a", {"n": 1})
    await store.set("breakers", "b", {"n": 2})
    await store.delete("breakers", "a")
    assert await store.get("breakers", "a") is None
    assert await store.list("breakers") == {"b": {"n": 2}}


async def test_delete_absent_is_fine(store: DocumentStore) -> None:
    await store.delete("breakers", "never-there")
    assert await store.get("breakers", "never-there") is None


async def test_expires_at_reads_back_as_the_same_epoch_seconds(store: DocumentStore) -> None:
    doc = {"scope": "s", "expires_at": 1_900_000_000.25, "nested": {"expires_at": 5}}
    await store.set("leases", "a", doc)
    assert await store.create("leases", "b", doc) is True
    await store.put_if_newer("leases", "c", {**doc, "version": 1})
    assert await store.get("leases", "a") == doc
    assert (await store.list("leases"))["b"] == doc
    assert await store.get("leases", "c") == {**doc, "version": 1}
