"""Fixtures for the cache tests: one real redis-server per session, a key prefix per test, own servers to kill.

The session server (or the Redis REDIS_URL names) is shared, so tests never FLUSHALL: each test writes
under its own random `key_prefix`, and the `redis_cache` fixture deletes that prefix's keys afterwards.
`redis_url`, `raw_redis` and `own_redis` (a server of a test's own, to kill or pause) come from tests/conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.cache.redis_cache import RedisCache
from tests.cache import RELAXED_TIMEOUT, delete_prefix


@pytest.fixture
def key_prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis_cache(redis_url: str, key_prefix: str) -> AsyncIterator[RedisCache]:
    cache = RedisCache.from_url(redis_url, timeout=RELAXED_TIMEOUT, connect_timeout=RELAXED_TIMEOUT)
    yield cache
    await cache.close()
    await delete_prefix(redis_url, key_prefix)
