"""Fixtures for the cache tests: one real redis-server per session, a key prefix per test, own servers to kill.

The session server (or the Redis REDIS_URL names) is shared, so tests never FLUSHALL: each test writes
under its own random `key_prefix`, and the `redis_cache` fixture deletes that prefix's keys afterwards.
Tests that kill, pause or reconfigure Redis use `own_redis`, a server of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from shared.cache.redis_cache import RedisCache
from tests import redis_server
from tests.cache import RELAXED_TIMEOUT, delete_prefix
from tests.redis_server import RedisServer, run_redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server.redis_url() as url:
        yield url


@pytest.fixture
def key_prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis_cache(redis_url: str, key_prefix: str) -> AsyncIterator[RedisCache]:
    cache = RedisCache.from_url(redis_url, timeout=RELAXED_TIMEOUT, connect_timeout=RELAXED_TIMEOUT)
    yield cache
    await cache.close()
    await delete_prefix(redis_url, key_prefix)


@pytest.fixture
async def raw_redis(redis_url: str, key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client on the same Redis, to look behind the adapter (PTTL, stray values)."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()
    await delete_prefix(redis_url, key_prefix)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with run_redis_server(tmp_path) as server:
        yield server
