"""Account identifiers in upstream error messages are masked before a tenant sees them."""

from __future__ import annotations

import pytest

from shared.api.redaction import redact


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Rate limit reached for gpt-4o in organization org-AbCdEf123456 on tokens per min.",
            "Rate limit reached for gpt-4o in organization org-*** on tokens per min.",
        ),
        ("Incorrect API key provided: sk-proj-abc***********xyz.", "Incorrect API key provided: sk-***."),
        ("project proj_AbCdEf12345 is over quota", "project proj_*** is over quota"),
        ("API key not valid: AIzaSyA1234567890abcdef", "API key not valid: AIza***"),
        ("bad api_key=supersecretvalue123", "bad api_key=***"),
        ("prompt is too long: 205429 tokens > 200000 maximum", "prompt is too long: 205429 tokens > 200000 maximum"),
    ],
)
def test_redact(message: str, expected: str) -> None:
    assert redact(message) == expected
