"""Retry hints read from provider response headers."""

from __future__ import annotations

import pytest

from shared.providers.headers import retry_after_seconds, should_retry_header


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "2"}, 2.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # ms wins, as in the SDKs
        ({"retry-after-ms": "nope", "retry-after": "3"}, 3.0),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),  # HTTP-date: own backoff
        ({"retry-after": "-1"}, None),
        ({"retry-after": "inf"}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"x-should-retry": "true"}, True),
        ({"X-Should-Retry": "False"}, False),
        ({"x-should-retry": "?"}, None),
    ],
)
def test_should_retry_header(headers: dict[str, str], expected: bool | None) -> None:
    assert should_retry_header(headers) is expected
