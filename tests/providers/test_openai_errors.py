"""OpenAI error classification: every recorded error body, and every OpenAI row of providers.md
section 4 with synthetic bodies in the documented envelope where no recording exists."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shared.providers import openai
from tests.recordings import load_bytes, manifest_entry

# Read from the recordings by hand: (kind, retryable, code, param).
RECORDED: dict[str, tuple[str, bool, str, str | None]] = {
    "openai/error_400.json": ("invalid_request", False, "unsupported_parameter", "stop"),
    "openai/error_400_2.json": ("invalid_request", False, "missing_required_parameter", "messages[1].content[0].type"),
    "openai/error_401.json": ("authentication", False, "invalid_api_key", None),
    "openai/error_404.json": ("not_found", False, "model_not_found", None),
}


@pytest.mark.parametrize("file", sorted(RECORDED))
def test_recorded_error(file: str) -> None:
    kind, retryable, code, param = RECORDED[file]
    entry = manifest_entry(file)
    headers = {k: v for k, v in entry["response_headers"].items() if isinstance(v, str)}
    error = openai.classify_error(entry["http_status"], load_bytes(file), headers)
    assert (error.kind, error.retryable, error.code, error.param) == (kind, retryable, code, param)
    assert error.upstream_status == entry["http_status"]
    assert error.provider == "openai"
    assert error.in_stream is False
    assert error.retry_after is None
    assert error.message


def body(message: str, type_: str | None, code: str | None = None, param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


# Synthetic bodies, shaped as providers.md section 1.4 documents them.
CONTEXT = body(
    "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens.",
    "invalid_request_error",
    "context_length_exceeded",
    "messages",
)
RATE = body(
    "Rate limit reached for gpt-4.1 on tokens per min. Please try again in 2s.", "tokens", "rate_limit_exceeded"
)
QUOTA = body(
    "You exceeded your current quota, please check your plan and billing details.",
    "insufficient_quota",
    "insufficient_quota",
)
QUOTA_TYPE_ONLY = body("You exceeded your current quota.", "insufficient_quota")
NOT_CHAT = body(
    "This is not a chat model and thus not supported in the v1/chat/completions endpoint.",
    "invalid_request_error",
    None,
    "model",
)
SERVER = body("The server had an error while processing your request.", "server_error")


@pytest.mark.parametrize(
    ("status", "payload", "kind", "retryable", "code"),
    [
        (
            401,
            body("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
            "authentication",
            False,
            "invalid_api_key",
        ),
        (
            403,
            body("Country not supported", "request_forbidden", "unsupported_country_region_territory"),
            "permission",
            False,
            "unsupported_country_region_territory",
        ),
        (
            404,
            body("The model `x` does not exist", "invalid_request_error", "model_not_found"),
            "not_found",
            False,
            "model_not_found",
        ),
        (404, NOT_CHAT, "not_found", False, None),  # 404 by status, not code
        (400, CONTEXT, "context_length", False, "context_length_exceeded"),
        (
            400,
            body("Your request was rejected", "invalid_request_error", "content_policy_violation"),
            "content_filter",
            False,
            "content_policy_violation",
        ),
        (
            400,
            body("Invalid prompt: flagged", "invalid_request_error", "invalid_prompt"),
            "content_filter",
            False,
            "invalid_prompt",
        ),
        (
            400,
            body("Unsupported parameter", "invalid_request_error", "unsupported_parameter", "stop"),
            "invalid_request",
            False,
            "unsupported_parameter",
        ),
        (413, body("Request too large", "invalid_request_error"), "invalid_request", False, None),
        (422, body("Unprocessable", "invalid_request_error"), "invalid_request", False, None),
        (429, RATE, "rate_limit", True, "rate_limit_exceeded"),
        (429, QUOTA, "rate_limit", False, "insufficient_quota"),
        (429, QUOTA_TYPE_ONLY, "rate_limit", False, "insufficient_quota"),
        (408, body("Request timed out", "timeout"), "timeout", True, None),
        (409, body("Lock timeout", "conflict"), "api_error", True, None),
        (500, SERVER, "api_error", True, None),
        (502, b"<html>502 Bad Gateway</html>", "api_error", True, None),
        (503, body("Slow Down", "server_error"), "overloaded", True, None),
        (504, b"", "api_error", True, None),
        (520, b"", "api_error", True, None),
        (402, body("Payment required", "invalid_request_error"), "invalid_request", False, None),
    ],
)
def test_error_table(status: int, payload: bytes, kind: str, retryable: bool, code: str | None) -> None:
    error = openai.classify_error(status, payload, {})
    assert (error.kind, error.retryable, error.code) == (kind, retryable, code)
    assert error.upstream_status == status
    assert error.message


def test_context_length_carries_message_and_param() -> None:
    error = openai.classify_error(400, CONTEXT, {})
    assert error.param == "messages"
    assert error.message.startswith("This model's maximum context length is 128000 tokens.")


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"Retry-After": "20"}, 20.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({}, None),
    ],
)
def test_retry_after_headers(headers: dict[str, str], retry_after: float | None) -> None:
    assert openai.classify_error(429, RATE, headers).retry_after == retry_after


@pytest.mark.parametrize(
    ("status", "payload", "header", "retryable"),
    [
        (500, SERVER, "false", False),
        (429, RATE, "false", False),
        (400, CONTEXT, "true", True),
        (429, QUOTA, "true", True),
        (503, SERVER, "maybe", True),  # not true/false: ignored
    ],
)
def test_x_should_retry_wins(status: int, payload: bytes, header: str, retryable: bool) -> None:
    assert openai.classify_error(status, payload, {"x-should-retry": header}).retryable is retryable


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "OpenAI returned HTTP 500"),
        (b"upstream connect error", "upstream connect error"),
        (b'{"error": "Internal error"}', "Internal error"),
        (b'{"detail": "nope"}', "OpenAI returned HTTP 500"),
        (b"[1, 2]", "OpenAI returned HTTP 500"),
        (b'{\n    "error": {\n        "message": "indented",\n        "type": "server_error"\n    }\n}', "indented"),
    ],
)
def test_bodies_that_are_empty_not_json_or_not_the_envelope(payload: bytes, message: str) -> None:
    error = openai.classify_error(500, payload, {})
    assert (error.kind, error.retryable, error.message) == ("api_error", True, message)


def test_error_kinds_map_to_the_seed_types() -> None:
    cases: list[tuple[int, Any, str]] = [
        (401, b"", "authentication"),
        (429, RATE, "rate_limit"),
        (400, CONTEXT, "invalid_request"),
        (503, b"", "api_error"),
        (408, b"", "network_error"),
    ]
    for status, payload, seed in cases:
        assert openai.classify_error(status, payload, {}).seed_type == seed
