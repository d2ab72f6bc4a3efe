from __future__ import annotations

import math

import orjson

from shared.routing.tokens import (
    IMAGE_TOKENS,
    IMAGE_TOKENS_LOW,
    PER_MESSAGE_TOKENS,
    PER_REQUEST_TOKENS,
    estimate_prompt_tokens,
)
from shared.unified import ChatRequest, ImagePart, Message, ResponseFormat, TextPart, Tool, ToolCall


def test_text_is_about_four_characters_per_token_plus_framing() -> None:
    request = ChatRequest(
        model="m", messages=(Message(role="system", content="x" * 9), Message(role="user", content="y" * 8))
    )
    assert estimate_prompt_tokens(request) == PER_REQUEST_TOKENS + 2 * PER_MESSAGE_TOKENS + 3 + 2


def test_empty_message_costs_only_its_framing() -> None:
    request = ChatRequest(model="m", messages=(Message(role="assistant", content=None),))
    assert estimate_prompt_tokens(request) == PER_REQUEST_TOKENS + PER_MESSAGE_TOKENS


def test_tool_calls_and_results_count() -> None:
    call = ToolCall(id="c1", name="lookup", arguments='{"city": "Paris"}')
    request = ChatRequest(
        model="m",
        messages=(
            Message(role="assistant", tool_calls=(call,)),
            Message(role="tool", content="sunny, 21 degrees", tool_call_id="c1"),
        ),
    )
    expected = (
        PER_REQUEST_TOKENS
        + 2 * PER_MESSAGE_TOKENS
        + math.ceil((len("lookup") + len('{"city": "Paris"}')) / 4)
        + math.ceil(len("sunny, 21 degrees") / 4)
    )
    assert estimate_prompt_tokens(request) == expected


def test_tool_schemas_count_by_json_size() -> None:
    tool = Tool(
        name="lookup",
        description="find a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    without = ChatRequest(model="m", messages=(Message(role="user", content="hi"),))
    with_tool = ChatRequest(model="m", messages=without.messages, tools=(tool,))
    size = len(orjson.dumps({"name": tool.name, "description": tool.description, "parameters": tool.parameters}))
    assert estimate_prompt_tokens(with_tool) - estimate_prompt_tokens(without) == math.ceil(size / 4)


def test_images_get_a_fixed_allowance_by_detail() -> None:
    parts = (
        TextPart("what is this?"),
        ImagePart("https://example.com/a.png"),
        ImagePart("https://example.com/b.png", detail="high"),
        ImagePart("data:image/png;base64," + "A" * 10_000, detail="low"),
    )
    request = ChatRequest(model="m", messages=(Message(role="user", content=parts),))
    # The base64 payload is not text: it does not count by characters.
    assert estimate_prompt_tokens(request) == (
        PER_REQUEST_TOKENS
        + PER_MESSAGE_TOKENS
        + math.ceil(len("what is this?") / 4)
        + 2 * IMAGE_TOKENS
        + IMAGE_TOKENS_LOW
    )


def test_json_schema_counts() -> None:
    schema: dict[str, object] = {"type": "object", "properties": {"answer": {"type": "string"}}}
    plain = ChatRequest(model="m", messages=(Message(role="user", content="hi"),))
    structured = ChatRequest(
        model="m", messages=plain.messages, response_format=ResponseFormat(type="json_schema", schema=schema)
    )
    assert estimate_prompt_tokens(structured) > estimate_prompt_tokens(plain)


def test_a_long_prompt_is_in_the_right_range() -> None:
    # ~1,000 English words are ~1,300 tokens with real tokenizers; the estimate must be the same order.
    text = " ".join(["routing"] * 1000)
    estimate = estimate_prompt_tokens(ChatRequest(model="m", messages=(Message(role="user", content=text),)))
    assert 1000 <= estimate <= 2500
