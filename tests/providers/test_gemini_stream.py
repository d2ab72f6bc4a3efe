"""Gemini streams: the recorded `alt=sse` streams and the JSON-array stream, assembled chunk by chunk
and fed in random splits; the chunk contract; and synthetic cases (labelled) for what no recording
shows: parallel calls, prompt blocks, in-stream errors, truncation.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from shared.errors import ProviderError
from shared.providers import gemini
from shared.providers.assembly import assemble
from shared.unified import ChatChunk, ChatRequest, ChatResponse, Message, Usage
from tests.providers.test_gemini_reply import Expected, check_reply
from tests.recordings import load_bytes, manifest_entry

REQUEST = ChatRequest(model="gemini-2.5-flash", messages=(Message(role="user", content="hi"),), stream=True)

# Values read from the recordings by hand (the usage is the last chunk's usageMetadata).
RECORDED: dict[str, Expected] = {
    # gemini-2.0-flash-exp: no candidate `index`; usage shrinks from 15 to 13 prompt tokens at the end.
    "gemini/stream_text.sse": Expected(
        "The capital of France is Paris.\n",
        [],
        "stop",
        Usage(input_tokens=13, output_tokens=8),
        "w1peaMz6INOvnvgPgYfPiQY",
        "gemini-2.0-flash-exp",
    ),
    "gemini/stream_usage.sse": Expected(
        "\n".join(str(n) for n in range(1, 31)),
        [],
        "stop",
        Usage(input_tokens=18, output_tokens=115, reasoning_tokens=35),
        "ru1garvBEoOiqtsP2fznmQw",
        "gemini-2.5-flash",
    ),
    # The call comes whole in chunk 1; chunk 2 is `{"text": ""}` with finishReason STOP.
    "gemini/stream_tool_call.sse": Expected(
        None,
        [("get_country", {}, "EpwICpkIAXLI2nxlU6gs")],
        "tool_calls",
        Usage(input_tokens=29, output_tokens=212, reasoning_tokens=202),
        "QUVVadTSNJ6_qtsPvN7J8Q0",
        "gemini-3-pro-preview",
    ),
    # Four thought chunks, then the answer whose first part carries the thoughtSignature.
    "gemini/stream_thinking.sse": Expected(
        "This is a great question! Safely crossing the street is all about being aware and predictable.",
        [],
        "stop",
        Usage(input_tokens=34, output_tokens=1256, reasoning_tokens=787),
        "beHBaJfEMIi-qtsP3769-Q8",
        "gemini-2.5-pro",
        reasoning="**Clarifying User Goals**\n\nI'm currently focused on defining the user's ultimate goal",
        signature="CiIB0e2Kb6Syj1a961Ef",
        text_prefix=True,
    ),
    "gemini/stream_json_array.json": Expected(
        None,
        [("pelican_name_generator", {}, "ClgBEU0yD8z3tYzbgjZ1")],
        "tool_calls",
        Usage(input_tokens=32, output_tokens=54, reasoning_tokens=42),
        "OYpyaqycKd2V_uMP65TsgA0",
        "gemini-2.5-flash",
        reasoning="**Generating Pelican Names**\n\nOkay, I'm thinking I should use",
    ),
}
SSE = sorted(f for f in RECORDED if f.endswith(".sse"))
ALL = sorted(RECORDED)


def parser_for(file: str, model: str = "gemini-2.5-flash") -> Any:
    return gemini.JsonArrayStreamParser(model) if file.endswith(".json") else gemini.stream_parser(REQUEST)


def run(file: str, pieces: list[bytes]) -> list[ChatChunk]:
    parser = parser_for(file)
    chunks: list[ChatChunk] = []
    for piece in pieces:
        chunks.extend(parser.feed(piece))
    chunks.extend(parser.close())
    return chunks


def random_splits(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randint(1, 40))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def view(response: ChatResponse) -> Any:
    """The assembled message without the minted tool-call ids (fresh on every parse)."""
    choice = response.choices[0]
    calls = [(c.name, c.arguments, c.thought_signature) for c in choice.message.tool_calls]
    return (
        response.id,
        response.model,
        choice.message.content,
        choice.message.reasoning,
        calls,
        choice.finish_reason,
        response.usage,
    )


def check_invariants(chunks: list[ChatChunk]) -> None:
    assert chunks
    first = chunks[0]
    assert first.choices
    assert first.choices[0].delta.role == "assistant"
    assert {(c.id, c.model, c.created) for c in chunks} == {(first.id, first.model, 0)}
    assert chunks[-1].choices == ()
    assert chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    seen: list[int] = []
    for chunk in chunks[:-1]:
        for choice in chunk.choices:
            assert choice.delta.content != ""
            assert choice.delta.reasoning != ""
            for call in choice.delta.tool_calls:
                if call.index not in seen:
                    assert call.id  # minted (call_<24 hex>) unless the provider sent one
                    assert call.name
                    seen.append(call.index)
    assert seen == list(range(len(seen)))
    finishes = [c for chunk in chunks for c in chunk.choices if c.finish_reason is not None]
    assert len(finishes) == 1


@pytest.mark.parametrize("file", ALL)
def test_recorded_stream_assembles_to_the_expected_message(file: str) -> None:
    assert manifest_entry(file)["http_status"] == 200
    chunks = run(file, [load_bytes(file)])
    check_invariants(chunks)
    check_reply(assemble(chunks), RECORDED[file])


@pytest.mark.parametrize("file", ALL)
def test_recorded_stream_is_the_same_however_it_is_split(file: str) -> None:
    data = load_bytes(file)
    whole = view(assemble(run(file, [data])))
    rng = random.Random(f"gemini:{file}")
    splits = [[data[i : i + 1] for i in range(len(data))], [data[:1], data[1:]], [data[:-1], data[-1:]]]
    splits += [random_splits(data, rng) for _ in range(60)]
    for pieces in splits:
        chunks = run(file, pieces)
        check_invariants(chunks)
        assert view(assemble(chunks)) == whole


@pytest.mark.parametrize("file", SSE)
def test_recorded_stream_with_lf_line_endings_is_the_same(file: str) -> None:
    data = load_bytes(file)
    assert b"\r\n\r\n" in data  # Gemini separates events with CRLF CRLF (providers.md 3.3)
    assert view(assemble(run(file, [data.replace(b"\r\n", b"\n")]))) == view(assemble(run(file, [data])))


@pytest.mark.parametrize("file", SSE)
def test_recorded_stream_as_a_json_array_gives_the_same_message(file: str) -> None:
    events = [e.removeprefix(b"data: ") for e in load_bytes(file).split(b"\r\n\r\n") if e.strip()]
    array = b"[" + b",\r\n".join(events) + b"]"
    from_array = view(assemble(run("array.json", [array[i : i + 7] for i in range(0, len(array), 7)])))
    assert from_array == view(assemble(run(file, [load_bytes(file)])))


@pytest.mark.parametrize("file", ALL)
def test_recorded_stream_cut_before_the_finish_is_a_network_error(file: str) -> None:
    data = load_bytes(file)
    cut = data.rindex(b'"finishReason"')
    for end in (cut, data.rindex(b"\r\n\r\n", 0, cut) + 4 if file.endswith(".sse") else cut - 30):
        parser = parser_for(file)
        chunks = parser.feed(data[:end])
        with pytest.raises(ProviderError) as caught:
            parser.close()
        error = caught.value
        assert (error.kind, error.retryable, error.in_stream) == ("network_error", True, True)
        assert all(c.choices[0].finish_reason is None for c in chunks)


def test_stream_parser_uses_the_request_model_until_the_stream_names_one() -> None:
    parser = gemini.stream_parser(ChatRequest(model="models/gemini-2.5-pro", messages=()))
    chunks = parser.feed(
        b'data: {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}]}\r\n\r\n'
    )
    chunks += parser.close()
    assert {c.model for c in chunks} == {"gemini-2.5-pro"}
    assert all(c.choices for c in chunks)  # no usageMetadata in the stream: no usage chunk


# --- synthetic streams, built from the documented shapes (providers.md 3.3) -------------------------
def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)


def event(
    *parts: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None, **cand: Any
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}, **cand}
    if finish is not None:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-3-pro-preview", "responseId": "resp-1"}
    if usage is not None:
        out["usageMetadata"] = usage
    return out


def stream(data: bytes) -> list[ChatChunk]:
    parser = gemini.stream_parser(REQUEST)
    return parser.feed(data) + parser.close()


def test_synthetic_parallel_calls_across_chunks_get_ordinal_indexes() -> None:
    data = sse(
        event({"text": "Let me look."}),
        event(
            {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "sig-a"},
            {"functionCall": {"id": "own", "name": "b", "args": {}}},
        ),
        event({"functionCall": {"name": "c", "args": {"y": "z"}}}, {"text": "", "thoughtSignature": "first-sig"}),
        event(
            {"text": "", "thoughtSignature": "tail-sig"},
            finish="STOP",
            usage={"promptTokenCount": 5, "candidatesTokenCount": 7},
        ),
    )
    chunks = stream(data)
    check_invariants(chunks)
    deltas = [d for c in chunks for ch in c.choices for d in ch.delta.tool_calls]
    assert [(d.index, d.name, d.arguments, d.thought_signature) for d in deltas] == [
        (0, "a", '{"x":1}', "sig-a"),
        (1, "b", "{}", None),
        (2, "c", '{"y":"z"}', None),
    ]
    assert deltas[1].id == "own"
    # Parts that are an empty text with a signature make no content delta; the first signature is kept.
    assert [ch.delta.reasoning_signature for c in chunks for ch in c.choices if ch.delta.reasoning_signature] == [
        "first-sig"
    ]
    response = assemble(chunks)
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.choices[0].message.content == "Let me look."
    assert [(b.text, b.signature) for b in response.choices[0].message.reasoning] == [("", "first-sig")]
    assert response.usage == Usage(input_tokens=5, output_tokens=7)


@pytest.mark.parametrize(
    ("wire", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("OTHER", "stop"),
        ("MODEL_ARMOR", "content_filter"),
        ("CONTINUATION", "length"),
    ],
)
def test_synthetic_finish_reasons(wire: str, finish: str) -> None:
    chunks = stream(sse(event({"text": "a"}), event({"text": "b"}, finish=wire, usage={"promptTokenCount": 1})))
    check_invariants(chunks)
    assert assemble(chunks).choices[0].finish_reason == finish


def test_synthetic_safety_stop_with_empty_content_still_sends_a_role_chunk() -> None:
    chunks = stream(
        sse(
            {
                "candidates": [{"content": {}, "finishReason": "SAFETY", "index": 0}],
                "usageMetadata": {"promptTokenCount": 4},
            }
        )
    )
    check_invariants(chunks)
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None, "content_filter"]


def test_synthetic_prompt_block_in_a_stream() -> None:
    # providers.md 3.2/3.3: blocked prompt, no candidates, promptFeedback in the (only) first chunk.
    chunks = stream(
        sse({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}, "responseId": "r"})
    )
    check_invariants(chunks)
    response = assemble(chunks)
    assert (response.choices[0].message.content, response.choices[0].finish_reason) == (None, "content_filter")
    assert response.usage == Usage(input_tokens=9)


def test_synthetic_two_candidates() -> None:
    data = sse(
        {
            "candidates": [
                {"content": {"parts": [{"text": "A"}]}, "index": 0},
                {"content": {"parts": [{"text": "B"}]}, "index": 1},
            ]
        },
        {
            "candidates": [
                {"content": {"parts": [{"text": "a"}]}, "index": 0, "finishReason": "STOP"},
                {"content": {"parts": [{"functionCall": {"name": "f"}}]}, "index": 1, "finishReason": "STOP"},
            ]
        },
    )
    chunks = stream(data)
    assert [ch.delta.role for ch in chunks[0].choices] == ["assistant", "assistant"]
    response = assemble(chunks)
    assert [(c.index, c.message.content, c.finish_reason) for c in response.choices] == [
        (0, "Aa", "stop"),
        (1, "B", "tool_calls"),
    ]
    assert response.usage is None


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        ({"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}, "api_error", True),
        ({"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}, "overloaded", True),
        ({"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}, "rate_limit", True),
        ({"code": 504, "message": "Deadline exceeded.", "status": "DEADLINE_EXCEEDED"}, "timeout", True),
        (
            {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"},
            "invalid_request",
            False,
        ),
        ({"message": "no code, no status"}, "api_error", True),
    ],
)
def test_synthetic_error_chunk_mid_stream(error: dict[str, Any], kind: str, retryable: bool) -> None:
    # providers.md 3.3: `data: {"error": {...}}` after HTTP 200 (the SDK checks chunks starting {"error":).
    parser = gemini.stream_parser(REQUEST)
    chunks = parser.feed(sse(event({"text": "Hel"}), {"error": error}, event({"text": "lo"}, finish="STOP")))
    assert [ch.delta.content for c in chunks for ch in c.choices] == ["Hel"]
    with pytest.raises(ProviderError) as caught:
        parser.feed(b"")
    assert (caught.value.kind, caught.value.retryable, caught.value.in_stream) == (kind, retryable, True)
    assert caught.value.upstream_status == error.get("code")
    with pytest.raises(ProviderError) as again:
        parser.close()
    assert again.value is caught.value


def test_synthetic_error_as_the_first_event_raises_at_once() -> None:
    parser = gemini.stream_parser(REQUEST)
    with pytest.raises(ProviderError) as caught:
        parser.feed(sse({"error": {"code": 503, "status": "UNAVAILABLE", "message": "overloaded"}}))
    assert caught.value.kind == "overloaded"


def test_event_that_is_not_json_mid_stream_is_a_retryable_api_error() -> None:
    parser = gemini.stream_parser(REQUEST)
    with pytest.raises(ProviderError) as caught:
        parser.feed(b"data: {not json\r\n\r\n")
    assert (caught.value.kind, caught.value.retryable, caught.value.in_stream) == ("api_error", True, True)


@pytest.mark.parametrize("data", [b"", b": keep-alive\r\n\r\n", sse(event({"text": "partial"}))])
def test_stream_without_a_finish_reason_is_a_network_error(data: bytes) -> None:
    parser = gemini.stream_parser(REQUEST)
    parser.feed(data)
    with pytest.raises(ProviderError) as caught:
        parser.close()
    assert (caught.value.kind, caught.value.retryable, caught.value.in_stream) == ("network_error", True, True)


# --- the JSON-array stream (no alt=sse) -------------------------------------------------------------
TRICKY_TEXT = 'braces } { and "quotes" \\ back\\slash \\" ] [ , é 漢字 🙂'


def test_json_array_strings_with_braces_escapes_and_multibyte_text_in_any_split() -> None:
    data = orjson.dumps(
        [
            event({"text": TRICKY_TEXT}),
            event({"text": "}"}, finish="STOP", usage={"promptTokenCount": 2, "candidatesTokenCount": 3}),
        ],
        option=orjson.OPT_INDENT_2,
    )
    expected = TRICKY_TEXT + "}"
    for size in (1, 2, 3, 5, 64, len(data)):
        parser = gemini.JsonArrayStreamParser()
        chunks: list[ChatChunk] = []
        for i in range(0, len(data), size):
            chunks += parser.feed(data[i : i + size])
        chunks += parser.close()
        check_invariants(chunks)
        assert assemble(chunks).choices[0].message.content == expected


def test_json_array_objects_are_emitted_as_soon_as_they_close() -> None:
    parser = gemini.JsonArrayStreamParser()
    first = orjson.dumps(event({"text": "one"}))
    assert parser.feed(b"[" + first[:-1]) == []
    assert [ch.delta.content for c in parser.feed(first[-1:] + b",\n") for ch in c.choices] == ["one"]


@pytest.mark.parametrize(
    "data",
    [
        b'[{"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}]',
        b'{"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}',
    ],
)
def test_json_array_error_object(data: bytes) -> None:
    parser = gemini.JsonArrayStreamParser()
    with pytest.raises(ProviderError) as caught:
        parser.feed(data)
    assert (caught.value.kind, caught.value.retryable, caught.value.in_stream) == ("rate_limit", True, True)
    with pytest.raises(ProviderError):
        parser.close()


def test_json_array_error_after_chunks_is_raised_by_the_next_call() -> None:
    parser = gemini.JsonArrayStreamParser()
    data = b"[" + orjson.dumps(event({"text": "a"})) + b',{"error": {"code": 500, "status": "INTERNAL"}}]'
    assert [ch.delta.content for c in parser.feed(data) for ch in c.choices] == ["a"]
    with pytest.raises(ProviderError) as caught:
        parser.close()
    assert caught.value.kind == "api_error"


@pytest.mark.parametrize("data", [b"<html>", b"[1, 2]", b'["x"]', b"[[]]"])
def test_json_array_garbage_is_a_retryable_api_error(data: bytes) -> None:
    parser = gemini.JsonArrayStreamParser()
    with pytest.raises(ProviderError) as caught:
        parser.feed(data)
    assert (caught.value.kind, caught.value.retryable) == ("api_error", True)
    with pytest.raises(ProviderError):
        parser.close()


def test_json_array_garbage_after_a_chunk_is_raised_by_the_next_call() -> None:
    parser = gemini.JsonArrayStreamParser()
    assert len(parser.feed(b"[" + orjson.dumps(event({"text": "a"})) + b", oops")) == 1
    with pytest.raises(ProviderError) as caught:
        parser.feed(b"")
    assert caught.value.kind == "api_error"


def test_json_array_cut_inside_an_object_is_a_network_error() -> None:
    parser = gemini.JsonArrayStreamParser()
    data = b"[" + orjson.dumps(event({"text": "a"})) + b"," + orjson.dumps(event({"text": "b"}, finish="STOP"))[:-5]
    assert len(parser.feed(data)) == 1
    with pytest.raises(ProviderError) as caught:
        parser.close()
    assert caught.value.kind == "network_error"
