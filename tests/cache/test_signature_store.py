"""CacheSignatureStore: the thoughtSignature store on the cache port; tenant isolation, keys, the 24 h TTL."""

from __future__ import annotations

import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st

from shared.cache.memory import MemoryCache
from shared.cache.redis_cache import RedisCache
from shared.cache.signature_store import CacheSignatureStore, signature_key
from shared.providers.signatures import DEFAULT_TTL_SECONDS, SignatureStore, attach_signatures, remember_signatures
from shared.unified import ChatRequest, Message, ToolCall
from tests.cache import RELAXED_TIMEOUT, FakeClock


def test_keys_are_versioned_and_escape_the_separator() -> None:
    assert signature_key("tenant-a", "call_1") == "v1:sig:tenant-a:call_1"
    assert signature_key("a:b", "c") == "v1:sig:a%3Ab:c"
    assert signature_key("a", "b:c") == "v1:sig:a:b%3Ac"
    assert signature_key("a%3Ab", "c") == "v1:sig:a%253Ab:c"


@given(st.tuples(st.text(), st.text()), st.tuples(st.text(), st.text()))
def test_distinct_tenant_and_call_pairs_never_share_a_key(one: tuple[str, str], other: tuple[str, str]) -> None:
    if one != other:
        assert signature_key(*one) != signature_key(*other)


async def test_round_trip_and_tenant_isolation_in_memory() -> None:
    store: SignatureStore = CacheSignatureStore(MemoryCache(100, FakeClock()))
    await store.put_many("tenant-a", {"call_1": "SIG-A", "call_2": "SIG-A2"})
    await store.put_many("tenant-b", {"call_1": "SIG-B"})
    assert await store.get_many("tenant-a", ["call_1", "call_2", "call_3"]) == {"call_1": "SIG-A", "call_2": "SIG-A2"}
    assert await store.get_many("tenant-b", ["call_1", "call_2"]) == {"call_1": "SIG-B"}
    assert await store.get_many("tenant-c", ["call_1"]) == {}
    assert await store.get_many("tenant-a", []) == {}


async def test_a_colon_in_a_tenant_cannot_reach_another_tenants_entry() -> None:
    store = CacheSignatureStore(MemoryCache(100, FakeClock()))
    await store.put_many("a", {"b:c": "SIG"})
    assert await store.get_many("a:b", ["c"]) == {}


async def test_entries_last_24_hours() -> None:
    clock = FakeClock()
    store = CacheSignatureStore(MemoryCache(100, clock))
    await store.put_many("t", {"c": "S"})
    clock.advance(DEFAULT_TTL_SECONDS - 1)
    assert await store.get_many("t", ["c"]) == {"c": "S"}
    clock.advance(1)
    assert await store.get_many("t", ["c"]) == {}


async def test_a_value_that_is_not_utf8_reads_as_absent() -> None:
    cache = MemoryCache(100, FakeClock())
    await cache.set(signature_key("t", "c"), b"\xff\xfe", 60)
    assert await CacheSignatureStore(cache).get_many("t", ["c"]) == {}


async def test_on_redis_one_instance_remembers_and_another_attaches(
    redis_url: str, raw_redis: aioredis.Redis, key_prefix: str
) -> None:
    tenant, intruder = f"{key_prefix}acme", f"{key_prefix}other"  # unique per test run
    first_cache, second_cache = (RedisCache.from_url(redis_url, timeout=RELAXED_TIMEOUT) for _ in range(2))
    first, second = CacheSignatureStore(first_cache), CacheSignatureStore(second_cache)
    try:
        await remember_signatures([ToolCall("call_1", "weather", "{}", "EqUC-signature")], first, tenant)
        request = ChatRequest(
            model="gemini-2.5-flash",
            messages=(
                Message(role="user", content="weather?"),
                Message(role="assistant", tool_calls=(ToolCall("call_1", "weather", "{}"),)),
                Message(role="tool", tool_call_id="call_1", content="18C"),
            ),
        )
        filled = await attach_signatures(request, second, tenant)
        assert filled.messages[1].tool_calls[0].thought_signature == "EqUC-signature"
        assert await attach_signatures(request, second, intruder) is request

        pttl = await raw_redis.pttl(signature_key(tenant, "call_1"))
        assert (DEFAULT_TTL_SECONDS - 5) * 1000 < pttl <= DEFAULT_TTL_SECONDS * 1000
    finally:
        await first_cache.close()
        await second_cache.close()
        await raw_redis.delete(signature_key(tenant, "call_1"))  # outside key_prefix: the key is escaped
