"""Reading a request body within a byte limit, and writing a JSON reply: what every HTTP app shares.

`read_body` refuses a body over `limit` bytes with 413 (field `body`) before reading it when
`content-length` says so, else as soon as the stream passes the limit, so an oversized body is never
held whole. `json_response` writes with orjson; `Decimal` values (USD amounts with their exact places)
are written as they are, never through a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from shared.errors import RequestError

__all__ = ["JSON", "json_response", "read_body"]

JSON = "application/json"


async def read_body(request: Request, limit: int) -> bytes:
    too_big = RequestError(f"request body is larger than the {limit}-byte limit", field="body", status=413)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise too_big
        parts.append(part)
    return b"".join(parts)


def _decimal(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(content: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content, default=_decimal), status_code=status, media_type=JSON, headers=headers)
