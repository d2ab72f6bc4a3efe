"""`RedisCache`: the cache port on Redis (Memorystore for Redis in the cloud), through `redis.asyncio`.

Memorystore compatibility: only plain GET, SET PX, MGET, PTTL, DEL and PING, no modules, no scripts,
no CLIENT SETINFO (`driver_info=None`), RESP2. AUTH comes from the URL (`redis://:password@host:6379/0`),
TLS from the `rediss://` scheme with an optional CA file (`REDIS_CA_CERT`, Memorystore's server CA).

Redis trouble never fails a request (the port's contract):
- short bounded timeouts: `op_timeout` per socket read (50 ms), `connect_timeout` (200 ms, TLS handshake
  included), and an overall deadline per call on top (a fresh connection also sends AUTH and SELECT);
- redis-py's own retries are off (its default retries ten times): the breaker decides instead;
- at most `max_connections` calls are in flight; more wait for a connection within their deadline, and
  a call that never got one is a miss without a strike (the pool was busy, Redis was not down);
- every call asks `CacheBreaker.allow()` first; while it is open the call is a miss / no-op without
  touching the network, and the half-open probe lets Redis back in by itself once it answers;
- errors are logged at most once per `log_interval` (type and message only: redis-py messages name
  the host, never a key or a value), with a count of the ones held back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import redis.asyncio as aioredis
import redis.exceptions as redis_errors
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.cache.breaker import CacheBreaker
from shared.clock import Clock, SystemClock

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_OP_TIMEOUT",
    "RedisCache",
    "redis_pool_options",
]

DEFAULT_OP_TIMEOUT = 0.05
DEFAULT_CONNECT_TIMEOUT = 0.2
DEFAULT_MAX_CONNECTIONS = 64
_LOG_INTERVAL = 30.0
_MESSAGE_LIMIT = 200

_log = logging.getLogger(__name__)

T = TypeVar("T")

# The server is unreachable, slow or refusing us: these count against the breaker.
_OUTAGE = (redis_errors.ConnectionError, redis_errors.TimeoutError, TimeoutError, OSError)


def redis_pool_options(
    url: str,
    *,
    ca_cert: str | None = None,
    op_timeout: float = DEFAULT_OP_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> dict[str, Any]:
    """The keyword arguments for `ConnectionPool.from_url`; raises `ValueError` on a bad configuration.

    Separate from `RedisCache.from_url` so the settings can be checked (and unit-tested) without a pool.
    """
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss"):
        raise ValueError(f"REDIS_URL must start with redis:// or rediss:// (TLS), got {scheme or 'no'} scheme")
    if not (op_timeout > 0 and math.isfinite(op_timeout)):
        raise ValueError(f"the Redis operation timeout must be a positive number of seconds, got {op_timeout}")
    if not (connect_timeout > 0 and math.isfinite(connect_timeout)):
        raise ValueError(f"the Redis connect timeout must be a positive number of seconds, got {connect_timeout}")
    if max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, got {max_connections}")
    options: dict[str, Any] = {
        "socket_timeout": op_timeout,
        "socket_connect_timeout": connect_timeout,
        "max_connections": max_connections,
        # One attempt per call: a retry loop inside the client would hold the request past the timeout.
        "retry": Retry(NoBackoff(), 0),
        # CLIENT SETINFO is one more round trip per new connection, and not every server version has it.
        "driver_info": None,
        "decode_responses": False,
        "health_check_interval": 0,
    }
    if ca_cert:
        if scheme != "rediss":
            raise ValueError("REDIS_CA_CERT is set but REDIS_URL is not rediss:// (TLS): the CA would be unused")
        if not os.path.isfile(ca_cert):
            raise ValueError(f"REDIS_CA_CERT names no readable file: {ca_cert}")
        options["ssl_ca_certs"] = ca_cert
    return options


class _ThrottledLog:
    """One warning per interval for a run of adapter errors, with how many were held back."""

    def __init__(self, clock: Clock, interval: float) -> None:
        self._clock = clock
        self._interval = interval
        self._last = -math.inf
        self._held = 0

    def error(self, op: str, exc: BaseException) -> None:
        now = self._clock.monotonic()
        if now - self._last < self._interval:
            self._held += 1
            return
        held, self._held, self._last = self._held, 0, now
        message = str(exc)[:_MESSAGE_LIMIT]
        _log.warning(
            "cache: redis %s failed (%s: %s); %d more errors since the last report",
            op,
            type(exc).__name__,
            message,
            held,
        )


class RedisCache:
    """The Redis adapter of `CachePort` (and `TtlAwareCache`). Build it with `from_url`."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        breaker: CacheBreaker,
        deadline: float,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        clock: Clock | None = None,
        log_interval: float = _LOG_INTERVAL,
    ) -> None:
        self._client = client
        self.breaker = breaker
        self._deadline = deadline
        self._errors = _ThrottledLog(clock or SystemClock(), log_interval)
        self._closed = False
        # At most one call per pooled connection: past that, calls queue here (within their deadline)
        # instead of failing fast in the pool with "Too many connections".
        self._slots = asyncio.Semaphore(max_connections)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ca_cert: str | None = None,
        timeout: float = DEFAULT_OP_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        breaker: CacheBreaker | None = None,
        clock: Clock | None = None,
    ) -> RedisCache:
        """A cache on the Redis at `url`. Connects lazily: building it never touches the network."""
        clock = clock or SystemClock()
        options = redis_pool_options(
            url, ca_cert=ca_cert, op_timeout=timeout, connect_timeout=connect_timeout, max_connections=max_connections
        )
        pool = aioredis.ConnectionPool.from_url(url, **options)
        # A new connection may need connect (with TLS), AUTH, SELECT and then the command itself.
        deadline = connect_timeout + 3 * timeout
        return cls(
            aioredis.Redis.from_pool(pool),
            breaker=breaker or CacheBreaker(clock=clock),
            deadline=deadline,
            max_connections=max_connections,
            clock=clock,
        )

    async def _call(self, op: str, command: Callable[[], Awaitable[T]], fallback: T) -> T:
        if self._closed or not self.breaker.allow():
            return fallback
        started = False
        try:
            async with asyncio.timeout(self._deadline):
                async with self._slots:
                    started = True
                    result = await command()
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        except _OUTAGE as exc:
            if not started or isinstance(exc, redis_errors.MaxConnectionsError):
                # Every connection is busy with other calls: Redis itself is fine, so a miss without a strike.
                self.breaker.release()
                self._errors.error(op, exc)
                return fallback
            self.breaker.record_failure()
            self._errors.error(op, exc)
            return fallback
        except redis_errors.RedisError as exc:
            # The server answered (an error reply such as OOM or READONLY): reachable, so not an outage.
            self.breaker.record_success()
            self._errors.error(op, exc)
            return fallback
        except Exception as exc:  # a cache never fails a request, not even on a bug in this adapter
            self.breaker.release()
            self._errors.error(op, exc)
            return fallback
        self.breaker.record_success()
        return result

    async def get(self, key: str) -> bytes | None:
        async def command() -> bytes | None:
            return cast("bytes | None", await self._client.get(key))

        return await self._call("GET", command, None)

    async def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}

        async def command() -> dict[str, bytes]:
            values = cast("list[bytes | None]", await self._client.mget(wanted))
            return {key: value for key, value in zip(wanted, values, strict=True) if value is not None}

        return await self._call("MGET", command, {})

    async def get_many_with_ttl(self, keys: Iterable[str]) -> dict[str, tuple[bytes, float | None]]:
        """GET and PTTL per key, pipelined: one round trip, plain commands (no transaction, no script)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}

        async def command() -> dict[str, tuple[bytes, float | None]]:
            async with self._client.pipeline(transaction=False) as pipe:
                for key in wanted:
                    pipe.get(key)
                    pipe.pttl(key)
                replies = await pipe.execute()
            found: dict[str, tuple[bytes, float | None]] = {}
            for index, key in enumerate(wanted):
                value, pttl = replies[2 * index], replies[2 * index + 1]
                if value is not None:
                    # PTTL: -1 no expiry, -2 gone since the GET; either way the remaining time is unknown.
                    found[key] = (cast("bytes", value), pttl / 1000 if isinstance(pttl, int) and pttl > 0 else None)
            return found

        return await self._call("GET+PTTL", command, {})

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if not ttl_seconds > 0:  # also NaN: expires at once, so remove what is there
            await self.delete(key)
            return
        milliseconds = max(1, math.ceil(ttl_seconds * 1000)) if math.isfinite(ttl_seconds) else None

        async def command() -> None:
            await self._client.set(key, value, px=milliseconds)

        await self._call("SET", command, None)

    async def delete(self, key: str) -> None:
        async def command() -> None:
            await self._client.delete(key)

        await self._call("DEL", command, None)

    async def ping(self) -> bool:
        """Does Redis answer? Goes through the breaker: an open breaker reports `False` at once."""

        async def command() -> bool:
            return bool(await self._client.ping())

        return await self._call("PING", command, False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._client.aclose()
        except Exception as exc:  # closing a pool whose server is gone may complain; nothing to do about it
            self._errors.error("close", exc)
