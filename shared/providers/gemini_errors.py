"""Gemini error classification: google.rpc.Status error objects as typed `ProviderError`s.

Owns the tables that map an ErrorInfo reason, a canonical status name or a bare HTTP status to an
error kind (providers.md 3.4 and section 4), `classify_error` for an HTTP error response, and the
errors raised inside a 200 stream: an `{"error": ...}` chunk (`in_stream_error`), a chunk that is not
a response object (`bad_stream_error`) and a stream cut before its finishReason (`cut_stream_error`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from shared.errors import ErrorKind, ProviderError
from shared.providers.headers import retry_after_seconds, should_retry_header

__all__ = [
    "HTTP_KINDS",
    "PROVIDER",
    "REASON_KINDS",
    "RETRYABLE_KINDS",
    "STATUS_KINDS",
    "bad_stream_error",
    "classify_error",
    "cut_stream_error",
    "error_from_object",
    "in_stream_error",
    "json_body",
]

PROVIDER = "gemini"

# google.rpc.ErrorInfo reasons (google/api/error_reason.proto) that say more than the status:
# a bad key is a 400 INVALID_ARGUMENT on the Developer API (gemini/error_400_api_key.json).
REASON_KINDS: dict[str, ErrorKind] = {
    "API_KEY_INVALID": "authentication",
    "CREDENTIALS_MISSING": "authentication",
    "ACCESS_TOKEN_EXPIRED": "authentication",
    "API_KEY_SERVICE_BLOCKED": "permission",
    "SERVICE_DISABLED": "permission",
    "BILLING_DISABLED": "permission",
    "CONSUMER_SUSPENDED": "permission",
}
# Canonical google.rpc status names (providers.md 3.4 and section 4). FAILED_PRECONDITION is a 400
# meaning "free tier not available in your region / billing required": a permission problem.
STATUS_KINDS: dict[str, ErrorKind] = {
    "UNAUTHENTICATED": "authentication",
    "PERMISSION_DENIED": "permission",
    "FAILED_PRECONDITION": "permission",
    "NOT_FOUND": "not_found",
    "RESOURCE_EXHAUSTED": "rate_limit",
    "INVALID_ARGUMENT": "invalid_request",
    "OUT_OF_RANGE": "invalid_request",
    "DEADLINE_EXCEEDED": "timeout",
    "UNAVAILABLE": "overloaded",
    "INTERNAL": "api_error",
    "UNKNOWN": "api_error",
    "ABORTED": "api_error",
}
# When the body names no status (a proxy's HTML page, an empty body): the HTTP status alone.
HTTP_KINDS: dict[int, ErrorKind] = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    408: "timeout",
    409: "api_error",
    413: "invalid_request",
    429: "rate_limit",
    500: "api_error",
    502: "api_error",
    503: "overloaded",
    504: "timeout",
}
RETRYABLE_KINDS: frozenset[ErrorKind] = frozenset({"rate_limit", "overloaded", "timeout", "api_error", "network_error"})
# Gemini has no error code for an over-long prompt: it is a 400 INVALID_ARGUMENT whose message reads
# "The input token count (1300000) exceeds the maximum number of tokens allowed (1048575)." (3.4).
CONTEXT_LENGTH_MESSAGE = re.compile(r"input token count.*exceeds the maximum", re.IGNORECASE | re.DOTALL)
# QuotaFailure quota ids naming a daily quota: waiting seconds does not help (providers.md 3.4).
PER_DAY_QUOTA = "PerDay"


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def json_body(body: bytes) -> Any:
    """A reply or error body as JSON, or None when it is not JSON."""
    text = body.decode("utf-8", errors="replace").strip()
    # Tolerate an SSE-framed body (`data: {...}`): error bodies come on the streaming endpoint too.
    if text.startswith("data:"):
        text = text[len("data:") :].strip()
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def classify_error(status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
    """An error status and body as a typed error (providers.md 3.4 and section 4).

    The body may be pretty-printed JSON sent as text/event-stream (gemini/error_400_api_key.json),
    a JSON array around the error object, or not JSON at all (a proxy's page): the status decides then.
    """
    data = json_body(body)
    if isinstance(data, list):
        data = next((item for item in data if isinstance(item, Mapping)), None)
    error = data.get("error") if isinstance(data, Mapping) else None
    fallback = body.decode("utf-8", errors="replace").strip()[:500] or None
    return error_from_object(error, status=status, headers=headers, in_stream=False, fallback_message=fallback)


def in_stream_error(error: Any) -> ProviderError:
    """A mid-stream `{"error": {...}}` chunk after HTTP 200 (providers.md 3.3), classified like an HTTP error."""
    return error_from_object(error, status=None, in_stream=True)


def bad_stream_error(reason: str) -> ProviderError:
    """A stream chunk that is not a response object: the provider misbehaved, a retry may not."""
    return ProviderError(reason, kind="api_error", provider=PROVIDER, retryable=True, in_stream=True)


def cut_stream_error() -> ProviderError:
    """The stream ended before any candidate's finishReason (Gemini has no end sentinel: EOF)."""
    return ProviderError(
        "Gemini stream ended before a candidate reported finishReason",
        kind="network_error",
        provider=PROVIDER,
        retryable=True,
        in_stream=True,
    )


def _details(error: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []


def _detail_type(detail: Mapping[str, Any]) -> str:
    return _text(detail.get("@type")) or ""


def _retry_delay(details: list[Mapping[str, Any]]) -> float | None:
    """RetryInfo.retryDelay: a protobuf Duration, `"34.4s"` in JSON (or seconds/nanos)."""
    for detail in details:
        if not _detail_type(detail).endswith("RetryInfo"):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
        if isinstance(delay, Mapping):
            return max(0.0, _count(delay.get("seconds")) + _count(delay.get("nanos")) / 1e9)
    return None


def _violations(details: list[Mapping[str, Any]], detail_type: str, items: str, key: str) -> list[str]:
    """`key` of each item of `items` in details of one type (QuotaFailure quota ids, BadRequest fields)."""
    return [
        item[key]
        for detail in details
        if _detail_type(detail).endswith(detail_type) and isinstance(detail.get(items), list)
        for item in detail[items]
        if isinstance(item, Mapping) and isinstance(item.get(key), str)
    ]


def error_from_object(
    error: Any,
    *,
    status: int | None,
    headers: Mapping[str, str] | None = None,
    in_stream: bool,
    fallback_message: str | None = None,
) -> ProviderError:
    """Classify a google.rpc.Status error object: ErrorInfo reason first, then status name, then code.

    `status` is the HTTP status (None inside a 200 stream, where the object's own `code` stands in).
    """
    fields: Mapping[str, Any] = error if isinstance(error, Mapping) else {}
    code_number = fields.get("code")
    http = status if status is not None else (code_number if isinstance(code_number, int) else None)
    canonical = _text(fields.get("status"))
    details = _details(fields)
    reasons = [r for r in (_text(d.get("reason")) for d in details) if r]
    message = _text(fields.get("message")) or fallback_message or f"Gemini returned an error (HTTP {http})"

    kind: ErrorKind | None = next((REASON_KINDS[r] for r in reasons if r in REASON_KINDS), None)
    if kind is None and canonical is not None:
        kind = STATUS_KINDS.get(canonical)
    if kind is None and http is not None:
        kind = HTTP_KINDS.get(http)
    if kind is None:
        kind = "invalid_request" if http is not None and 400 <= http < 500 else "api_error"
    if kind == "invalid_request" and CONTEXT_LENGTH_MESSAGE.search(message):
        kind = "context_length"

    quotas = _violations(details, "QuotaFailure", "violations", "quotaId")
    retryable = kind in RETRYABLE_KINDS and not (kind == "rate_limit" and any(PER_DAY_QUOTA in q for q in quotas))
    retry_after = _retry_delay(details)
    if headers is not None:
        if retry_after is None:
            retry_after = retry_after_seconds(headers)
        verdict = should_retry_header(headers)
        if verdict is not None:
            retryable = verdict
    return ProviderError(
        message,
        kind=kind,
        provider=PROVIDER,
        status=http,
        retryable=retryable,
        retry_after=retry_after,
        code=reasons[0] if reasons else canonical,
        param=next(iter(_violations(details, "BadRequest", "fieldViolations", "field")), None),
        in_stream=in_stream,
    )
