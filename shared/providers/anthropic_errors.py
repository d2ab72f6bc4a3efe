"""Anthropic Messages, error classification: HTTP error replies and `event: error` in a 200 stream.

Owns the `error.type` and HTTP-status tables (providers.md 2.4 and section 4), the context-length
markers (the one place a message is matched), `classify_error` and `stream_error`. Pure functions,
no I/O; `shared.providers.anthropic` re-exports the contract names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from shared.errors import ErrorKind, ProviderError
from shared.providers.headers import retry_after_seconds, should_retry_header

__all__ = [
    "CONTEXT_LENGTH_MARKERS",
    "ERROR_TYPES",
    "PROVIDER",
    "STATUS_KINDS",
    "classify_error",
    "stream_error",
]

PROVIDER = "anthropic"

# providers.md sections 2.4 and 4: Anthropic's `error.type` -> (kind, retryable).
ERROR_TYPES: dict[str, tuple[ErrorKind, bool]] = {
    "invalid_request_error": ("invalid_request", False),
    "authentication_error": ("authentication", False),
    "permission_error": ("permission", False),
    "billing_error": ("permission", False),
    "not_found_error": ("not_found", False),
    "request_too_large": ("invalid_request", False),
    "rate_limit_error": ("rate_limit", True),
    "api_error": ("api_error", True),
    "timeout_error": ("timeout", True),
    "overloaded_error": ("overloaded", True),
}

# When the body has no known `error.type` (empty, HTML from a proxy): HTTP status -> (kind, retryable).
# 409 and every other 5xx are api_error and retryable, any other 4xx invalid_request.
STATUS_KINDS: dict[int, tuple[ErrorKind, bool]] = {
    400: ("invalid_request", False),
    401: ("authentication", False),
    402: ("permission", False),
    403: ("permission", False),
    404: ("not_found", False),
    408: ("timeout", True),
    409: ("api_error", True),
    413: ("invalid_request", False),
    429: ("rate_limit", True),
    500: ("api_error", True),
    504: ("timeout", True),
    529: ("overloaded", True),
}

# The one place a message is matched: Anthropic has no error code for context overflow, only an
# invalid_request_error whose message says so (providers.md 2.4, section 4).
CONTEXT_LENGTH_MARKERS = ("prompt is too long", "exceed context limit")

_CATCH_ALL_TYPE = "invalid_request_error"


def _by_status(status: int | None) -> tuple[ErrorKind, bool] | None:
    if status is None or status in STATUS_KINDS:
        return STATUS_KINDS.get(status or 0)
    if status >= 500:
        return "api_error", True
    return ("invalid_request", False) if status >= 400 else None


def _kind(status: int | None, error_type: str | None, message: str) -> tuple[ErrorKind, bool]:
    overflow = any(marker in message.lower() for marker in CONTEXT_LENGTH_MARKERS)
    if overflow and (error_type == _CATCH_ALL_TYPE or (error_type is None and status == 400)):
        return "context_length", False
    by_status = _by_status(status)
    # Anthropic sends invalid_request_error for 4xx in general (providers.md 2.4): with it the
    # status is the more precise word (404, 408, 409, 429, ...). Other types beat the status.
    if error_type == _CATCH_ALL_TYPE and by_status is not None:
        return by_status
    return ERROR_TYPES.get(error_type or "") or by_status or ("api_error", True)


def _error_fields(payload: object) -> tuple[str | None, str | None, str | None]:
    """(error.type, error.message, request_id) from Anthropic's envelope, each None if absent."""
    if not isinstance(payload, Mapping):
        return None, None, None
    error = payload.get("error")
    error = error if isinstance(error, Mapping) else {}
    error_type, message, request_id = error.get("type"), error.get("message"), payload.get("request_id")
    return (
        error_type if isinstance(error_type, str) else None,
        message if isinstance(message, str) else None,
        request_id if isinstance(request_id, str) else None,
    )


def classify_error(status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
    """An HTTP error reply -> `ProviderError` (providers.md section 4). The body may be anything."""
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    error_type, message, request_id = _error_fields(payload)
    if message is None:
        snippet = body[:300].decode("utf-8", errors="replace").strip()
        message = snippet or f"HTTP {status} from Anthropic"
    request_id = request_id or next((v for k, v in headers.items() if k.lower() == "request-id"), None)
    kind, retryable = _kind(status, error_type, message)
    verdict = should_retry_header(headers)
    return ProviderError(
        f"{message} (request_id {request_id})" if request_id else message,
        kind=kind,
        provider=PROVIDER,
        status=status,
        retryable=retryable if verdict is None else verdict,
        retry_after=retry_after_seconds(headers),
        code=error_type,
        in_stream=False,
    )


def stream_error(payload: Mapping[str, Any]) -> ProviderError:
    """An `event: error` inside a 200 stream: classified by `error.type` (the status was 200)."""
    error_type, message, request_id = _error_fields(payload)
    message = message or "error event in the stream"
    kind, retryable = _kind(None, error_type, message)
    return ProviderError(
        f"{message} (request_id {request_id})" if request_id else message,
        kind=kind,
        provider=PROVIDER,
        retryable=retryable,
        code=error_type,
        in_stream=True,
    )
