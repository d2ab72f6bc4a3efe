"""Reading the retry hints providers put in response headers (providers.md sections 0 and 1.4)."""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["retry_after_seconds", "should_retry_header"]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, val in headers.items():
        if key.lower() == lower:
            return val
    return None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait before retrying: `retry-after-ms` wins over `retry-after` (as the SDKs do).

    Only the numeric forms are read; an HTTP-date or garbage gives `None` (own backoff applies).
    """
    ms = _header(headers, "retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    seconds = _header(headers, "retry-after")
    if seconds is not None:
        try:
            value = float(seconds)
        except ValueError:
            return None
        if math.isfinite(value) and value >= 0:
            return value
    return None


def should_retry_header(headers: Mapping[str, str]) -> bool | None:
    """The provider's own `x-should-retry: true|false` verdict, which wins when present."""
    value = _header(headers, "x-should-retry")
    if value is None:
        return None
    value = value.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    return None
