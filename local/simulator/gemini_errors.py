"""Gemini errors: google.rpc.Status bodies for each fault kind (providers.md 3.4).

`{"error": {code, message, status, details?}}`. A bad key is 400 INVALID_ARGUMENT with ErrorInfo reason
API_KEY_INVALID and a LocalizedMessage (`gemini/error_400_api_key.json`). A 429 carries QuotaFailure and
RetryInfo when a retry delay is set; without one it is the detail-less 429 really sent (`gemini/error_429.json`).
A quota kind names a per-day quota id. An explicit status other than the kind's own takes its canonical name.
"""

from __future__ import annotations

from typing import Any, Final

from local.simulator import ratelimits
from local.simulator.exchange import Exchange
from local.simulator.faults import Fault

__all__ = ["status_body"]

_RATE_MESSAGE: Final = (
    "You exceeded your current quota, please check your plan and billing details. For more information on this "
    "error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
# kind -> (HTTP status, canonical status, message template)
_KINDS: Final[dict[str, tuple[int, str, str]]] = {
    "rate_limit": (429, "RESOURCE_EXHAUSTED", _RATE_MESSAGE),
    "quota": (429, "RESOURCE_EXHAUSTED", _RATE_MESSAGE),
    "overloaded": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "server_error": (
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    ),
    "auth": (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
    "permission": (403, "PERMISSION_DENIED", "The caller does not have permission"),
    "not_found": (
        404,
        "NOT_FOUND",
        "models/{model} is not found for API version v1beta, or is not supported for generateContent. Call "
        "ListModels to see the list of available models and their supported methods.",
    ),
    "invalid_request": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "context_length": (
        400,
        "INVALID_ARGUMENT",
        "The input token count ({tokens}) exceeds the maximum number of tokens allowed (1048576).",
    ),
    "timeout": (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
_CANONICAL: Final = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# The detail-less 429 really sent (gemini/error_429.json).
_BARE_429: Final = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)
_QUOTA_IDS: Final = {
    "rate_limit": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
    "quota": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
}


def _details(fault: Fault, status: int, message: str, ex: Exchange) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    if fault.kind == "auth" and status == 400:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        )
        details.append(
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message}
        )
    if fault.kind in _QUOTA_IDS and (fault.kind == "quota" or fault.retry_after is not None):
        violation = {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": _QUOTA_IDS[fault.kind],
            "quotaDimensions": {"location": "global", "model": ex.model},
            "quotaValue": "10",
        }
        details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]})
    if fault.retry_after is not None:
        delay = ratelimits.proto_duration(fault.retry_after)
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
    return details


def status_body(fault: Fault, ex: Exchange) -> tuple[int, dict[str, Any]]:
    default_status, canonical, template = _KINDS[fault.kind]
    status = fault.status or default_status
    if status != default_status:
        canonical = _CANONICAL.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    if fault.message is not None:
        message = fault.message
    elif fault.kind == "rate_limit" and fault.retry_after is None:
        message = _BARE_429
    else:
        message = template.format(model=ex.model, tokens=1_048_576 + ex.prompt_tokens + 1)
    error: dict[str, Any] = {"code": status, "message": message, "status": canonical}
    if details := _details(fault, status, message, ex):
        error["details"] = details
    return status, {"error": error}
