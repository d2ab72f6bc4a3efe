"""The response cache end to end: the gateway started as `make run` starts it (cache on, in-process port),
the official openai SDK as the caller. A repeat is a HIT that costs $0 and calls no provider; a streamed
hit replays a valid SSE stream (content and usage) the SDK assembles; another user never hits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.conformance.conftest import DEV_KEY, Gateway, launch_gateway


@pytest.fixture(scope="module")
def cached_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with launch_gateway(tmp_path_factory.mktemp("cache"), CACHE_ENABLED="true") as gw:
        yield gw


def sdk(gw: Gateway, user: str | None = None) -> openai.OpenAI:
    headers = {"X-User-Id": user} if user else None
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEV_KEY, max_retries=0, default_headers=headers)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash"])
def test_a_repeat_is_a_free_hit(cached_gateway: Gateway, model: str) -> None:
    client = sdk(cached_gateway)
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": f"cache me please ({model})"}]
    first = client.chat.completions.with_raw_response.create(model=model, messages=messages)
    second = client.chat.completions.with_raw_response.create(model=model, messages=messages)
    assert (first.headers["x-gateway-cache"], second.headers["x-gateway-cache"]) == ("MISS", "HIT")
    assert second.headers["x-gateway-attempts"] == "0"
    assert second.headers["x-gateway-cost-usd"] == "0.000000"
    one, two = first.parse(), second.parse()
    assert one.choices[0].message.content == two.choices[0].message.content
    assert two.usage is not None
    assert two.usage.model_extra is not None
    assert two.usage.model_extra["cost"] == 0


def test_a_streamed_hit_replays_a_valid_stream(cached_gateway: Gateway) -> None:
    client = sdk(cached_gateway)
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "stream me twice [sim chunks=6]"}]

    def run() -> tuple[str, int | None]:
        text, prompt_tokens = "", None
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            if chunk.usage is not None:
                prompt_tokens = chunk.usage.prompt_tokens
        return text, prompt_tokens

    live, replayed = run(), run()
    assert live == replayed
    assert live[0]
    assert live[1]
    # The replay really came from the cache: a third run, read raw, says so and calls no provider.
    body = {"model": "gpt-4o-mini", "messages": messages, "stream": True, "stream_options": {"include_usage": True}}
    headers = {"authorization": f"Bearer {DEV_KEY}"}
    with (
        httpx2.Client(base_url=cached_gateway.url, headers=headers, timeout=10.0) as raw,
        raw.stream("POST", "/v1/chat/completions", json=body) as reply,
    ):
        assert (reply.headers["x-gateway-cache"], reply.headers["x-gateway-attempts"]) == ("HIT", "0")
        text = reply.read().decode()
    assert text.rstrip().endswith("data: [DONE]")


def test_another_user_never_gets_the_cached_answer(cached_gateway: Gateway) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "personal question"}]
    alice = sdk(cached_gateway, "alice").chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=messages,
    )
    bob = sdk(cached_gateway, "bob").chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=messages,
    )
    assert (alice.headers["x-gateway-cache"], bob.headers["x-gateway-cache"]) == ("MISS", "MISS")


def test_no_store_leaves_nothing_behind(cached_gateway: Gateway) -> None:
    client = sdk(cached_gateway)
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "do not keep this"}]
    headers = {"Cache-Control": "no-store"}
    first = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=messages,
        extra_headers=headers,
    )
    second = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    assert (first.headers["x-gateway-cache"], second.headers["x-gateway-cache"]) == ("BYPASS", "MISS")
