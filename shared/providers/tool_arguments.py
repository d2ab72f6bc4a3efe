"""Tool-call arguments: the JSON string of the OpenAI wire, as the object Anthropic and Gemini take."""

from __future__ import annotations

from typing import Any

import orjson

from shared.errors import RequestError

__all__ = ["arguments_object"]


def arguments_object(arguments: str, *, field: str) -> dict[str, Any]:
    """Parse `arguments` (empty means `{}`) into a JSON object, or raise `RequestError` naming `field`."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        raise RequestError("tool call arguments are not valid JSON", field=field) from None
    if not isinstance(value, dict):
        raise RequestError("tool call arguments must be a JSON object", field=field)
    return value
