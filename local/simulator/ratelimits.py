"""Rate-limit header values in each provider's notation (providers.md 1.4, 2.4).

OpenAI writes reset times as Go durations (`6ms`, `8.64s`, `1m6.779s`); Anthropic as RFC 3339 instants;
both send `retry-after` in seconds on 429 (OpenAI also `retry-after-ms`). Gemini sends no such headers: its
retry hint is `RetryInfo.retryDelay` in the error body, a protobuf Duration string (`"34.4s"`).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Final

__all__ = ["go_duration", "proto_duration", "retry_headers", "rfc3339_after"]

REQUEST_LIMIT: Final = 10_000
TOKEN_LIMIT: Final = 30_000_000


def _trim(number: float) -> str:
    text = f"{number:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() at millisecond precision: 0s, 12ms, 8.64s, 6m0s, 1h2m3s."""
    millis = round(seconds * 1000)
    if millis <= 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = _trim(rest / 1000)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def proto_duration(seconds: float) -> str:
    """protobuf Duration JSON: `2s`, `34.4s`."""
    return f"{_trim(seconds)}s"


def rfc3339_after(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def retry_headers(retry_after: float | None, *, with_ms: bool) -> dict[str, str]:
    """`retry-after` (whole seconds, rounded up) and, for OpenAI, the exact `retry-after-ms`."""
    if retry_after is None:
        return {}
    headers = {"retry-after": str(math.ceil(retry_after))}
    if with_ms:
        headers["retry-after-ms"] = str(round(retry_after * 1000))
    return headers
