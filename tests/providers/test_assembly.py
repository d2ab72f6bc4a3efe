"""Folding unified chunks into one response, and the stream-parser base's error rule."""

from __future__ import annotations

import pytest

from shared.errors import ProviderError
from shared.providers.assembly import assemble
from shared.providers.sse import SSEEvent
from shared.providers.stream_base import SSEStreamParser
from shared.unified import ChatChunk, ChunkChoice, Delta, FinishReason, ToolCallDelta, Usage


def chunk(delta: Delta, finish: FinishReason | None = None, index: int = 0) -> ChatChunk:
    return ChatChunk(
        id="x", model="m", created=1, choices=(ChunkChoice(index=index, delta=delta, finish_reason=finish),)
    )


def test_assemble_text_tool_calls_reasoning_and_usage() -> None:
    usage = Usage(input_tokens=10, output_tokens=5)
    response = assemble(
        [
            chunk(Delta(role="assistant")),
            chunk(Delta(reasoning="think ")),
            chunk(Delta(reasoning="more", reasoning_signature="sig")),
            chunk(Delta(content="Hel")),
            chunk(Delta(content="lo")),
            chunk(Delta(tool_calls=(ToolCallDelta(index=1, id="b", name="g", arguments=""),))),
            chunk(Delta(tool_calls=(ToolCallDelta(index=0, id="a", name="f", arguments='{"x":'),))),
            chunk(Delta(tool_calls=(ToolCallDelta(index=0, arguments="1}"),))),
            chunk(Delta(), "tool_calls"),
            ChatChunk(id="x", model="m", created=1, usage=usage),
        ]
    )
    (choice,) = response.choices
    assert choice.message.content == "Hello"
    assert [(c.id, c.name, c.arguments) for c in choice.message.tool_calls] == [("a", "f", '{"x":1}'), ("b", "g", "")]
    assert choice.message.reasoning[0].text == "think more"
    assert choice.message.reasoning[0].signature == "sig"
    assert choice.finish_reason == "tool_calls"
    assert response.usage == usage
    assert (response.id, response.model, response.created) == ("x", "m", 1)


def test_assemble_keeps_choices_apart() -> None:
    response = assemble([chunk(Delta(content="a"), index=1), chunk(Delta(content="b"), index=0)])
    assert [c.message.content for c in response.choices] == ["b", "a"]


class _Parser(SSEStreamParser):
    """A toy parser: `data: boom` is an in-stream error, `data: end` the completion marker."""

    def __init__(self) -> None:
        super().__init__()
        self.done = False

    def on_event(self, event: SSEEvent) -> list[ChatChunk]:
        if event.data == "boom":
            raise ProviderError("boom", kind="overloaded", provider="toy", retryable=True, in_stream=True)
        if event.data == "end":
            self.done = True
            return []
        return [chunk(Delta(content=event.data))]

    def on_end(self) -> list[ChatChunk]:
        if not self.done:
            raise ProviderError("cut", kind="network_error", provider="toy", retryable=True, in_stream=True)
        return []


def test_chunks_before_an_in_stream_error_are_returned_then_the_error_raised() -> None:
    parser = _Parser()
    out = parser.feed(b"data: a\n\ndata: boom\n\ndata: after\n\n")
    assert [c.choices[0].delta.content for c in out] == ["a"]
    with pytest.raises(ProviderError) as caught:
        parser.close()
    assert caught.value.kind == "overloaded"
    with pytest.raises(ProviderError):
        parser.feed(b"data: more\n\n")


def test_error_first_in_a_feed_is_raised_at_once() -> None:
    parser = _Parser()
    with pytest.raises(ProviderError):
        parser.feed(b"data: boom\n\n")


def test_end_of_input_without_marker_raises() -> None:
    parser = _Parser()
    parser.feed(b"data: a\n\n")
    with pytest.raises(ProviderError) as caught:
        parser.close()
    assert caught.value.kind == "network_error"


def test_unterminated_last_event_is_parsed_at_close() -> None:
    parser = _Parser()
    assert parser.feed(b"data: a\n\ndata: end") != []
    assert parser.close() == []


def test_reasoning_blocks_keep_their_order_and_signatures() -> None:
    # Interleaved thinking (Anthropic): thinking, redacted, thinking again, each closed by its signature.
    response = assemble(
        [
            chunk(Delta(reasoning="first ")),
            chunk(Delta(reasoning="block", reasoning_signature="s1")),
            chunk(Delta(reasoning_redacted="opaque")),
            chunk(Delta(reasoning="second")),
            chunk(Delta(reasoning_signature="s2")),
            chunk(Delta(reasoning="unsigned tail")),
        ]
    )
    blocks = response.choices[0].message.reasoning
    assert [(b.text, b.signature, b.redacted, b.data) for b in blocks] == [
        ("first block", "s1", False, None),
        ("", None, True, "opaque"),
        ("second", "s2", False, None),
        ("unsigned tail", None, False, None),
    ]


def test_signature_without_reasoning_text_is_kept() -> None:
    # Gemini 3 signs the answer's text part even when no thought summary was asked for.
    response = assemble([chunk(Delta(content="4", reasoning_signature="sig"))])
    assert [(b.text, b.signature) for b in response.choices[0].message.reasoning] == [("", "sig")]
