"""Faults: which error a request gets (from directives or from validation), independent of wire format.

A `Fault` names an error kind (one of `directives.KINDS`) plus what the caller pinned down (status,
retry_after, a message, param and code for validation errors). Each provider's wire module renders it in
that provider's envelope and status table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from local.simulator.directives import Directives

__all__ = ["Fault", "WireError", "in_stream_fault", "kind_for_status", "response_fault"]

# HTTP status -> kind, for `status=` without `kind=`.
_STATUS_KINDS: Final[dict[int, str]] = {
    400: "invalid_request",
    401: "auth",
    402: "quota",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "invalid_request",
    422: "invalid_request",
    429: "rate_limit",
    500: "server_error",
    502: "server_error",
    503: "overloaded",
    504: "timeout",
    529: "overloaded",
}


def kind_for_status(status: int) -> str:
    return _STATUS_KINDS.get(status, "server_error" if status >= 500 else "invalid_request")


@dataclass(frozen=True)
class Fault:
    """An error to render. `status` None means the provider's usual status for `kind`."""

    kind: str
    status: int | None = None
    retry_after: float | None = None
    message: str | None = None
    param: str | None = None
    code: str | None = None


class WireError(Exception):
    """Raised by request parsing when the provider itself would reject the request."""

    def __init__(
        self, kind: str, message: str, *, status: int | None = None, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.fault = Fault(kind=kind, status=status, message=message, param=param, code=code)


def response_fault(d: Directives, *, stream: bool) -> Fault | None:
    """The HTTP error these directives ask for, if any.

    `status=` always means an error status before any body byte. `kind=` alone does too, unless
    `error_after=` moves it into a stream. On a non-stream request `error_after=` cannot happen in-stream,
    so it becomes an HTTP error of its kind (default server_error).
    """
    if d.status is not None:
        return Fault(kind=d.kind or kind_for_status(d.status), status=d.status, retry_after=d.retry_after)
    if d.error_after is not None and not stream:
        return Fault(kind=d.kind or "server_error", retry_after=d.retry_after)
    if d.kind is not None and d.error_after is None:
        return Fault(kind=d.kind, retry_after=d.retry_after)
    return None


def in_stream_fault(d: Directives) -> Fault | None:
    """The error event to send inside a 200 stream after `error_after` events."""
    if d.error_after is None:
        return None
    return Fault(kind=d.kind or "server_error", retry_after=d.retry_after)
