"""SSE decoding: line endings, comments, multi-line data, and input split anywhere."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.providers.sse import SSEDecoder, SSEEvent


def decode_all(pieces: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    events.extend(decoder.flush())
    return events


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_every_line_ending_dispatches_events(ending: str) -> None:
    body = f"event: ping{ending}data: {{}}{ending}{ending}data: a{ending}data: b{ending}{ending}".encode()
    assert decode_all([body]) == [SSEEvent("ping", "{}"), SSEEvent(None, "a\nb")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    body = b": keep-alive\nid: 7\nretry: 10\ndata: x\n\n"
    assert decode_all([body]) == [SSEEvent(None, "x")]


def test_only_one_leading_space_is_dropped() -> None:
    assert decode_all([b"data:  two spaces\n\ndata:none\n\n"]) == [
        SSEEvent(None, " two spaces"),
        SSEEvent(None, "none"),
    ]


def test_event_name_does_not_leak_into_the_next_event() -> None:
    assert decode_all([b"event: a\ndata: 1\n\ndata: 2\n\n"]) == [SSEEvent("a", "1"), SSEEvent(None, "2")]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode_all([b"event: lonely\n\ndata: 1\n\n"]) == [SSEEvent(None, "1")]


def test_last_event_without_blank_line_is_delivered_at_flush() -> None:
    assert decode_all([b"data: 1\n\ndata: tail"]) == [SSEEvent(None, "1"), SSEEvent(None, "tail")]


def test_crlf_split_between_cr_and_lf_is_one_line_ending() -> None:
    # Gemini separates events with CRLF CRLF; a split between CR and LF must not create an extra
    # blank line (which would dispatch early) nor lose one.
    events = decode_all([b"data: a\r", b"\ndata: b\r\n\r", b"\n", b"data: c\r\n\r\n"])
    assert events == [SSEEvent(None, "a\nb"), SSEEvent(None, "c")]


def test_multibyte_utf8_split_inside_a_character() -> None:
    text = "data: héllo wörld ✓ 日本\n\n".encode()
    cut = text.index("✓".encode()) + 1
    assert decode_all([text[:cut], text[cut:]]) == [SSEEvent(None, "héllo wörld ✓ 日本")]


SAMPLE = (
    'event: message_start\r\ndata: {"a": 1}\r\n\r\n: comment\ndata: first\ndata: second\n\ndata: é✓\r\rdata: [DONE]\n\n'
).encode()


@given(st.lists(st.integers(min_value=0, max_value=len(SAMPLE)), max_size=12))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    pieces = [SAMPLE[a:b] for a, b in zip([0, *points], [*points, len(SAMPLE)], strict=True)]
    assert decode_all(pieces) == decode_all([SAMPLE])


def test_one_byte_at_a_time() -> None:
    expected = [
        SSEEvent("message_start", '{"a": 1}'),
        SSEEvent(None, "first\nsecond"),
        SSEEvent(None, "é✓"),
        SSEEvent(None, "[DONE]"),
    ]
    assert decode_all([bytes([b]) for b in SAMPLE]) == expected
    rng = random.Random(7)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(SAMPLE)), 5))
        pieces = [SAMPLE[a:b] for a, b in zip([0, *cuts], [*cuts, len(SAMPLE)], strict=True)]
        assert decode_all(pieces) == expected
