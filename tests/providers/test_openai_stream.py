"""OpenAI stream parsing: every recorded stream, fed whole and in random splits, the chunk contract,
and synthetic streams for what the recordings do not show (mid-stream errors, cuts, several choices)."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest

from shared.errors import ProviderError
from shared.providers import openai
from shared.providers.assembly import assemble
from shared.unified import ChatChunk, ChatRequest, Message, ToolCallDelta, Usage
from tests.recordings import load_bytes

REQUEST = ChatRequest(model="gpt-4.1", messages=(Message(role="user", content="hi"),), stream=True)

# Values read from the recordings by hand: (text, [(call id, name, arguments)], finish, usage, id, model, created).
STREAMS: dict[str, tuple[str | None, list[tuple[str, str, dict[str, Any]]], str, Usage, str, str, int]] = {
    "openai/stream_text.sse": (
        '"This is a test."',
        [],
        "stop",
        Usage(input_tokens=12, output_tokens=5),
        "chatcmpl-ASYMZ4oSykiIFK4lXLReDiKyAjsQl",
        "gpt-4-0613",
        1731368639,
    ),
    "openai/stream_text_2.sse": (
        "The capital of the UK is London.",
        [],
        "stop",
        Usage(input_tokens=78, output_tokens=9),
        "chatcmpl-Dx0Xq5Xx9rHB2ehcHZCRDsnuymUXc",
        "gpt-4o-mini-2024-07-18",
        1782955818,
    ),
    "openai/stream_tool_call.sse": (
        None,
        [
            ("call_fHCjJqt9Pysde6vcJcvbXGBx", "get_current_weather", {"location": "Seattle, WA"}),
            ("call_3J9foSw3CUb48lrqIXoTky6U", "get_current_weather", {"location": "San Francisco, CA"}),
        ],
        "tool_calls",
        Usage(input_tokens=75, output_tokens=51),
        "chatcmpl-ASYMbACebDoWcuraMEWQhU48q4dAp",
        "gpt-4o-mini-2024-07-18",
        1731368641,
    ),
    "openai/stream_tool_call_2.sse": (
        None,
        [("call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", {"country": "UK"})],
        "tool_calls",
        Usage(input_tokens=53, output_tokens=15),
        "chatcmpl-Dx0XpqH8w09uBXwq1zFGYdETjtnEl",
        "gpt-4o-mini-2024-07-18",
        1782955817,
    ),
    "openai/stream_usage.sse": (
        "Farewell.",
        [],
        "stop",
        Usage(input_tokens=1144, output_tokens=3, cached_input_tokens=1024),
        "chatcmpl-D7mVuqaadwp22jFsp2qAKiE1utU3K",
        "gpt-4.1-2025-04-14",
        1770747154,
    ),
}


def run(pieces: list[bytes]) -> list[ChatChunk]:
    parser = openai.stream_parser(REQUEST)
    chunks: list[ChatChunk] = []
    for piece in pieces:
        chunks.extend(parser.feed(piece))
    chunks.extend(parser.close())
    return chunks


def random_splits(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), k=rng.randint(1, min(40, len(data) - 1))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def check_invariants(chunks: list[ChatChunk]) -> None:
    assert chunks, "no chunks"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {(c.id, c.model, c.created) for c in chunks} == {(chunks[0].id, chunks[0].model, chunks[0].created)}
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert usage_chunks == [chunks[-1]]
    assert chunks[-1].choices == ()
    deltas = [d for c in chunks for choice in c.choices for d in choice.delta.tool_calls]
    seen: set[int] = set()
    for delta in deltas:
        if delta.index not in seen:
            assert delta.id, f"first delta of call {delta.index} lacks its id"
            assert delta.name, f"first delta of call {delta.index} lacks its name"
            seen.add(delta.index)
        else:
            assert delta.id is None
            assert delta.name is None
    assert seen == set(range(len(seen)))
    for chunk in chunks:
        for choice in chunk.choices:
            assert choice.delta.content != ""


@pytest.mark.parametrize("file", sorted(STREAMS))
def test_recorded_stream_assembles_to_the_expected_message(file: str) -> None:
    text, calls, finish, usage, id_, model, created = STREAMS[file]
    chunks = run([load_bytes(file)])
    check_invariants(chunks)
    response = assemble(chunks)
    (choice,) = response.choices
    assert choice.message.content == text
    assert [(c.id, c.name, json.loads(c.arguments)) for c in choice.message.tool_calls] == calls
    assert choice.finish_reason == finish
    assert response.usage == usage
    assert (response.id, response.model, response.created) == (id_, model, created)


@pytest.mark.parametrize("file", sorted(STREAMS))
def test_recorded_stream_is_the_same_however_it_is_split(file: str) -> None:
    data = load_bytes(file)
    whole = run([data])
    assert run([data[i : i + 1] for i in range(len(data))]) == whole
    rng = random.Random(f"openai-splits-{file}")
    for _ in range(60):
        pieces = random_splits(data, rng)
        assert assemble(run(pieces)) == assemble(whole)


@pytest.mark.parametrize("file", sorted(STREAMS))
def test_recorded_stream_cut_before_done_is_a_network_error(file: str) -> None:
    data = load_bytes(file)
    cut = data[: data.rindex(b"data: [DONE]")]
    parser = openai.stream_parser(REQUEST)
    chunks = parser.feed(cut)
    assert chunks[-1].usage == STREAMS[file][3]  # what arrived is kept, usage included
    with pytest.raises(ProviderError) as caught:
        parser.close()
    assert (caught.value.kind, caught.value.retryable, caught.value.in_stream) == ("network_error", True, True)


# --- synthetic streams (built from the documented shapes of providers.md section 1.3) -------------------


def event(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def chunk(choices: list[Any], usage: Any = None, **extra: Any) -> bytes:
    body = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 9, "model": "gpt-4.1", "choices": choices}
    return event({**body, "usage": usage, **extra})


def delta(d: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"index": index, "delta": d, "logprobs": None, "finish_reason": finish}


DONE = b"data: [DONE]\n\n"
ROLE = chunk([delta({"role": "assistant", "content": "", "refusal": None})])


def test_role_chunk_content_is_not_an_empty_content_delta() -> None:
    chunks = run([ROLE, chunk([delta({"content": "Hi"})]), chunk([delta({}, "stop")]), DONE])
    assert [c.choices[0].delta.content for c in chunks] == [None, "Hi", None]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[1].choices[0].delta.role is None


def test_no_usage_reported_means_no_usage_chunk() -> None:
    chunks = run([ROLE, chunk([delta({"content": "Hi"}, "stop")]), DONE])
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("wire", "finish"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("content_filter", "content_filter"),
        ("function_call", "tool_calls"),
        ("brand_new_reason", "stop"),
    ],
)
def test_stream_finish_reason_table(wire: str, finish: str) -> None:
    chunks = run([ROLE, chunk([delta({}, wire)]), DONE])
    assert chunks[-1].choices[0].finish_reason == finish


def test_streamed_parallel_tool_calls_keep_openai_index_as_the_ordinal() -> None:
    first = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}
    second = {"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": '{"x"'}}
    chunks = run(
        [
            chunk([delta({"role": "assistant", "content": None, "tool_calls": [first]})]),
            chunk([delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]})]),
            chunk([delta({"tool_calls": [second]})]),
            chunk([delta({"tool_calls": [{"index": 1, "function": {"arguments": ":2}"}}]})]),
            chunk([delta({"tool_calls": [{"index": 1, "function": {"arguments": ""}}]})]),  # nothing: dropped
            chunk([delta({}, "tool_calls")]),
            DONE,
        ]
    )
    pieces = [d for c in chunks for ch in c.choices for d in ch.delta.tool_calls]
    assert pieces == [
        ToolCallDelta(index=0, id="call_a", name="f", arguments=""),
        ToolCallDelta(index=0, arguments='{"a":1}'),
        ToolCallDelta(index=1, id="call_b", name="g", arguments='{"x"'),
        ToolCallDelta(index=1, arguments=":2}"),
    ]
    calls = assemble(chunks).choices[0].message.tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [("call_a", "f", '{"a":1}'), ("call_b", "g", '{"x":2}')]


def test_tool_call_deltas_without_index_get_ordinals() -> None:
    # Not OpenAI (which always sends index) but OpenAI-compatible servers: a new id starts a call.
    chunks = run(
        [
            chunk(
                [delta({"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{"}}]})]
            ),
            chunk([delta({"tool_calls": [{"function": {"arguments": "}"}}]})]),
            chunk([delta({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": "{}"}}]})]),
            chunk([delta({}, "tool_calls")]),
            DONE,
        ]
    )
    check = [(d.index, d.id) for c in chunks for ch in c.choices for d in ch.delta.tool_calls]
    assert check == [(0, "a"), (0, None), (1, "b")]


def test_several_choices_each_get_a_role_and_their_own_text() -> None:
    chunks = run(
        [
            chunk(
                [
                    delta({"role": "assistant", "content": ""}, index=0),
                    delta({"role": "assistant", "content": ""}, index=1),
                ]
            ),
            chunk([delta({"content": "A"}, index=0), delta({"content": "B"}, index=1)]),
            chunk([delta({}, "stop", index=0), delta({}, "length", index=1)]),
            chunk([], usage={"prompt_tokens": 4, "completion_tokens": 2}),
            DONE,
        ]
    )
    assert [ch.delta.role for ch in chunks[0].choices] == ["assistant", "assistant"]
    response = assemble(chunks)
    assert [(c.index, c.message.content, c.finish_reason) for c in response.choices] == [
        (0, "A", "stop"),
        (1, "B", "length"),
    ]
    assert response.usage == Usage(input_tokens=4, output_tokens=2)


def test_refusal_deltas_are_streamed() -> None:
    chunks = run([ROLE, chunk([delta({"refusal": "I can't"})]), chunk([delta({"refusal": " help."}, "stop")]), DONE])
    assert assemble(chunks).choices[0].message.refusal == "I can't help."


def test_streamed_usage_with_cache_writes_and_reasoning() -> None:
    usage = {
        "prompt_tokens": 3000,
        "completion_tokens": 800,
        "total_tokens": 3800,
        "prompt_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 900},
        "completion_tokens_details": {"reasoning_tokens": 640},
    }
    chunks = run([ROLE, chunk([delta({"content": "x"}, "stop")]), chunk([], usage=usage, obfuscation="abc"), DONE])
    assert chunks[-1] == ChatChunk(
        id="chatcmpl-s",
        model="gpt-4.1",
        created=9,
        usage=Usage(
            input_tokens=3000, output_tokens=800, cached_input_tokens=2048, cache_write_tokens=900, reasoning_tokens=640
        ),
    )


def test_usage_on_a_chunk_with_choices_still_ends_in_a_usage_only_chunk() -> None:
    # Some compatible servers put usage on the finish chunk itself.
    chunks = run(
        [ROLE, chunk([delta({"content": "x"}, "stop")], usage={"prompt_tokens": 1, "completion_tokens": 1}), DONE]
    )
    check_invariants(chunks)


def test_events_after_done_are_ignored() -> None:
    chunks = run([ROLE, chunk([delta({}, "stop")]), DONE, chunk([delta({"content": "late"})]), b"data: junk\n\n"])
    assert all(ch.delta.content is None for c in chunks for ch in c.choices)


# Synthetic: the documented mid-stream error (providers.md 1.3; coder/aibridge error.txtar): a bare error
# object after some chunks, then EOF without [DONE].
MID_STREAM_ERROR = {
    "error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
    }
}


def test_mid_stream_error_keeps_earlier_chunks_then_raises() -> None:
    parser = openai.stream_parser(REQUEST)
    chunks = parser.feed(ROLE + chunk([delta({"content": "Hel"})]) + event(MID_STREAM_ERROR))
    assert [c.choices[0].delta.content for c in chunks] == [None, "Hel"]
    with pytest.raises(ProviderError) as caught:
        parser.close()
    error = caught.value
    assert (error.kind, error.retryable, error.in_stream, error.provider) == ("api_error", True, True, "openai")
    assert error.message.startswith("The server had an error")


def test_error_as_the_first_event_raises_at_once() -> None:
    parser = openai.stream_parser(REQUEST)
    with pytest.raises(ProviderError) as caught:
        parser.feed(event(MID_STREAM_ERROR))
    assert caught.value.in_stream is True


@pytest.mark.parametrize(
    ("error", "kind", "retryable", "code"),
    [
        ({"message": "m", "type": "server_error"}, "api_error", True, None),
        (
            {"message": "m", "type": "invalid_request_error", "code": "context_length_exceeded"},
            "context_length",
            False,
            "context_length_exceeded",
        ),
        ({"message": "m", "type": "tokens", "code": "rate_limit_exceeded"}, "rate_limit", True, "rate_limit_exceeded"),
        (
            {"message": "m", "type": "insufficient_quota", "code": "insufficient_quota"},
            "rate_limit",
            False,
            "insufficient_quota",
        ),
        ({"message": "m", "type": "insufficient_quota", "code": None}, "rate_limit", False, "insufficient_quota"),
        (
            {"message": "m", "type": "invalid_request_error", "code": "invalid_prompt"},
            "content_filter",
            False,
            "invalid_prompt",
        ),
        ({"message": "m", "type": "something_else"}, "api_error", True, None),
        ("plain text error", "api_error", True, None),
    ],
)
def test_in_stream_error_kinds(error: Any, kind: str, retryable: bool, code: str | None) -> None:
    parser = openai.stream_parser(REQUEST)
    parser.feed(ROLE)
    with pytest.raises(ProviderError) as caught:
        parser.feed(event({"error": error}))
    assert (caught.value.kind, caught.value.retryable, caught.value.code) == (kind, retryable, code)
    assert caught.value.in_stream is True


def test_stream_cut_inside_an_event_is_a_network_error() -> None:
    data = ROLE + chunk([delta({"content": "Hello"})])
    parser = openai.stream_parser(REQUEST)
    assert len(parser.feed(data + data[:40])) == 2
    with pytest.raises(ProviderError) as caught:
        parser.close()
    assert (caught.value.kind, caught.value.retryable, caught.value.in_stream) == ("network_error", True, True)


def test_empty_stream_is_a_network_error() -> None:
    with pytest.raises(ProviderError) as caught:
        run([])
    assert caught.value.kind == "network_error"


def test_garbled_complete_event_is_a_retryable_api_error() -> None:
    parser = openai.stream_parser(REQUEST)
    with pytest.raises(ProviderError) as caught:
        parser.feed(b"data: {not json\n\n")
    assert (caught.value.kind, caught.value.retryable, caught.value.in_stream) == ("api_error", True, True)


def test_done_without_trailing_blank_line_completes_the_stream() -> None:
    chunks = run([ROLE, chunk([delta({"content": "x"}, "stop")]), b"data: [DONE]"])
    assert assemble(chunks).choices[0].message.content == "x"
