"""Gemini error classification (shared.providers.gemini_errors): the recorded error bodies, and
every Gemini row of providers.md section 4 with synthetic bodies in the documented google.rpc.Status
shape (section 3.4) where no recording exists (labelled synthetic below).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shared.errors import SEED_TYPE, ProviderError
from shared.providers import gemini
from tests.recordings import load_bytes, manifest_entry

# Read from the recordings by hand: (kind, retryable, code, start of message).
RECORDED: dict[str, tuple[str, bool, str, str]] = {
    # A bad key is a 400 INVALID_ARGUMENT whose ErrorInfo reason says API_KEY_INVALID: authentication.
    # Sent to the alt=sse endpoint: pretty-printed JSON with Content-Type text/event-stream.
    "gemini/error_400_api_key.json": ("authentication", False, "API_KEY_INVALID", "API key not valid."),
    "gemini/error_404.json": ("not_found", False, "NOT_FOUND", "models/gemini-1.5-flash is not found"),
    # A 429 with no details at all: retryable, no RetryInfo, so no retry_after.
    "gemini/error_429.json": ("rate_limit", True, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later."),
}


@pytest.mark.parametrize("file", sorted(RECORDED))
def test_recorded_error(file: str) -> None:
    entry = manifest_entry(file)
    kind, retryable, code, message = RECORDED[file]
    error = gemini.classify_error(entry["http_status"], load_bytes(file), entry["response_headers"])
    assert (error.kind, error.retryable, error.code) == (kind, retryable, code)
    assert error.upstream_status == entry["http_status"]
    assert error.status == entry["http_status"]
    assert error.provider == "gemini"
    assert error.retry_after is None
    assert error.in_stream is False
    assert error.message.startswith(message)


def test_recorded_bad_key_error_came_as_event_stream() -> None:
    entry = manifest_entry("gemini/error_400_api_key.json")
    assert entry["content_type"] == "text/event-stream"
    assert load_bytes("gemini/error_400_api_key.json").startswith(b"{\n")


# --- synthetic bodies in the documented shape (providers.md 3.4) ------------------------------------
def status_body(code: int, status: str, message: str, *details: dict[str, Any]) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return orjson.dumps({"error": error}, option=orjson.OPT_INDENT_2)


def error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }


def quota_failure(quota_id: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"},
                "quotaValue": "15",
            }
        ],
    }


RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"}
PER_MINUTE = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
PER_DAY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"

# (status, body, kind, retryable, code, retry_after): every Gemini row of section 4.
ERROR_TABLE = [
    (
        401,
        status_body(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
        "authentication",
        False,
        "UNAUTHENTICATED",
        None,
    ),
    (
        400,
        status_body(400, "INVALID_ARGUMENT", "API key not valid.", error_info("API_KEY_INVALID")),
        "authentication",
        False,
        "API_KEY_INVALID",
        None,
    ),
    (
        403,
        status_body(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."),
        "permission",
        False,
        "PERMISSION_DENIED",
        None,
    ),
    (
        403,
        status_body(403, "PERMISSION_DENIED", "Blocked.", error_info("API_KEY_SERVICE_BLOCKED")),
        "permission",
        False,
        "API_KEY_SERVICE_BLOCKED",
        None,
    ),
    (
        400,
        status_body(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
        "permission",
        False,
        "FAILED_PRECONDITION",
        None,
    ),
    (
        429,
        status_body(
            429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", quota_failure(PER_MINUTE), RETRY_INFO
        ),
        "rate_limit",
        True,
        "RESOURCE_EXHAUSTED",
        34.4,
    ),
    (
        429,
        status_body(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", quota_failure(PER_DAY), RETRY_INFO),
        "rate_limit",
        False,
        "RESOURCE_EXHAUSTED",
        34.4,
    ),
    (
        429,
        status_body(429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later."),
        "rate_limit",
        True,
        "RESOURCE_EXHAUSTED",
        None,
    ),
    (
        400,
        status_body(400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
        "invalid_request",
        False,
        "INVALID_ARGUMENT",
        None,
    ),
    # Gemini has no code for an over-long prompt: only the message says so.
    (
        400,
        status_body(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1300000) exceeds the maximum number of tokens allowed (1048575).",
        ),
        "context_length",
        False,
        "INVALID_ARGUMENT",
        None,
    ),
    (
        404,
        status_body(404, "NOT_FOUND", "models/x is not found for API version v1beta."),
        "not_found",
        False,
        "NOT_FOUND",
        None,
    ),
    (500, status_body(500, "INTERNAL", "An internal error has occurred."), "api_error", True, "INTERNAL", None),
    (502, b"<html><body>502 Bad Gateway</body></html>", "api_error", True, None, None),
    (
        503,
        status_body(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        "overloaded",
        True,
        "UNAVAILABLE",
        None,
    ),
    (
        504,
        status_body(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
        "timeout",
        True,
        "DEADLINE_EXCEEDED",
        None,
    ),
    (408, b"", "timeout", True, None, None),
    (413, b"Request Entity Too Large", "invalid_request", False, None, None),
    (418, b"", "invalid_request", False, None, None),
    (599, b"", "api_error", True, None, None),
]


@pytest.mark.parametrize(("status", "body", "kind", "retryable", "code", "retry_after"), ERROR_TABLE)
def test_error_table(
    status: int, body: bytes, kind: str, retryable: bool, code: str | None, retry_after: float | None
) -> None:
    error = gemini.classify_error(status, body, {})
    assert (error.kind, error.retryable, error.code, error.retry_after) == (kind, retryable, code, retry_after)
    assert error.upstream_status == status
    assert error.message


@pytest.mark.parametrize(
    "body",
    [
        status_body(400, "INVALID_ARGUMENT", "API key not valid.", error_info("API_KEY_INVALID")),
        b"[" + status_body(400, "INVALID_ARGUMENT", "API key not valid.", error_info("API_KEY_INVALID")) + b"]",
        b"data: "
        + orjson.dumps(
            {
                "error": {
                    "code": 400,
                    "status": "INVALID_ARGUMENT",
                    "message": "API key not valid.",
                    "details": [error_info("API_KEY_INVALID")],
                }
            }
        ),
    ],
    ids=["pretty", "array", "sse-framed"],
)
def test_body_shapes_all_classify_the_same(body: bytes) -> None:
    error = gemini.classify_error(400, body, {"content-type": "text/event-stream"})
    assert (error.kind, error.code, error.message) == ("authentication", "API_KEY_INVALID", "API key not valid.")


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"", "Gemini returned an error (HTTP 503)"), (b"upstream connect error", "upstream connect error")],
)
def test_bodies_that_are_empty_or_not_json(body: bytes, message: str) -> None:
    error = gemini.classify_error(503, body, {})
    assert (error.kind, error.retryable, error.message) == ("overloaded", True, message)


def test_bad_request_field_violation_becomes_param() -> None:
    body = status_body(
        400,
        "INVALID_ARGUMENT",
        "Invalid value at 'generation_config.temperature'.",
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "generation_config.temperature", "description": "Invalid value"}],
        },
    )
    error = gemini.classify_error(400, body, {})
    assert (error.kind, error.param) == ("invalid_request", "generation_config.temperature")


@pytest.mark.parametrize(
    ("details", "headers", "retry_after"),
    [
        ([RETRY_INFO], {}, 34.4),
        ([RETRY_INFO], {"retry-after": "3"}, 34.4),
        ([], {"Retry-After": "3"}, 3.0),
        ([], {"retry-after-ms": "1500"}, 1.5),
        (
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": {"seconds": 2, "nanos": 500000000}}],
            {},
            2.5,
        ),
        ([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "soon"}], {}, None),
    ],
)
def test_retry_after_from_retry_info_then_headers(
    details: list[dict[str, Any]], headers: dict[str, str], retry_after: float | None
) -> None:
    error = gemini.classify_error(429, status_body(429, "RESOURCE_EXHAUSTED", "Slow down.", *details), headers)
    assert error.retry_after == retry_after


@pytest.mark.parametrize(
    ("status", "status_name", "header", "retryable"),
    [(503, "UNAVAILABLE", "false", False), (400, "INVALID_ARGUMENT", "true", True)],
)
def test_x_should_retry_wins(status: int, status_name: str, header: str, retryable: bool) -> None:
    error = gemini.classify_error(status, status_body(status, status_name, "x"), {"X-Should-Retry": header})
    assert error.retryable is retryable


def test_status_name_wins_over_http_status_and_reason_wins_over_both() -> None:
    assert gemini.classify_error(400, status_body(400, "RESOURCE_EXHAUSTED", "x"), {}).kind == "rate_limit"
    body = status_body(403, "PERMISSION_DENIED", "x", error_info("API_KEY_INVALID"))
    assert gemini.classify_error(403, body, {}).kind == "authentication"


def test_error_kinds_map_to_the_seed_types() -> None:
    kinds = {gemini.classify_error(status, body, {}).kind for status, body, *_ in ERROR_TABLE}
    assert {SEED_TYPE[k] for k in kinds} == {
        "authentication",
        "rate_limit",
        "invalid_request",
        "api_error",
        "network_error",
    }


def test_error_in_a_200_stream_uses_the_code_in_the_object() -> None:
    parser = gemini.stream_parser(gemini.parse_request({"contents": []}, model="gemini-2.5-flash"))
    with pytest.raises(ProviderError) as caught:
        parser.feed(
            b'data: {"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED", "details": ['
            + orjson.dumps(quota_failure(PER_DAY))
            + b"]}}\r\n\r\n"
        )
    error = caught.value
    assert (error.kind, error.retryable, error.upstream_status, error.in_stream) == ("rate_limit", False, 429, True)
