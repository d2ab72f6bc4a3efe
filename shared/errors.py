"""The gateway's error tree. Every error carries data, never just a message.

    GatewayError                      base: `message`, HTTP `status`
    ├── RequestError                  the caller's input is wrong (400/413), names the `field`
    │   └── UnknownModelError         a model name we cannot resolve (points at GET /v1/models)
    ├── AuthError                     no or wrong gateway key (401), or a scope it lacks (403)
    ├── CatalogError                  the model catalog data file is invalid (fails at load)
    ├── UpstreamFailure               the gateway gave up: every attempt's ProviderError, and the
    │                                 status the caller gets (Errors section of the architecture)
    ├── NoRouteError                  no candidate could be tried: every breaker open (503 +
    │                                 Retry-After) or no usable key for any candidate (503)
    ├── LimitExceeded                 a usage limit refused the request (429 + Retry-After): which
    │                                 limit, whose, its value, when it resets (shared.limits)
    └── ProviderError                 a provider said no, or could not be reached
                                      `kind`, `provider`, `status`, `retryable`, `retry_after`,
                                      `code`, `param`, `in_stream`

`ProviderError.kind` is the normalized kind of providers.md section 4. Each provider module
classifies its own statuses and codes into a kind; nothing else matches message strings. The
seed's coarser `type` (authentication, rate_limit, invalid_request, api_error, network_error) is a
table lookup on the kind (`SEED_TYPE`).
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "SEED_TYPE",
    "AuthError",
    "CatalogError",
    "ErrorKind",
    "GatewayError",
    "LimitCode",
    "LimitExceeded",
    "NoRouteError",
    "ProviderError",
    "RequestError",
    "SeedErrorType",
    "UnknownModelError",
    "UpstreamFailure",
]

ErrorKind = Literal[
    "authentication",
    "permission",
    "rate_limit",
    "invalid_request",
    "not_found",
    "context_length",
    "content_filter",
    "overloaded",
    "timeout",
    "api_error",
    "network_error",
]
SeedErrorType = Literal["authentication", "rate_limit", "invalid_request", "api_error", "network_error"]

SEED_TYPE: dict[ErrorKind, SeedErrorType] = {
    "authentication": "authentication",
    "permission": "authentication",
    "rate_limit": "rate_limit",
    "invalid_request": "invalid_request",
    "not_found": "invalid_request",
    "context_length": "invalid_request",
    "content_filter": "invalid_request",
    "overloaded": "api_error",
    "timeout": "network_error",
    "api_error": "api_error",
    "network_error": "network_error",
}


class GatewayError(Exception):
    status: int = 500
    # The gateway's id of the request that failed, once the service core gave it one (x-request-id).
    request_id: str | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class RequestError(GatewayError):
    """Bad input from the caller: a clear status, message and the field at fault."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message, status=status)
        self.field = field


class UnknownModelError(RequestError):
    def __init__(self, model: str) -> None:
        super().__init__(
            f"Unknown model {model!r}: see GET /v1/models for the models this gateway serves.",
            field="model",
        )
        self.model = model


class AuthError(GatewayError):
    """The gateway key is missing or unknown (401), or lacks what the call needs (403)."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message, status=status)


class CatalogError(GatewayError):
    """The catalog data file is invalid; names the row at fault."""

    def __init__(self, message: str, *, row: str | None = None) -> None:
        super().__init__(message, status=500)
        self.row = row


class NoRouteError(GatewayError):
    """No candidate model could be tried. `reasons` maps "provider/model" to why it was left out
    ("breaker_open", "no_credential", a missing feature); `retry_after` is when the first open breaker
    lets a probe through (None when waiting would not help, e.g. no key configured)."""

    def __init__(self, message: str, *, reasons: dict[str, str], retry_after: float | None) -> None:
        super().__init__(message, status=503)
        self.reasons = reasons
        self.retry_after = retry_after


LimitCode = Literal["budget_exceeded", "rate_limited"]


class LimitExceeded(GatewayError):
    """A usage limit refused the request before any provider was called (429).

    `code` is `budget_exceeded` (a daily or monthly USD budget) or `rate_limited` (requests or tokens per
    minute); `limit` the limit's wire name (`dailyBudgetUsd`, `requestsPerMinute`, ...), `value` its setting
    as the API shows it (a USD string with 6 decimals, or an integer), `scope` whose limit it is (wire form,
    the caller's own), `retry_after` whole seconds until enough frees up, `resets_at` that moment (ISO 8601).
    """

    status = 429

    def __init__(
        self,
        message: str,
        *,
        code: LimitCode,
        limit: str,
        value: str | int,
        scope: dict[str, str | None],
        retry_after: int,
        resets_at: str,
    ) -> None:
        super().__init__(message, status=429)
        self.code: LimitCode = code
        self.limit = limit
        self.value = value
        self.scope = scope
        self.retry_after = retry_after
        self.resets_at = resets_at

    def details(self) -> dict[str, object]:
        """The `limit` object both error envelopes carry."""
        return {
            "name": self.limit,
            "value": self.value,
            "scope": self.scope,
            "resetsAt": self.resets_at,
            "retryAfterSeconds": self.retry_after,
        }


class ProviderError(GatewayError):
    """A classified provider failure: what happened, and whether trying again can help."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        provider: str,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        code: str | None = None,
        param: str | None = None,
        in_stream: bool = False,
    ) -> None:
        super().__init__(message, status=status if status is not None else 502)
        self.kind: ErrorKind = kind
        self.provider = provider
        self.upstream_status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.code = code
        self.param = param
        self.in_stream = in_stream
        # The model the failed attempt asked for, set by whoever made the attempt (the provider modules
        # classify errors without knowing it).
        self.model: str | None = None

    @property
    def seed_type(self) -> SeedErrorType:
        return SEED_TYPE[self.kind]

    def __repr__(self) -> str:
        return (
            f"ProviderError(kind={self.kind!r}, provider={self.provider!r}, status={self.upstream_status!r}, "
            f"retryable={self.retryable!r}, retry_after={self.retry_after!r}, code={self.code!r})"
        )


# Seconds a 429 asks the caller to wait when no provider said how long.
DEFAULT_RETRY_AFTER = 1.0

# Kinds the caller caused: passed through with their own status, never retried or failed over.
_CALLER_STATUS: dict[ErrorKind, int] = {
    "invalid_request": 400,
    "context_length": 400,
    "content_filter": 400,
    "not_found": 404,
}


class UpstreamFailure(GatewayError):
    """Every attempt failed. `status` follows the architecture's Errors section:

    400/404 for the caller's own mistakes (passed through), 401/403 when the failing credential is the
    caller's own key, 429 (+ Retry-After) when every attempt was rate-limited, 504 on timeout, 502
    otherwise. `retried` says whether the gateway already retried (then `x-should-retry: false`).
    """

    def __init__(self, attempts: tuple[ProviderError, ...], *, caller_credential: bool = False) -> None:
        if not attempts:
            raise ValueError("an UpstreamFailure needs at least one attempt")
        last = attempts[-1]
        super().__init__(last.message, status=_failure_status(attempts, caller_credential))
        self.attempts = attempts
        self.last = last
        self.retried = len(attempts) > 1
        rate_limited = all(a.kind == "rate_limit" for a in attempts)
        # A 429 always says when to come back: the provider's hint, else a short default.
        if rate_limited:
            self.retry_after: float | None = DEFAULT_RETRY_AFTER if last.retry_after is None else last.retry_after
        else:
            self.retry_after = None

    @property
    def kind(self) -> ErrorKind:
        return self.last.kind

    @property
    def provider(self) -> str:
        return self.last.provider


def _failure_status(attempts: tuple[ProviderError, ...], caller_credential: bool) -> int:
    last = attempts[-1]
    if last.kind in _CALLER_STATUS:
        return _CALLER_STATUS[last.kind]
    if last.kind in ("authentication", "permission"):
        if caller_credential:
            return 401 if last.kind == "authentication" else 403
        return 502
    if all(a.kind == "rate_limit" for a in attempts):
        return 429
    if last.kind == "timeout":
        return 504
    return 502
