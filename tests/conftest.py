"""Fixtures shared by every test folder: one provider simulator (real uvicorn on loopback), reset per test;
one real Redis per session (REDIS_URL, or a redis-server of our own), a plain client on it that cleans the
requesting folder's `key_prefix` afterwards, and a server of a test's own for tests that kill Redis. After
every test the heap is thawed: a Cloud Function instance freezes its start-up objects (shared.heap), which in
this shared test process would hide them from `gc.get_referrers` and keep them alive for the session."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest
import redis.asyncio as aioredis

from tests import redis_server
from tests.redis_server import RedisServer
from tests.simulator_server import SimulatorAdmin, run_simulator


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    with run_simulator() as url:
        yield url


@pytest.fixture(scope="session")
def admin(sim_url: str) -> Iterator[SimulatorAdmin]:
    client = SimulatorAdmin(sim_url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _fresh_simulator(request: pytest.FixtureRequest) -> None:
    """Tests that talk to the simulator start from a clean state (no defaults, rules or statistics)."""
    if "sim_url" in request.fixturenames:
        admin: SimulatorAdmin = request.getfixturevalue("admin")
        admin.reset()


@pytest.fixture(scope="session")
def http(sim_url: str) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sim_url, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server.redis_url() as url:
        yield url


@pytest.fixture
async def raw_redis(redis_url: str, key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client on the session Redis; `key_prefix` comes from the requesting test folder."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()
    await redis_server.delete_prefix(redis_url, key_prefix)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server.run_redis_server(tmp_path) as server:
        yield server
