"""LimitsStore on the document store (SQLite and the Firestore emulator, the store contract's fixtures):
one document per scope, merged updates with a growing version, concurrent updates that lose nothing
(SQLite: the emulator does not isolate transactions); and LimitsCache over it: answers from memory while
fresh, one read per stale scope shared by concurrent callers, a change seen by another instance after the
refresh interval (fake clock), the last known limits through a store outage, 503 for a scope never read."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import pytest

from shared.errors import GatewayError, RequestError
from shared.identity import Identity
from shared.limits.config import Limits, LimitScope
from shared.limits.store import LIMITS_COLLECTION, UNAVAILABLE_MESSAGE, LimitsCache, LimitsStore
from shared.store import DocumentStore, SqliteStore
from shared.store.port import Document, StoreUnavailable
from tests.fakes import FakeClock
from tests.store.conftest import firestore_host, firestore_store, sqlite_store, store

__all__ = ["firestore_host", "firestore_store", "sqlite_store", "store"]  # the fixtures, for pytest

TENANT = LimitScope(tenant_id="acme")
USER = LimitScope(tenant_id="acme", user_id="bob")
KEY = LimitScope(tenant_id="acme", key_id="gk_k1")
BOB = Identity(tenant="acme", key_id="gk_k1", user="bob", scopes=frozenset({"chat"}))


def limits(**fields: Any) -> Limits:
    return Limits.model_validate(fields)


class Switchable:
    """A real store that counts `get`s and can be made to fail like an unreachable one (`down`)."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.down = False
        self.gets: list[str] = []
        self.gate: asyncio.Event | None = None  # when set, gets wait for it (concurrent callers overlap)

    async def get(self, collection: str, doc_id: str) -> Document | None:
        self.gets.append(doc_id)
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise StoreUnavailable("store down (test)")
        return await self.inner.get(collection, doc_id)

    async def list(self, collection: str) -> dict[str, Document]:
        return await self.inner.list(collection)

    async def set(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        await self.inner.set(collection, doc_id, doc)

    async def create(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> bool:
        return await self.inner.create(collection, doc_id, doc)

    async def put_if_newer(
        self, collection: str, doc_id: str, doc: Mapping[str, Any], *, must_exist: bool = False
    ) -> bool:
        return await self.inner.put_if_newer(collection, doc_id, doc, must_exist=must_exist)

    async def delete(self, collection: str, doc_id: str) -> None:
        await self.inner.delete(collection, doc_id)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=1_767_225_600.0)  # 2026-01-01T00:00:00Z


@pytest.fixture
def switch(store: DocumentStore) -> Switchable:
    return Switchable(store)


@pytest.fixture
def limits_store(switch: Switchable, clock: FakeClock) -> LimitsStore:
    return LimitsStore(switch, clock)


# --- the store -------------------------------------------------------------------------------------


async def test_update_merges_and_versions(limits_store: LimitsStore, store: DocumentStore, clock: FakeClock) -> None:
    assert await limits_store.get(USER) is None
    before, first = await limits_store.update(USER, limits(requestsPerMinute=60, dailyBudgetUsd=5), actor="gk_a")
    assert before is None
    assert (first.version, first.updated_by, first.updated_at) == (1, "gk_a", "2026-01-01T00:00:00+00:00")
    clock.advance(60)
    before, second = await limits_store.update(USER, limits(requestsPerMinute=None, tokensPerMinute=900), actor="gk_b")
    assert before == first
    assert second.version == 2
    assert second.limits == limits(tokensPerMinute=900, dailyBudgetUsd=5)
    assert await limits_store.get(USER) == second
    # One document per scope, budgets in micro-USD.
    doc = await store.get(LIMITS_COLLECTION, "user|acme|bob")
    assert doc is not None
    assert doc["version"] == 2
    assert doc["limits"] == {
        "requests_per_minute": None,
        "tokens_per_minute": 900,
        "daily_budget_micros": 5_000_000,
        "monthly_budget_micros": None,
    }


async def test_scopes_are_separate_documents(limits_store: LimitsStore) -> None:
    await limits_store.update(TENANT, limits(monthlyBudgetUsd=100), actor="gk_a")
    await limits_store.update(KEY, limits(requestsPerMinute=5), actor="gk_a")
    tenant, user, key = await limits_store.get_many([TENANT, USER, KEY])
    assert tenant is not None
    assert tenant.limits == limits(monthlyBudgetUsd=100)
    assert user is None
    assert key is not None
    assert key.limits == limits(requestsPerMinute=5)
    assert await limits_store.get(LimitScope(tenant_id="other")) is None


async def test_removing_every_limit_keeps_the_document_and_its_version(limits_store: LimitsStore) -> None:
    await limits_store.update(KEY, limits(requestsPerMinute=5), actor="gk_a")
    _, after = await limits_store.update(KEY, limits(requestsPerMinute=None), actor="gk_a")
    assert after.version == 2
    assert after.limits.empty
    assert await limits_store.get(KEY) == after


async def test_concurrent_updates_lose_nothing(sqlite_store: SqliteStore, clock: FakeClock) -> None:
    limits_store = LimitsStore(sqlite_store, clock)
    fields = ["requestsPerMinute", "tokensPerMinute", "dailyBudgetUsd", "monthlyBudgetUsd"]
    await asyncio.gather(*(limits_store.update(TENANT, limits(**{field: 7}), actor="gk_a") for field in fields))
    record = await limits_store.get(TENANT)
    assert record is not None
    assert record.version == 4
    assert record.limits == limits(**dict.fromkeys(fields, 7))


async def test_an_update_that_keeps_losing_is_a_conflict(sqlite_store: SqliteStore, clock: FakeClock) -> None:
    class Losing(Switchable):
        async def put_if_newer(
            self, collection: str, doc_id: str, doc: Mapping[str, Any], *, must_exist: bool = False
        ) -> bool:
            return False

    with pytest.raises(RequestError, match="concurrently") as error:
        await LimitsStore(Losing(sqlite_store), clock).update(TENANT, limits(requestsPerMinute=1), actor="gk_a")
    assert error.value.status == 409


# --- the cache -------------------------------------------------------------------------------------


async def test_fresh_answers_come_from_memory(limits_store: LimitsStore, switch: Switchable, clock: FakeClock) -> None:
    await limits_store.update(TENANT, limits(monthlyBudgetUsd=100), actor="gk_a")
    await limits_store.update(KEY, limits(requestsPerMinute=5), actor="gk_a")
    cache = LimitsCache(limits_store, clock=clock, refresh_seconds=5)
    switch.gets.clear()
    first = await cache.applicable(BOB)
    # Tenant and key bind (the user has no record): each on its own, in tenant, user, key order.
    assert [r.scope.kind for r in first] == ["tenant", "key"]
    assert sorted(switch.gets) == ["key|acme|gk_k1", "tenant|acme", "user|acme|bob"]
    for _ in range(100):
        clock.advance(0.04)
        assert await cache.applicable(BOB) == first
    assert len(switch.gets) == 3  # no store round trip while fresh, absent scopes included
    clock.advance(1.1)
    await cache.applicable(BOB)
    assert len(switch.gets) == 6  # stale: each scope read once more


async def test_a_change_reaches_another_instance_within_the_refresh_interval(
    limits_store: LimitsStore, switch: Switchable, clock: FakeClock
) -> None:
    here = LimitsCache(limits_store, clock=clock, refresh_seconds=5)
    there = LimitsCache(LimitsStore(switch, clock), clock=clock, refresh_seconds=5)
    assert await there.applicable(BOB) == ()  # unlimited
    _, record = await limits_store.update(USER, limits(tokensPerMinute=1000), actor="gk_a")
    here.remember(record)
    assert await here.applicable(BOB) == (record,)  # the writer's instance: at once
    clock.advance(4.9)
    assert await there.applicable(BOB) == ()  # the other: not before its refresh...
    clock.advance(0.2)
    assert await there.applicable(BOB) == (record,)  # ...and right after it


async def test_concurrent_callers_share_one_read(
    limits_store: LimitsStore, switch: Switchable, clock: FakeClock
) -> None:
    cache = LimitsCache(limits_store, clock=clock)
    switch.gate = asyncio.Event()
    callers = [asyncio.ensure_future(cache.applicable(BOB)) for _ in range(20)]
    await asyncio.sleep(0)
    switch.gate.set()
    assert await asyncio.gather(*callers) == [()] * 20
    assert sorted(switch.gets) == ["key|acme|gk_k1", "tenant|acme", "user|acme|bob"]


async def test_a_caller_that_gives_up_does_not_cancel_the_shared_read(
    limits_store: LimitsStore, switch: Switchable, clock: FakeClock
) -> None:
    await limits_store.update(TENANT, limits(requestsPerMinute=3), actor="gk_a")
    cache = LimitsCache(limits_store, clock=clock)
    switch.gate = asyncio.Event()
    quitter = asyncio.ensure_future(cache.applicable(BOB))
    stayer = asyncio.ensure_future(cache.applicable(BOB))
    await asyncio.sleep(0)
    quitter.cancel()
    switch.gate.set()
    assert [r.scope.kind for r in await stayer] == ["tenant"]
    assert quitter.cancelled()


async def test_an_outage_keeps_the_last_known_limits(
    limits_store: LimitsStore, switch: Switchable, clock: FakeClock
) -> None:
    _, record = await limits_store.update(TENANT, limits(dailyBudgetUsd=1), actor="gk_a")
    cache = LimitsCache(limits_store, clock=clock, refresh_seconds=5, retry_seconds=1)
    assert await cache.applicable(BOB) == (record,)
    switch.down = True
    clock.advance(6)
    switch.gets.clear()
    assert await cache.applicable(BOB) == (record,)  # stale, store down: the last known limits
    assert len(switch.gets) == 3
    for _ in range(9):
        clock.advance(0.1)
        assert await cache.applicable(BOB) == (record,)
    assert len(switch.gets) == 3  # retried once per retry interval, not once per request
    clock.advance(0.2)
    await cache.applicable(BOB)
    assert len(switch.gets) == 6
    # Someone never seen cannot be answered: 503, never "unlimited".
    stranger = Identity(tenant="acme", key_id="gk_new")
    with pytest.raises(GatewayError, match=re.escape(UNAVAILABLE_MESSAGE)) as error:
        await cache.applicable(stranger)
    assert error.value.status == 503
    # Back up: the next refresh sees the store again.
    switch.down = False
    _, newer = await limits_store.update(TENANT, limits(dailyBudgetUsd=2), actor="gk_a")
    clock.advance(1.1)
    assert await cache.applicable(BOB) == (newer,)
    assert await cache.applicable(stranger) == (newer,)


async def test_an_older_read_never_replaces_a_newer_record(limits_store: LimitsStore, clock: FakeClock) -> None:
    _, old = await limits_store.update(KEY, limits(requestsPerMinute=1), actor="gk_a")
    cache = LimitsCache(limits_store, clock=clock)
    _, new = await limits_store.update(KEY, limits(requestsPerMinute=2), actor="gk_a")
    cache.remember(new)
    cache.remember(old)  # e.g. a slow read that started before the write
    assert await cache.records([KEY]) == [new]


async def test_a_document_deleted_by_hand_reads_as_no_limits(
    limits_store: LimitsStore, store: DocumentStore, clock: FakeClock
) -> None:
    _, record = await limits_store.update(KEY, limits(requestsPerMinute=1), actor="gk_a")
    cache = LimitsCache(limits_store, clock=clock)
    assert await cache.applicable(BOB) == (record,)
    await store.delete(LIMITS_COLLECTION, KEY.doc_id)
    clock.advance(5.1)
    assert await cache.applicable(BOB) == ()


async def test_the_cache_is_bounded(limits_store: LimitsStore, clock: FakeClock) -> None:
    cache = LimitsCache(limits_store, clock=clock, max_entries=4)
    for n in range(5):
        await cache.applicable(Identity(tenant=f"t{n}", key_id="gk_1"))
    assert len(cache) == 4


def test_the_cache_refuses_bad_settings(limits_store: LimitsStore, clock: FakeClock) -> None:
    for bad in ({"refresh_seconds": 0.0}, {"retry_seconds": -1.0}, {"max_entries": 2}):
        with pytest.raises(ValueError, match="positive intervals"):
            LimitsCache(limits_store, clock=clock, **bad)


async def test_a_scope_with_every_limit_removed_binds_nothing(limits_store: LimitsStore, clock: FakeClock) -> None:
    cache = LimitsCache(limits_store, clock=clock)
    _, some = await limits_store.update(KEY, limits(requestsPerMinute=5), actor="gk_a")
    cache.remember(some)
    await cache.records([LimitScope(tenant_id="acme"), USER])
    assert await cache.applicable(BOB) == (some,)  # fresh: answered from memory
    _, none = await limits_store.update(KEY, limits(requestsPerMinute=None), actor="gk_a")
    cache.remember(none)
    assert await cache.applicable(BOB) == ()
    assert await cache.records([KEY]) == [none]


async def test_while_a_known_scope_is_reread_other_callers_do_not_wait(
    limits_store: LimitsStore, switch: Switchable, clock: FakeClock
) -> None:
    _, record = await limits_store.update(TENANT, limits(requestsPerMinute=3), actor="gk_a")
    cache = LimitsCache(limits_store, clock=clock)
    assert await cache.applicable(BOB) == (record,)
    clock.advance(6)
    switch.gate = asyncio.Event()  # the store hangs
    first = asyncio.ensure_future(cache.applicable(BOB))
    await asyncio.sleep(0)
    assert not first.done()  # the caller that started the re-read waits for it...
    assert await asyncio.wait_for(cache.applicable(BOB), 1) == (record,)  # ...the others answer at once
    switch.gate.set()
    assert await first == (record,)


async def test_a_damaged_document_keeps_the_last_known_limits(
    limits_store: LimitsStore, store: DocumentStore, clock: FakeClock
) -> None:
    _, record = await limits_store.update(TENANT, limits(requestsPerMinute=3), actor="gk_a")
    cache = LimitsCache(limits_store, clock=clock)
    assert await cache.applicable(BOB) == (record,)
    await store.set(LIMITS_COLLECTION, TENANT.doc_id, {"scope": "broken"})
    clock.advance(6)
    assert await cache.applicable(BOB) == (record,)
    fresh = LimitsCache(limits_store, clock=clock)
    with pytest.raises(GatewayError, match=re.escape(UNAVAILABLE_MESSAGE)):
        await fresh.applicable(BOB)
