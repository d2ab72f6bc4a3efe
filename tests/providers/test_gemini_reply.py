"""Gemini JSON replies (shared.providers.gemini_reply): every recorded reply, read by hand into a
table, and the hand-written cases of providers.md sections 3.2 and 6 the recordings do not cover
(finish-reason table, candidates, parts, usage, prompt blocks, error objects in a 200 reply).

The recorded-reply table and `check_reply` are shared with test_gemini_stream.py.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import orjson
import pytest
from google.genai import types as genai_types

from shared.errors import ProviderError
from shared.providers import gemini, gemini_reply
from shared.unified import ChatResponse, Usage
from tests.recordings import entries, load_bytes, manifest_entry, require_recordings

CALL_ID = re.compile(r"^call_[0-9a-f]{24}$")


@dataclasses.dataclass(frozen=True)
class Expected:
    """What a recorded reply says, read from the file by hand."""

    text: str | None  # the whole answer, or (with text_prefix) its start
    calls: list[tuple[str, dict[str, Any], str | None]]  # (name, arguments, start of thoughtSignature)
    finish: str
    usage: Usage
    response_id: str
    model: str
    reasoning: str | None = None  # start of the thought summary text ("" when only a signature)
    signature: str | None = None  # start of the answer's own thoughtSignature
    text_prefix: bool = False


JSON_REPLIES: dict[str, Expected] = {
    "gemini/text.json": Expected(
        "2 + 2 is 4.",
        [],
        "stop",
        Usage(input_tokens=15, output_tokens=114, reasoning_tokens=106),
        "fDgtaaDNHvze_uMP_svB8QM",
        "gemini-3-pro-preview",
        reasoning="",
        signature="ErUDCrIDAXLI2nyBnHKB7Zg0",
    ),
    "gemini/text_2.json": Expected(
        "Hello! How can I help you today?",
        [],
        "stop",
        Usage(input_tokens=9, output_tokens=43, reasoning_tokens=34),
        "bzlXaa_EE_aHqtsPi_zw8Ao",
        "gemini-2.5-flash",
    ),
    "gemini/tool_call.json": Expected(
        None,
        [("calculator", {"expression": "15 * 8"}, "Cp8DAb4+9vu74rJ0QQNT")],
        "tool_calls",
        Usage(input_tokens=115, output_tokens=112, reasoning_tokens=95),
        "Y1KWadvNMKz1jMcPiJeJmAI",
        "gemini-2.5-flash",
    ),
    "gemini/tool_call_2.json": Expected(
        None,
        [("get_weather", {"location": "Boston"}, None), ("get_weather", {"location": "New Delhi"}, None)],
        "tool_calls",
        Usage(input_tokens=64, output_tokens=11),
        "ldcEaoCaO72smtkPzqzB8Aw",
        "gemini-2.0-flash",
    ),
    "gemini/usage_cached.json": Expected(
        None,
        [
            (
                "generate_report",
                {
                    "findings": "The AI agent market is currently valued at $50 billion and is experiencing a strong "
                    "growth rate of 15% year-over-year. Key players in the industry are contributing to this "
                    "expansion, driven by increasing adoption across various sectors.",
                    "title": "Current State of the AI Agent Market",
                },
                "CuACAXLI2nzhub94iTgp",
            )
        ],
        "tool_calls",
        Usage(input_tokens=557, output_tokens=143, cached_input_tokens=330, reasoning_tokens=70),
        "jkWCacGZMLrv_uMPibCHmQU",
        "gemini-2.5-flash",
    ),
    "gemini/usage_cached_2.json": Expected(
        "Paris.",
        [],
        "stop",
        Usage(input_tokens=3520, output_tokens=44, cached_input_tokens=3512, reasoning_tokens=42),
        "_VQYaqvRGbW6qtsPg4TDoAg",
        "gemini-2.5-flash",
    ),
    "gemini/reasoning.json": Expected(
        "Crossing the street safely is a fundamental skill that requires awareness and patience.",
        [],
        "stop",
        Usage(input_tokens=29, output_tokens=1737, reasoning_tokens=1001),
        "ON4gaYT4Gc20qtsP2bSiiQ0",
        "gemini-3-pro-preview",
        reasoning="**A Safe Street-Crossing Guide: My Thought Process**",
        signature="EqoeCqceAdHtim+cXhv3",
        text_prefix=True,
    ),
    # finishReason SAFETY with `"content": {}`: no parts at all.
    "gemini/content_filter.json": Expected(
        None,
        [],
        "content_filter",
        Usage(input_tokens=14),
        "5lpeaLOIBf__698Pv8HGgAg",
        "gemini-1.5-flash",
    ),
}
PROVIDER_FINISH = {"gemini/content_filter.json": "SAFETY"}
STREAMS = (
    "gemini/stream_text.sse",
    "gemini/stream_usage.sse",
    "gemini/stream_tool_call.sse",
    "gemini/stream_thinking.sse",
    "gemini/stream_json_array.json",
)
ERRORS = ("gemini/error_400_api_key.json", "gemini/error_404.json", "gemini/error_429.json")


def check_reply(response: ChatResponse, expected: Expected) -> None:
    """Shared with the stream tests: the reply (or the assembled stream) says what the recording says."""
    assert len(response.choices) == 1
    choice = response.choices[0]
    message = choice.message
    if expected.text_prefix:
        assert message.content is not None
        assert message.content.startswith(expected.text)  # type: ignore[arg-type]
    else:
        assert message.content == expected.text
    assert [(c.name, orjson.loads(c.arguments)) for c in message.tool_calls] == [(n, a) for n, a, _ in expected.calls]
    for call, (_, _, signature) in zip(message.tool_calls, expected.calls, strict=True):
        assert CALL_ID.match(call.id)
        if signature is None:
            assert call.thought_signature is None
        else:
            assert call.thought_signature is not None
            assert call.thought_signature.startswith(signature)
    assert choice.finish_reason == expected.finish
    assert response.usage == expected.usage
    assert response.id == expected.response_id
    assert response.model == expected.model
    if expected.reasoning is None and expected.signature is None:
        assert message.reasoning == ()
    else:
        (block,) = message.reasoning
        assert block.text.startswith(expected.reasoning or "")
        assert (block.text == "") == (expected.reasoning == "")
        if expected.signature is None:
            assert block.signature is None
        else:
            assert (block.signature or "").startswith(expected.signature)


def test_every_gemini_recording_is_covered_by_a_table() -> None:
    files = {e["file"] for e in entries("gemini")}
    if not files:
        require_recordings()
    assert files == set(JSON_REPLIES) | set(STREAMS) | set(ERRORS)


@pytest.mark.parametrize("file", sorted(JSON_REPLIES))
def test_recorded_json_reply(file: str) -> None:
    assert manifest_entry(file)["http_status"] == 200
    response = gemini.parse_response(load_bytes(file))
    check_reply(response, JSON_REPLIES[file])
    assert response.created == 0
    assert response.provider_finish_reason == PROVIDER_FINISH.get(file, "STOP")


# --- JSON replies: hand-written cases --------------------------------------------------------------
def reply(*candidates: dict[str, Any], **fields: Any) -> bytes:
    return orjson.dumps({"candidates": list(candidates), **fields})


def candidate(*parts: dict[str, Any], finish: str | None = "STOP", **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}, **fields}
    if finish is not None:
        out["finishReason"] = finish
    return out


FINISH_TABLE = [
    ("STOP", "stop"),
    ("MAX_TOKENS", "length"),
    ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"),
    ("BLOCKLIST", "content_filter"),
    ("PROHIBITED_CONTENT", "content_filter"),
    ("SPII", "content_filter"),
    ("IMAGE_SAFETY", "content_filter"),
    ("IMAGE_PROHIBITED_CONTENT", "content_filter"),
    ("IMAGE_RECITATION", "content_filter"),
    ("LANGUAGE", "stop"),
    ("OTHER", "stop"),
    ("MALFORMED_FUNCTION_CALL", "stop"),
    ("UNEXPECTED_TOOL_CALL", "stop"),
    ("TOO_MANY_TOOL_CALLS", "stop"),
    ("NO_IMAGE", "stop"),
    ("IMAGE_OTHER", "stop"),
    ("FINISH_REASON_UNSPECIFIED", "stop"),
    # Newer than providers.md, from google-genai 3.3's FinishReason enum.
    ("MODEL_ARMOR", "content_filter"),
    ("ESCALATION", "content_filter"),
    ("PUP_LIMITED_DISABLED", "content_filter"),
    ("CONTINUATION", "length"),
    ("MISSING_THOUGHT_SIGNATURE", "stop"),
    ("MALFORMED_RESPONSE", "stop"),
    ("SOMETHING_NEW_IN_2027", "stop"),
]


@pytest.mark.parametrize(("wire", "finish"), FINISH_TABLE)
def test_finish_reason_table(wire: str, finish: str) -> None:
    response = gemini.parse_response(reply(candidate({"text": "x"}, finish=wire)))
    assert response.choices[0].finish_reason == finish
    assert response.provider_finish_reason == wire


def test_finish_reason_table_covers_every_value_the_sdk_knows() -> None:
    # google-genai is a test-only dependency: the adapter never imports it. A value added in a later
    # SDK release fails here until it is placed in the table (unknown values still map to `stop`).
    sdk_values = {member.value for member in genai_types.FinishReason}
    assert sdk_values <= set(gemini_reply.FINISH_REASONS)
    assert {wire for wire, _ in FINISH_TABLE} >= sdk_values


@pytest.mark.parametrize("wire", ["STOP", "MAX_TOKENS", "OTHER"])
def test_any_function_call_finishes_with_tool_calls(wire: str) -> None:
    part = {"functionCall": {"name": "f", "args": {"a": 1}}}
    response = gemini.parse_response(reply(candidate({"text": "Calling."}, part, finish=wire)))
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Calling."
    assert response.provider_finish_reason == wire


def test_function_call_id_args_and_signature() -> None:
    response = gemini.parse_response(
        reply(
            candidate(
                {"functionCall": {"id": "fc-7", "name": "a", "args": {"x": [1, 2]}}, "thoughtSignature": "sig-a"},
                {"functionCall": {"name": "b"}},
            )
        )
    )
    first, second = response.choices[0].message.tool_calls
    assert (first.id, first.name, orjson.loads(first.arguments), first.thought_signature) == (
        "fc-7",
        "a",
        {"x": [1, 2]},
        "sig-a",
    )
    assert CALL_ID.match(second.id)
    assert (second.name, second.arguments, second.thought_signature) == ("b", "{}", None)


def test_minted_ids_are_unique() -> None:
    body = reply(candidate(*[{"functionCall": {"name": "f", "args": {}}}] * 20))
    ids = [c.id for c in gemini.parse_response(body).choices[0].message.tool_calls]
    assert len(set(ids)) == 20


def test_thought_parts_become_one_reasoning_block_and_text_is_joined() -> None:
    response = gemini.parse_response(
        reply(
            candidate(
                {"text": "think 1. ", "thought": True},
                {"text": "think 2.", "thought": True},
                {"text": "Answer ", "thoughtSignature": "sig"},
                {"text": ""},
                {"text": "here."},
            )
        )
    )
    message = response.choices[0].message
    assert message.content == "Answer here."
    assert [(b.text, b.signature) for b in message.reasoning] == [("think 1. think 2.", "sig")]


@pytest.mark.parametrize(
    "raw", [{"finishReason": "SAFETY"}, {"content": {}, "finishReason": "SAFETY"}, {"content": {"parts": []}}]
)
def test_candidate_without_content_or_parts(raw: dict[str, Any]) -> None:
    choice = gemini.parse_response(reply(raw)).choices[0]
    assert choice.message.content is None
    assert choice.message.tool_calls == ()
    assert choice.finish_reason == ("content_filter" if "finishReason" in raw else "stop")


def test_candidates_with_and_without_index() -> None:
    response = gemini.parse_response(
        reply(candidate({"text": "a"}, index=1), candidate({"text": "b"}, index=0), candidate({"text": "c"}))
    )
    assert [(c.index, c.message.content) for c in response.choices] == [(1, "a"), (0, "b"), (2, "c")]


def test_prompt_blocked_without_candidates_is_an_empty_filtered_answer() -> None:
    # providers.md 3.2 (vercel/ai issue-19758-prompt-block.json shape).
    body = orjson.dumps(
        {
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "r1",
        }
    )
    response = gemini.parse_response(body)
    (choice,) = response.choices
    assert (choice.index, choice.message.content, choice.finish_reason) == (0, "", "content_filter")
    assert response.provider_finish_reason == "PROHIBITED_CONTENT"
    assert response.usage == Usage(input_tokens=9)
    assert (response.id, response.model) == ("r1", "gemini-2.5-flash")


def test_no_candidates_and_no_block_reason() -> None:
    (choice,) = gemini.parse_response(orjson.dumps({"candidates": []})).choices
    assert (choice.message.content, choice.finish_reason) == (None, "stop")


def test_usage_counts_tool_use_prompt_cache_reads_and_thoughts() -> None:
    meta = {
        "promptTokenCount": 1000,
        "toolUsePromptTokenCount": 50,
        "cachedContentTokenCount": 600,
        "candidatesTokenCount": 40,
        "thoughtsTokenCount": 300,
        "totalTokenCount": 1390,
    }
    response = gemini.parse_response(reply(candidate({"text": "x"}), usageMetadata=meta))
    assert response.usage == Usage(
        input_tokens=1050, output_tokens=340, cached_input_tokens=600, cache_write_tokens=0, reasoning_tokens=300
    )
    assert response.usage.total_tokens == 1390


def test_missing_usage_and_ids() -> None:
    response = gemini.parse_response(reply(candidate({"text": "x"})))
    assert (response.usage, response.id, response.model, response.created) == (None, "", "", 0)


@pytest.mark.parametrize("body", [b"", b"<html>502</html>", b"[1, 2]", b'"text"'])
def test_reply_that_is_not_a_json_object_is_a_retryable_provider_error(body: bytes) -> None:
    with pytest.raises(ProviderError) as caught:
        gemini.parse_response(body)
    assert (caught.value.kind, caught.value.retryable) == ("api_error", True)


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}',
        b'[{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}]',
    ],
)
def test_error_object_in_a_200_reply_is_classified(body: bytes) -> None:
    with pytest.raises(ProviderError) as caught:
        gemini.parse_response(body)
    error = caught.value
    assert (error.kind, error.retryable, error.upstream_status, error.in_stream) == ("overloaded", True, 503, False)
