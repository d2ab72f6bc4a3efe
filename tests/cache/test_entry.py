"""Cached replies: byte round trip, strict loading, what may be cached, and stream replay (assembled, and
rendered through the OpenAI and seed stream renderers, the OpenAI one checked with the official SDK)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from shared.api.openai_wire import OpenAIStreamRenderer
from shared.api.seed_wire import SeedStreamRenderer
from shared.cache.entry import ENTRY_VERSION, CachedReply, cacheable, dumps, loads, replay_chunks
from shared.chat_types import ChatResult
from shared.cost import Cost
from shared.providers.assembly import assemble
from shared.unified import (
    ChatResponse,
    Choice,
    FinishReason,
    ReasoningBlock,
    ResponseMessage,
    ToolCall,
    Usage,
)

USAGE = Usage(input_tokens=12, output_tokens=34, cached_input_tokens=5, reasoning_tokens=3)
ZERO = Cost(usd=Decimal(0), micros=0, unpriced=False)


def response(*choices: Choice, usage: Usage | None = USAGE) -> ChatResponse:
    return ChatResponse(
        id="chatcmpl-up", model="gpt-4o-mini-2024-07-18", created=1_700_000_000, choices=choices, usage=usage
    )


def text_choice(content: str = "Hello there", finish: FinishReason | None = "stop", index: int = 0) -> Choice:
    return Choice(index=index, message=ResponseMessage(content=content), finish_reason=finish)


def calls_choice(*calls: ToolCall, content: str | None = None) -> Choice:
    return Choice(index=0, message=ResponseMessage(content=content, tool_calls=calls), finish_reason="tool_calls")


CALLS = (
    ToolCall("call_a", "weather", '{"city": "Paris", "days": 2}'),
    ToolCall("call_b", "time", '{"tz":"Europe/Oslo"}', thought_signature="sig-b"),
    ToolCall("call_c", "ping", ""),
)


def reply(r: ChatResponse, cost_micros: int | None = 1500) -> CachedReply:
    return CachedReply(response=r, provider="openai", model="gpt-4o-mini", cost_micros=cost_micros, created=1.7e9)


# Every field of every stored type set away from its default, so the round trip proves each one is kept.
FULL = reply(
    ChatResponse(
        id="chatcmpl-up",
        model="gemini-2.5-flash",
        created=1_700_000_000,
        choices=(
            Choice(
                index=0,
                message=ResponseMessage(
                    content="Hi",
                    tool_calls=(ToolCall("c1", "f", '{"a": [1, 2.5, null]}', thought_signature="sig"),),
                    refusal="partly",
                    reasoning=(ReasoningBlock(text="t", signature="s", redacted=True, data="d"),),
                ),
                finish_reason="tool_calls",
            ),
        ),
        usage=Usage(1, 2, 3, 4, 5, 6),
        provider_finish_reason="RECITATION",
    ),
    cost_micros=123,
)


def non_defaults(value: object) -> list[str]:
    """Names of dataclass fields anywhere in `value` still at their default (empty: all set)."""
    found: list[str] = []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            current = getattr(value, f.name)
            if f.default is not dataclasses.MISSING and current == f.default:
                found.append(f"{type(value).__name__}.{f.name}")
            found += non_defaults(current)
    elif isinstance(value, tuple):
        for item in value:
            found += non_defaults(item)
    return found


# --- bytes ---------------------------------------------------------------------------------------


def test_round_trip_keeps_every_field() -> None:
    assert non_defaults(FULL) == []
    assert loads(dumps(FULL)) == FULL


@pytest.mark.parametrize(
    "value",
    [
        reply(response(text_choice()), cost_micros=None),
        reply(response(calls_choice(*CALLS)), cost_micros=0),
        reply(response(text_choice(), usage=None)),
        reply(response()),
    ],
)
def test_round_trip(value: CachedReply) -> None:
    blob = dumps(value)
    assert orjson.loads(blob)["v"] == ENTRY_VERSION
    assert loads(blob) == value


def test_from_result() -> None:
    cost = Cost(usd=Decimal("0.0015"), micros=1500, unpriced=False)
    result = ChatResult(response(text_choice()), "openai", "gpt-4o-mini", cost, attempts=2, request_id="r")
    assert CachedReply.from_result(result, created=1.7e9) == reply(response(text_choice()))
    unpriced = dataclasses.replace(result, cost=Cost(None, None, True))
    assert CachedReply.from_result(unpriced, created=1.0).cost_micros is None


def mutate(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        target: Any = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return apply


def drop(path: tuple[str | int, ...]) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        target: Any = doc
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return apply


CHOICE0 = ("response", "choices", 0)
MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "other version": mutate(("v",), 2),
    "version as text": mutate(("v",), "1"),
    "version as bool": mutate(("v",), True),
    "no version": drop(("v",)),
    "unknown top field": mutate(("extra",), 1),
    "no provider": drop(("provider",)),
    "provider not text": mutate(("provider",), 1),
    "created as text": mutate(("created",), "now"),
    "created as bool": mutate(("created",), True),
    "negative cost": mutate(("cost_micros",), -1),
    "fractional cost": mutate(("cost_micros",), 1.5),
    "response not an object": mutate(("response",), []),
    "unknown response field": mutate(("response", "extra"), None),
    "created not an int": mutate(("response", "created"), 1.5),
    "choices not a list": mutate(("response", "choices"), {}),
    "choice not an object": mutate(CHOICE0, "x"),
    "bad finish reason": mutate((*CHOICE0, "finish_reason"), "done"),
    "negative index": mutate((*CHOICE0, "index"), -1),
    "message missing a field": drop((*CHOICE0, "message", "refusal")),
    "content not text": mutate((*CHOICE0, "message", "content"), 5),
    "tool calls not a list": mutate((*CHOICE0, "message", "tool_calls"), {}),
    "tool call id not text": mutate((*CHOICE0, "message", "tool_calls", 0, "id"), 1),
    "tool call extra field": mutate((*CHOICE0, "message", "tool_calls", 0, "type"), "function"),
    "redacted not a bool": mutate((*CHOICE0, "message", "reasoning", 0, "redacted"), 1),
    "usage negative": mutate(("response", "usage", "input_tokens"), -1),
    "usage bool": mutate(("response", "usage", "output_tokens"), True),
    "usage float": mutate(("response", "usage", "output_tokens"), 2.0),
    "usage missing a field": drop(("response", "usage", "reasoning_tokens")),
    "usage not an object": mutate(("response", "usage"), 5),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_malformed_entry_loads_as_none(name: str) -> None:
    doc = orjson.loads(dumps(FULL))
    MUTATIONS[name](doc)
    assert loads(orjson.dumps(doc)) is None


@pytest.mark.parametrize("blob", [b"", b"{", b"null", b"[]", b"1", b"\xff\xfe", b'{"v": 1}', dumps(FULL)[:-1]])
def test_garbage_loads_as_none(blob: bytes) -> None:
    assert loads(blob) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=15,
)


@given(st.binary(max_size=200))
def test_random_bytes_never_raise(blob: bytes) -> None:
    assert loads(blob) is None or isinstance(loads(blob), CachedReply)


@given(st.sampled_from(sorted(MUTATIONS)), json_values)
def test_random_values_in_a_valid_entry_never_raise(name: str, value: object) -> None:
    doc = orjson.loads(dumps(FULL))
    # Put a random JSON value where a mutation would go (or replace the whole response).
    doc["response" if name.startswith("response") else "model"] = value
    try:
        blob = orjson.dumps(doc)
    except TypeError:  # integers beyond 64 bits
        return
    result = loads(blob)
    assert result is None or isinstance(result, CachedReply)


# --- what may be cached --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (response(text_choice()), True),
        (response(text_choice(finish="length")), True),
        (response(calls_choice(*CALLS)), True),
        (response(Choice(0, ResponseMessage(refusal="I can't help with that."), "stop")), True),
        (response(text_choice(), text_choice(index=1)), True),
        (response(text_choice(), usage=None), False),
        (response(), False),
        (response(text_choice(finish=None)), False),
        (response(text_choice(), text_choice(index=1, finish=None)), False),
        (response(text_choice(finish="content_filter")), False),
        (response(calls_choice(ToolCall("c", "f", '{"a":'))), False),
        (response(calls_choice(ToolCall("c", "f", "[1, 2]"))), False),
        (response(calls_choice(ToolCall("c", "f", '"x"'))), False),
        (response(calls_choice(ToolCall("c", "f", "{} {}"))), False),
        (response(calls_choice(ToolCall("", "f", "{}"))), False),
        (response(calls_choice(ToolCall("c", "", "{}"))), False),
    ],
)
def test_cacheable(r: ChatResponse, expected: bool) -> None:
    assert cacheable(r) is expected


# --- replay --------------------------------------------------------------------------------------

REPLAYS = {
    "text": response(text_choice()),
    "long text": response(text_choice("x" * 100_000 + "é")),
    "tool calls": response(calls_choice(*CALLS)),
    "text and tool calls": response(calls_choice(*CALLS[:2], content="Let me check.")),
    "choices": response(text_choice("a"), text_choice("b", "length", index=1), text_choice("c", index=2)),
    "refusal": response(Choice(0, ResponseMessage(refusal="No."), "stop")),
    "reasoning": response(
        Choice(
            0,
            ResponseMessage(
                content="42",
                reasoning=(ReasoningBlock("step 1", signature="s1"), ReasoningBlock(redacted=True, data="opaque")),
            ),
            "stop",
        )
    ),
    "no usage": response(text_choice(), usage=None),
}


@pytest.mark.parametrize("name", sorted(REPLAYS))
def test_replay_assembles_to_the_stored_response(name: str) -> None:
    r = REPLAYS[name]
    chunks = replay_chunks(reply(r), response_id="chatcmpl-hit")
    assert assemble(chunks) == dataclasses.replace(r, id="chatcmpl-hit")
    assert {c.id for c in chunks} == {"chatcmpl-hit"}
    # Every choice opens with the role and ends with its finish reason; usage comes alone, last.
    for index in {c.index for c in r.choices}:
        mine = [c.choices[0] for c in chunks if c.choices and c.choices[0].index == index]
        assert mine[0].delta.role == "assistant"
        assert mine[-1].finish_reason is not None
    if r.usage is not None:
        assert (chunks[-1].choices, chunks[-1].usage) == ((), r.usage)
    else:
        assert all(c.usage is None for c in chunks)


def test_replay_drops_only_what_chunks_cannot_carry() -> None:
    r = dataclasses.replace(response(text_choice("")), provider_finish_reason="STOP")
    assembled = assemble(replay_chunks(reply(r), response_id="x"))
    assert assembled.choices[0].message.content is None  # "" is no piece (documented)
    assert assembled.provider_finish_reason is None


def sse_events(stream: bytes) -> list[bytes]:
    assert stream.endswith(b"\n\n")
    events = stream[:-2].split(b"\n\n")
    for event in events:
        assert event.startswith(b"data: ")
    return [e[len(b"data: ") :] for e in events]


def render(r: CachedReply, renderer: OpenAIStreamRenderer | SeedStreamRenderer) -> bytes:
    """What the chat API's SSE loop sends for a hit: rendered chunks, the usage chunk at $0, [DONE]."""
    out = [renderer.chunk(c) for c in replay_chunks(r, response_id="chatcmpl-hit") if c.choices]
    out.append(renderer.usage_chunk(r.response.usage, ZERO))
    out.append(renderer.done())
    return b"".join(out)


@pytest.mark.parametrize("name", ["text", "tool calls", "text and tool calls", "reasoning", "refusal", "long text"])
def test_openai_stream_of_a_hit_is_valid_for_the_official_sdk(name: str) -> None:
    r = reply(REPLAYS[name])
    stream = render(r, OpenAIStreamRenderer(r.model, 1_700_000_001, True, response_id="chatcmpl-hit"))
    *data, done = sse_events(stream)
    assert done == b"[DONE]"
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for raw in data:
        state.handle_chunk(ChatCompletionChunk.model_validate(orjson.loads(raw)))
    final = state.get_final_completion()
    assert final.id == "chatcmpl-hit"
    (choice,) = final.choices
    message = r.response.choices[0].message
    assert choice.finish_reason == r.response.choices[0].finish_reason
    # The role event carries content "" (OpenAI's own first chunk does too), so "no content" reads as "".
    assert (choice.message.content or None) == message.content
    assert choice.message.refusal == message.refusal
    calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
    assert calls == [(c.id, c.name, c.arguments) for c in message.tool_calls]
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (USAGE.input_tokens, USAGE.output_tokens)
    assert b"sig-b" not in stream
    assert b"opaque" not in stream


def test_openai_stream_of_a_hit_without_include_usage() -> None:
    r = reply(REPLAYS["text"])
    *data, done = sse_events(render(r, OpenAIStreamRenderer(r.model, 1, False, response_id="chatcmpl-hit")))
    assert done == b"[DONE]"
    chunks = [ChatCompletionChunk.model_validate(orjson.loads(raw)) for raw in data]
    assert all(c.usage is None for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, "stop"]


def test_seed_stream_of_a_hit() -> None:
    r = reply(REPLAYS["text and tool calls"])
    stream = render(r, SeedStreamRenderer(r.model, 1, r.provider, response_id="chatcmpl-hit"))
    *data, done = sse_events(stream)
    assert done == b"[DONE]"
    events = [orjson.loads(raw) for raw in data]
    assert {e["id"] for e in events} == {"chatcmpl-hit"}
    assert {e["provider"] for e in events} == {"OPENAI"}
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    assert deltas[0]["role"] == "assistant"
    assert "".join(d.get("content", "") for d in deltas) == "Let me check."
    calls = [t for d in deltas for t in d.get("toolCalls", ())]
    assert [(t["id"], t["function"]["name"], t["function"]["arguments"]) for t in calls] == [
        (c.id, c.name, c.arguments) for c in CALLS[:2]
    ]
    assert [e["choices"][0]["finishReason"] for e in events if e["choices"]][-1] == "tool_calls"
    usage = events[-1]["usage"]
    assert (events[-1]["choices"], usage["cost"]) == ([], 0)
