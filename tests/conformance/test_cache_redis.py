"""The response cache on Redis end to end: two gateway processes started as `make run` starts them
(cache on, `REDIS_URL` naming a redis-server of the test's own), plain HTTP as the caller.

What it pins down: a repeat is a HIT; an entry stored by one instance is a HIT at another (shared L2; each
step uses a fresh prompt, so the reader's L1 cannot be what answered); with Redis killed every request still
answers 200 quickly (MISS, or HIT from the L1); once redis-server is back on the same port, the breaker lets
it in again by itself and entries stored after the restart are shared again.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import httpx2
import pytest

from tests.conformance.conftest import DEV_KEY, Gateway, launch_gateway
from tests.redis_server import RedisServer, run_redis_server

__all__: list[str] = []

CHAT = "/v1/chat/completions"
# While Redis is down a request must not wait on it: refused connects fail at once, then the breaker is open.
OUTAGE_BUDGET_SECONDS = 1.0
# The breaker's open interval grows with each failed probe (1 s, 2 s, 4 s ...): room for a few of them.
RECOVERY_DEADLINE_SECONDS = 12.0
_prompts = itertools.count()


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with run_redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, redis: RedisServer) -> Iterator[tuple[httpx2.Client, httpx2.Client]]:
    """Two gateway instances on the same Redis, each with an HTTP client."""
    tmp_a, tmp_b = tmp_path_factory.mktemp("gateway-a"), tmp_path_factory.mktemp("gateway-b")
    with (
        launch_gateway(tmp_a, CACHE_ENABLED="true", REDIS_URL=redis.url) as a,
        launch_gateway(tmp_b, CACHE_ENABLED="true", REDIS_URL=redis.url) as b,
        _client(a) as client_a,
        _client(b) as client_b,
    ):
        yield client_a, client_b


def _client(gateway: Gateway) -> httpx2.Client:
    return httpx2.Client(base_url=gateway.url, headers={"authorization": f"Bearer {DEV_KEY}"}, timeout=15.0)


def prompt(step: str) -> str:
    """A prompt no earlier request used (per run too: the Redis is fresh, but the L1s live for the module)."""
    return f"redis cache {step} #{next(_prompts)} {time.monotonic_ns()}"


def ask(client: httpx2.Client, text: str) -> tuple[str, float]:
    """POST one chat request; returns its `x-gateway-cache` header and how long it took. Anything but 200 fails."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    started = time.perf_counter()
    reply = client.post(CHAT, json=body)
    took = time.perf_counter() - started
    assert reply.status_code == 200, reply.text[:500]
    assert reply.json()["choices"][0]["message"]["content"]
    return reply.headers["x-gateway-cache"], took


def shared_hit(writer: httpx2.Client, reader: httpx2.Client, step: str) -> bool:
    """Store a new prompt through `writer`; is it a HIT at `reader` (which never saw it, so not from its L1)?"""
    text = prompt(step)
    assert ask(writer, text)[0] == "MISS"
    return ask(reader, text)[0] == "HIT"


def test_a_repeat_is_a_hit(pair: tuple[httpx2.Client, httpx2.Client]) -> None:
    a, _ = pair
    text = prompt("repeat")
    assert [ask(a, text)[0] for _ in range(2)] == ["MISS", "HIT"]


def test_an_entry_stored_by_one_instance_is_a_hit_at_the_other(pair: tuple[httpx2.Client, httpx2.Client]) -> None:
    a, b = pair
    assert shared_hit(a, b, "a-to-b")
    assert shared_hit(b, a, "b-to-a")


def test_redis_down_then_back(pair: tuple[httpx2.Client, httpx2.Client], redis: RedisServer) -> None:
    a, b = pair
    assert shared_hit(a, b, "before the outage")
    redis.kill()
    try:
        # Down: every request answers, fast; a fresh prompt is a MISS, its repeat a HIT from the L1.
        statuses: list[str] = []
        for _ in range(6):
            text = prompt("outage")
            for client in (a, a, b):
                status, took = ask(client, text)
                assert took < OUTAGE_BUDGET_SECONDS, f"{took:.3f} s with Redis down"
                statuses.append(status)
        assert statuses == ["MISS", "HIT", "MISS"] * 6, "A repeats from its L1; B shares nothing while Redis is down"
    finally:
        redis.start()  # same port: the gateways' REDIS_URL is unchanged
    # Back: within a few breaker intervals an entry A stores after the restart is a HIT at B.
    deadline = time.monotonic() + RECOVERY_DEADLINE_SECONDS
    attempts = 0
    while True:
        attempts += 1
        if shared_hit(a, b, "after the restart"):
            break
        assert time.monotonic() < deadline, f"no shared hit {RECOVERY_DEADLINE_SECONDS:g} s after the restart"
        time.sleep(0.25)
    # And it stays shared (not a one-off): both directions, fresh prompts.
    assert shared_hit(a, b, "recovered a-to-b")
    assert shared_hit(b, a, "recovered b-to-a")
