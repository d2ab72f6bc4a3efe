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
from shared.headers import find_header

__all__ = ["JSON", "json_response", "read_body"]

JSON = "application/json"


async def read_body(request: Request, limit: int) -> bytes:
    declared = find_header(request.headers, "content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_big(limit)
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise _too_big(limit)
        parts.append(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _too_big(limit: int) -> RequestError:
    return RequestError(f"request body is larger than the {limit}-byte limit", field="body", status=413)


def _decimal(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(content: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content, default=_decimal), status_code=status, media_type=JSON, headers=headers)
