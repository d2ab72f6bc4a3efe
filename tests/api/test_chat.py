"""ChatApi end to end: the real service core, the real adapters and the provider simulator over real HTTP,
driven through the ASGI app (and through `dispatch`, the Cloud Function entry).

Covers: authentication on every route (each route's own envelope, no usage event, nothing sent upstream);
the body limit (413 with and without content-length); 400s naming the field; JSON replies for each
provider with the route headers; SSE streams (chunks forwarded, usage chunk, [DONE]); a failure mid-stream
(one typed error event, no [DONE]); upstream errors (429 + Retry-After + x-should-retry after retries);
and the one usage event per authenticated request, with its status, http_status, error_kind and cost.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx2
import orjson
import pytest
import pytest_asyncio
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from shared.api.chat import ChatApi
from shared.api.deps import ChatDeps, build_chat_deps
from shared.events.port import MemorySink
from shared.events.schema import UsageEvent
from shared.settings import Settings
from tests.api import dev
from tests.simulator_server import SimulatorAdmin

DEV_KEY = "gw-test-key"
AUTH = {"authorization": f"Bearer {DEV_KEY}"}
# provider -> (the name a caller sends, the model that serves it, the seed spelling, the simulator's route)
MODELS: dict[str, tuple[str, str, str, str]] = {
    "openai": ("gpt-4o-mini", "gpt-4o-mini", "OPENAI", "openai.chat"),
    "anthropic": ("claude-haiku-4-5", "claude-haiku-4-5-20251001", "ANTHROPIC", "anthropic.messages"),
    "gemini": ("gemini-2.5-flash", "gemini-2.5-flash", "GOOGLE", "gemini.generate"),
}
PROVIDERS = list(MODELS)
SEED = "/api/ai/chat"
OPENAI = "/v1/chat/completions"
CHAT_ROUTES = [SEED, OPENAI]
ROUTE_NAMES = {SEED: "seed", OPENAI: "openai"}
LIMIT = 2048


def gateway_settings(sim_url: str, data_dir: Path, **changes: Any) -> Settings:
    """Settings pointing every provider at the simulator, with the test's development key."""
    fields: dict[str, Any] = {
        "provider_keys": MappingProxyType({"openai": ("k",), "anthropic": ("k",), "gemini": ("k",)}),
        "base_urls": MappingProxyType({"openai": f"{sim_url}/v1", "anthropic": sim_url, "gemini": f"{sim_url}/v1beta"}),
        "data_dir": data_dir,
        "dev_key": DEV_KEY,
        # These tests count upstream calls and events per request: the response cache (tested on its
        # own in tests/test_response_cache.py and tests/conformance) would answer repeats itself.
        "cache_enabled": False,
        # Each test expects the named model's provider to answer, and its faults to come back as they are:
        # routing (substitutes, failover) is proven in tests/api/test_routing.py.
        "router_cost_optimization": False,
        "router_fallback_enabled": False,
        # The module's common gateway sees many deliberate faults on one key: no breaker may trip on them.
        "breaker_min_requests": 1_000_000,
    }
    return dataclasses.replace(Settings(), **{**fields, **changes})


@dataclasses.dataclass
class Gateway:
    client: httpx2.AsyncClient  # ChatApi.asgi(): the dev server's mount
    dispatched: httpx2.AsyncClient  # ChatApi.dispatch: the Cloud Function entry
    sink: MemorySink
    deps: ChatDeps

    def event(self) -> UsageEvent:
        """The one usage event the request left (fails when there is not exactly one)."""
        assert len(self.sink.events) == 1, self.sink.events
        return self.sink.events[0]


OpenGateway = Callable[..., Awaitable[Gateway]]

# One event loop for the module, so the common gateway (its pooled client, its TLS context: ~50 ms to
# build) is made once; tests that need other settings open their own.
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def open_in(stack: contextlib.AsyncExitStack, sim_url: str, data_dir: Path, **changes: Any) -> Gateway:
    sink = MemorySink()
    deps = build_chat_deps(gateway_settings(sim_url, data_dir, **changes), events=sink)
    stack.push_async_callback(deps.aclose)

    async def ready() -> ChatDeps:
        return deps

    api = ChatApi(ready)

    async def function(scope: Scope, receive: Receive, send: Send) -> None:
        response = await api.dispatch(Request(scope, receive))
        await response(scope, receive, send)

    clients = [
        await stack.enter_async_context(
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gateway.test")
        )
        for app in (api.asgi(), function)
    ]
    return Gateway(clients[0], clients[1], sink, deps)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def common_gateway(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    async with contextlib.AsyncExitStack() as stack:
        yield await open_in(stack, sim_url, tmp_path_factory.mktemp("gateway"), max_body_bytes=LIMIT)


@pytest.fixture
def gw(common_gateway: Gateway) -> Gateway:
    """The common gateway (body limit LIMIT), its usage events cleared."""
    common_gateway.sink.events.clear()
    return common_gateway


@pytest_asyncio.fixture(loop_scope="module")
async def open_gateway(sim_url: str, tmp_path: Path) -> AsyncIterator[OpenGateway]:
    """Opens a gateway with other settings, closed at the end of the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def open_(**changes: Any) -> Gateway:
            return await open_in(stack, sim_url, tmp_path, **changes)

        yield open_


def chat_body(provider: str = "openai", text: str = "hello there", **fields: Any) -> dict[str, Any]:
    return {"model": MODELS[provider][0], "messages": [{"role": "user", "content": text}], **fields}


def error_of(response: httpx2.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def sse_data(response: httpx2.Response) -> list[str]:
    """The `data:` payloads of an SSE reply, in order."""
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events), events
    return [e.removeprefix("data: ") for e in events]


def upstream_calls(admin: SimulatorAdmin) -> int:
    return int(admin.stats()["total"])


def micros(usd: str) -> int:
    return int(Decimal(usd).scaleb(6))


def assert_timing(response: httpx2.Response, *steps: str) -> None:
    names = [entry.split(";")[0] for entry in response.headers["server-timing"].split(", ")]
    assert names == [*steps, "total"]


def client_for(gw: Gateway, entry: str) -> httpx2.AsyncClient:
    return gw.client if entry == "asgi" else gw.dispatched


ENTRIES = ["asgi", "dispatch"]  # the dev server's mount, the Cloud Function entry


# --- authentication -------------------------------------------------------------------------------

NO_KEY: dict[str, str] = {}
WRONG_BEARER = {"authorization": "Bearer gw-wrong-key"}
WRONG_API_KEY = {"x-api-key": "gw-wrong-key"}
NOT_BEARER = {"authorization": f"Basic {DEV_KEY}"}


@pytest.mark.parametrize(("method", "path"), [("POST", SEED), ("POST", OPENAI), ("GET", "/v1/models")])
@pytest.mark.parametrize("entry", ENTRIES)
async def test_no_valid_key_is_401_in_the_routes_envelope_and_leaves_no_event(
    gw: Gateway, admin: SimulatorAdmin, method: str, path: str, entry: str
) -> None:
    client = client_for(gw, entry)
    body = orjson.dumps(chat_body()) if method == "POST" else None
    for headers in (NO_KEY, WRONG_BEARER, WRONG_API_KEY, NOT_BEARER):
        response = await client.request(method, path, content=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/json"
        assert_timing(response)
        error = error_of(response)
        assert "gw-wrong-key" not in error["message"]
        assert DEV_KEY not in response.text
        if path == SEED:
            assert {k: v for k, v in error.items() if k != "message"} == {
                "code": "unauthorized",
                "type": "authentication",
                "provider": None,
                "retryable": False,
                "attempts": 0,
            }
        else:
            assert {k: v for k, v in error.items() if k != "message"} == {
                "type": "authentication_error",
                "param": None,
                "code": "invalid_api_key",
            }
    # The caller is unknown: nothing is recorded for it and nothing went upstream.
    assert gw.sink.events == []
    assert upstream_calls(admin) == 0


async def test_a_missing_key_says_how_to_send_one(gw: Gateway) -> None:
    response = await gw.client.post(OPENAI, json=chat_body())
    assert "Authorization: Bearer" in error_of(response)["message"]


async def test_x_api_key_is_accepted(gw: Gateway) -> None:
    response = await gw.client.post(OPENAI, json=chat_body(), headers={"x-api-key": DEV_KEY})
    assert response.status_code == 200
    assert gw.event().key_id == dev(gw.deps).key_id


async def test_a_key_from_the_store_calls_and_a_revoked_one_is_401_at_once(gw: Gateway, admin: SimulatorAdmin) -> None:
    meta, key = await gw.deps.keys.keys.create("app-1", scopes=frozenset({"chat"}))
    response = await gw.client.post(OPENAI, json=chat_body(), headers={"x-api-key": key})
    assert response.status_code == 200
    assert (gw.event().tenant, gw.event().key_id) == ("app-1", meta.key_id)
    assert await gw.deps.keys.revoke(meta.key_id)
    gw.sink.events.clear()
    response = await gw.client.post(SEED, json=chat_body(), headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 401
    assert key not in response.text
    assert gw.sink.events == []


@pytest.mark.parametrize(("method", "path"), [("POST", SEED), ("POST", OPENAI), ("GET", "/v1/models")])
async def test_a_key_without_the_chat_scope_is_403(gw: Gateway, method: str, path: str) -> None:
    _, key = await gw.deps.keys.keys.create("app-1", scopes=frozenset({"analytics"}))
    body = orjson.dumps(chat_body()) if method == "POST" else None
    response = await gw.client.request(method, path, content=body, headers={"x-api-key": key})
    assert response.status_code == 403
    assert "'chat'" in error_of(response)["message"]
    assert gw.sink.events == []


def padded(size: int) -> bytes:
    """A valid chat body of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = orjson.dumps(chat_body())
    assert len(body) <= size
    return body + b" " * (size - len(body))


def assert_rejected_event(event: UsageEvent, route: str, http_status: int) -> None:
    assert (event.route, event.status, event.http_status, event.error_kind) == (
        ROUTE_NAMES[route],
        "error",
        http_status,
        "invalid_request",
    )
    assert (event.attempts, event.provider, event.cost_micros, event.unpriced) == (0, None, 0, False)
    assert (event.tenant, event.key_id) == ("local", event.key_id)


def assert_field(response: httpx2.Response, route: str, field: str) -> None:
    error = error_of(response)
    if route == SEED:
        assert (error["type"], error["code"], error["field"], error["attempts"]) == (
            "invalid_request",
            "invalid_request",
            field,
            0,
        )
    else:
        assert (error["type"], error["param"]) == ("invalid_request_error", field)


@pytest.mark.parametrize("route", CHAT_ROUTES)
async def test_a_body_over_the_limit_is_413(gw: Gateway, admin: SimulatorAdmin, route: str) -> None:
    response = await gw.client.post(route, content=padded(LIMIT + 1), headers=AUTH)
    assert response.status_code == 413
    assert_field(response, route, "body")
    assert f"{LIMIT}-byte limit" in error_of(response)["message"]
    assert_rejected_event(gw.event(), route, 413)
    assert upstream_calls(admin) == 0


@pytest.mark.parametrize("route", CHAT_ROUTES)
async def test_a_chunked_body_over_the_limit_is_413(gw: Gateway, route: str) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 100 + 1):
            yield b" " * 100

    response = await gw.client.post(route, content=pieces(), headers=AUTH)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert_field(response, route, "body")
    assert_rejected_event(gw.event(), route, 413)


async def test_a_declared_length_over_the_limit_is_refused_without_reading(gw: Gateway) -> None:
    # The header alone decides: the (short) body is never read.
    response = await gw.client.post(SEED, content=b"{}", headers={**AUTH, "content-length": str(LIMIT + 1)})
    assert response.status_code == 413
    assert_field(response, SEED, "body")


@pytest.mark.parametrize("route", CHAT_ROUTES)
async def test_a_body_of_exactly_the_limit_is_served(gw: Gateway, route: str) -> None:
    response = await gw.client.post(route, content=padded(LIMIT), headers=AUTH)
    assert response.status_code == 200
    assert gw.event().status == "ok"


@pytest.mark.parametrize(
    ("route", "content", "headers", "field"),
    [
        (OPENAI, b'{"model": "gpt-4o-mini", "messages": [', {}, "body"),
        (SEED, b"[]", {}, "body"),
        (OPENAI, orjson.dumps(chat_body(temperature=5)), {}, "temperature"),
        (OPENAI, orjson.dumps({"model": "gpt-4o-mini", "messages": []}), {}, "messages"),
        (OPENAI, orjson.dumps(chat_body(stream="yes")), {}, "stream"),
        (SEED, orjson.dumps(chat_body(maxTokens=0)), {}, "maxTokens"),
        (SEED, orjson.dumps(chat_body(preferredProvider="AZURE")), {}, "preferredProvider"),
        (SEED, orjson.dumps({"messages": [{"role": "user", "content": "hi"}]}), {}, "model"),
        (OPENAI, orjson.dumps(chat_body()), {"x-gateway-fallback": "maybe"}, "x-gateway-fallback"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    gw: Gateway, admin: SimulatorAdmin, route: str, content: bytes, headers: dict[str, str], field: str
) -> None:
    response = await gw.client.post(route, content=content, headers={**AUTH, **headers})
    assert response.status_code == 400
    assert_field(response, route, field)
    assert_timing(response, "auth")
    assert_rejected_event(gw.event(), route, 400)
    assert upstream_calls(admin) == 0


@pytest.mark.parametrize("route", CHAT_ROUTES)
async def test_an_unknown_model_is_400_naming_the_model(gw: Gateway, route: str) -> None:
    response = await gw.client.post(route, json={**chat_body(), "model": "llama-3-70b"}, headers=AUTH)
    assert response.status_code == 400
    assert_field(response, route, "model")
    assert "GET /v1/models" in error_of(response)["message"]
    if route == OPENAI:
        assert error_of(response)["code"] == "model_not_found"
    event = gw.event()
    assert (event.model_requested, event.http_status, event.error_kind, event.attempts) == (
        "llama-3-70b",
        400,
        "invalid_request",
        0,
    )


# --- JSON replies ---------------------------------------------------------------------------------


def assert_route_headers(response: httpx2.Response, provider: str, attempts: int = 1) -> None:
    _, model, seed_name, _ = MODELS[provider]
    assert response.headers["x-gateway-provider"] == seed_name
    assert response.headers["x-gateway-model"] == model
    assert response.headers["x-gateway-attempts"] == str(attempts)
    assert len(response.headers["x-request-id"]) == 32


def assert_served_event(gw: Gateway, response: httpx2.Response, route: str, provider: str, *, stream: bool) -> None:
    name, model, seed_name, _ = MODELS[provider]
    event = gw.event()
    assert (event.status, event.http_status, event.error_kind, event.stream) == ("ok", 200, None, stream)
    assert (event.route, event.provider, event.model, event.model_requested) == (
        ROUTE_NAMES[route],
        seed_name,
        model,
        name,
    )
    assert (event.request_id, event.attempts, event.tenant, event.key_id) == (
        response.headers["x-request-id"],
        1,
        "local",
        dev(gw.deps).key_id,
    )
    assert event.input_tokens > 0
    assert event.output_tokens > 0
    assert event.cost_micros is not None
    assert event.cost_micros > 0
    assert (event.ttft_ms is not None) == stream


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_openai_route_json_reply(gw: Gateway, admin: SimulatorAdmin, provider: str) -> None:
    response = await gw.client.post(
        OPENAI, json=chat_body(provider, '[sim text="Hi from the simulator"]'), headers=AUTH
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert_route_headers(response, provider)
    assert_timing(response, "auth", "parse", "upstream")
    reply = response.json()
    assert (reply["object"], reply["model"]) == ("chat.completion", MODELS[provider][1])
    assert "provider" not in reply  # the OpenAI wire carries the provider in a header only
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": "Hi from the simulator", "refusal": None}
    assert reply["choices"][0]["finish_reason"] == "stop"
    usage = reply["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # One cost, three places: the header, the body and the usage event.
    cost = response.headers["x-gateway-cost-usd"]
    assert Decimal(str(usage["cost"])) == Decimal(cost)
    assert_served_event(gw, response, OPENAI, provider, stream=False)
    assert gw.event().cost_micros == micros(cost)
    assert (gw.event().input_tokens, gw.event().output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert admin.stats()["calls"] == {MODELS[provider][3]: 1}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_seed_route_json_reply(gw: Gateway, provider: str) -> None:
    response = await gw.client.post(SEED, json=chat_body(provider, '[sim text="Seed says hi"]'), headers=AUTH)
    assert response.status_code == 200
    assert_route_headers(response, provider)
    reply = response.json()
    assert (reply["provider"], reply["model"]) == (MODELS[provider][2], MODELS[provider][1])
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": "Seed says hi"}
    assert reply["choices"][0]["finishReason"] == "stop"
    cost = response.headers["x-gateway-cost-usd"]
    assert Decimal(str(reply["usage"]["cost"])) == Decimal(cost)
    assert_served_event(gw, response, SEED, provider, stream=False)
    assert gw.event().cost_micros == micros(cost)


async def test_an_unpriced_model_says_so_everywhere(gw: Gateway) -> None:
    response = await gw.client.post(OPENAI, json={**chat_body(), "model": "gpt-9-experimental"}, headers=AUTH)
    assert response.status_code == 200
    assert response.headers["x-gateway-cost-usd"] == "unpriced"
    usage = response.json()["usage"]
    assert (usage["cost"], usage["unpriced"]) == (None, True)
    event = gw.event()
    assert (event.status, event.model, event.cost_micros, event.unpriced, event.price_verified) == (
        "ok",
        "gpt-9-experimental",
        None,
        True,
        None,
    )


async def test_request_ids_differ_per_request(gw: Gateway) -> None:
    first = await gw.client.post(OPENAI, json=chat_body(), headers=AUTH)
    second = await gw.client.post(OPENAI, json=chat_body(), headers=AUTH)
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert [e.request_id for e in gw.sink.events] == [first.headers["x-request-id"], second.headers["x-request-id"]]


# --- streams --------------------------------------------------------------------------------------

STREAM_TEXT = "Streams arrive in several pieces"


def chunks_of(data: list[str]) -> list[dict[str, Any]]:
    parsed: list[dict[str, Any]] = [orjson.loads(d) for d in data]
    return parsed


def streamed_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def assert_stream_headers(response: httpx2.Response, provider: str) -> None:
    assert response.status_code == 200
    assert_route_headers(response, provider)
    assert response.headers["cache-control"] == "no-cache"
    assert_timing(response, "auth", "parse", "first-chunk")
    assert "x-gateway-cost-usd" not in response.headers  # known only at the end: in the usage chunk


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_openai_stream_without_include_usage(gw: Gateway, provider: str) -> None:
    body = chat_body(provider, f'[sim text="{STREAM_TEXT}" chunks=4]', stream=True)
    response = await gw.client.post(OPENAI, json=body, headers=AUTH)
    assert_stream_headers(response, provider)
    data = sse_data(response)
    assert data[-1] == "[DONE]"
    chunks = chunks_of(data[:-1])
    assert len(chunks) >= 4  # forwarded piece by piece, not gathered into one
    assert {c["id"] for c in chunks} == {f"chatcmpl-{response.headers['x-request-id']}"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert all("usage" not in c for c in chunks)
    assert streamed_text(chunks) == STREAM_TEXT
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert_served_event(gw, response, OPENAI, provider, stream=True)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_openai_stream_with_include_usage_ends_with_the_usage_chunk(gw: Gateway, provider: str) -> None:
    body = chat_body(provider, f'[sim text="{STREAM_TEXT}"]', stream=True, stream_options={"include_usage": True})
    response = await gw.client.post(OPENAI, json=body, headers=AUTH)
    assert_stream_headers(response, provider)
    data = sse_data(response)
    assert data[-1] == "[DONE]"
    *content, usage_chunk = chunks_of(data[:-1])
    assert all(c["usage"] is None for c in content)
    assert streamed_text(content) == STREAM_TEXT
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    event = gw.event()
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (event.input_tokens, event.output_tokens)
    assert micros(str(usage["cost"])) == event.cost_micros
    assert_served_event(gw, response, OPENAI, provider, stream=True)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_seed_stream_always_ends_with_usage_and_done(gw: Gateway, provider: str) -> None:
    response = await gw.client.post(
        SEED, json=chat_body(provider, f'[sim text="{STREAM_TEXT}"]', stream=True), headers=AUTH
    )
    assert_stream_headers(response, provider)
    data = sse_data(response)
    assert data[-1] == "[DONE]"
    *content, usage_chunk = chunks_of(data[:-1])
    assert {c["provider"] for c in content} == {MODELS[provider][2]}
    assert streamed_text(content) == STREAM_TEXT
    assert content[-1]["choices"][0]["finishReason"] == "stop"
    assert usage_chunk["choices"] == []
    event = gw.event()
    assert usage_chunk["usage"]["promptTokens"] == event.input_tokens
    assert micros(str(usage_chunk["usage"]["cost"])) == event.cost_micros
    assert_served_event(gw, response, SEED, provider, stream=True)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("route", CHAT_ROUTES)
async def test_a_failure_mid_stream_is_one_typed_error_event_and_no_done(
    gw: Gateway, route: str, provider: str
) -> None:
    body = chat_body(provider, "tell me [sim error_after=2 kind=server_error]", stream=True)
    response = await gw.client.post(route, json=body, headers=AUTH)
    assert response.status_code == 200  # the status line had gone out with the first chunk
    data = sse_data(response)
    assert "[DONE]" not in data
    events = chunks_of(data)
    errors = [e for e in events if "error" in e]
    assert errors == [events[-1]]
    assert len(events) >= 2  # what arrived before the failure was forwarded
    error = errors[0]["error"]
    if route == SEED:
        assert (error["code"], error["type"], error["provider"], error["retryable"], error["attempts"]) == (
            "api_error",
            "api_error",
            MODELS[provider][2],
            True,
            1,
        )
    else:
        assert (error["type"], error["code"]) == ("api_error", "upstream_error")
    event = gw.event()
    assert (event.status, event.http_status, event.error_kind, event.stream) == ("error", 200, "api_error", True)
    assert (event.provider, event.attempts, event.request_id) == (
        MODELS[provider][2],
        1,
        response.headers["x-request-id"],
    )
    assert event.ttft_ms is not None


@pytest.mark.parametrize("route", CHAT_ROUTES)
async def test_a_stream_cut_mid_way_ends_with_a_network_error_event(gw: Gateway, route: str) -> None:
    response = await gw.client.post(
        route, json=chat_body("anthropic", "go [sim cut_after=2]", stream=True), headers=AUTH
    )
    data = sse_data(response)
    assert "[DONE]" not in data
    last = orjson.loads(data[-1])["error"]
    assert last["code"] == "network_error"
    event = gw.event()
    assert (event.status, event.http_status, event.error_kind) == ("error", 200, "network_error")


@pytest.mark.parametrize("route", CHAT_ROUTES)
async def test_a_stream_refused_before_its_first_chunk_is_a_json_error(
    gw: Gateway, admin: SimulatorAdmin, route: str
) -> None:
    body = chat_body("openai", "x [sim kind=context_length]", stream=True)
    response = await gw.client.post(route, json=body, headers=AUTH)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert_timing(response, "auth", "parse", "upstream")
    assert error_of(response)["code"] in ("context_length", "context_length_exceeded")
    event = gw.event()
    assert response.headers["x-request-id"] == event.request_id
    assert (event.status, event.http_status, event.error_kind, event.stream, event.ttft_ms) == (
        "error",
        400,
        "context_length",
        True,
        None,
    )
    assert upstream_calls(admin) == 1  # the caller's mistake is not retried


# --- upstream errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", CHAT_ROUTES)
async def test_rate_limited_after_retries_is_429_with_retry_after(
    gw: Gateway, admin: SimulatorAdmin, route: str, stream: bool
) -> None:
    body = chat_body("openai", "x [sim status=429 retry_after=0]", stream=stream)
    response = await gw.client.post(route, json=body, headers=AUTH)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0"
    # The gateway retried (3 retries: 4 attempts), so the SDKs should not retry on top.
    assert response.headers["x-should-retry"] == "false"
    assert upstream_calls(admin) == 4
    error = error_of(response)
    if route == SEED:
        assert (error["code"], error["type"], error["provider"], error["retryable"], error["attempts"]) == (
            "rate_limit",
            "rate_limit",
            "OPENAI",
            True,
            4,
        )
    else:
        assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    event = gw.event()
    assert response.headers["x-request-id"] == event.request_id
    assert (event.status, event.http_status, event.error_kind, event.attempts, event.provider) == (
        "error",
        429,
        "rate_limit",
        4,
        "OPENAI",
    )
    assert (event.cost_micros, event.unpriced, event.input_tokens) == (0, False, 0)


async def test_a_long_retry_after_is_not_waited_for(gw: Gateway, admin: SimulatorAdmin) -> None:
    response = await gw.client.post(OPENAI, json=chat_body("gemini", "x [sim status=429 retry_after=30]"), headers=AUTH)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert "x-should-retry" not in response.headers  # no retry happened
    assert upstream_calls(admin) == 1
    assert gw.event().attempts == 1


async def test_a_server_error_after_retries_is_502(open_gateway: OpenGateway, admin: SimulatorAdmin) -> None:
    # retry_after=0 keeps the retries immediate (no jitter sleep).
    gw = await open_gateway(router_max_retries=1)
    response = await gw.client.post(
        SEED, json=chat_body("anthropic", "x [sim kind=server_error retry_after=0]"), headers=AUTH
    )
    assert response.status_code == 502
    assert "retry-after" not in response.headers
    assert response.headers["x-should-retry"] == "false"
    assert error_of(response)["attempts"] == 2
    assert upstream_calls(admin) == 2
    event = gw.event()
    assert (event.http_status, event.error_kind, event.attempts, event.provider) == (502, "api_error", 2, "ANTHROPIC")


async def test_a_provider_without_a_platform_key_is_503(open_gateway: OpenGateway, admin: SimulatorAdmin) -> None:
    gw = await open_gateway(provider_keys=MappingProxyType({"openai": ("k",), "anthropic": ("k",), "gemini": ()}))
    response = await gw.client.post(OPENAI, json=chat_body("gemini"), headers=AUTH)
    assert response.status_code == 503
    assert "gemini" in error_of(response)["message"]
    assert upstream_calls(admin) == 0
    event = gw.event()
    assert (event.http_status, event.error_kind, event.attempts, event.provider) == (503, "api_error", 0, None)


# --- GET /v1/models -------------------------------------------------------------------------------


async def test_models_lists_the_catalog_and_records_nothing(gw: Gateway) -> None:
    response = await gw.client.get("/v1/models", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert_timing(response)
    listing = response.json()
    ids = {m["id"] for m in listing["data"]}
    assert listing["object"] == "list"
    assert {"gpt-4o-mini", "claude-haiku-4-5-20251001", "gemini-2.5-flash"} <= ids
    assert gw.sink.events == []


# --- dispatch (the Cloud Function entry) ----------------------------------------------------------


@pytest.mark.parametrize("route", CHAT_ROUTES)
async def test_dispatch_serves_the_chat_routes(gw: Gateway, route: str) -> None:
    response = await gw.dispatched.post(route, json=chat_body("gemini", stream=True), headers=AUTH)
    assert_stream_headers(response, "gemini")
    assert sse_data(response)[-1] == "[DONE]"
    response = await gw.dispatched.post(route, json=chat_body("gemini"), headers=AUTH)
    assert response.status_code == 200
    assert_route_headers(response, "gemini")
    assert [e.route for e in gw.sink.events] == [ROUTE_NAMES[route]] * 2


async def test_dispatch_serves_models(gw: Gateway) -> None:
    response = await gw.dispatched.get("/v1/models", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["object"] == "list"


@pytest.mark.parametrize("entry", ENTRIES)
async def test_an_unknown_path_is_a_json_404(gw: Gateway, entry: str) -> None:
    for path in ("/", "/v1/completions", "/api/ai/chat/extra", "/v1/models/gpt-4o"):
        response = await client_for(gw, entry).post(path, json=chat_body(), headers=AUTH)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert_timing(response)
        assert error_of(response) == {
            "message": f"no route for {path}",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    assert gw.sink.events == []


@pytest.mark.parametrize("entry", ENTRIES)
async def test_a_404_is_valid_json_whatever_the_path_holds(gw: Gateway, entry: str) -> None:
    # The path is the caller's, percent-decoded: a quote in it once broke the JSON of the reply.
    response = await client_for(gw, entry).get('/say"hi"', headers=AUTH)
    assert response.status_code == 404
    assert error_of(response)["message"] == 'no route for /say"hi"'
    # A long path is echoed only in part.
    response = await client_for(gw, entry).get("/" + "a" * 500, headers=AUTH)
    assert error_of(response)["message"] == "no route for /" + "a" * 63


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(
    ("method", "path", "allow"), [("GET", SEED, "POST"), ("PUT", OPENAI, "POST"), ("POST", "/v1/models", "GET, HEAD")]
)
async def test_a_wrong_method_is_405_with_allow(gw: Gateway, entry: str, method: str, path: str, allow: str) -> None:
    response = await client_for(gw, entry).request(method, path, headers=AUTH)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert_timing(response)
    assert error_of(response) == {
        "message": "method not allowed",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert gw.sink.events == []


async def test_a_bug_in_the_gateway_is_a_logged_500_in_openai_s_envelope(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> ChatDeps:
        raise RuntimeError("deps exploded")

    app = ChatApi(broken).asgi()
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gateway.test") as client:
        reply = await client.post(OPENAI, json={"model": "gpt-4o-mini", "messages": []}, headers=AUTH)
        missing = await client.get("/nowhere")
    assert reply.status_code == 500
    assert reply.json() == {
        "error": {"message": "internal error", "type": "server_error", "param": None, "code": "internal_error"}
    }
    assert "deps exploded" not in reply.text
    assert any("unhandled error" in r.message and r.exc_info for r in caplog.records)
    assert missing.status_code == 404  # routing itself does not need the deps
