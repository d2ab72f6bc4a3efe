"""RedisCache against a real redis-server, plus unit tests of its configuration and its error handling.

Real server: get/set, binary and large values, TTL expiry with real short TTLs, MGET, delete, PTTL,
AUTH and TLS servers of their own, and Redis killed (then restarted on the same port) or frozen
mid-run: calls stay bounded, nothing raises, the breaker opens and the cache comes back by itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
import redis.exceptions as redis_errors
from redis.asyncio.connection import SSLConnection

from shared.cache.breaker import BreakerPolicy, CacheBreaker
from shared.cache.port import CachePort, TtlAwareCache
from shared.cache.redis_cache import DEFAULT_CONNECT_TIMEOUT, DEFAULT_OP_TIMEOUT, RedisCache, redis_pool_options
from tests.cache import RELAXED_TIMEOUT, FakeClock, state_of
from tests.redis_server import RedisServer, make_tls_files, run_redis_server

# --- against the shared test server ---


async def test_set_get_and_miss(redis_cache: RedisCache, key_prefix: str) -> None:
    port: CachePort = redis_cache
    await port.set(key_prefix + "a", b"hello", 60)
    assert await port.get(key_prefix + "a") == b"hello"
    assert await port.get(key_prefix + "missing") is None
    assert state_of(redis_cache.breaker) == "closed"


async def test_binary_and_large_values_round_trip(redis_cache: RedisCache, key_prefix: str) -> None:
    every_byte = bytes(range(256)) * 4  # NUL, CR LF, invalid UTF-8: the protocol is binary-safe
    large = b"x" * (2 * 1024 * 1024)
    await redis_cache.set(key_prefix + "bin", every_byte, 60)
    await redis_cache.set(key_prefix + "large", large, 60)
    await redis_cache.set(key_prefix + "empty", b"", 60)
    assert await redis_cache.get(key_prefix + "bin") == every_byte
    assert await redis_cache.get(key_prefix + "large") == large
    assert await redis_cache.get(key_prefix + "empty") == b""


async def wait_until_gone(cache: CachePort, key: str, limit: float = 3.0) -> float:
    start = time.monotonic()
    while await cache.get(key) is not None:
        assert time.monotonic() - start < limit, "the entry outlived its TTL"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_entries_expire_after_their_ttl(redis_cache: RedisCache, key_prefix: str) -> None:
    await redis_cache.set(key_prefix + "short", b"v", 0.2)
    await redis_cache.set(key_prefix + "long", b"v", 60)
    assert await redis_cache.get(key_prefix + "short") == b"v"
    waited = await wait_until_gone(redis_cache, key_prefix + "short")
    assert 0.1 < waited < 1.0
    assert await redis_cache.get(key_prefix + "long") == b"v"


async def test_ttl_is_sent_in_milliseconds_and_rounded_up(
    redis_cache: RedisCache, raw_redis: aioredis.Redis, key_prefix: str
) -> None:
    await redis_cache.set(key_prefix + "a", b"v", 12.5)
    await redis_cache.set(key_prefix + "b", b"v", 0.0001)  # below 1 ms: still stored, for 1 ms
    assert 12_000 < await raw_redis.pttl(key_prefix + "a") <= 12_500
    await redis_cache.set(key_prefix + "c", b"v", math.inf)
    assert await raw_redis.pttl(key_prefix + "c") == -1


@pytest.mark.parametrize("ttl", [0, -5, math.nan])
async def test_non_positive_ttl_removes_the_key(redis_cache: RedisCache, key_prefix: str, ttl: float) -> None:
    await redis_cache.set(key_prefix + "k", b"old", 60)
    await redis_cache.set(key_prefix + "k", b"new", ttl)
    assert await redis_cache.get(key_prefix + "k") is None


async def test_get_many_uses_mget_and_skips_misses(redis_cache: RedisCache, key_prefix: str) -> None:
    keys = [f"{key_prefix}{i}" for i in range(50)]
    for i, key in enumerate(keys[:25]):
        await redis_cache.set(key, str(i).encode(), 60)
    found = await redis_cache.get_many([*keys, keys[0]])  # duplicates are fine
    assert found == {key: str(i).encode() for i, key in enumerate(keys[:25])}
    assert await redis_cache.get_many([]) == {}
    assert await redis_cache.get_many(iter([keys[3]])) == {keys[3]: b"3"}


async def test_get_many_with_ttl(redis_cache: RedisCache, raw_redis: aioredis.Redis, key_prefix: str) -> None:
    assert isinstance(redis_cache, TtlAwareCache)
    await redis_cache.set(key_prefix + "a", b"1", 30)
    await raw_redis.set(key_prefix + "forever", b"2")
    found = await redis_cache.get_many_with_ttl([key_prefix + "a", key_prefix + "forever", key_prefix + "none"])
    assert set(found) == {key_prefix + "a", key_prefix + "forever"}
    value, remaining = found[key_prefix + "a"]
    assert value == b"1"
    assert remaining is not None
    assert 29 < remaining <= 30
    assert found[key_prefix + "forever"] == (b"2", None)
    assert await redis_cache.get_many_with_ttl([]) == {}


async def test_delete(redis_cache: RedisCache, key_prefix: str) -> None:
    await redis_cache.set(key_prefix + "a", b"1", 60)
    await redis_cache.delete(key_prefix + "a")
    await redis_cache.delete(key_prefix + "never-there")
    assert await redis_cache.get(key_prefix + "a") is None


async def test_ping_and_close_is_idempotent(redis_url: str) -> None:
    cache = RedisCache.from_url(redis_url, timeout=RELAXED_TIMEOUT, connect_timeout=RELAXED_TIMEOUT)
    assert await cache.ping()
    await cache.close()
    await cache.close()
    assert await cache.get("anything") is None  # closed: a miss, not an error
    assert not await cache.ping()


async def test_concurrent_calls_share_the_pool(redis_cache: RedisCache, key_prefix: str) -> None:
    await asyncio.gather(*(redis_cache.set(f"{key_prefix}{i}", f"{i}".encode(), 60) for i in range(200)))
    values = await asyncio.gather(*(redis_cache.get(f"{key_prefix}{i}") for i in range(200)))
    assert values == [f"{i}".encode() for i in range(200)]


# --- configuration (unit) ---


def test_pool_options_defaults() -> None:
    options = redis_pool_options("redis://127.0.0.1:6379/0")
    assert options["socket_timeout"] == DEFAULT_OP_TIMEOUT == 0.05
    assert options["socket_connect_timeout"] == DEFAULT_CONNECT_TIMEOUT == 0.2
    assert options["retry"].get_retries() == 0
    assert options["driver_info"] is None
    assert "ssl_ca_certs" not in options


def test_tls_url_with_a_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "server-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    options = redis_pool_options("rediss://10.0.0.3:6378", ca_cert=str(ca))
    assert options["ssl_ca_certs"] == str(ca)
    cache = RedisCache.from_url("rediss://:secret@10.0.0.3:6378/2", ca_cert=str(ca))
    pool = cache._client.connection_pool
    assert pool.connection_class is SSLConnection
    assert pool.connection_kwargs["password"] == "secret"
    assert pool.connection_kwargs["db"] == 2
    assert "secret" not in repr(pool)


def test_auth_from_the_url() -> None:
    cache = RedisCache.from_url("redis://gateway:p%40ss@redis.internal:6380/1", timeout=0.1, connect_timeout=0.3)
    kwargs = cache._client.connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["host"], kwargs["port"], kwargs["db"]) == (
        "gateway",
        "p@ss",
        "redis.internal",
        6380,
        1,
    )
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.1, 0.3)


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("http://localhost:6379", {}, "must start with redis:// or rediss://"),
        ("localhost:6379", {}, "must start with redis://"),
        ("unix:///tmp/redis.sock", {}, "must start with redis://"),
        ("redis://localhost", {"ca_cert": "/etc/hosts"}, "REDIS_URL is not rediss://"),
        ("rediss://localhost", {"ca_cert": "/no/such/ca.pem"}, "names no readable file"),
        ("redis://localhost", {"op_timeout": 0}, "operation timeout"),
        ("redis://localhost", {"connect_timeout": math.inf}, "connect timeout"),
        ("redis://localhost", {"max_connections": 0}, "max_connections"),
    ],
)
def test_bad_configuration_is_refused_up_front(url: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        redis_pool_options(url, **options)


# --- error handling with a scripted client (unit) ---


class ScriptedClient:
    """Stands in for `redis.asyncio.Redis`: counts calls, raises `error` when set."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: BaseException | None = None
        self.block: asyncio.Event | None = None

    async def _answer(self, result: Any) -> Any:
        self.calls += 1
        if self.block is not None:
            await self.block.wait()
        if self.error is not None:
            raise self.error
        return result

    def get(self, key: str) -> Awaitable[Any]:
        return self._answer(b"v")

    def mget(self, keys: list[str]) -> Awaitable[Any]:
        return self._answer([b"v"] * len(keys))

    def set(self, key: str, value: bytes, px: int | None) -> Awaitable[Any]:
        return self._answer(True)

    def delete(self, key: str) -> Awaitable[Any]:
        return self._answer(1)

    def ping(self) -> Awaitable[Any]:
        return self._answer(True)

    async def aclose(self) -> None:
        raise redis_errors.ConnectionError("already gone")


def scripted(clock: FakeClock, threshold: int = 2) -> tuple[RedisCache, ScriptedClient]:
    client = ScriptedClient()
    breaker = CacheBreaker(BreakerPolicy(failure_threshold=threshold, open_seconds=10), clock=clock)
    cache = RedisCache(cast("aioredis.Redis", client), breaker=breaker, deadline=1.0, clock=clock)
    return cache, client


async def test_outage_errors_are_misses_and_open_the_breaker_which_skips_the_network() -> None:
    clock = FakeClock()
    cache, client = scripted(clock)
    client.error = redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    assert await cache.get("k") is None
    assert await cache.get_many(["k"]) == {}
    assert state_of(cache.breaker) == "open"
    assert client.calls == 2
    await cache.set("k", b"v", 60)
    await cache.delete("k")
    assert await cache.get("k") is None
    assert not await cache.ping()
    assert client.calls == 2  # open: nothing reached the client
    clock.advance(10)
    client.error = None
    assert await cache.get("k") == b"v"  # the probe
    assert state_of(cache.breaker) == "closed"


@pytest.mark.parametrize(
    "error",
    [redis_errors.TimeoutError("Timeout reading from 127.0.0.1:6379"), TimeoutError(), OSError("network down")],
)
async def test_timeouts_and_socket_errors_count_as_outage(error: BaseException) -> None:
    cache, client = scripted(FakeClock(), threshold=1)
    client.error = error
    assert await cache.get("k") is None
    assert state_of(cache.breaker) == "open"


@pytest.mark.parametrize(
    "error",
    [
        redis_errors.ResponseError("OOM command not allowed when used memory > 'maxmemory'."),
        redis_errors.MaxConnectionsError("Too many connections"),
        ValueError("a bug in the adapter"),
    ],
)
async def test_errors_that_are_not_an_outage_are_misses_without_a_strike(error: BaseException) -> None:
    cache, client = scripted(FakeClock(), threshold=1)
    client.error = error
    assert await cache.get("k") is None
    await cache.set("k", b"v", 60)
    assert state_of(cache.breaker) == "closed"


async def test_a_slow_call_is_cut_at_the_deadline() -> None:
    clock = FakeClock()
    client = ScriptedClient()
    client.block = asyncio.Event()  # never set: Redis accepted the command and went silent
    cache = RedisCache(cast("aioredis.Redis", client), breaker=CacheBreaker(clock=clock), deadline=0.05, clock=clock)
    start = time.monotonic()
    assert await cache.get("k") is None
    assert time.monotonic() - start < 0.5
    assert cache.breaker.consecutive_failures == 1


async def test_waiting_for_a_busy_pool_is_bounded_and_no_strike_against_redis() -> None:
    clock = FakeClock()
    client = ScriptedClient()
    client.block = asyncio.Event()
    breaker = CacheBreaker(clock=clock)
    cache = RedisCache(cast("aioredis.Redis", client), breaker=breaker, deadline=0.05, max_connections=1, clock=clock)
    results = await asyncio.gather(cache.get("slow"), cache.get("queued"))
    assert all(result is None for result in results)
    assert client.calls == 1  # the second call never got a connection
    assert breaker.consecutive_failures == 1  # only the call that reached Redis counts


async def test_cancellation_propagates_and_frees_the_probe() -> None:
    clock = FakeClock()
    cache, client = scripted(clock, threshold=1)
    client.error = redis_errors.ConnectionError("down")
    await cache.get("k")
    clock.advance(10)
    client.error = None
    client.block = asyncio.Event()
    task = asyncio.create_task(cache.get("k"))  # becomes the probe, then hangs
    await asyncio.sleep(0)
    assert state_of(cache.breaker) == "half_open"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    client.block = None
    assert await cache.get("k") == b"v"  # another caller may probe at once
    assert state_of(cache.breaker) == "closed"


async def test_errors_are_logged_throttled_without_keys(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    cache, client = scripted(clock, threshold=1000)
    client.error = redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    secret_key = "v1:resp:tenant-acme:user-42:abcdef"
    with caplog.at_level(logging.WARNING, logger="shared.cache.redis_cache"):
        for _ in range(5):
            await cache.get(secret_key)
        clock.advance(30)
        await cache.set(secret_key, b"private value", 60)
    records = [record.getMessage() for record in caplog.records]
    assert len(records) == 2
    assert "redis GET failed (ConnectionError: Error 111" in records[0]
    assert "redis SET failed" in records[1]
    assert "4 more errors" in records[1]
    assert all("acme" not in message and "private" not in message for message in records)


async def test_close_never_raises() -> None:
    cache, _ = scripted(FakeClock())
    await cache.close()


# --- servers of their own: AUTH, TLS, killed, frozen ---


async def test_auth_with_the_password_in_the_url(tmp_path: Path) -> None:
    with run_redis_server(tmp_path, password="s3cret") as server:
        good = RedisCache.from_url(server.url, timeout=RELAXED_TIMEOUT, connect_timeout=RELAXED_TIMEOUT)
        await good.set("k", b"v", 60)
        assert await good.get("k") == b"v"
        await good.close()

        wrong = server.url.replace("s3cret", "wrong")
        bad = RedisCache.from_url(wrong, timeout=RELAXED_TIMEOUT, connect_timeout=RELAXED_TIMEOUT)
        for _ in range(bad.breaker.policy.failure_threshold):
            assert await bad.get("k") is None  # refused AUTH: a miss, no exception
        assert state_of(bad.breaker) == "open"
        await bad.close()


async def test_tls_with_the_ca_file(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls")
    with run_redis_server(tmp_path, tls=tls) as server:
        assert server.url.startswith("rediss://127.0.0.1:")
        cache = RedisCache.from_url(server.url, ca_cert=str(tls.ca_cert), timeout=RELAXED_TIMEOUT, connect_timeout=2.0)
        await cache.set("k", b"over tls", 60)
        assert await cache.get("k") == b"over tls"
        await cache.close()

        untrusted = RedisCache.from_url(server.url, timeout=RELAXED_TIMEOUT, connect_timeout=2.0)
        assert await untrusted.get("k") is None  # the server's CA is not trusted: a miss, not an error
        assert untrusted.breaker.consecutive_failures == 1
        await untrusted.close()

        plain = RedisCache.from_url(server.url.replace("rediss://", "redis://"), timeout=0.3, connect_timeout=0.3)
        assert await plain.get("k") is None  # plaintext to a TLS port
        await plain.close()


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    start = time.monotonic()
    result = await call()
    return result, time.monotonic() - start


async def test_redis_killed_mid_run_then_restarted(own_redis: RedisServer) -> None:
    policy = BreakerPolicy(failure_threshold=3, open_seconds=0.2, max_open_seconds=0.5)
    cache = RedisCache.from_url(own_redis.url, breaker=CacheBreaker(policy))  # production timeouts
    await cache.set("before", b"1", 60)
    assert await cache.get("before") == b"1"

    own_redis.kill()
    for _ in range(20):
        value, seconds = await timed(lambda: cache.get("before"))
        assert value is None
        assert seconds < 0.3
        _, seconds = await timed(lambda: cache.set("during", b"2", 60))
        assert seconds < 0.3
    assert state_of(cache.breaker) == "open"
    assert cache.breaker.trips >= 1

    own_redis.start()  # same port, empty (no persistence)
    deadline = time.monotonic() + 5.0
    while not await cache.ping():
        assert time.monotonic() < deadline, "the cache did not come back after Redis restarted"
        await asyncio.sleep(0.05)
    assert state_of(cache.breaker) == "closed"
    await cache.set("after", b"3", 60)
    assert await cache.get("after") == b"3"
    await cache.close()


async def test_frozen_redis_costs_a_bounded_wait_then_nothing(own_redis: RedisServer) -> None:
    policy = BreakerPolicy(failure_threshold=2, open_seconds=0.2, max_open_seconds=0.5)
    cache = RedisCache.from_url(own_redis.url, breaker=CacheBreaker(policy))
    await cache.set("k", b"v", 60)
    own_redis.pause()  # connections stay open, replies never come
    try:
        for _ in range(2):
            value, seconds = await timed(lambda: cache.get("k"))
            assert value is None
            assert seconds < DEFAULT_CONNECT_TIMEOUT + 3 * DEFAULT_OP_TIMEOUT + 0.2
        assert state_of(cache.breaker) == "open"
        value, seconds = await timed(lambda: cache.get("k"))
        assert value is None
        assert seconds < 0.01  # open: no network at all
    finally:
        own_redis.resume()
    deadline = time.monotonic() + 5.0
    while await cache.get("k") != b"v":
        assert time.monotonic() < deadline, "the cache did not come back after Redis resumed"
        await asyncio.sleep(0.05)
    await cache.close()


def test_a_missing_redis_server_is_an_error_naming_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="apt-get install redis-server"):
        RedisServer(tmp_path)
