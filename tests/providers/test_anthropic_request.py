"""Anthropic's own request format (`anthropic_request.parse_request`): recorded requests round-trip, then the rules.

The recorded `*.request.json` files parsed into the unified form and built back with `build_request`;
hand-written bodies for what the recordings do not cover and for malformed input.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shared.errors import RequestError
from shared.providers.anthropic import build_request, parse_request
from shared.unified import (
    ImagePart,
    Message,
    ReasoningBlock,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoiceFunction,
)
from tests.recordings import entries, load_json

# --------------------------------------------------------------------------------------------
# Recorded requests: parse_request then build_request gives the same body back

# Request files and what each must give. None = round-trips; a string = RequestError naming that field.
REQUESTS: dict[str, str | None] = {
    "anthropic/text.request.json": None,
    "anthropic/tool_call.request.json": None,
    "anthropic/usage_cached.request.json": None,
    "anthropic/reasoning.request.json": None,
    "anthropic/reasoning_2.request.json": None,
    "anthropic/stream_text.request.json": None,
    "anthropic/stream_tool_call.request.json": None,
    "anthropic/stream_tool_call_2.request.json": None,
    "anthropic/stream_thinking.request.json": None,
    "anthropic/stream_usage.request.json": None,
    "anthropic/error_401.request.json": None,
    "anthropic/error_404.request.json": None,
    "anthropic/error_400.request.json": "messages[0]",  # "messages": ["Invalid content"]
}


def test_table_covers_every_recorded_anthropic_request() -> None:
    recorded = entries("anthropic")
    if not recorded:
        pytest.skip("recordings absent")
    assert {e["request_file"] for e in recorded if e["request_file"]} == set(REQUESTS)


# What the adapter deliberately does not emit, each with its reason; `normalize` removes them.
NOT_EMITTED = {
    "stream: false": "false is the default; build_request only writes stream when true",
    "system[].cache_control": "prompt-cache markers have no place in the unified form",
    "system as text blocks": "hoisted system text is emitted as one string (texts joined with a blank line)",
    "content as a string": "a string is one text block (providers.md 2.1); build_request always emits blocks",
}


def normalize(body: dict[str, Any]) -> dict[str, Any]:
    out = dict(body)
    if out.get("stream") is False:
        del out["stream"]
    if isinstance(out.get("system"), list):
        out["system"] = "\n\n".join(block["text"] for block in out["system"])
    out["messages"] = [
        {**m, "content": [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]}
        for m in out["messages"]
    ]
    return out


@pytest.mark.parametrize("file", sorted(REQUESTS))
def test_recorded_request_round_trip(file: str) -> None:
    original = load_json(file)
    field = REQUESTS[file]
    if field is not None:
        with pytest.raises(RequestError) as info:
            parse_request(original)
        assert info.value.field == field
        return
    unified = parse_request(original)
    assert unified.model == original["model"]
    built = build_request(unified, api_key="k")
    assert built.stream is (original.get("stream") is True)
    assert normalize(orjson.loads(built.body)) == normalize(original)


def test_recorded_request_details() -> None:
    cached = parse_request(load_json("anthropic/usage_cached.request.json"))
    assert cached.messages[0].role == "system"
    assert str(cached.messages[0].content).startswith("Hardware engineering best practices guide: farewell")
    assert (cached.max_tokens, cached.temperature) == (100, 0.1)
    thinking = parse_request(load_json("anthropic/reasoning.request.json"))
    assert thinking.reasoning_budget == 1024
    assert thinking.tools == (
        Tool(
            name="get_weather",
            description="Get the weather for a specific location",
            parameters={"type": "object", "properties": {"location": {"type": "string"}}},
        ),
    )
    assert parse_request(load_json("anthropic/text.request.json")).reasoning_budget == 0  # thinking disabled
    no_description = parse_request(load_json("anthropic/stream_tool_call_2.request.json")).tools[0]
    assert no_description.description == ""


# --------------------------------------------------------------------------------------------
# parse_request: Anthropic's own request format


def test_parse_request_blocks_into_unified_messages() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [
            {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "B"},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/x.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "blob"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C sunny", "is_error": False},
                    {"type": "tool_result", "tool_use_id": "toolu_01B", "content": [{"type": "text", "text": "ok"}]},
                    {"type": "text", "text": "Thanks"},
                ],
            },
        ],
        "stop_sequences": ["\n\nHuman:"],
        "metadata": {"user_id": "hash"},
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "tools": [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}],
        "top_k": 5,
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
        "stream": True,
    }
    request = parse_request(body)
    assert request.messages == (
        Message(role="system", content="A"),
        Message(role="system", content="B"),
        Message(
            role="user",
            content=(
                TextPart("What is in this image?"),
                ImagePart("data:image/png;base64,iVBOR"),
                ImagePart("https://example.com/x.png"),
            ),
        ),
        Message(
            role="assistant",
            content=(TextPart("Checking."),),
            tool_calls=(ToolCall(id="toolu_01A", name="get_weather", arguments='{"city":"Paris"}'),),
            reasoning=(ReasoningBlock(text="hmm", signature="sig"), ReasoningBlock(redacted=True, data="blob")),
        ),
        Message(role="tool", content="18C sunny", tool_call_id="toolu_01A"),
        Message(role="tool", content=(TextPart("ok"),), tool_call_id="toolu_01B"),
        Message(role="user", content=(TextPart("Thanks"),)),
    )
    assert request.stop == ("\n\nHuman:",)
    assert request.user == "hash"
    assert (request.tool_choice, request.parallel_tool_calls) == ("required", False)
    assert request.top_k == 5
    assert request.response_format == ResponseFormat(type="json_schema", schema={"type": "object"})
    assert request.stream is True


def test_parse_then_build_is_symmetric_for_a_full_conversation() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "system": "Be terse.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "UklG"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": "s"},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "r"}]},
        ],
        "tools": [{"name": "f", "description": "F", "input_schema": {"type": "object", "properties": {}}}],
        # auto, not a forced tool: Anthropic rejects forced tool use with thinking (see below)
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "temperature": 1,
        "stop_sequences": ["x"],
        "metadata": {"user_id": "u"},
    }
    assert orjson.loads(build_request(parse_request(body), api_key="k").body) == body


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "f"}])
def test_a_forced_tool_with_thinking_is_rebuilt_with_thinking_disabled(choice: dict[str, Any]) -> None:
    # A body Anthropic itself would reject: parse_request keeps both, build_request keeps the tool.
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Go"}]}],
        "tools": [{"name": "f", "input_schema": {"type": "object", "properties": {}}}],
        "tool_choice": choice,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "temperature": 0.2,
    }
    request = parse_request(body)
    assert request.reasoning_budget == 1024
    rebuilt = orjson.loads(build_request(request, api_key="k").body)
    assert rebuilt == {**body, "thinking": {"type": "disabled"}}  # temperature 0.2 kept: thinking is off


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, ("auto", None)),
        ({"type": "none"}, ("none", None)),
        ({"type": "any"}, ("required", None)),
        ({"type": "tool", "name": "f"}, (ToolChoiceFunction("f"), None)),
        ({"type": "auto", "disable_parallel_tool_use": True}, ("auto", False)),
        ({"type": "auto", "disable_parallel_tool_use": False}, ("auto", None)),
    ],
)
def test_parse_tool_choice(choice: dict[str, Any], expected: tuple[object, object]) -> None:
    request = parse_request({"model": "m", "messages": [], "tool_choice": choice})
    assert (request.tool_choice, request.parallel_tool_calls) == expected


@pytest.mark.parametrize(
    ("thinking", "budget"),
    [
        ({"type": "enabled", "budget_tokens": 2048}, 2048),
        ({"type": "disabled"}, 0),
        ({"type": "adaptive"}, None),
        (None, None),
    ],
)
def test_parse_thinking(thinking: dict[str, Any] | None, budget: int | None) -> None:
    assert parse_request({"model": "m", "messages": [], "thinking": thinking}).reasoning_budget == budget


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "model"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": ["Invalid content"]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "document"}]}],
            },
            "messages[1].content[0].type",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]},
            "messages[0].content[0].tool_use_id",
        ),
        (
            {
                "model": "m",
                "messages": [
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": []}]}
                ],
            },
            "messages[0].content[0]",
        ),
        (
            {"model": "m", "messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
            "tools[0].type",
        ),
        ({"model": "m", "messages": [], "tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
        ({"model": "m", "messages": [], "max_tokens": "many"}, "max_tokens"),
        ({"model": "m", "messages": [], "stop_sequences": "x"}, "stop_sequences"),
        ({"model": "m", "messages": [], "system": [{"type": "image"}]}, "system[0]"),
    ],
)
def test_parse_request_names_the_malformed_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as info:
        parse_request(body)
    assert info.value.field == field


def test_parse_request_takes_the_model_argument_when_the_body_has_none() -> None:
    assert parse_request({"messages": [{"role": "user", "content": "hi"}]}, model="claude-x").model == "claude-x"
