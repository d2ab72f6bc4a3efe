"""The `[sim ...]` grammar: values, quoting, merging, stripping, errors, and the layering of sources."""

from __future__ import annotations

import pytest

from local.simulator.directives import (
    DirectiveError,
    Directives,
    directives_from_mapping,
    parse_tags,
    strip_tags,
)
from local.simulator.faults import Fault, in_stream_fault, kind_for_status, response_fault


def test_every_directive_parses_with_its_type() -> None:
    text = (
        "Hi [sim latency_ms=200 ttft_ms=50 chunks=5 chunk_gap_ms=10 status=429 kind=rate_limit retry_after=2.5 "
        'cut_after=3 error_after=2 text="a b" calls=2 finish=length cached_tokens=7 cache_write_tokens=3 '
        "reasoning_tokens=11]"
    )
    assert parse_tags(text) == Directives(
        latency_ms=200,
        ttft_ms=50,
        chunks=5,
        chunk_gap_ms=10,
        status=429,
        kind="rate_limit",
        retry_after=2.5,
        cut_after=3,
        error_after=2,
        text="a b",
        calls=2,
        finish="length",
        cached_tokens=7,
        cache_write_tokens=3,
        reasoning_tokens=11,
    )


def test_no_tag_means_nothing_set() -> None:
    assert parse_tags("plain text, [simple] brackets and [similar] words") == Directives()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[sim text="say \\"hi\\""]', 'say "hi"'),
        ('[sim text="back\\\\slash"]', "back\\slash"),
        ('[sim text="two\\nlines"]', "two\nlines"),
        ('[sim text="with ] bracket and = sign"]', "with ] bracket and = sign"),
        ('[sim text=""]', ""),
        ("[sim text=bare-word]", "bare-word"),
    ],
)
def test_quoted_values_and_escapes(text: str, expected: str) -> None:
    assert parse_tags(text).text == expected


def test_tags_merge_left_to_right_and_repeated_names_take_the_last() -> None:
    directives = parse_tags("[sim chunks=2 latency_ms=5] middle [sim chunks=9]\n[sim\tkind=overloaded ]")
    assert directives == Directives(chunks=9, latency_ms=5, kind="overloaded")


def test_empty_tag_is_allowed() -> None:
    assert parse_tags("x [sim] y") == Directives()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[sim bogus=1]", "unknown sim directive 'bogus'"),
        ("[sim chunks=0]", "expected 1..1000"),
        ("[sim status=200]", "expected 400..599"),
        ("[sim latency_ms=fast]", "expected an integer"),
        ("[sim retry_after=soon]", "expected a number"),
        ("[sim retry_after=nan]", "expected a number"),
        ("[sim kind=meltdown]", "expected one of"),
        ("[sim finish=done]", "expected one of"),
        ("[sim chunks=3", "unterminated"),
        ('[sim text="open]', "malformed"),
        ("[sim chunks]", "malformed"),
        ("[sim =3]", "malformed"),
    ],
)
def test_malformed_tags_raise_with_a_useful_message(text: str, fragment: str) -> None:
    with pytest.raises(DirectiveError, match=fragment):
        parse_tags(text)


def test_strip_tags_removes_tags_and_collapses_whitespace() -> None:
    assert strip_tags('What is  [sim chunks=2]\nthe capital? [sim text="x y"]') == "What is the capital?"
    assert strip_tags("broken [sim chunks=2") == "broken [sim chunks=2"


def test_layering_later_layers_win_name_by_name() -> None:
    defaults = Directives(latency_ms=100, chunks=3)
    asked = Directives(chunks=8, status=500)
    rule = Directives(status=401)
    assert Directives.layered(defaults, asked, rule) == Directives(latency_ms=100, chunks=8, status=401)


def test_mapping_values_are_validated_like_tags() -> None:
    assert directives_from_mapping({"status": 429, "retry_after": 1, "kind": "quota"}) == Directives(
        status=429, retry_after=1.0, kind="quota"
    )
    assert directives_from_mapping({"latency_ms": "20"}).latency_ms == 20
    with pytest.raises(DirectiveError, match="booleans"):
        directives_from_mapping({"chunks": True})
    with pytest.raises(DirectiveError, match="unknown"):
        directives_from_mapping({"key": "sk-x"})
    with pytest.raises(DirectiveError, match="expected a string"):
        directives_from_mapping({"text": 3})


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request"),
        (401, "auth"),
        (402, "quota"),
        (403, "permission"),
        (404, "not_found"),
        (408, "timeout"),
        (418, "invalid_request"),
        (429, "rate_limit"),
        (500, "server_error"),
        (502, "server_error"),
        (503, "overloaded"),
        (504, "timeout"),
        (529, "overloaded"),
        (599, "server_error"),
    ],
)
def test_status_alone_picks_a_kind(status: int, kind: str) -> None:
    assert kind_for_status(status) == kind


def test_which_fault_a_directive_set_asks_for() -> None:
    assert response_fault(Directives(), stream=True) is None
    assert response_fault(Directives(status=429, retry_after=2), stream=True) == Fault(
        kind="rate_limit", status=429, retry_after=2
    )
    assert response_fault(Directives(kind="overloaded"), stream=False) == Fault(kind="overloaded")
    # error_after moves the kind into the stream; on a non-stream it is an HTTP error of that kind.
    in_stream = Directives(kind="overloaded", error_after=2)
    assert response_fault(in_stream, stream=True) is None
    assert in_stream_fault(in_stream) == Fault(kind="overloaded")
    assert response_fault(in_stream, stream=False) == Fault(kind="overloaded")
    assert in_stream_fault(Directives(error_after=0)) == Fault(kind="server_error")
    # status wins over error_after.
    assert response_fault(Directives(status=503, error_after=1), stream=True) == Fault(kind="overloaded", status=503)
