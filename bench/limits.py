"""The ledger's cost per request: microseconds per reserve + settle, in process and on Redis.

    .venv/bin/python -m bench.limits [--requests 5000] [--concurrency 16]

Each request reserves against four checks (requests and tokens per minute of its tenant, a daily budget
of its user, a monthly budget of its key), then settles to a smaller real cost: what the gateway does on
every call with limits configured. Redis: REDIS_URL when set (keys under a prefix of this run, deleted at
the end), else a redis-server started here on 127.0.0.1 and a free port, stopped by PID. Prints only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import redis.asyncio as aioredis

from shared.limits import Check, Ledger, MemoryLedger, Reservation
from shared.limits.redis_ledger import RedisLedger


def checks_for(index: int) -> list[Check]:
    tenant, user, key = f"t:{index % 8}", f"u:{index % 8}:{index % 64}", f"k:{index % 128}"
    return [
        Check(tenant, "requests_per_minute", 10**9),
        Check(tenant, "tokens_per_minute", 10**12),
        Check(user, "daily_budget", 10**14),
        Check(key, "monthly_budget", 10**14),
    ]


async def one(ledger: Ledger, index: int, now: float) -> float:
    start = time.perf_counter()
    outcome = await ledger.reserve(uuid.uuid4().hex, checks_for(index), now, tokens=1200, cost_micros=9000)
    assert isinstance(outcome, Reservation), outcome
    await ledger.settle(outcome, 800, 4000, now)
    return time.perf_counter() - start


async def measure(name: str, ledger: Ledger, requests: int, concurrency: int) -> None:
    now = time.time()
    for index in range(min(200, requests)):  # warm up: connections, script cache, allocations
        await one(ledger, index, now)
    latencies = [await one(ledger, index, now) for index in range(requests)]
    per_pair = statistics.fmean(latencies) * 1e6
    p50, p99 = (statistics.quantiles(latencies, n=100)[q] * 1e6 for q in (49, 98))

    async def worker(offset: int) -> None:
        for index in range(offset, requests, concurrency):
            await one(ledger, index, now)

    start = time.perf_counter()
    await asyncio.gather(*(worker(offset) for offset in range(concurrency)))
    concurrent = (time.perf_counter() - start) / requests * 1e6
    print(
        f"{name:<8} sequential: {per_pair:8.1f} µs per reserve+settle (p50 {p50:.1f}, p99 {p99:.1f}); "
        f"{concurrency} concurrent: {concurrent:.1f} µs of wall time per request"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: apt-get install -y redis-server (or set REDIS_URL)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as workdir:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen([*command, "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                        sock.sendall(b"PING\r\n")
                        if sock.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("redis-server did not start")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(5)


async def main(requests: int, concurrency: int) -> None:
    await measure("memory", MemoryLedger(), requests, concurrency)
    with redis_url() as url:
        prefix = f"bench:{uuid.uuid4().hex}:"
        ledger = RedisLedger.from_url(url, timeout=1.0, connect_timeout=1.0, prefix=prefix)
        try:
            await measure("redis", ledger, requests, concurrency)
            assert not ledger.degraded, "Redis did not serve the run"
        finally:
            await ledger.close()
            client = aioredis.Redis.from_url(url)
            keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
            for start in range(0, len(keys), 1000):
                await client.delete(*keys[start : start + 1000])
            await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.concurrency))
