"""Live metrics from two gateway processes add up in Redis: both started as `make run` starts them, on one
redis-server of the test's own, each serving part of the traffic for the same (provider, model)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx2

from shared.metrics import build_live_metrics
from tests.conformance.conftest import DEV_KEY, launch_gateway
from tests.redis_server import run_redis_server


def _send(url: str, model: str, text: str, count: int) -> None:
    with httpx2.Client(base_url=url, headers={"authorization": f"Bearer {DEV_KEY}"}, timeout=10.0) as client:
        for i in range(count):
            body = {"model": model, "messages": [{"role": "user", "content": f"{text} {i}"}]}
            assert client.post("/v1/chat/completions", json=body).status_code == 200


async def _requests_seen(url: str, model: str) -> int:
    reader = build_live_metrics(redis_url=url)
    try:
        return (await reader.snapshot("openai", model, minutes=5)).requests
    finally:
        await reader.close()


def test_two_gateways_add_up_in_redis(tmp_path: Path) -> None:
    for name in ("redis", "a", "b"):
        (tmp_path / name).mkdir()
    with (
        run_redis_server(tmp_path / "redis") as redis,
        launch_gateway(tmp_path / "a", CACHE_ENABLED="false", REDIS_URL=redis.url) as a,
        launch_gateway(tmp_path / "b", CACHE_ENABLED="false", REDIS_URL=redis.url) as b,
    ):
        _send(a.url, "gpt-4o-mini", "from a", 3)
        _send(b.url, "gpt-4o-mini", "from b", 2)
        deadline = time.monotonic() + 5.0  # each instance flushes about once a second
        while (seen := asyncio.run(_requests_seen(redis.url, "gpt-4o-mini"))) < 5:
            assert time.monotonic() < deadline, f"only {seen} of 5 requests reached Redis"
            time.sleep(0.1)
        assert seen == 5
