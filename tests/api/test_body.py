"""What both wires share (shared.api.body): JSON body decoding, the on|off switch headers, validation errors
as one RequestError naming its field in the wire's spelling, SSE framing, streamed tool-call pieces, and
`usage.cost` as an exact 6-decimal JSON number. The wires' own tests cover the same paths end to end."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, StrictInt, ValidationError
from starlette.datastructures import Headers

from shared.api.body import (
    MAX_STOP,
    NonEmptyStr,
    Stop,
    StrictModel,
    decode_json,
    field_path,
    header_switch,
    request_error,
    sse_event,
    tool_call_delta,
    usd_json,
)
from shared.errors import RequestError
from shared.unified import ToolCallDelta

# --- body and headers ----------------------------------------------------------------------------------


def test_decode_json_gives_the_object() -> None:
    assert decode_json(b'{"model": "m", "n": 1}') == {"model": "m", "n": 1}


@pytest.mark.parametrize("raw", [b"", b"{", b"{'a': 1}", b"NaN"])
def test_malformed_json_is_a_400_naming_the_body(raw: bytes) -> None:
    with pytest.raises(RequestError) as info:
        decode_json(raw)
    assert (info.value.status, info.value.field) == (400, "body")
    assert info.value.message.startswith("malformed JSON")


@pytest.mark.parametrize("raw", [b"[]", b"null", b'"x"', b"1"])
def test_a_body_that_is_not_an_object_is_a_400(raw: bytes) -> None:
    with pytest.raises(RequestError) as info:
        decode_json(raw)
    assert info.value.field == "body"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("on", True), ("OFF", False), (" On ", True), ("true", True), ("false", False), ("1", True), ("0", False)],
)
def test_header_switch_words(value: str, expected: bool) -> None:
    assert header_switch({"x-gateway-fallback": value}, "x-gateway-fallback") is expected


def test_header_switch_absent_is_none_and_names_match_any_case() -> None:
    assert header_switch({}, "x-gateway-fallback") is None
    assert header_switch({"X-Gateway-Fallback": "off"}, "x-gateway-fallback") is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([(b"x-gateway-fallback", b" Off ")], False),
        ([(b"X-Gateway-Fallback", b"on")], True),  # an ASGI server that kept the case
        ([(b"X-Gateway-Fallback", b"on"), (b"x-gateway-fallback", b"off")], False),  # the exact name first
        ([(b"x-gateway-fallback", b"1"), (b"X-GATEWAY-FALLBACK", b"0")], True),
        ([(b"host", b"h"), (b"x-gateway-cost-optimization", b"on")], None),  # absent
        ([], None),
    ],
)
def test_header_switch_on_starlette_headers(raw: list[tuple[bytes, bytes]], expected: bool | None) -> None:
    assert header_switch(Headers(raw=raw), "x-gateway-fallback") is expected


def test_a_bad_switch_in_starlette_headers_names_the_header() -> None:
    with pytest.raises(RequestError) as info:
        header_switch(Headers(raw=[(b"x-gateway-fallback", b"maybe")]), "x-gateway-fallback")
    assert info.value.field == "x-gateway-fallback"
    assert "'maybe'" in info.value.message


def test_a_bad_switch_names_the_header_and_echoes_little() -> None:
    with pytest.raises(RequestError) as info:
        header_switch({"x-gateway-fallback": "y" * 1000}, "x-gateway-fallback")
    assert info.value.field == "x-gateway-fallback"
    assert "on or off" in info.value.message
    assert len(info.value.message) < 200


# --- validation errors -> one RequestError ----------------------------------------------------------------


class Inner(StrictModel):
    tool_calls: list[NonEmptyStr]


class Sample(StrictModel):
    count: Annotated[StrictInt, Field(ge=1, le=5)]
    stop: Stop | None = None
    inner: Inner | None = None


def error_for(data: dict[str, Any], names: dict[str, str] | None = None) -> RequestError:
    with pytest.raises(ValidationError) as info:
        Sample.model_validate(data)
    return request_error(info.value, names or {})


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "count", "count is required"),
        ({"count": "1"}, "count", "count must be an integer"),
        ({"count": 0}, "count", "count must be at least 1"),
        ({"count": 6}, "count", "count must be at most 5"),
        ({"count": 1, "stop": 3}, "stop", "stop must be a string or a list of them"),
        ({"count": 1, "stop": ["a"] * (MAX_STOP + 1)}, "stop", f"stop must have at most {MAX_STOP} items"),
        ({"count": 1, "stop": ["a", 1]}, "stop[1]", "stop[1] must be a string"),
        ({"count": 1, "inner": []}, "inner", "inner must be an object"),
        ({"count": 1, "inner": {"tool_calls": [""]}}, "inner.tool_calls[0]", "inner.tool_calls[0] must not be empty"),
    ],
)
def test_the_first_validation_error_names_its_field(data: dict[str, Any], field: str, message: str) -> None:
    error = error_for(data)
    assert (error.status, error.field, error.message) == (400, field, message)


def test_field_names_follow_the_wire() -> None:
    error = error_for({"count": 1, "inner": {"tool_calls": [7]}}, {"tool_calls": "toolCalls"})
    assert error.field == "inner.toolCalls[0]"


def test_field_path_drops_union_tags_and_applies_names() -> None:
    loc = ("messages", 0, "content", "~parts", 2, "~image_url", "image_url", "url")
    assert field_path(loc) == "messages[0].content[2].image_url.url"
    assert field_path(("messages", 1, "tool_call_id"), {"tool_call_id": "toolCallId"}) == "messages[1].toolCallId"
    assert field_path(()) == ""


# --- rendering both wires share -------------------------------------------------------------------------


def test_sse_event_framing() -> None:
    assert sse_event({"a": 1, "b": [None]}) == b'data: {"a":1,"b":[null]}\n\n'


def test_tool_call_delta_first_piece_and_later_pieces() -> None:
    first = ToolCallDelta(index=1, id="call_1", name="f", arguments="", thought_signature="SIG")
    assert tool_call_delta(first) == {
        "index": 1,
        "id": "call_1",
        "type": "function",
        "function": {"arguments": "", "name": "f"},
    }
    assert tool_call_delta(ToolCallDelta(index=1, arguments='{"a"')) == {"index": 1, "function": {"arguments": '{"a"'}}


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, b"0.000000"),
        (6, b"0.000006"),
        (1500, b"0.001500"),
        (100_000, b"0.100000"),
        (1_000_000, b"1.000000"),
        (12_345_678, b"12.345678"),
        (10**15 + 1, b"1000000000.000001"),
    ],
)
def test_usd_json_is_a_six_decimal_number(micros: int, text: bytes) -> None:
    raw = orjson.dumps({"cost": usd_json(micros)})
    assert raw == b'{"cost":' + text + b"}"
    assert json.loads(raw, parse_float=Decimal)["cost"] == Decimal(micros).scaleb(-6)


def test_usd_json_unpriced_is_null() -> None:
    assert usd_json(None) is None
    assert orjson.dumps({"cost": usd_json(None)}) == b'{"cost":null}'


@given(st.integers(min_value=0, max_value=10**18))
def test_usd_json_round_trips_exactly(micros: int) -> None:
    raw = orjson.dumps(usd_json(micros))
    whole, _, decimals = raw.partition(b".")
    assert len(decimals) == 6
    assert whole.isdigit()
    assert json.loads(raw, parse_float=Decimal) * 1_000_000 == micros
