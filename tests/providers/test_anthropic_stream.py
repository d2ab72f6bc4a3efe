"""Anthropic streams: every recorded .sse assembled chunk by chunk, split anywhere, plus synthetic cases."""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from typing import Any

import pytest

from shared.errors import ProviderError
from shared.providers.anthropic import AnthropicStreamParser, parse_response, stream_parser
from shared.providers.assembly import assemble
from shared.unified import ChatChunk, ChatRequest, Delta, Message, ReasoningBlock, ToolCallDelta, Usage
from tests.recordings import entries, load_bytes, load_json


@dataclass(frozen=True)
class Excerpt:
    start: str
    end: str
    length: int

    def matches(self, value: str | None) -> bool:
        if value is None:
            return False
        return value.startswith(self.start) and value.endswith(self.end) and len(value) == self.length


@dataclass(frozen=True)
class Expected:
    id: str
    model: str
    text: str | Excerpt | None
    tool_calls: list[tuple[str, str, dict[str, Any]]]
    finish: str
    usage: Usage
    reasoning: Excerpt | None = None
    signature: Excerpt | None = None


STREAMS: dict[str, Expected] = {
    "anthropic/stream_text.sse": Expected(
        id="msg_01BCgDjb5HqsydH2BtaUkzpX",
        model="claude-sonnet-4-6",
        text="**Pete** or **Scoop**",
        tool_calls=[],
        finish="stop",
        usage=Usage(input_tokens=17, output_tokens=12),
    ),
    "anthropic/stream_thinking.sse": Expected(
        id="msg_01DDakGBKKrwHtuchcg77hSB",
        model="claude-haiku-4-5-20251001",
        text=Excerpt("The **Bible** is generally considered th", "onsistently among the highest.", 740),
        tool_calls=[],
        finish="stop",
        # message_start says output_tokens 6; message_delta's 427 replaces it
        usage=Usage(input_tokens=46, output_tokens=427),
        reasoning=Excerpt("This is a question about the best-sellin", "erhaps give some alternatives.", 1058),
        signature=Excerpt("EugJCmMIDRgCKkC61wVVCCnyXukF4V/ihYYau4lo", "1Y80KpcJl2dTh1x6HNV0YK1dgYAQ==", 1684),
    ),
    "anthropic/stream_tool_call.sse": Expected(
        id="msg_01RQXWh4UaLp6wsR9R8i8RZ3",
        model="claude-3-opus-20240229",
        text=Excerpt("<thinking>\nThe get_weather tool is relev", " get_weather tool.\n</thinking>", 375),
        tool_calls=[("toolu_01DYJo37oETVsCdLTTcCWcdq", "get_weather", {"location": "San Francisco, CA"})],
        finish="tool_calls",
        usage=Usage(input_tokens=599, output_tokens=135),
    ),
    "anthropic/stream_tool_call_2.sse": Expected(
        id="msg_01BnVamfF7ccY9Qt3nZHAyaG",
        model="claude-haiku-4-5-20251001",
        text=None,
        # the only input_json_delta is "": the call has no arguments
        tool_calls=[("toolu_01CzN6riCPqw4pVSuTd9Dwn7", "pelican_name_generator", {})],
        finish="tool_calls",
        usage=Usage(input_tokens=543, output_tokens=40),
    ),
    "anthropic/stream_usage.sse": Expected(
        id="msg_01RprQMTVaxMt5KCveLCRfwJ",
        model="claude-sonnet-4-20250514",
        text=Excerpt("A **system** is an organized collection ", "ent**: The external context in", 496),
        tool_calls=[],
        finish="length",
        # input 11 + cache read 1031 (message_start); message_delta only repeats output_tokens
        usage=Usage(input_tokens=1042, output_tokens=100, cached_input_tokens=1031),
    ),
}

REQUEST = ChatRequest(model="claude", messages=(Message(role="user", content="hi"),), stream=True)


def run(pieces: list[bytes]) -> list[ChatChunk]:
    parser = stream_parser(REQUEST)
    chunks: list[ChatChunk] = []
    for piece in pieces:
        chunks.extend(parser.feed(piece))
    chunks.extend(parser.close())
    return chunks


def random_splits(data: bytes, rng: random.Random) -> list[bytes]:
    pieces, start = [], 0
    while start < len(data):
        size = rng.choice([1, 2, 3, 7, 16, 64, 333, 4096])
        pieces.append(data[start : start + size])
        start += size
    return pieces


def test_table_covers_every_recorded_anthropic_stream() -> None:
    recorded = entries("anthropic")
    if not recorded:
        pytest.skip("recordings absent")
    assert {e["file"] for e in recorded if e["file"].endswith(".sse")} == set(STREAMS)


def check_invariants(chunks: list[ChatChunk]) -> None:
    first, last = chunks[0], chunks[-1]
    assert first.choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    assert last.choices == ()
    assert last.usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert len({(c.id, c.model, c.created) for c in chunks}) == 1
    for chunk in chunks:
        for choice in chunk.choices:
            assert choice.delta.content != ""
            assert choice.delta.reasoning != ""
            assert choice.delta.reasoning_redacted != ""
    calls: list[ToolCallDelta] = [t for c in chunks for choice in c.choices for t in choice.delta.tool_calls]
    seen: list[int] = []
    for call in calls:
        if call.index not in seen:
            assert call.id, "the first delta of a call carries id and name"
            assert call.name
            assert call.index == len(seen), "tool-call indexes are ordinals 0..k-1"
            seen.append(call.index)
        else:
            assert (call.id, call.name) == (None, None)
            assert call.arguments
    assert sum(1 for c in chunks for choice in c.choices if choice.finish_reason is not None) == 1


@pytest.mark.parametrize("file", sorted(STREAMS))
def test_recorded_stream(file: str) -> None:
    expected = STREAMS[file]
    chunks = run([load_bytes(file)])
    check_invariants(chunks)
    response = assemble(chunks)
    assert (response.id, response.model, response.created) == (expected.id, expected.model, 0)
    (choice,) = response.choices
    if isinstance(expected.text, Excerpt):
        assert expected.text.matches(choice.message.content)
    else:
        assert choice.message.content == expected.text
    calls = [(c.id, c.name, json.loads(c.arguments)) for c in choice.message.tool_calls]
    assert calls == expected.tool_calls
    assert choice.finish_reason == expected.finish
    assert response.usage == expected.usage
    if expected.reasoning is None:
        assert choice.message.reasoning == ()
    else:
        (block,) = choice.message.reasoning
        assert expected.reasoning.matches(block.text)
        assert expected.signature is not None
        assert expected.signature.matches(block.signature)


@pytest.mark.parametrize("file", sorted(STREAMS))
def test_recorded_stream_split_anywhere_gives_the_same_message(file: str) -> None:
    data = load_bytes(file)
    whole = assemble(run([data]))
    assert assemble(run([data[i : i + 1] for i in range(len(data))])) == whole
    rng = random.Random(f"anthropic:{file}")
    for _ in range(40):
        chunks = run(random_splits(data, rng))
        check_invariants(chunks)
        assert assemble(chunks) == whole


def test_stream_tool_call_deltas_in_order() -> None:
    chunks = run([load_bytes("anthropic/stream_tool_call.sse")])
    deltas = [t for c in chunks for choice in c.choices for t in choice.delta.tool_calls]
    # block index 1 on the wire (after a text block) is tool call 0; the empty first fragment is skipped
    assert deltas == [
        ToolCallDelta(index=0, id="toolu_01DYJo37oETVsCdLTTcCWcdq", name="get_weather", arguments=""),
        ToolCallDelta(index=0, arguments='{"location":'),
        ToolCallDelta(index=0, arguments=' "Sa'),
        ToolCallDelta(index=0, arguments="n Fran"),
        ToolCallDelta(index=0, arguments='cisco, CA"}'),
    ]


# --------------------------------------------------------------------------------------------
# Synthetic streams, built from the documented event shapes (providers.md 2.3)


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def start(usage: dict[str, Any] | None = None) -> dict[str, Any]:
    message = {"id": "msg_s", "type": "message", "role": "assistant", "model": "claude-s", "content": []}
    return {"type": "message_start", "message": {**message, "usage": usage or {"input_tokens": 5, "output_tokens": 1}}}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": body}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage}


END = {"type": "message_stop"}


def test_parallel_tool_calls_after_text_are_numbered_by_ordinal() -> None:
    body = sse(
        start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Two calls."}),
        stop(0),
        block_start(1, {"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}),
        delta(1, {"type": "input_json_delta", "partial_json": ""}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"x": 1}'}),
        stop(1),
        {"type": "ping"},
        block_start(2, {"type": "tool_use", "id": "toolu_b", "name": "g", "input": {}}),
        delta(2, {"type": "input_json_delta", "partial_json": '{"y"'}),
        delta(2, {"type": "input_json_delta", "partial_json": ": 2}"}),
        stop(2),
        block_start(3, {"type": "tool_use", "id": "toolu_c", "name": "h", "input": {}}),
        stop(3),
        message_delta("tool_use", {"output_tokens": 30}),
        END,
    )
    chunks = run([body])
    check_invariants(chunks)
    deltas = [t for c in chunks for choice in c.choices for t in choice.delta.tool_calls]
    assert deltas == [
        ToolCallDelta(index=0, id="toolu_a", name="f", arguments=""),
        ToolCallDelta(index=0, arguments='{"x": 1}'),
        ToolCallDelta(index=1, id="toolu_b", name="g", arguments=""),
        ToolCallDelta(index=1, arguments='{"y"'),
        ToolCallDelta(index=1, arguments=": 2}"),
        ToolCallDelta(index=2, id="toolu_c", name="h", arguments=""),
        ToolCallDelta(index=2, arguments="{}"),  # a call without arguments gets "{}" at its block stop
    ]
    message = assemble(chunks).choices[0].message
    assert message.content == "Two calls."
    assert [json.loads(c.arguments) for c in message.tool_calls] == [{"x": 1}, {"y": 2}, {}]


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
    ],
)
def test_stream_finish_reasons(stop_reason: str, finish: str) -> None:
    chunks = run([sse(start(), message_delta(stop_reason, {"output_tokens": 2}), END)])
    assert assemble(chunks).choices[0].finish_reason == finish


def test_message_delta_usage_replaces_and_is_preferred() -> None:
    # newer replies repeat input/cache fields in message_delta (providers.md 2.3): they win
    body = sse(
        start(
            {
                "input_tokens": 43,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                "output_tokens": 1,
            }
        ),
        message_delta(
            "end_turn",
            {
                "input_tokens": 61,
                "cache_creation_input_tokens": 700,
                "cache_read_input_tokens": 2000,
                "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 200},
                "output_tokens": 90,
                "output_tokens_details": {"thinking_tokens": 40},
            },
        ),
        END,
    )
    assert run([body])[-1].usage == Usage(
        input_tokens=2761,
        output_tokens=90,
        cached_input_tokens=2000,
        cache_write_tokens=500,
        cache_write_1h_tokens=200,
        reasoning_tokens=40,
    )


def test_cache_writes_without_breakdown_in_a_stream_are_5_minute_writes() -> None:
    body = sse(
        start(
            {"input_tokens": 3, "cache_creation_input_tokens": 1200, "cache_read_input_tokens": 0, "output_tokens": 1}
        ),
        message_delta("end_turn", {"output_tokens": 7}),
        END,
    )
    assert run([body])[-1].usage == Usage(input_tokens=1203, output_tokens=7, cache_write_tokens=1200)


def test_thinking_and_signature_deltas() -> None:
    body = sse(
        start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Let me "}),
        delta(0, {"type": "thinking_delta", "thinking": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "think."}),
        delta(0, {"type": "signature_delta", "signature": "sig=="}),
        stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": ""}),
        delta(1, {"type": "text_delta", "text": "Done."}),
        delta(1, {"type": "citations_delta", "citation": {"type": "char_location"}}),
        stop(1),
        message_delta("end_turn", {"output_tokens": 9}),
        END,
    )
    chunks = run([body])
    check_invariants(chunks)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert [(d.reasoning, d.reasoning_signature, d.content) for d in deltas[1:-1]] == [
        ("Let me ", None, None),
        ("think.", None, None),
        (None, "sig==", None),
        (None, None, "Done."),
    ]
    (block,) = assemble(chunks).choices[0].message.reasoning
    assert (block.text, block.signature) == ("Let me think.", "sig==")


def test_redacted_thinking_block_is_one_delta_and_assembles_into_a_redacted_block() -> None:
    # Synthetic: redacted_thinking carries its encrypted `data` whole in content_block_start and
    # gets no deltas (Anthropic extended-thinking docs); a thinking block and text around it.
    body = sse(
        start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Plan."}),
        delta(0, {"type": "signature_delta", "signature": "sig=="}),
        stop(0),
        block_start(1, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}),
        stop(1),
        block_start(2, {"type": "redacted_thinking", "data": ""}),  # nothing there: no empty delta
        stop(2),
        block_start(3, {"type": "text", "text": ""}),
        delta(3, {"type": "text_delta", "text": "Answer."}),
        stop(3),
        message_delta("end_turn", {"output_tokens": 12}),
        END,
    )
    chunks = run([body])
    check_invariants(chunks)
    redacted = [c.choices[0].delta for c in chunks if c.choices and c.choices[0].delta.reasoning_redacted]
    assert redacted == [Delta(reasoning_redacted="EmwKAhgBEgy3va3pzix/LafPsn4a")]
    message = assemble(chunks).choices[0].message
    assert message.reasoning == (
        ReasoningBlock(text="Plan.", signature="sig=="),
        ReasoningBlock(redacted=True, data="EmwKAhgBEgy3va3pzix/LafPsn4a"),
    )
    assert message.content == "Answer."


def stream_of(reply: dict[str, Any]) -> bytes:
    """Synthetic: the SSE stream Anthropic sends for a JSON reply's content (providers.md 2.3 shapes)."""
    head = start(reply["usage"])
    head["message"].update(id=reply["id"], model=reply["model"])
    events = [head]
    for i, block in enumerate(reply["content"]):
        kind = block["type"]
        if kind == "text":
            events += [
                block_start(i, {"type": "text", "text": ""}),
                delta(i, {"type": "text_delta", "text": block["text"]}),
            ]
        elif kind == "thinking":
            events += [
                block_start(i, {"type": "thinking", "thinking": "", "signature": ""}),
                delta(i, {"type": "thinking_delta", "thinking": block["thinking"]}),
                delta(i, {"type": "signature_delta", "signature": block["signature"]}),
            ]
        elif kind == "redacted_thinking":
            events.append(block_start(i, block))
        else:
            arguments = json.dumps(block["input"])  # spaced, as recorded streams send it
            events += [
                block_start(i, {**block, "input": {}}),
                delta(i, {"type": "input_json_delta", "partial_json": ""}),
                delta(i, {"type": "input_json_delta", "partial_json": arguments[:5]}),
                delta(i, {"type": "input_json_delta", "partial_json": arguments[5:]}),
            ]
        events.append(stop(i))
    events += [message_delta(reply["stop_reason"], {"output_tokens": reply["usage"]["output_tokens"]}), END]
    return sse(*events)


SYNTHETIC_REPLY: dict[str, Any] = {
    "id": "msg_same",
    "type": "message",
    "role": "assistant",
    "model": "claude-s",
    "content": [
        {"type": "thinking", "thinking": "Need the tool.", "signature": "c2lnbmF0dXJl"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
        {"type": "text", "text": "Checking the weather."},
        {"type": "tool_use", "id": "toolu_s", "name": "get_weather", "input": {"city": "Paris", "days": [1, 2]}},
    ],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 20, "cache_read_input_tokens": 100, "output_tokens": 45},
}


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(lambda: SYNTHETIC_REPLY, id="synthetic"),
        # the recorded replies' content replayed as a (synthetic) stream: reasoning_2.json is redacted_thinking
        *(
            pytest.param(lambda file=file: load_json(file), id=file)
            for file in ("anthropic/reasoning.json", "anthropic/reasoning_2.json", "anthropic/tool_call.json")
        ),
    ],
)
def test_json_reply_and_assembled_stream_of_the_same_content_agree(reply: Any) -> None:
    data = reply()
    parsed = parse_response(json.dumps(data).encode())
    streamed = assemble(run([stream_of(data)]))
    assert (streamed.id, streamed.model, streamed.usage) == (parsed.id, parsed.model, parsed.usage)
    (got,), (want,) = streamed.choices, parsed.choices
    assert (got.index, got.finish_reason) == (want.index, want.finish_reason)
    # Tool arguments compare as JSON: a stream passes the wire's fragments through (with its
    # spacing), the JSON reply is re-serialized compactly.
    assert [(c.id, c.name, json.loads(c.arguments)) for c in got.message.tool_calls] == [
        (c.id, c.name, json.loads(c.arguments)) for c in want.message.tool_calls
    ]
    assert dataclasses.replace(got.message, tool_calls=()) == dataclasses.replace(want.message, tool_calls=())
    redacted = [block["data"] for block in data["content"] if block["type"] == "redacted_thinking"]
    assert [block.data for block in streamed.choices[0].message.reasoning if block.redacted] == redacted


@pytest.mark.parametrize(
    ("error_type", "kind", "retryable"),
    [
        ("overloaded_error", "overloaded", True),
        ("api_error", "api_error", True),
        ("rate_limit_error", "rate_limit", True),
        ("timeout_error", "timeout", True),
        ("invalid_request_error", "invalid_request", False),
        ("authentication_error", "authentication", False),
        ("permission_error", "permission", False),
        ("billing_error", "permission", False),
        ("not_found_error", "not_found", False),
        ("request_too_large", "invalid_request", False),
        ("a_new_error_type", "api_error", True),
    ],
)
def test_error_event_inside_a_200_stream(error_type: str, kind: str, retryable: bool) -> None:
    # Synthetic: the documented frame (providers.md 2.3), after some text.
    head = sse(start(), block_start(0, {"type": "text", "text": ""}), delta(0, {"type": "text_delta", "text": "Hel"}))
    error = f'event: error\ndata: {{"type": "error", "error": {{"type": "{error_type}", "message": "boom"}}}}\n\n'
    parser = AnthropicStreamParser()
    chunks = parser.feed(head + error.encode())
    assert [c.choices[0].delta.content for c in chunks] == [None, "Hel"]  # what came before is kept
    with pytest.raises(ProviderError) as info:
        parser.close()
    err = info.value
    assert (err.kind, err.retryable, err.in_stream, err.provider, err.code) == (
        kind,
        retryable,
        True,
        "anthropic",
        error_type,
    )
    assert "boom" in err.message


def test_error_event_first_raises_at_once() -> None:
    parser = AnthropicStreamParser()
    with pytest.raises(ProviderError) as info:
        parser.feed(
            b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
        )
    assert (info.value.kind, info.value.retryable, info.value.in_stream) == ("overloaded", True, True)


def test_prompt_too_long_in_a_stream_is_context_length() -> None:
    frame = {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 9 > 8"}}
    with pytest.raises(ProviderError) as info:
        run([sse(frame)])
    assert info.value.kind == "context_length"


@pytest.mark.parametrize(
    "cut",
    [
        b"",
        sse(start()),
        sse(start(), block_start(0, {"type": "text", "text": ""}), delta(0, {"type": "text_delta", "text": "Hi"})),
        sse(start(), message_delta("end_turn", {"output_tokens": 3})),  # finish but no message_stop
        sse(start()) + b'event: content_block_delta\ndata: {"type": "content_bl',  # cut inside an event
    ],
)
def test_stream_cut_before_message_stop_is_a_network_error(cut: bytes) -> None:
    with pytest.raises(ProviderError) as info:
        run([cut])
    assert (info.value.kind, info.value.retryable, info.value.in_stream) == ("network_error", True, True)


def test_recorded_stream_truncated_anywhere_is_a_network_error() -> None:
    data = load_bytes("anthropic/stream_tool_call.sse")
    end = data.rindex(b"event: message_stop")
    for cut in (10, len(data) // 3, len(data) // 2, end):
        with pytest.raises(ProviderError) as info:
            run([data[:cut]])
        assert info.value.kind == "network_error"


def test_events_after_message_stop_are_ignored() -> None:
    body = sse(
        start(), message_delta("end_turn", {"output_tokens": 2}), END, delta(0, {"type": "text_delta", "text": "x"})
    )
    chunks = run([body])
    assert chunks[-1].choices == ()
    assert assemble(chunks).choices[0].message.content is None


def test_invalid_json_in_an_event_is_an_in_stream_error() -> None:
    with pytest.raises(ProviderError) as info:
        run([sse(start()) + b"event: content_block_delta\ndata: {nope\n\n"])
    assert (info.value.kind, info.value.in_stream) == ("api_error", True)
