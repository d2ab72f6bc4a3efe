"""The proof of issue 7: a scripted run of mixed traffic through the running gateway (`python -m local`), then
analytics and health over HTTP.

The traffic: the three providers on both chat routes, a stream, cache hits, a failover (Anthropic answers 529
through a simulator key rule, so claude-haiku-4-5 is retried, fails over to its Gemini equivalent and its
route breaker opens), a request skipped past the open breaker, and a refused request (an unknown model).
Then:
- `GET /api/ai/analytics` totals equal the sum of every reply's `usage.cost` to the micro-dollar (errors
  cost nothing and show no usage), `usage.requests` equals the number of requests sent, the cache hits and
  the failover are counted;
- `GET /api/ai/health` shows the Anthropic route's breaker open and the status degraded, and the event
  backlog the gateway reports.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from tests.conformance.conftest import DEV_KEY, Gateway, launch_gateway, sse_data
from tests.simulator_server import SimulatorAdmin

KEYS = {
    "OPENAI_API_KEY": "sk-proof-openai",
    "ANTHROPIC_API_KEY": "sk-proof-anthropic",
    "GEMINI_API_KEY": "sk-proof-gemini",
}
CLAUDE = "claude-haiku-4-5-20251001"
MAX_RETRIES = 1


@pytest.fixture
def gateway(tmp_path: Path, sim_url: str) -> Iterator[Gateway]:
    env = {
        **KEYS,
        "OPENAI_BASE_URL": f"{sim_url}/v1",
        "ANTHROPIC_BASE_URL": sim_url,
        "GEMINI_BASE_URL": f"{sim_url}/v1beta",
        "CACHE_ENABLED": "true",
        "ROUTER_COST_OPTIMIZATION": "false",
        "ROUTER_FALLBACK_ENABLED": "true",
        "ROUTER_MAX_RETRIES": str(MAX_RETRIES),
        "BREAKER_MIN_REQUESTS": "2",
        "BREAKER_OPEN_SECONDS": "300",
    }
    with launch_gateway(tmp_path, stop=signal.SIGINT, **env) as running:
        yield running


def _micros(cost: Any) -> int:
    """A reply's `usage.cost` (USD with 6 decimals, read as written) in micro-USD."""
    micros = Decimal(str(cost)) * 1_000_000
    assert micros == micros.to_integral_value(), cost
    return int(micros)


class Run:
    """The client and what every reply said: its status and its `usage.cost` in micro-USD (0 for errors)."""

    def __init__(self, client: httpx2.Client) -> None:
        self.client = client
        self.costs: list[int] = []
        self.statuses: list[int] = []
        self.routes: list[str] = []
        self.providers: list[str | None] = []

    def seed(self, model: str, content: str, **extra: Any) -> dict[str, Any]:
        body = {"model": model, "messages": [{"role": "user", "content": content}], "temperature": 0, **extra}
        return self._record(self.client.post("/api/ai/chat", json=body))

    def openai(self, model: str, content: str) -> dict[str, Any]:
        body = {"model": model, "messages": [{"role": "user", "content": content}], "temperature": 0}
        return self._record(self.client.post("/v1/chat/completions", json=body))

    def stream(self, model: str, content: str) -> None:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": content}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        response = self.client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text[:300]
        chunks = [orjson.loads(data) for data in sse_data(response.text) if data != "[DONE]"]
        (usage,) = [c["usage"] for c in chunks if c.get("usage")]
        self._note(200, _micros(usage["cost"]), response)

    def _record(self, response: httpx2.Response) -> dict[str, Any]:
        body: dict[str, Any] = response.json()
        if response.status_code == 200:
            self._note(200, _micros(body["usage"]["cost"]), response)
        else:
            assert "usage" not in body
            self._note(response.status_code, 0, response)
        return body

    def _note(self, status: int, micros: int, response: httpx2.Response) -> None:
        self.statuses.append(status)
        self.costs.append(micros)
        self.routes.append(response.headers.get("x-gateway-route", ""))
        self.providers.append(response.headers.get("x-gateway-provider"))

    def cost_by_provider(self) -> dict[str | None, int]:
        found: dict[str | None, int] = {}
        for provider, micros in zip(self.providers, self.costs, strict=True):
            found[provider] = found.get(provider, 0) + micros
        return found


def test_analytics_add_up_to_the_replies_and_health_shows_the_breaker(gateway: Gateway, admin: SimulatorAdmin) -> None:
    headers = {"authorization": f"Bearer {DEV_KEY}"}
    with httpx2.Client(base_url=gateway.url, headers=headers, timeout=30.0) as client:
        run = Run(client)
        # Three providers, both routes.
        for n, model in enumerate(("gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash")):
            assert run.seed(model, f"proof question {n}")["provider"] in {"OPENAI", "ANTHROPIC", "GOOGLE"}
            run.openai(model, f"proof question {n} on the OpenAI route")
        # Cache hits: the same requests again.
        for n, model in enumerate(("gpt-4o-mini", "gemini-2.5-flash")):
            run.seed(model, f"proof question {n * 2}")
        hits = sum(1 for route in run.routes if route == "cache")
        assert hits == 2
        # A stream.
        run.stream("gpt-4o-mini", "stream me a story")
        # A failover: Anthropic overloaded; the route breaker opens on the way.
        admin.add_key_rule(KEYS["ANTHROPIC_API_KEY"], status=529)
        failed_over = run.seed("claude-haiku-4-5", "proof failover")
        assert failed_over["provider"] == "GOOGLE"
        assert run.routes[-1] == f"fallback after anthropic/{CLAUDE} (overloaded)"
        # The next one skips Anthropic: its breaker is open.
        run.seed("claude-haiku-4-5", "proof after the trip")
        assert run.routes[-1] == f"fallback after anthropic/{CLAUDE} (breaker_open)"
        # A refused request: it is a request, it costs nothing.
        assert run.seed("no-such-model-anywhere", "hello")["error"]
        assert run.statuses[-1] == 400

        report = client.get("/api/ai/analytics", params={"days": "1", "detailed": "true"})
        health = client.get("/api/ai/health")

    assert report.status_code == 200, report.text[:500]
    body = report.json()
    assert body["usage"]["requests"] == len(run.statuses) == 12
    assert body["usage"]["errors"] == 1
    assert body["usage"]["cacheHits"] == hits
    assert body["costs"]["totalMicros"] == sum(run.costs)
    assert Decimal(str(body["costs"]["total"])) * 1_000_000 == sum(run.costs)
    assert sum(run.costs) > 0
    assert {p["provider"]: p["costMicros"] for p in body["costs"]["byProvider"]} == run.cost_by_provider()
    assert {p["provider"] for p in body["usage"]["byProvider"]} >= {"OPENAI", "ANTHROPIC", "GOOGLE"}
    assert body["costs"]["savings"]["cacheMicros"] > 0
    assert body["performance"]["failoverRate"] > 0
    assert body["performance"]["ttftMs"]["p50"] is not None  # the stream

    assert health.status_code == 200, health.text[:500]
    state = health.json()
    assert state["status"] == "degraded"
    assert state["services"]["providers"]["ANTHROPIC"][CLAUDE]["breaker"] == "open"
    assert state["services"]["providers"]["ANTHROPIC"][CLAUDE]["lastErrorKind"] == "overloaded"
    events = state["services"]["dependencies"]["events"]
    assert (events["ok"], events["backlog"], events["instances"]) == (True, 0, 1)
