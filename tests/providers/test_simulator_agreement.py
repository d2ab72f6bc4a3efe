"""Adapters and simulator agree: each adapter's request, sent over real HTTP to the simulator (which
shares no code with the adapters), parses back into the unified form with the expected content, tool
calls, usage and errors.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

import httpx2
import pytest

from shared.errors import ProviderError
from shared.providers import PROVIDERS
from shared.providers.assembly import assemble
from shared.providers.spec import HttpRequest
from shared.unified import ChatRequest, ChatResponse, Message, Tool, ToolCall, ToolChoiceFunction
from tests.simulator_server import SimulatorAdmin

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}
KEY = "sk-agreement-test-key"
WEATHER = Tool(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)

pytestmark = pytest.mark.parametrize("provider", sorted(PROVIDERS))


@pytest.fixture
async def client() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=10.0) as http:
        yield http


def ask(provider: str, text: str, **settings: object) -> ChatRequest:
    return ChatRequest(
        model=MODELS[provider],
        messages=(Message(role="system", content="Be brief."), Message(role="user", content=text)),
        max_tokens=200,
        **settings,  # type: ignore[arg-type]
    )


def build(provider: str, request: ChatRequest, url: str, key: str = KEY) -> HttpRequest:
    return PROVIDERS[provider].build_request(request, api_key=key, base_url=f"{url}{BASE_PATHS[provider]}")


BASE_PATHS = {"openai": "/v1", "anthropic": "", "gemini": "/v1beta"}


async def complete(provider: str, request: ChatRequest, url: str, client: httpx2.AsyncClient) -> ChatResponse:
    built = build(provider, request, url)
    response = await client.request(built.method, built.url, headers=built.headers, content=built.body)
    spec = PROVIDERS[provider]
    if response.status_code != 200:
        raise spec.classify_error(response.status_code, response.content, dict(response.headers))
    return spec.parse_response(response.content)


async def stream(provider: str, request: ChatRequest, url: str, client: httpx2.AsyncClient) -> ChatResponse:
    built = build(provider, request, url)
    spec = PROVIDERS[provider]
    parser = spec.stream_parser(request)
    chunks = []
    async with client.stream(built.method, built.url, headers=built.headers, content=built.body) as response:
        if response.status_code != 200:
            body = await response.aread()
            raise spec.classify_error(response.status_code, body, dict(response.headers))
        async for data in response.aiter_raw():
            chunks.extend(parser.feed(data))
    chunks.extend(parser.close())
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == ()
    assert chunks[-1].usage is not None
    return assemble(chunks)


async def test_text_reply(provider: str, sim_url: str, client: httpx2.AsyncClient) -> None:
    response = await complete(provider, ask(provider, "Hello pelican friends"), sim_url, client)
    (choice,) = response.choices
    assert choice.message.content is not None
    assert "pelican" in choice.message.content  # the simulator echoes the last user words
    assert choice.finish_reason == "stop"
    assert response.usage is not None
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0


async def test_exact_text_json_and_stream_agree(provider: str, sim_url: str, client: httpx2.AsyncClient) -> None:
    text = 'Two names: "Percy" and Gulliver.'
    request = ask(provider, f'name them [sim text="{text.replace(chr(34), chr(92) + chr(34))}" chunks=7]')
    whole = await complete(provider, request, sim_url, client)
    streamed = await stream(provider, dataclasses.replace(request, stream=True), sim_url, client)
    assert whole.choices[0].message.content == text
    assert streamed.choices[0].message.content == text
    assert streamed.choices[0].finish_reason == whole.choices[0].finish_reason == "stop"
    assert streamed.usage == whole.usage


async def test_forced_tool_call_json_and_stream(provider: str, sim_url: str, client: httpx2.AsyncClient) -> None:
    request = ask(
        provider, "Weather in Paris? [sim chunks=5]", tools=(WEATHER,), tool_choice=ToolChoiceFunction("get_weather")
    )
    for response in (
        await complete(provider, request, sim_url, client),
        await stream(provider, dataclasses.replace(request, stream=True), sim_url, client),
    ):
        (choice,) = response.choices
        assert choice.finish_reason == "tool_calls"
        (call,) = choice.message.tool_calls
        assert call.name == "get_weather"
        assert call.id
        arguments = json.loads(call.arguments)
        assert isinstance(arguments["city"], str)


async def test_tool_result_turn_gets_a_text_answer(provider: str, sim_url: str, client: httpx2.AsyncClient) -> None:
    call = ToolCall(id="call_abc123", name="get_weather", arguments='{"city":"Paris"}')
    request = ChatRequest(
        model=MODELS[provider],
        messages=(
            Message(role="user", content="Weather in Paris?"),
            Message(role="assistant", tool_calls=(call,)),
            Message(role="tool", tool_call_id=call.id, content='{"temp_c": 18}'),
        ),
        tools=(WEATHER,),
        max_tokens=100,
    )
    response = await complete(provider, request, sim_url, client)
    assert response.choices[0].message.tool_calls == ()
    assert response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop"


async def test_reported_cache_and_reasoning_usage(provider: str, sim_url: str, client: httpx2.AsyncClient) -> None:
    words = " ".join(["padding"] * 400)
    request = ask(provider, f"{words} [sim cached_tokens=100 reasoning_tokens=7]")
    usage = (await complete(provider, request, sim_url, client)).usage
    assert usage is not None
    assert usage.cached_input_tokens == 100
    assert usage.input_tokens > 100  # the cached tokens are part of the prompt count
    assert usage.reasoning_tokens == 7
    assert usage.output_tokens >= 7


@pytest.mark.parametrize(
    ("directive", "kind", "retryable"),
    [
        ("status=429 retry_after=2", "rate_limit", True),
        ("kind=overloaded", "overloaded", True),
        ("kind=server_error", "api_error", True),
        ("kind=context_length", "context_length", False),
        ("kind=not_found", "not_found", False),
        ("kind=quota", None, False),
    ],
)
async def test_http_errors_are_classified(
    provider: str, directive: str, kind: str | None, retryable: bool, sim_url: str, client: httpx2.AsyncClient
) -> None:
    with pytest.raises(ProviderError) as caught:
        await complete(provider, ask(provider, f"hi [sim {directive}]"), sim_url, client)
    error = caught.value
    assert error.retryable is retryable
    if kind is not None:
        assert error.kind == kind
    else:  # quota exhaustion: OpenAI/Gemini 429 not retryable; Anthropic 402 billing -> permission
        assert error.kind in {"rate_limit", "permission"}
    if "retry_after=2" in directive:
        assert error.retry_after == 2.0


async def test_a_revoked_key_fails_and_another_key_works(
    provider: str, sim_url: str, client: httpx2.AsyncClient, admin: SimulatorAdmin
) -> None:
    fingerprint = admin.add_key_rule("sk-revoked", kind="auth")
    built = build(provider, ask(provider, "hi"), sim_url, key="sk-revoked")
    response = await client.request(built.method, built.url, headers=built.headers, content=built.body)
    error = PROVIDERS[provider].classify_error(response.status_code, response.content, dict(response.headers))
    assert (error.kind, error.retryable) == ("authentication", False)
    assert (await complete(provider, ask(provider, "hi"), sim_url, client)).choices[0].message.content
    stats = admin.stats()
    assert fingerprint in stats["key_fingerprints"]
    assert "sk-revoked" not in json.dumps(stats)
    assert KEY not in json.dumps(stats)


async def test_in_stream_error_event_raises_a_classified_error(
    provider: str, sim_url: str, client: httpx2.AsyncClient
) -> None:
    request = ask(provider, "tell me more [sim error_after=2 kind=overloaded chunks=6]", stream=True)
    with pytest.raises(ProviderError) as caught:
        await stream(provider, request, sim_url, client)
    assert caught.value.in_stream
    assert caught.value.retryable
    assert caught.value.kind in {"overloaded", "api_error"}


async def test_cut_stream_is_a_retryable_network_error(provider: str, sim_url: str, client: httpx2.AsyncClient) -> None:
    request = ask(provider, "tell me more [sim cut_after=2 chunks=6]", stream=True)
    # The cut shows either as the transport's protocol error (chunked body not finished) or, when
    # the bytes that arrived were whole events, as the parser's missing completion marker.
    with pytest.raises((ProviderError, httpx2.RemoteProtocolError)) as caught:
        await stream(provider, request, sim_url, client)
    if isinstance(caught.value, ProviderError):
        assert (caught.value.kind, caught.value.retryable, caught.value.in_stream) == ("network_error", True, True)
