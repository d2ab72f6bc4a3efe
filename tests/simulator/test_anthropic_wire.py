"""Anthropic Messages over real HTTP: JSON and SSE shapes, headers, validation, faults."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from tests.simulator.helpers import KEY, WEATHER_SCHEMA, anthropic_body, anthropic_post, read_cut_stream, sse_events
from tests.simulator_server import SimulatorAdmin

_TOOLS = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]


def test_json_reply_shape_and_headers(http: httpx2.Client) -> None:
    response = anthropic_post(http, anthropic_body("Hello!"))
    assert response.status_code == 200
    reply = response.json()
    assert reply["id"].startswith("msg_01")
    assert (reply["type"], reply["role"], reply["model"]) == ("message", "assistant", "claude-sonnet-4-5")
    assert reply["content"] == [{"type": "text", "text": reply["content"][0]["text"]}]
    assert reply["content"][0]["text"].startswith("Echo: Hello! #")
    assert (reply["stop_reason"], reply["stop_sequence"]) == ("end_turn", None)
    assert set(reply["usage"]) >= {
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
    }
    assert response.headers["request-id"].startswith("req_011C")
    assert response.headers["anthropic-ratelimit-requests-limit"] == "4000"
    assert response.headers["anthropic-ratelimit-tokens-reset"].endswith("Z")
    assert anthropic_post(http, anthropic_body("Hello!")).json()["content"] == reply["content"]


def test_bearer_auth_is_accepted_too(http: httpx2.Client) -> None:
    headers = {"authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01"}
    assert http.post("/v1/messages", json=anthropic_body(), headers=headers).status_code == 200


def test_text_stream_events(http: httpx2.Client) -> None:
    response = anthropic_post(http, anthropic_body("Two names [sim chunks=3]", stream=True))
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    events = sse_events(response.content)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    assert events[0][1]["message"]["content"] == []
    assert events[0][1]["message"]["stop_reason"] is None
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    final = anthropic_post(http, anthropic_body("Two names [sim chunks=3]")).json()
    assert text == final["content"][0]["text"]
    assert events[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[-2][1]["usage"]["output_tokens"] == final["usage"]["output_tokens"]
    assert events[-2][1]["usage"]["input_tokens"] == final["usage"]["input_tokens"]
    assert b" }\n\n" in response.content  # padding before the closing brace, as recorded


def test_tool_use_stream_and_thinking_blocks(http: httpx2.Client) -> None:
    body = anthropic_body(
        "Weather? [sim chunks=2]",
        stream=True,
        tools=_TOOLS,
        thinking={"type": "enabled", "budget_tokens": 1024},
        max_tokens=2048,
    )
    events = sse_events(anthropic_post(http, body).content)
    starts = [data["content_block"] for name, data in events if name == "content_block_start"]
    assert [block["type"] for block in starts] == ["thinking", "tool_use"]
    assert starts[1]["input"] == {}
    assert starts[1]["id"].startswith("toolu_01")
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert [d["type"] for d in deltas] == [
        "thinking_delta",
        "thinking_delta",
        "signature_delta",
        *["input_json_delta"] * 3,
    ]
    assert deltas[3]["partial_json"] == ""
    arguments = json.loads("".join(d["partial_json"] for d in deltas[3:]))
    assert set(arguments) == {"city", "days"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        (None, ["get_weather"]),
        ({"type": "any"}, ["get_weather"]),
        ({"type": "tool", "name": "lookup"}, ["lookup"]),
        ({"type": "none"}, []),
    ],
)
def test_tool_choice(http: httpx2.Client, tool_choice: dict[str, Any] | None, expected: list[str]) -> None:
    tools = [*_TOOLS, {"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    body = anthropic_body("Weather?", tools=tools) | ({"tool_choice": tool_choice} if tool_choice else {})
    reply = anthropic_post(http, body).json()
    assert [b["name"] for b in reply["content"] if b["type"] == "tool_use"] == expected
    assert reply["stop_reason"] == ("tool_use" if expected else "end_turn")


def test_tool_result_turn_gets_text(http: httpx2.Client) -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]},
    ]
    reply = anthropic_post(http, anthropic_body(tools=_TOOLS) | {"messages": messages}).json()
    assert reply["content"][0]["text"].startswith("Tool result received: 18C #")


def test_usage_cache_fields(http: httpx2.Client, admin: SimulatorAdmin) -> None:
    plain = anthropic_post(http, anthropic_body("x")).json()["usage"]
    admin.set_defaults(cached_tokens=3, cache_write_tokens=2)
    usage = anthropic_post(http, anthropic_body("x")).json()["usage"]
    assert usage["cache_read_input_tokens"] == 3
    assert usage["cache_creation_input_tokens"] == 2
    assert usage["cache_creation"] == {"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 0}
    assert usage["input_tokens"] == plain["input_tokens"] - 5  # input_tokens excludes cache reads and writes


@pytest.mark.parametrize(
    ("directive", "status", "error_type"),
    [
        ("kind=overloaded", 529, "overloaded_error"),
        ("status=429", 429, "rate_limit_error"),
        ("kind=server_error", 500, "api_error"),
        ("kind=auth", 401, "authentication_error"),
        ("kind=permission", 403, "permission_error"),
        ("kind=not_found", 404, "not_found_error"),
        ("kind=quota", 402, "billing_error"),
        ("kind=timeout", 504, "timeout_error"),
        ("kind=context_length", 400, "invalid_request_error"),
        ("status=503", 503, "overloaded_error"),
    ],
)
def test_error_kinds_in_anthropic_envelope(http: httpx2.Client, directive: str, status: int, error_type: str) -> None:
    response = anthropic_post(http, anthropic_body(f"x [sim {directive}]"))
    assert response.status_code == status
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert body["request_id"] == response.headers["request-id"]
    assert (response.headers.get("x-should-retry") == "false") == (status in (400, 401, 402, 403, 404))
    if directive == "kind=context_length":
        assert body["error"]["message"].startswith("prompt is too long: ")


def test_retry_after_header(http: httpx2.Client) -> None:
    response = anthropic_post(http, anthropic_body("x [sim status=429 retry_after=7]"))
    assert response.headers["retry-after"] == "7"
    assert response.headers["anthropic-ratelimit-requests-remaining"] == "0"


@pytest.mark.parametrize(
    ("kind", "error_type", "message"),
    [("overloaded", "overloaded_error", "Overloaded"), ("server_error", "api_error", "Internal server error")],
)
def test_error_event_mid_stream(http: httpx2.Client, kind: str, error_type: str, message: str) -> None:
    response = anthropic_post(http, anthropic_body(f"x [sim error_after=3 kind={kind}]", stream=True))
    assert response.status_code == 200
    events = sse_events(response.content)
    assert [name for name, _ in events] == ["message_start", "content_block_start", "ping", "error"]
    assert events[-1][1] == {"type": "error", "error": {"type": error_type, "message": message}}


def test_cut_after_never_reaches_message_stop(http: httpx2.Client) -> None:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    received = read_cut_stream(http, "/v1/messages", anthropic_body("x [sim cut_after=500]", stream=True), headers)
    assert b"event: message_delta" in received  # clamped to everything before the completion marker
    assert b"message_stop" not in received


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]}, "max_tokens: Field required"),
        (anthropic_body(temperature=1.5), "temperature: Input should be less than or equal to 1"),
        (anthropic_body(messages=[]), "messages: List should have at least 1 item after validation, not 0"),
        (
            anthropic_body(messages=[{"role": "system", "content": "x"}]),
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            anthropic_body(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]),
            "messages: text content blocks must be non-empty",
        ),
        (
            anthropic_body(messages=[{"role": "user", "content": ""}]),
            "messages.0: all messages must have non-empty content",
        ),
        (
            anthropic_body(
                messages=[
                    {"role": "user", "content": "Weather?"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "w", "input": {}}]},
                    {"role": "user", "content": "and now?"},
                ]
            ),
            "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_9",
        ),
        (
            anthropic_body(
                messages=[
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}
                ]
            ),
            "unexpected `tool_use_id` found in `tool_result` blocks: toolu_9",
        ),
        (
            anthropic_body(thinking={"type": "enabled", "budget_tokens": 500}),
            "budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            anthropic_body(max_tokens=1024, thinking={"type": "enabled", "budget_tokens": 1024}),
            "`max_tokens` must be greater than",
        ),
        (
            anthropic_body(tools=[{"name": "t", "input_schema": {"type": "string"}}]),
            "input_schema.type: Input should be 'object'",
        ),
        (anthropic_body(tools=_TOOLS, tool_choice={"type": "tool", "name": "nope"}), "Tool 'nope' not found"),
        (anthropic_body("x [sim kind=volcano]"), "sim directive kind='volcano'"),
    ],
)
def test_requests_the_real_api_rejects(http: httpx2.Client, body: dict[str, Any], message: str) -> None:
    response = anthropic_post(http, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert message in error["message"]


def test_headers_and_models(http: httpx2.Client) -> None:
    missing_key = anthropic_post(http, anthropic_body(), key=None)
    assert missing_key.status_code == 401
    assert missing_key.json()["error"] == {"type": "authentication_error", "message": "x-api-key header is required"}
    missing_version = anthropic_post(http, anthropic_body(), version=None)
    assert missing_version.status_code == 400
    assert missing_version.json()["error"]["message"] == "anthropic-version: header is required"
    accepted = ("claude-3-5-haiku-20241022", "claude-opus-4-7", "claude-2.1", "claude-fable-5", "claude-mythos-preview")
    for model in accepted:
        assert anthropic_post(http, anthropic_body() | {"model": model}).status_code == 200, model
    for model in ("claude-sonet-4-5", "gpt-4o", "claude"):
        response = anthropic_post(http, anthropic_body() | {"model": model})
        assert response.status_code == 404
        assert response.json()["error"] == {"type": "not_found_error", "message": f"model: {model}"}


def test_blocked_prompt_is_a_refusal_without_content(http: httpx2.Client) -> None:
    reply = anthropic_post(http, anthropic_body("x [sim finish=blocked]")).json()
    assert (reply["content"], reply["stop_reason"]) == ([], "refusal")
    events = sse_events(anthropic_post(http, anthropic_body("x [sim finish=blocked]", stream=True)).content)
    assert [name for name, _ in events] == ["message_start", "message_delta", "message_stop"]
    assert events[1][1]["delta"]["stop_reason"] == "refusal"
