"""The official `openai` SDK (no retries) against the running simulator: replies, streams and errors parse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.simulator.helpers import KEY, WEATHER_SCHEMA, collect
from tests.simulator_server import SimulatorAdmin

_MODEL = "gpt-4o-mini"
_TOOLS: list[Any] = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}]


def _client(sim_url: str, key: str = KEY, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"{sim_url}/v1", max_retries=0, **options)


@pytest.fixture(scope="module")
def client(sim_url: str) -> Iterator[openai.OpenAI]:
    with _client(sim_url) as sdk:
        yield sdk


def _user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_json_reply(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=_MODEL, messages=_user("Hello there"))
    assert completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.content is not None
    assert completion.choices[0].message.content.startswith("Echo: Hello there #")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_text_stream_assembles_to_the_json_reply(client: openai.OpenAI) -> None:
    messages = _user("Tell me something [sim chunks=5]")
    stream = client.chat.completions.create(
        model=_MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    final = client.chat.completions.create(model=_MODEL, messages=messages)
    assert text == final.choices[0].message.content
    assert finish == "stop"
    assert usage is not None
    assert usage == final.usage


def test_tool_call_stream_assembles_to_the_json_reply(client: openai.OpenAI) -> None:
    messages = _user("Weather in two places [sim calls=2 chunks=3]")
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in client.chat.completions.create(model=_MODEL, messages=messages, tools=_TOOLS, stream=True):
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            if delta.function is not None:
                call["name"] += delta.function.name or ""
                call["arguments"] += delta.function.arguments or ""
    final = client.chat.completions.create(model=_MODEL, messages=messages, tools=_TOOLS)
    expected = [
        {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
        for c in final.choices[0].message.tool_calls or []
        if isinstance(c, openai.types.chat.ChatCompletionMessageFunctionToolCall)
    ]
    assert [calls[i] for i in sorted(calls)] == expected
    assert len(expected) == 2
    assert all(set(json.loads(c["arguments"])) == {"city", "days"} for c in expected)
    assert finish == final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("directive", "error_class", "status", "code"),
    [
        ("status=429 retry_after=1", openai.RateLimitError, 429, "rate_limit_exceeded"),
        ("kind=quota", openai.RateLimitError, 429, "insufficient_quota"),
        ("kind=auth", openai.AuthenticationError, 401, "invalid_api_key"),
        ("kind=permission", openai.PermissionDeniedError, 403, "unsupported_country_region_territory"),
        ("kind=not_found", openai.NotFoundError, 404, "model_not_found"),
        ("kind=context_length", openai.BadRequestError, 400, "context_length_exceeded"),
        ("kind=server_error", openai.InternalServerError, 500, None),
        ("kind=overloaded", openai.InternalServerError, 503, None),
    ],
)
def test_errors_raise_the_sdk_classes(
    client: openai.OpenAI, directive: str, error_class: type[openai.APIStatusError], status: int, code: str | None
) -> None:
    with pytest.raises(error_class) as caught:
        client.chat.completions.create(model=_MODEL, messages=_user(f"x [sim {directive}]"))
    assert caught.value.status_code == status
    assert caught.value.code == code
    assert caught.value.request_id == caught.value.response.headers["x-request-id"]


def test_errors_on_streams_before_the_first_byte(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=_MODEL, messages=_user("x [sim status=429 retry_after=2]"), stream=True)
    assert caught.value.response.headers["retry-after"] == "2"


def test_per_key_rules(sim_url: str, admin: SimulatorAdmin) -> None:
    admin.add_key_rule("sk-revoked", status=401)
    admin.add_key_rule("sk-throttled", kind="rate_limit")
    with _client(sim_url, "sk-revoked") as revoked, pytest.raises(openai.AuthenticationError):
        revoked.chat.completions.create(model=_MODEL, messages=_user("x"))
    with _client(sim_url, "sk-throttled") as throttled, pytest.raises(openai.RateLimitError):
        throttled.chat.completions.create(model=_MODEL, messages=_user("x"))
    with _client(sim_url, "sk-good") as good:
        assert good.chat.completions.create(model=_MODEL, messages=_user("x")).choices


def test_in_stream_error_raises(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model=_MODEL, messages=_user("x [sim error_after=2]"), stream=True)
    received, error = collect(stream)
    assert len(received) == 2
    assert isinstance(error, openai.APIError)
    assert error.message == "The server had an error while processing your request. Sorry about that!"


def test_cut_stream_raises(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model=_MODEL, messages=_user("x [sim cut_after=3]"), stream=True)
    received, error = collect(stream)
    assert len(received) == 3
    assert isinstance(error, openai.APIConnectionError)


def test_cut_json_reply_raises(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model=_MODEL, messages=_user("x [sim cut_after=0]"))


def test_latency_beyond_the_client_timeout_raises(sim_url: str) -> None:
    with _client(sim_url, timeout=0.1) as impatient, pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(model=_MODEL, messages=_user("x [sim latency_ms=400]"))


def test_blocked_prompt_parses_as_a_refusal(client: openai.OpenAI) -> None:
    message = client.chat.completions.create(model=_MODEL, messages=_user("x [sim finish=blocked]")).choices[0].message
    assert message.content is None
    assert message.refusal == "I'm very sorry, but I can't assist with that request."
