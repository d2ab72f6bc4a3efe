"""Anthropic error classification: the recorded error replies, then every row of providers.md section 4."""

from __future__ import annotations

import json

import pytest

from shared.providers.anthropic import classify_error
from tests.recordings import entries, load_bytes, manifest_entry

# file -> (kind, retryable, code). The status comes from MANIFEST http_status; headers from the recording.
RECORDED: dict[str, tuple[str, bool, str]] = {
    "anthropic/error_400.json": ("invalid_request", False, "invalid_request_error"),
    "anthropic/error_401.json": ("authentication", False, "authentication_error"),
    "anthropic/error_404.json": ("not_found", False, "not_found_error"),
}


def test_table_covers_every_recorded_anthropic_error() -> None:
    recorded = entries("anthropic")
    if not recorded:
        pytest.skip("recordings absent")
    assert {e["file"] for e in recorded if e["http_status"] != 200} == set(RECORDED)


@pytest.mark.parametrize("file", sorted(RECORDED))
def test_recorded_error(file: str) -> None:
    entry = manifest_entry(file)
    error = classify_error(entry["http_status"], load_bytes(file), entry["response_headers"] or {})
    kind, retryable, code = RECORDED[file]
    assert (error.kind, error.retryable, error.code) == (kind, retryable, code)
    assert (error.status, error.upstream_status) == (entry["http_status"], entry["http_status"])
    assert (error.provider, error.in_stream, error.retry_after) == ("anthropic", False, None)


def test_recorded_messages_and_request_ids_are_kept() -> None:
    not_found = classify_error(404, load_bytes("anthropic/error_404.json"), {})
    assert "model: claude-sonet-4-5" in not_found.message
    assert "req_011CdufXo8Y2LVfY2veyuQWG" in not_found.message  # request_id from the body
    entry = manifest_entry("anthropic/error_401.json")
    unauthorized = classify_error(401, load_bytes("anthropic/error_401.json"), entry["response_headers"])
    assert "invalid x-api-key" in unauthorized.message
    assert "req_013JyjhVcnhy8mfJkvBTqMNB" in unauthorized.message  # from the request-id header


def envelope(error_type: str, message: str = "something happened") -> bytes:
    # Synthetic bodies in Anthropic's documented envelope (providers.md 2.4).
    return json.dumps(
        {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_synthetic"}
    ).encode()


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [
        (401, envelope("authentication_error"), "authentication", False),
        (403, envelope("permission_error"), "permission", False),
        (402, envelope("billing_error"), "permission", False),
        (
            429,
            envelope("rate_limit_error", "Number of request tokens has exceeded your rate limit"),
            "rate_limit",
            True,
        ),
        (
            400,
            envelope("invalid_request_error", "messages: text content blocks must be non-empty"),
            "invalid_request",
            False,
        ),
        (
            413,
            envelope("request_too_large", "Request exceeds the maximum allowed number of bytes."),
            "invalid_request",
            False,
        ),
        (413, b"<html><body>413 Request Entity Too Large</body></html>", "invalid_request", False),  # from Cloudflare
        (404, envelope("not_found_error", "model: claude-nope"), "not_found", False),
        # context overflow has no code: the message says it (providers.md 2.4)
        (
            400,
            envelope("invalid_request_error", "prompt is too long: 205429 tokens > 200000 maximum"),
            "context_length",
            False,
        ),
        (
            400,
            envelope(
                "invalid_request_error", "input length and `max_tokens` exceed context limit: 199000 + 8000 > 200000"
            ),
            "context_length",
            False,
        ),
        (529, envelope("overloaded_error", "Overloaded"), "overloaded", True),
        (504, envelope("timeout_error", "Request timed out"), "timeout", True),
        (408, b"", "timeout", True),
        (500, envelope("api_error", "Internal server error"), "api_error", True),
        (502, b"<html>Bad Gateway</html>", "api_error", True),
        (503, b"", "api_error", True),
        (409, envelope("invalid_request_error", "conflict"), "api_error", True),
        (422, b"{}", "invalid_request", False),
        # invalid_request_error is Anthropic's catch-all for 4xx: the status is more precise
        (404, envelope("invalid_request_error", "no such route"), "not_found", False),
        (429, envelope("invalid_request_error", "slow down"), "rate_limit", True),
        # a specific type beats the status
        (500, envelope("overloaded_error", "Overloaded"), "overloaded", True),
        (418, envelope("a_future_error_type"), "invalid_request", False),
    ],
)
def test_error_table(status: int, body: bytes, kind: str, retryable: bool) -> None:
    error = classify_error(status, body, {})
    assert (error.kind, error.retryable, error.status, error.provider) == (kind, retryable, status, "anthropic")
    assert error.in_stream is False


def test_rate_limit_keeps_retry_after() -> None:
    error = classify_error(429, envelope("rate_limit_error"), {"retry-after": "7", "request-id": "req_1"})
    assert (error.kind, error.retryable, error.retry_after, error.code) == ("rate_limit", True, 7.0, "rate_limit_error")


def test_retry_after_ms_wins_and_header_names_are_case_insensitive() -> None:
    error = classify_error(529, envelope("overloaded_error"), {"Retry-After": "30", "Retry-After-Ms": "1500"})
    assert error.retry_after == 1.5


@pytest.mark.parametrize(
    ("status", "body", "header", "retryable"),
    [
        (400, envelope("invalid_request_error"), "true", True),
        (529, envelope("overloaded_error"), "false", False),
        (429, envelope("rate_limit_error"), "False", False),
        (500, envelope("api_error"), "maybe", True),  # not a verdict: the table decides
    ],
)
def test_x_should_retry_wins(status: int, body: bytes, header: str, retryable: bool) -> None:
    assert classify_error(status, body, {"X-Should-Retry": header}).retryable is retryable


def test_real_prompt_too_long_reply_from_providers_md() -> None:
    # providers.md 2.4 (coder/aibridge non_stream_error.txtar), headers as recorded there.
    body = (
        b'{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 205429 tokens > '
        b'200000 maximum"},"request_id":"req_011CV5Jab6gR3ZNs9Sj6apiD"}'
    )
    error = classify_error(400, body, {"Request-Id": "req_011CV5Jab6gR3ZNs9Sj6apiD", "X-Should-Retry": "false"})
    assert (error.kind, error.retryable, error.code) == ("context_length", False, "invalid_request_error")
    assert "req_011CV5Jab6gR3ZNs9Sj6apiD" in error.message


@pytest.mark.parametrize(
    ("body", "expected_in_message"),
    [(b"", "HTTP 502 from Anthropic"), (b"upstream connect error", "upstream connect error"), (b"\xff\xfe", "")],
)
def test_bodies_that_are_not_json(body: bytes, expected_in_message: str) -> None:
    error = classify_error(502, body, {})
    assert (error.kind, error.retryable, error.code) == ("api_error", True, None)
    assert expected_in_message in error.message
