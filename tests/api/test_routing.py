"""Routing proofs through the official `openai` SDK, the chat API in process and the provider simulator.

The gateway runs on a fake clock whose `sleep` only advances time (backoff waits and breaker open periods
pass instantly and are recorded); the simulator fails one provider through a per-key rule (each provider
has its own key here), so a fault follows a provider and not the request text. Upstream calls are
counted by the simulator per key fingerprint: the proof that a route was or was not called.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx2
import openai
import orjson
import pytest
import pytest_asyncio

from shared.api.chat import ChatApi
from shared.api.deps import ChatDeps, build_chat_deps
from shared.breakers import credential_scope, route_scope
from shared.catalog import Catalog, default_catalog, parse_catalog
from shared.credentials import fingerprint
from shared.events.port import MemorySink
from shared.settings import Settings
from tests.fakes import FakeClock
from tests.simulator_server import SimulatorAdmin

DEV_KEY = "gw-routing-test-key"
KEYS = {"openai": "sk-route-openai", "anthropic": "sk-route-anthropic", "gemini": "sk-route-gemini"}


@dataclasses.dataclass
class Gateway:
    sdk: openai.AsyncOpenAI
    http: httpx2.AsyncClient  # the same in-process app, for the seed route
    deps: ChatDeps
    clock: FakeClock
    sink: MemorySink
    admin: SimulatorAdmin

    def calls(self, key: str) -> int:
        """Upstream calls the simulator saw with `key`."""
        counts: dict[str, int] = self.admin.stats()["calls_by_key"]
        return counts.get(fingerprint(key)[:12], 0)

    async def chat(self, model: str, text: str = "hello there", **extra: Any) -> Any:
        """A JSON chat through the SDK; returns the raw response (headers) with `.parse()`."""
        return await self.sdk.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": text}], **extra
        )


OpenGateway = Callable[..., Awaitable[Gateway]]


@pytest_asyncio.fixture
async def open_gateway(sim_url: str, admin: SimulatorAdmin, tmp_path: Path) -> AsyncIterator[OpenGateway]:
    async with contextlib.AsyncExitStack() as stack:
        opened = 0

        async def open_(
            *, keys: dict[str, tuple[str, ...]] | None = None, catalog: Catalog | None = None, **changes: Any
        ) -> Gateway:
            nonlocal opened
            opened += 1
            clock = FakeClock()
            provider_keys = keys or {p: (k,) for p, k in KEYS.items()}
            settings = dataclasses.replace(
                Settings(),
                provider_keys=MappingProxyType(provider_keys),
                base_urls=MappingProxyType(
                    {"openai": f"{sim_url}/v1", "anthropic": sim_url, "gemini": f"{sim_url}/v1beta"}
                ),
                data_dir=tmp_path / f"data-{opened}",
                dev_key=DEV_KEY,
                cache_enabled=False,
                breaker_min_requests=4,
                **changes,
            )
            sink = MemorySink()
            deps = build_chat_deps(settings, events=sink, clock=clock, sleep=clock.sleep, catalog=catalog)
            stack.push_async_callback(deps.aclose)

            async def ready() -> ChatDeps:
                return deps

            http = await stack.enter_async_context(
                httpx2.AsyncClient(transport=httpx2.ASGITransport(app=ChatApi(ready).asgi()), timeout=30.0)
            )
            sdk = openai.AsyncOpenAI(
                api_key=DEV_KEY, base_url="http://gateway.test/v1", http_client=http, max_retries=0
            )
            return Gateway(sdk, http, deps, clock, sink, admin)

        yield open_


def served(raw: Any) -> tuple[str, str, int, str]:
    h = raw.headers
    return h["x-gateway-provider"], h["x-gateway-model"], int(h["x-gateway-attempts"]), h["x-gateway-route"]


# --- retries ----------------------------------------------------------------------------------------------


async def test_a_500_then_success_is_one_retry_on_the_same_provider(open_gateway: OpenGateway) -> None:
    gw = await open_gateway(router_cost_optimization=False)
    gw.admin.add_key_rule(KEYS["openai"], times=1, status=500)
    raw = await gw.chat("gpt-4o-mini")
    assert served(raw) == ("OPENAI", "gpt-4o-mini", 2, "requested")
    assert gw.calls(KEYS["openai"]) == 2
    assert len(gw.clock.sleeps) == 1
    assert 0 <= gw.clock.sleeps[0] <= 0.25
    (event,) = gw.sink.events
    assert (event.attempts, event.provider, event.status) == (2, "OPENAI", "ok")


async def test_a_short_retry_after_is_waited_for_and_the_same_provider_retried(open_gateway: OpenGateway) -> None:
    gw = await open_gateway(router_cost_optimization=False)
    gw.admin.add_key_rule(KEYS["openai"], times=1, status=429, retry_after=1)
    raw = await gw.chat("gpt-4o-mini")
    assert served(raw)[:3] == ("OPENAI", "gpt-4o-mini", 2)
    assert gw.clock.sleeps == [1.0]


async def test_a_long_retry_after_fails_over_at_once(open_gateway: OpenGateway) -> None:
    gw = await open_gateway(router_cost_optimization=False)
    gw.admin.add_key_rule(KEYS["openai"], status=429, retry_after=120)
    raw = await gw.chat("gpt-4o-mini")
    provider, model, attempts, route = served(raw)
    assert provider != "OPENAI"
    assert attempts == 2
    assert route == "fallback after openai/gpt-4o-mini (rate_limit)"
    assert gw.clock.sleeps == []
    assert gw.calls(KEYS["openai"]) == 1
    (event,) = gw.sink.events  # the usage event says why, as the header does
    assert (event.route_reason, event.attempts, event.model) == (route, 2, model)
    assert default_catalog()[model].equivalence_class == "small"


async def test_a_request_error_on_the_named_model_is_returned_without_failover(open_gateway: OpenGateway) -> None:
    gw = await open_gateway(router_cost_optimization=False)
    gw.admin.add_key_rule(KEYS["openai"], status=400)
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.chat("gpt-4o-mini")
    assert caught.value.response.headers.get("x-should-retry") is None
    assert gw.calls(KEYS["openai"]) == 1
    assert gw.calls(KEYS["gemini"]) == gw.calls(KEYS["anthropic"]) == 0
    assert not gw.deps.service.breakers.is_open(route_scope("openai", "gpt-4o-mini"))


# --- failover and the route breaker ------------------------------------------------------------------------


async def test_overloaded_provider_fails_over_trips_its_breaker_and_one_probe_closes_it(
    open_gateway: OpenGateway,
) -> None:
    gw = await open_gateway(router_cost_optimization=False, breaker_open_seconds=30.0)
    anthropic_key = KEYS["anthropic"]
    gw.admin.add_key_rule(anthropic_key, status=529)
    scope = route_scope("anthropic", "claude-haiku-4-5-20251001")
    breakers = gw.deps.service.breakers

    # Every try of Anthropic is a 529: retried up to maxRetries, then the equivalent on Gemini serves it.
    raw = await gw.chat("claude-haiku-4-5")
    provider, model, attempts, route = served(raw)
    assert (provider, model) == ("GOOGLE", "gemini-2.5-flash")
    assert attempts == 5
    assert gw.calls(anthropic_key) == 4
    assert route == "fallback after anthropic/claude-haiku-4-5-20251001 (overloaded)"
    assert breakers.is_open(scope)

    # Open: later requests skip Anthropic without calling it.
    for _ in range(3):
        raw = await gw.chat("claude-haiku-4-5")
        assert served(raw)[:3] == ("GOOGLE", "gemini-2.5-flash", 1)
        assert served(raw)[3] == "fallback after anthropic/claude-haiku-4-5-20251001 (breaker_open)"
    assert gw.calls(anthropic_key) == 4

    # After the open period exactly one probe reaches Anthropic; it fails, so the breaker opens for longer.
    gw.clock.advance(31)
    raw = await gw.chat("claude-haiku-4-5")
    assert served(raw)[0] == "GOOGLE"
    assert gw.calls(anthropic_key) == 5
    gw.clock.advance(31)  # the second open period is twice as long: still open
    await gw.chat("claude-haiku-4-5")
    assert gw.calls(anthropic_key) == 5

    # Anthropic recovers. After the open period, of three concurrent requests exactly one probes it;
    # its success closes the breaker and the next request goes to Anthropic first again.
    gw.admin.clear_key_rules()
    gw.clock.advance(30)
    replies = await asyncio.gather(*(gw.chat("claude-haiku-4-5") for _ in range(3)))
    assert gw.calls(anthropic_key) == 6
    assert sorted(served(r)[0] for r in replies) == ["ANTHROPIC", "GOOGLE", "GOOGLE"]
    assert not breakers.is_open(scope)
    raw = await gw.chat("claude-haiku-4-5")
    assert served(raw) == ("ANTHROPIC", "claude-haiku-4-5-20251001", 1, "requested")


async def test_every_breaker_open_is_503_with_retry_after(open_gateway: OpenGateway) -> None:
    gw = await open_gateway(router_cost_optimization=False, router_fallback_enabled=False, breaker_open_seconds=30.0)
    gw.admin.add_key_rule(KEYS["openai"], status=503)
    with pytest.raises(openai.APIStatusError) as first:
        await gw.chat("gpt-4o-mini")
    assert first.value.status_code == 502
    with pytest.raises(openai.APIStatusError) as caught:
        await gw.chat("gpt-4o-mini")
    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"] == "30"  # the whole open period: nothing has passed
    assert "circuit breaker is open" in caught.value.message
    assert gw.calls(KEYS["openai"]) == 4


# --- credentials ------------------------------------------------------------------------------------------


async def test_a_revoked_key_opens_its_credential_breaker_and_traffic_moves_to_the_other_key(
    open_gateway: OpenGateway,
) -> None:
    good, bad = "sk-route-openai-good", "sk-route-openai-revoked"
    keys = {"openai": (bad, good), "anthropic": (KEYS["anthropic"],), "gemini": (KEYS["gemini"],)}
    gw = await open_gateway(keys=keys, router_cost_optimization=False)
    gw.admin.add_key_rule(bad, status=401)
    replies = [await gw.chat("gpt-4o-mini") for _ in range(6)]
    assert {served(r)[:2] for r in replies} == {("OPENAI", "gpt-4o-mini")}
    # The revoked key was tried once (the first request: 401, then the other key, no wait), never again.
    assert [served(r)[2] for r in replies] == [2, 1, 1, 1, 1, 1]
    assert gw.calls(bad) == 1
    assert gw.calls(good) == 6
    # Every event names the key that paid, by fingerprint only.
    assert {e.credential_id for e in gw.sink.events} == {f"platform:{fingerprint(good)}"}
    assert gw.clock.sleeps == []
    breakers = gw.deps.service.breakers
    assert breakers.is_open(credential_scope("openai", fingerprint(bad)))
    assert not breakers.is_open(credential_scope("openai", fingerprint(good)))
    assert not breakers.is_open(route_scope("openai", "gpt-4o-mini"))


# --- streams ----------------------------------------------------------------------------------------------


async def test_a_stream_cut_after_three_chunks_ends_with_a_typed_error_and_no_duplicate_text(
    open_gateway: OpenGateway,
) -> None:
    gw = await open_gateway(router_cost_optimization=False)
    pieces: list[str] = []
    stream = await gw.sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "tell me a story [sim chunks=8 cut_after=3]"}],
        stream=True,
    )

    async def read_all() -> None:
        async for chunk in stream:
            pieces.extend(c.delta.content for c in chunk.choices if c.delta.content)

    with pytest.raises(openai.APIError) as caught:
        await read_all()
    # The typed error event in OpenAI's format: the provider in the message, the kind in `code`.
    assert "openai" in caught.value.message
    assert (caught.value.code, caught.value.type) == ("network_error", "api_error")
    # 3 events upstream (role, then two text deltas), never restarted: one upstream call, no repeats.
    assert len(pieces) == 2
    assert gw.calls(KEYS["openai"]) == 1
    text = "".join(pieces)
    assert all(text.count(p) == 1 for p in pieces)
    (event,) = gw.sink.events
    assert event.status == "error"
    assert event.attempts == 1


async def test_a_stream_failing_before_its_first_chunk_is_served_by_the_next_candidate(
    open_gateway: OpenGateway,
) -> None:
    gw = await open_gateway(router_cost_optimization=False)
    gw.admin.add_key_rule(KEYS["anthropic"], status=503)
    raw = await gw.sdk.chat.completions.with_raw_response.create(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "hello there"}], stream=True
    )
    assert raw.headers["x-gateway-provider"] == "GOOGLE"
    assert raw.headers["x-gateway-route"].startswith("fallback after anthropic/claude-haiku-4-5-20251001")
    finishes, text = [], ""
    async for chunk in raw.parse():
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finishes.append(choice.finish_reason)
    assert "hello there" in text
    assert finishes[-1] == "stop"
    (event,) = gw.sink.events
    assert event.status == "ok"
    assert event.provider == "GOOGLE"


# --- cost routing -----------------------------------------------------------------------------------------


def cost_of(raw: Any) -> float:
    usage = orjson.loads(raw.http_response.content)["usage"]
    return float(usage["cost"])


async def test_gpt_4_is_served_by_a_cheaper_equivalent_when_cost_optimization_is_on(open_gateway: OpenGateway) -> None:
    gw = await open_gateway()
    optimized = await gw.chat("gpt-4", max_tokens=200)
    _provider, model, attempts, route = served(optimized)
    entry = default_catalog()[model]
    assert model != "gpt-4"
    assert route == "cheapest"
    assert attempts == 1
    assert entry.equivalence_class == "frontier"
    assert entry.features.chat_completions

    pinned = await gw.chat(
        "gpt-4", max_tokens=200, extra_headers={"x-gateway-cost-optimization": "off", "x-gateway-fallback": "off"}
    )
    assert served(pinned)[:2] == ("OPENAI", "gpt-4")
    assert 0 < cost_of(optimized) < cost_of(pinned)
    # The routed request's event records what gpt-4 would have cost for the same usage (routing savings).
    routed, direct = gw.sink.events
    assert routed.cost_micros is not None
    assert routed.requested_cost_micros is not None
    assert routed.requested_cost_micros > routed.cost_micros
    assert direct.requested_cost_micros is None


async def test_with_optimization_and_fallback_off_only_the_named_model_is_tried(open_gateway: OpenGateway) -> None:
    gw = await open_gateway()
    gw.admin.add_key_rule(KEYS["openai"], status=500)
    with pytest.raises(openai.InternalServerError) as caught:
        await gw.chat("gpt-4", extra_headers={"x-gateway-cost-optimization": "off", "x-gateway-fallback": "off"})
    assert caught.value.status_code == 502
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert gw.calls(KEYS["openai"]) == 4
    assert gw.calls(KEYS["anthropic"]) == gw.calls(KEYS["gemini"]) == 0


def _without_tools(model_id: str) -> Catalog:
    """The packaged catalog with `model_id` marked as not supporting tools."""
    document = orjson.loads((Path(__file__).parents[2] / "shared" / "data" / "catalog.json").read_bytes())
    for row in document["models"]:
        if row["id"] == model_id:
            row["features"]["tools"] = False
    return parse_catalog(document)


async def test_a_request_with_tools_is_never_routed_to_a_model_without_tools(open_gateway: OpenGateway) -> None:
    gw = await open_gateway()
    cheapest = served(await gw.chat("gpt-4o-mini", max_tokens=100))[1]
    gw = await open_gateway(catalog=_without_tools(cheapest))
    # Without tools the same cheapest model still serves; with tools, never it.
    assert served(await gw.chat("gpt-4o-mini", max_tokens=100))[1] == cheapest
    tools: Any = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    for _ in range(3):
        raw = await gw.chat("gpt-4o-mini", max_tokens=100, tools=tools)
        model = served(raw)[1]
        assert model != cheapest
        assert gw.deps.catalog[model].features.tools


async def test_the_seed_route_takes_its_switches_from_the_body(open_gateway: OpenGateway) -> None:
    gw = await open_gateway()
    auth = {"authorization": f"Bearer {DEV_KEY}"}
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "maxTokens": 50}
    preferred = await gw.http.post(
        "http://gateway.test/api/ai/chat", json={**body, "preferredProvider": "ANTHROPIC"}, headers=auth
    )
    assert preferred.status_code == 200
    assert preferred.json()["provider"] == "ANTHROPIC"
    assert preferred.headers["x-gateway-route"] == "preferred"
    assert gw.deps.catalog[preferred.json()["model"]].equivalence_class == "small"
    # The body's switches win over the headers: pinned by the body although the headers say on.
    pinned = await gw.http.post(
        "http://gateway.test/api/ai/chat",
        json={**body, "costOptimization": False, "fallback": False},
        headers={**auth, "x-gateway-cost-optimization": "on", "x-gateway-fallback": "on"},
    )
    assert (pinned.json()["provider"], pinned.json()["model"]) == ("OPENAI", "gpt-4o-mini")
    assert pinned.headers["x-gateway-route"] == "requested"


async def test_an_exhausted_quota_fails_over_without_retrying_and_rests_the_key(open_gateway: OpenGateway) -> None:
    gw = await open_gateway(router_cost_optimization=False)
    gw.admin.add_key_rule(KEYS["openai"], kind="quota")
    raw = await gw.chat("gpt-4o-mini")
    provider, _, attempts, route = served(raw)
    assert provider != "OPENAI"
    assert attempts == 2
    assert route == "fallback after openai/gpt-4o-mini (rate_limit)"
    assert gw.clock.sleeps == []
    # The key's breaker opened at once (a quota does not come back in seconds): OpenAI is not called again.
    raw = await gw.chat("gpt-4o-mini")
    assert served(raw)[3] == "fallback after openai/gpt-4o-mini (key_breaker_open)"
    assert gw.calls(KEYS["openai"]) == 1
