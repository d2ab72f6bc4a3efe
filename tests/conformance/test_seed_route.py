"""The seed's own route, `POST /api/ai/chat`, over plain HTTP against the running gateway.

The request and reply shapes are the seed's (../shared/docs/seed.md, "API Endpoints"): camelCase in and
out, `provider` in the seed's spelling, `usage.cost` in USD, `finishReason`; the stream always ends with a
usage chunk and `[DONE]`; errors are `{"error": {code, message, type, provider, retryable, attempts}}`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from tests.conformance.conftest import Gateway, sse_data

PROVIDERS = [("gpt-4o-mini", "OPENAI"), ("claude-haiku-4-5", "ANTHROPIC"), ("gemini-2.5-flash", "GOOGLE")]
IDS = [provider for _, provider in PROVIDERS]
ENVELOPE_KEYS = {"code", "message", "type", "provider", "retryable", "attempts"}
SEED_TYPES = {"authentication", "rate_limit", "invalid_request", "api_error", "network_error"}
WEATHER: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]

# The seed's example request, verbatim.
SEED_EXAMPLE: dict[str, Any] = {
    "model": "gpt-3.5-turbo",
    "messages": [{"role": "user", "content": "Hello!"}],
    "maxTokens": 100,
    "temperature": 0.7,
    "stream": False,
    "preferredProvider": "OPENAI",
}


def _chat(api: httpx2.Client, body: dict[str, Any]) -> httpx2.Response:
    return api.post("/api/ai/chat", json=body)


def _events(reply: httpx2.Response) -> tuple[list[dict[str, Any]], bool]:
    """The JSON events of a seed stream, and whether it ended with [DONE]."""
    data = sse_data(reply.text)
    done = bool(data) and data[-1] == "[DONE]"
    return [json.loads(d) for d in (data[:-1] if done else data)], done


def _check_reply_shape(reply: httpx2.Response, model: str, provider: str) -> dict[str, Any]:
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert set(body) == {"id", "object", "created", "model", "provider", "choices", "usage"}
    assert isinstance(body["id"], str)
    assert body["id"]
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"].startswith(model)
    assert body["provider"] == provider
    choice = body["choices"][0]
    assert set(choice) == {"index", "message", "finishReason"}
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    usage = body["usage"]
    assert {"promptTokens", "completionTokens", "totalTokens", "cost"} <= set(usage)
    assert usage["totalTokens"] == usage["promptTokens"] + usage["completionTokens"]
    assert isinstance(usage["cost"], float)
    assert usage["cost"] > 0
    assert float(reply.headers["x-gateway-cost-usd"]) == pytest.approx(usage["cost"], abs=1e-9)
    assert reply.headers["x-gateway-provider"] == provider
    return body


def _check_envelope(reply: httpx2.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) >= ENVELOPE_KEYS
    assert error["type"] in SEED_TYPES
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


# --- replies -------------------------------------------------------------------------------------


def test_the_seed_example(api: httpx2.Client) -> None:
    body = _check_reply_shape(_chat(api, SEED_EXAMPLE), "gpt-3.5-turbo", "OPENAI")
    choice = body["choices"][0]
    assert choice["message"]["content"].startswith("Echo: Hello!")
    assert choice["finishReason"] == "stop"


def test_max_tokens_reaches_the_provider(api: httpx2.Client) -> None:
    reply = _chat(api, {**SEED_EXAMPLE, "messages": [{"role": "user", "content": "one two three four five six"}]})
    short = _chat(api, {**SEED_EXAMPLE, "maxTokens": 2, "messages": [{"role": "user", "content": "one two three"}]})
    assert reply.json()["choices"][0]["finishReason"] == "stop"
    assert short.json()["choices"][0]["finishReason"] == "length"
    assert short.json()["usage"]["completionTokens"] == 2


@pytest.mark.parametrize(("model", "provider"), PROVIDERS, ids=IDS)
def test_each_provider(api: httpx2.Client, model: str, provider: str) -> None:
    request = {"model": model, "messages": [{"role": "user", "content": "Hello!"}], "preferredProvider": provider}
    body = _check_reply_shape(_chat(api, request), model, provider)
    assert body["choices"][0]["finishReason"] == "stop"


@pytest.mark.parametrize(("model", "provider"), PROVIDERS, ids=IDS)
def test_stream(api: httpx2.Client, model: str, provider: str) -> None:
    # The seed's streaming example ("Tell me a story", stream true), on each provider.
    request = {"model": model, "messages": [{"role": "user", "content": "Tell me a story [sim chunks=4]"}]}
    reply = _chat(api, {**request, "stream": True})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["x-gateway-provider"] == provider
    events, done = _events(reply)
    assert done
    assert all(e["object"] == "chat.completion.chunk" and e["provider"] == provider for e in events)
    assert len({e["id"] for e in events}) == 1
    *chunks, tail = events
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    finishes = [c["choices"][0]["finishReason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop"
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) >= 2
    assert tail["choices"] == []
    usage = tail["usage"]
    assert usage["totalTokens"] == usage["promptTokens"] + usage["completionTokens"]
    assert usage["cost"] > 0
    # The same request as JSON gives the same text and usage.
    final = _chat(api, request).json()
    assert text == final["choices"][0]["message"]["content"]
    assert usage == final["usage"]


# --- tools ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider"), PROVIDERS, ids=IDS)
def test_tool_calls_round_trip(api: httpx2.Client, model: str, provider: str) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    forced = {"type": "function", "function": {"name": "get_weather"}}
    first = _chat(api, {"model": model, "messages": messages, "tools": WEATHER, "toolChoice": forced})
    body = _check_reply_shape(first, model, provider)
    choice = body["choices"][0]
    assert choice["finishReason"] == "tool_calls"
    message = choice["message"]
    (call,) = message["toolCalls"]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert isinstance(json.loads(call["function"]["arguments"])["city"], str)
    # The reply's assistant message goes back as is, with the tool result.
    tool = {"role": "tool", "toolCallId": call["id"], "content": "snow, -3 C"}
    second = _chat(api, {"model": model, "messages": [*messages, message, tool], "tools": WEATHER})
    answer = _check_reply_shape(second, model, provider)["choices"][0]
    assert answer["finishReason"] == "stop"
    assert "snow, -3 C" in answer["message"]["content"]
    assert "toolCalls" not in answer["message"]


def test_streamed_tool_call(api: httpx2.Client) -> None:
    request = {
        "model": "claude-haiku-4-5",
        "messages": [{"role": "user", "content": "Weather in Rome? [sim chunks=3]"}],
        "tools": WEATHER,
        "toolChoice": "required",
        "stream": True,
    }
    events, done = _events(_chat(api, request))
    assert done
    pieces = [p for e in events if e["choices"] for p in e["choices"][0]["delta"].get("toolCalls", [])]
    assert pieces[0]["id"]
    assert pieces[0]["function"]["name"] == "get_weather"
    arguments = "".join(p["function"].get("arguments") or "" for p in pieces)
    assert isinstance(json.loads(arguments)["city"], str)
    assert [e["choices"][0]["finishReason"] for e in events if e["choices"]][-1] == "tool_calls"


# --- errors --------------------------------------------------------------------------------------


def test_401_envelope(gateway: Gateway) -> None:
    for headers in ({"authorization": "Bearer not-the-key"}, {}):
        reply = httpx2.post(f"{gateway.url}/api/ai/chat", json=SEED_EXAMPLE, headers=headers, timeout=10.0)
        error = _check_envelope(reply, 401)
        assert (error["code"], error["type"]) == ("unauthorized", "authentication")
        assert (error["provider"], error["retryable"], error["attempts"]) == (None, False, 0)
        assert "not-the-key" not in reply.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"temperature": 5}, "temperature"),
        ({"maxTokens": 0}, "maxTokens"),
        ({"preferredProvider": "AZURE"}, "preferredProvider"),
        ({"messages": []}, "messages"),
        (
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {
                        "role": "assistant",
                        "content": None,
                        "toolCalls": [{"id": "c1", "type": "function", "function": {"name": "no spaces"}}],
                    },
                ]
            },
            "messages[1].toolCalls[0].function.name",
        ),
    ],
    ids=["temperature", "maxTokens", "preferredProvider", "messages", "toolCalls"],
)
def test_400_envelope_names_the_field(api: httpx2.Client, change: dict[str, Any], field: str) -> None:
    error = _check_envelope(_chat(api, {**SEED_EXAMPLE, **change}), 400)
    assert (error["code"], error["type"], error["retryable"], error["attempts"]) == (
        "invalid_request",
        "invalid_request",
        False,
        0,
    )
    assert error["field"] == field


def test_429_envelope(api: httpx2.Client) -> None:
    request = {**SEED_EXAMPLE, "messages": [{"role": "user", "content": "Hello! [sim status=429 retry_after=0]"}]}
    reply = _chat(api, request)
    error = _check_envelope(reply, 429)
    assert (error["code"], error["type"], error["provider"], error["retryable"]) == (
        "rate_limit",
        "rate_limit",
        "OPENAI",
        True,
    )
    assert error["attempts"] == 4  # the first try and three retries
    assert reply.headers["retry-after"] == "0"
    assert reply.headers["x-should-retry"] == "false"


def test_502_envelope_after_retries(api: httpx2.Client) -> None:
    request = {
        "model": "claude-haiku-4-5",
        "messages": [{"role": "user", "content": "Hello! [sim kind=overloaded retry_after=0]"}],
    }
    reply = _chat(api, request)
    error = _check_envelope(reply, 502)
    assert (error["code"], error["type"], error["provider"], error["attempts"]) == (
        "overloaded",
        "api_error",
        "ANTHROPIC",
        4,
    )
    assert reply.headers["x-should-retry"] == "false"


@pytest.mark.parametrize(("model", "provider"), PROVIDERS, ids=IDS)
def test_mid_stream_error_event(api: httpx2.Client, model: str, provider: str) -> None:
    request = {"model": model, "messages": [{"role": "user", "content": "Go on [sim error_after=2]"}], "stream": True}
    reply = _chat(api, request)
    assert reply.status_code == 200
    events, done = _events(reply)
    assert not done
    assert all("error" not in e for e in events[:-1])
    assert set(events[-1]) == {"error"}
    error = events[-1]["error"]
    assert set(error) >= ENVELOPE_KEYS
    assert (error["type"], error["provider"], error["retryable"], error["attempts"]) == (
        "api_error",
        provider,
        True,
        1,
    )
