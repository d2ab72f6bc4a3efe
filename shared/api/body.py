"""What both chat wires (OpenAI's and the seed's) share when reading a request body and rendering a reply.

Owns: decoding the JSON body (400 "malformed JSON", field "body"), the `x-gateway-*` switch headers, the
strict base model and the small field types both wires' request models use, turning a pydantic
`ValidationError` into one `RequestError` whose field is written in OpenAI's `param` style
(`messages[0].content[1].image_url.url`), and the rendering both wires share: SSE framing, a streamed
tool-call piece, and `usage.cost` as an exact JSON number. Messages, tools and tool choice (their models
and rules) live in shared.api.messages.

Field spelling per wire: the seed route shows `toolCalls`/`toolCallId`/`toolChoice`, the OpenAI route
snake_case. Both go through one `FieldNames` table, applied to pydantic locations and to our own checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictStr, Tag, ValidationError
from pydantic_core import ErrorDetails

from shared.cost import format_usd
from shared.errors import RequestError
from shared.headers import find_header
from shared.unified import ToolCallDelta

__all__ = [
    "COST_OPTIMIZATION_HEADER",
    "ECHO",
    "FALLBACK_HEADER",
    "MAX_STOP",
    "OPENAI_FIELDS",
    "FieldNames",
    "NonEmptyStr",
    "Stop",
    "StrictModel",
    "decode_json",
    "field_path",
    "header_switch",
    "request_error",
    "sse_event",
    "tool_call_delta",
    "usd_json",
]

COST_OPTIMIZATION_HEADER = "x-gateway-cost-optimization"
FALLBACK_HEADER = "x-gateway-fallback"
# OpenAI takes at most 4 stop sequences; both routes share the limit so a request means the same on either.
MAX_STOP = 4
# How much of a caller's value an error message may echo.
ECHO = 64

# Switch header values, case-insensitive. on|off is documented; the words the settings accept also work.
_SWITCH: dict[str, bool] = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False}

FieldNames = Mapping[str, str]
"""Display names of snake_case field segments on a wire (identity when absent)."""
OPENAI_FIELDS: FieldNames = {}


# --- body and headers ----------------------------------------------------------------------------


def decode_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 naming "body"."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"malformed JSON: {exc}", field="body") from None
    if not isinstance(value, dict):
        raise RequestError("the request body must be a JSON object", field="body")
    return value


def header_switch(headers: Mapping[str, str], name: str) -> bool | None:
    """An on|off header (`name` lower-case) as a bool; None when absent; 400 naming the header otherwise."""
    raw = find_header(headers, name)
    if raw is None:
        return None
    value = _SWITCH.get(raw.strip().lower())
    if value is None:
        raise RequestError(f"header {name} must be on or off, not {raw[:ECHO]!r}", field=name)
    return value


# --- input building blocks both wires' request models use -----------------------------------------


class StrictModel(BaseModel):
    """Wrong JSON types fail (no "1" for 1, no 1 for true); unknown fields are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]


# Tagged by a function so exactly one member is tried (one clear error, not one per member); tags start
# with "~" so `field_path` drops them from locations.
def _stop_tag(value: Any) -> str | None:
    return "~one" if isinstance(value, str) else "~many" if isinstance(value, list) else None


Stop = Annotated[
    Annotated[StrictStr, Tag("~one")] | Annotated[list[StrictStr], Tag("~many"), Field(max_length=MAX_STOP)],
    Discriminator(_stop_tag, custom_error_type="stop_type", custom_error_message="must be a string or a list of them"),
]


# --- validation errors -> one RequestError -------------------------------------------------------

# Discriminator failures on an object name its `type` field, the one that chose wrong (content parts in
# shared.api.messages, response formats in shared.api.openai_wire).
_TYPE_FIELD_ERRORS = frozenset({"part_type", "format_type"})
# Number bounds: error type -> (its ctx key, words).
_BOUNDS: dict[str, tuple[str, str]] = {
    "greater_than_equal": ("ge", "at least"),
    "less_than_equal": ("le", "at most"),
    "greater_than": ("gt", "greater than"),
    "less_than": ("lt", "less than"),
}
_PHRASES: dict[str, str] = {
    "missing": "is required",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be a boolean",
    "list_type": "must be a list",
}


def field_path(loc: Sequence[int | str], names: FieldNames = OPENAI_FIELDS) -> str:
    """`("messages", 0, "tool_calls")` -> "messages[0].tool_calls" (names applied, union tags dropped)."""
    out: list[str] = []
    for part in loc:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif not part.startswith("~"):
            out.append(("." if out else "") + names.get(part, part))
    return "".join(out)


def _phrase(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _PHRASES:
        return _PHRASES[kind]
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in ("too_short", "string_too_short") and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(key)}"
    return error["msg"][:1].lower() + error["msg"][1:]


def request_error(exc: ValidationError, names: FieldNames = OPENAI_FIELDS) -> RequestError:
    """The first validation error as a 400 naming its field in the wire's spelling."""
    error = exc.errors(include_url=False, include_input=False)[0]
    loc = tuple(error["loc"])
    if error["type"] in _TYPE_FIELD_ERRORS:
        loc = (*loc, "type")
    field = field_path(loc, names) or "body"
    return RequestError(f"{field} {_phrase(error)}", field=field)


# --- rendering both wires share ------------------------------------------------------------------


def sse_event(event: Mapping[str, Any]) -> bytes:
    """One `data:` server-sent event."""
    return b"data: " + orjson.dumps(event) + b"\n\n"


def tool_call_delta(t: ToolCallDelta) -> dict[str, Any]:
    """A streamed tool-call piece in OpenAI's shape (the seed's too): id and type only on a call's first piece."""
    call: dict[str, Any] = {"index": t.index}
    if t.id is not None:
        call["id"] = t.id
        call["type"] = "function"
    function: dict[str, Any] = {"arguments": t.arguments}
    if t.name is not None:
        function["name"] = t.name
    call["function"] = function
    return call


def usd_json(micros: int | None) -> orjson.Fragment | None:
    """`usage.cost`: USD as a JSON number with exactly 6 decimals (6 -> 0.000006), or None (null) when unpriced.

    A pre-serialized fragment, because a float renders 0.000006 as 6e-06 and 0.0015 as 0.0015: the
    architecture (Money) wants 6 decimals, and the digits come exactly from the integer micro-USD.
    """
    return None if micros is None else orjson.Fragment(format_usd(micros))
