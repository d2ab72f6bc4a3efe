"""Error envelopes: one `GatewayError` -> the status, headers and JSON body each route answers with.

Seed route (and the in-process facade): `{"error": {"code", "message", "type", "provider", "retryable",
"attempts"}}`, `type` the seed's coarse word (`SEED_TYPE`), `code` the finer kind. OpenAI route: OpenAI's
`{"error": {"message", "type", "param", "code"}}`, so the official SDKs raise their usual exceptions.
The same objects are the in-stream error events (`*_error_event`), framed by the stream renderers.

When the gateway gave up (`UpstreamFailure`), both envelopes also list every attempt under `failures`
(provider, model, kind, upstream status; no messages), an extra key the SDKs ignore. A usage limit's 429
(`LimitExceeded`) carries a `limit` object the same way: its name, value, scope and when it resets.

Status is the error's own (`UpstreamFailure` computes it from the attempts). Headers: `Retry-After` in
whole seconds, rounded up, on 429/503 when known; `x-should-retry: false` once the gateway has retried,
so the SDKs do not multiply the retries (architecture, Errors).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

from shared.api.redaction import redact
from shared.errors import (
    SEED_TYPE,
    AuthError,
    ErrorKind,
    GatewayError,
    LimitExceeded,
    ProviderError,
    RequestError,
    UnknownModelError,
    UpstreamFailure,
)
from shared.providers import SEED_NAMES

__all__ = [
    "OPENAI_KIND_TYPES",
    "Reply",
    "openai_error",
    "openai_error_event",
    "seed_error",
    "seed_error_event",
]

Reply = tuple[int, dict[str, str], bytes]  # status, headers, JSON body

# kind -> (OpenAI `type`, OpenAI `code`). Codes are OpenAI's own words where it has one.
OPENAI_KIND_TYPES: dict[ErrorKind, tuple[str, str]] = {
    "authentication": ("authentication_error", "invalid_api_key"),
    "permission": ("permission_error", "permission_denied"),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "invalid_request": ("invalid_request_error", "invalid_request"),
    "not_found": ("invalid_request_error", "not_found"),
    "context_length": ("invalid_request_error", "context_length_exceeded"),
    "content_filter": ("invalid_request_error", "content_filter"),
    "overloaded": ("api_error", "overloaded"),
    "timeout": ("api_error", "timeout"),
    "api_error": ("api_error", "upstream_error"),
    "network_error": ("api_error", "network_error"),
}
# A GatewayError of no finer class (the gateway's own failure, e.g. 503 when every breaker is open).
_STATUS_CODES: dict[int, str] = {502: "bad_gateway", 503: "unavailable", 504: "timeout"}
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_JSON = "application/json"


def _seed_provider(provider: str | None) -> str | None:
    return None if provider is None else SEED_NAMES.get(provider, provider.upper())


def _attempts(exc: GatewayError, default: int | None) -> int:
    # Only an UpstreamFailure lists its attempts; any other error is counted by whoever knows better (a
    # stream that failed after opening knows how many attempts opening it took), else by its class.
    if isinstance(exc, UpstreamFailure):
        return len(exc.attempts)
    if default is not None:
        return default
    return 1 if isinstance(exc, ProviderError) else 0


def _status(exc: GatewayError) -> int:
    # A bare ProviderError carries the *provider's* status (a platform key's 401 is not the caller's):
    # the caller's status follows the same mapping as a one-attempt UpstreamFailure.
    return UpstreamFailure((exc,)).status if isinstance(exc, ProviderError) else exc.status


def _retry_after(exc: GatewayError) -> float | None:
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None


def _headers(exc: GatewayError, status: int) -> dict[str, str]:
    headers = {"content-type": _JSON}
    retry_after = _retry_after(exc)
    if status in _RETRY_AFTER_STATUSES and retry_after is not None:
        headers["retry-after"] = str(max(0, math.ceil(retry_after)))
    if isinstance(exc, UpstreamFailure) and exc.retried:
        headers["x-should-retry"] = "false"
    return headers


def _failures(exc: GatewayError, provider_name: Callable[[str], str | None]) -> list[dict[str, Any]] | None:
    """Every attempt of a request the gateway gave up on: which model, what went wrong (no messages)."""
    if not isinstance(exc, UpstreamFailure):
        return None
    return [
        {"provider": provider_name(a.provider), "model": a.model, "kind": a.kind, "status": a.upstream_status}
        for a in exc.attempts
    ]


def _generic_code(exc: GatewayError) -> str:
    return _STATUS_CODES.get(exc.status, "internal_error")


# --- seed ----------------------------------------------------------------------------------------


def seed_error_event(exc: GatewayError, *, attempts: int | None = None) -> dict[str, Any]:
    """The seed envelope as a JSON object.

    `attempts` is the count for an error that carries none of its own (a stream knows how many attempts
    it took); an `UpstreamFailure` always reports the attempts it lists.
    """
    provider: str | None = None
    if isinstance(exc, RequestError):
        code, kind, retryable = "invalid_request", "invalid_request", False
    elif isinstance(exc, AuthError):
        code, kind, retryable = ("forbidden" if exc.status == 403 else "unauthorized"), "authentication", False
    elif isinstance(exc, LimitExceeded):
        # A rate window frees up within a minute; a budget only when its period ends.
        code, kind, retryable = exc.code, "rate_limit", exc.code == "rate_limited"
    elif isinstance(exc, ProviderError | UpstreamFailure):
        failure = exc.last if isinstance(exc, UpstreamFailure) else exc
        code, kind, retryable = failure.kind, SEED_TYPE[failure.kind], failure.retryable
        provider = _seed_provider(failure.provider)
    else:
        code, kind, retryable = _generic_code(exc), "api_error", exc.status >= 502
    error: dict[str, Any] = {
        "code": code,
        "message": redact(exc.message),
        "type": kind,
        "provider": provider,
        "retryable": retryable,
        "attempts": _attempts(exc, attempts),
    }
    if isinstance(exc, RequestError):
        error["field"] = exc.field
    if isinstance(exc, LimitExceeded):
        error["limit"] = exc.details()
    failures = _failures(exc, _seed_provider)
    if failures is not None:
        error["failures"] = failures
    return {"error": error}


def seed_error(exc: GatewayError) -> Reply:
    status = _status(exc)
    return status, _headers(exc, status), orjson.dumps(seed_error_event(exc))


# --- OpenAI --------------------------------------------------------------------------------------


def openai_error_event(exc: GatewayError) -> dict[str, Any]:
    """OpenAI's envelope as a JSON object."""
    param: str | None = None
    code: str | None
    if isinstance(exc, RequestError):
        kind, param = "invalid_request_error", exc.field
        code = "model_not_found" if isinstance(exc, UnknownModelError) else None
    elif isinstance(exc, AuthError):
        kind, code = (
            ("permission_error", "forbidden") if exc.status == 403 else ("authentication_error", "invalid_api_key")
        )
    elif isinstance(exc, LimitExceeded):
        kind, code = "rate_limit_error", exc.code
    elif isinstance(exc, ProviderError | UpstreamFailure):
        failure = exc.last if isinstance(exc, UpstreamFailure) else exc
        kind, code = OPENAI_KIND_TYPES[failure.kind]
        param = failure.param
    else:
        kind, code = "server_error", _generic_code(exc)
    error: dict[str, Any] = {"message": redact(exc.message), "type": kind, "param": param, "code": code}
    if isinstance(exc, LimitExceeded):
        error["limit"] = exc.details()
    failures = _failures(exc, lambda provider: provider)
    if failures is not None:
        error["failures"] = failures
    return {"error": error}


def openai_error(exc: GatewayError) -> Reply:
    status = _status(exc)
    return status, _headers(exc, status), orjson.dumps(openai_error_event(exc))
