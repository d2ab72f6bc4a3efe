"""Anthropic JSON replies (`anthropic_reply.parse_response`): every recorded reply, then the section 6 tables.

Streams are in test_anthropic_stream.py, errors in test_anthropic_errors.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from shared.errors import ProviderError
from shared.providers.anthropic import parse_response
from shared.unified import ToolCall, Usage
from tests.recordings import entries, load_bytes, load_json

# --------------------------------------------------------------------------------------------
# Recorded JSON replies


@dataclass(frozen=True)
class Excerpt:
    """A long recorded string, written down by its first and last characters and its length."""

    start: str
    end: str
    length: int

    def matches(self, value: str | None) -> bool:
        return (
            value is not None
            and value.startswith(self.start)
            and value.endswith(self.end)
            and len(value) == self.length
        )


@dataclass(frozen=True)
class Expected:
    text: str | Excerpt | None
    tool_calls: list[tuple[str, str, dict[str, Any]]]  # (id, name, arguments)
    finish: str
    usage: Usage
    # (text, signature, redacted, data) per reasoning block
    reasoning: tuple[tuple[Excerpt | str, Excerpt | None, bool, Excerpt | None], ...] = ()


def check_text(actual: str | None, expected: str | Excerpt | None) -> None:
    if isinstance(expected, Excerpt):
        assert expected.matches(actual), actual
    else:
        assert actual == expected


RESPONSES: dict[str, Expected] = {
    "anthropic/text.json": Expected(
        text="Hi there! How can I help you today?",
        tool_calls=[],
        finish="stop",
        usage=Usage(input_tokens=9, output_tokens=13),
    ),
    "anthropic/text_2.json": Expected(
        text=(
            "Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you with?"
        ),
        tool_calls=[],
        finish="stop",
        usage=Usage(input_tokens=12, output_tokens=29),
    ),
    "anthropic/tool_call.json": Expected(
        text=Excerpt("<thinking>\nThe get_weather tool is direc", "provided location.\n</thinking>", 455),
        tool_calls=[("toolu_01DYJo37oETVsCdLTTcCWcdq", "get_weather", {"location": "San Francisco, CA"})],
        finish="tool_calls",
        usage=Usage(input_tokens=599, output_tokens=152),
    ),
    "anthropic/usage_cached.json": Expected(
        text=Excerpt("A **system** is an organized collection ", "ent**: The external context in", 496),
        tool_calls=[],
        finish="length",  # stop_reason max_tokens
        # input 11 + cache_creation 0 + cache_read 2055
        usage=Usage(input_tokens=2066, output_tokens=100, cached_input_tokens=2055),
    ),
    "anthropic/reasoning.json": Expected(
        text=None,
        tool_calls=[("toolu_0167cqjALro6i5FhTB65QgnR", "get_weather", {"location": "San Francisco, CA"})],
        finish="tool_calls",
        usage=Usage(input_tokens=592, output_tokens=127),
        reasoning=(
            (
                Excerpt("The user is asking for the weather in Sa", "r function with this location.", 285),
                Excerpt("EuMDCmMIDRgCKkB1eZPfjnRcxmoW99Z/xbm1VoyN", "KVi4J+ePGMrEYEpG7pyZbvjvOpGAE=", 652),
                False,
                None,
            ),
        ),
    ),
    "anthropic/reasoning_2.json": Expected(
        text=Excerpt("I notice that your message appears to co", "c I can assist you with today?", 341),
        tool_calls=[],
        finish="stop",
        usage=Usage(input_tokens=92, output_tokens=196),
        reasoning=(
            (
                "",
                None,
                True,
                Excerpt("EvgFCkYIBxgCKkBmxKtCnM3xlr1zpw0Ik4FY0bnz", "3/NyJXEjDLMdB6OosO0nmiVWAgZhgB", 1020),
            ),
        ),
    ),
}


def test_table_covers_every_recorded_anthropic_reply() -> None:
    recorded = entries("anthropic")
    if not recorded:
        pytest.skip("recordings absent")
    json_replies = {e["file"] for e in recorded if e["http_status"] == 200 and e["file"].endswith(".json")}
    assert json_replies == set(RESPONSES)


@pytest.mark.parametrize("file", sorted(RESPONSES))
def test_recorded_reply(file: str) -> None:
    expected = RESPONSES[file]
    response = parse_response(load_bytes(file))
    data = load_json(file)
    assert (response.id, response.model, response.created) == (data["id"], data["model"], 0)
    (choice,) = response.choices
    check_text(choice.message.content, expected.text)
    calls = [(c.id, c.name, json.loads(c.arguments)) for c in choice.message.tool_calls]
    assert calls == expected.tool_calls
    assert choice.finish_reason == expected.finish
    assert response.usage == expected.usage
    assert len(choice.message.reasoning) == len(expected.reasoning)
    for block, (text, signature, redacted, blob) in zip(choice.message.reasoning, expected.reasoning, strict=True):
        check_text(block.text, text)
        check_text(block.signature, signature)
        assert block.redacted is redacted
        check_text(block.data, blob)


def test_tool_call_arguments_are_compact_json() -> None:
    response = parse_response(load_bytes("anthropic/tool_call.json"))
    assert response.choices[0].message.tool_calls[0].arguments == '{"location":"San Francisco, CA"}'


# --------------------------------------------------------------------------------------------
# parse_response: section 6 tables (synthetic bodies in the documented shape, providers.md 2.2)


def reply(**fields: Any) -> bytes:
    base: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    base.update(fields)
    return orjson.dumps(base)


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("a_future_reason", "stop"),
        (None, None),
    ],
)
def test_finish_reason_table(stop_reason: str | None, finish: str | None) -> None:
    response = parse_response(reply(stop_reason=stop_reason))
    assert response.choices[0].finish_reason == finish
    assert response.provider_finish_reason == stop_reason


def test_refusal_with_empty_content() -> None:
    response = parse_response(
        reply(
            content=[],
            stop_reason="refusal",
            stop_details={"type": "refusal", "category": "cyber", "explanation": "Not going to help with that."},
        )
    )
    message = response.choices[0].message
    assert (message.content, message.refusal, response.choices[0].finish_reason) == (
        None,
        "Not going to help with that.",
        "content_filter",
    )


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        # cache writes with the TTL breakdown: 5m and 1h apart; input counts every prompt token
        (
            {
                "input_tokens": 10,
                "cache_creation_input_tokens": 300,
                "cache_read_input_tokens": 1000,
                "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
                "output_tokens": 50,
                "output_tokens_details": {"thinking_tokens": 20},
            },
            Usage(
                input_tokens=1310,
                output_tokens=50,
                cached_input_tokens=1000,
                cache_write_tokens=100,
                cache_write_1h_tokens=200,
                reasoning_tokens=20,
            ),
        ),
        # no breakdown (older replies): every cache write is a 5-minute write
        (
            {"input_tokens": 4, "cache_creation_input_tokens": 1500, "cache_read_input_tokens": 0, "output_tokens": 9},
            Usage(input_tokens=1504, output_tokens=9, cache_write_tokens=1500),
        ),
        ({"input_tokens": 4, "output_tokens": 9}, Usage(input_tokens=4, output_tokens=9)),
    ],
)
def test_usage(usage: dict[str, Any], expected: Usage) -> None:
    assert parse_response(reply(usage=usage)).usage == expected


def test_text_blocks_are_joined_and_empty_tool_input_is_an_empty_object() -> None:
    response = parse_response(
        reply(
            content=[
                {"type": "text", "text": "Part one, "},
                {"type": "text", "text": "part two."},
                {"type": "tool_use", "id": "toolu_x", "name": "now", "input": {}},
            ],
            stop_reason="tool_use",
        )
    )
    message = response.choices[0].message
    assert message.content == "Part one, part two."
    assert message.tool_calls == (ToolCall(id="toolu_x", name="now", arguments="{}"),)


@pytest.mark.parametrize("body", [b"", b"<html>bad gateway</html>", b"[1, 2]"])
def test_a_reply_that_is_not_a_message_is_a_provider_error(body: bytes) -> None:
    with pytest.raises(ProviderError) as info:
        parse_response(body)
    assert (info.value.kind, info.value.provider) == ("api_error", "anthropic")


def test_an_error_envelope_with_status_200_is_classified() -> None:
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    with pytest.raises(ProviderError) as info:
        parse_response(body)
    assert (info.value.kind, info.value.retryable) == ("overloaded", True)
