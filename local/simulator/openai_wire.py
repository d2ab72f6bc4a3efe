"""OpenAI Chat Completions on the wire: auth, JSON replies, SSE chunks, errors (providers.md 1.2-1.4, 8).

Shapes follow the newest recordings (`openai/stream_text_2.sse`, `openai/stream_tool_call_2.sse`): every
chunk repeats id/object/created/model/service_tier/system_fingerprint and carries an `obfuscation` pad;
`"usage": null` on each chunk and a final `choices: []` usage chunk only with `stream_options.include_usage`;
the first tool-call delta carries id/type/name and `arguments: ""`, later ones only argument fragments.
Errors are pretty-printed `{"error": {message, type, param, code}}` with `x-ratelimit-*` headers.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from local.simulator import ratelimits
from local.simulator.exchange import Endpoint, Exchange
from local.simulator.faults import Fault
from local.simulator.generation import REFUSAL, Conversation, Reply, Usage, make_id, split_text
from local.simulator.openai_request import parse_openai

__all__ = [
    "api_key",
    "check_headers",
    "error_response",
    "json_reply",
    "model_of",
    "parse",
    "stream_error",
    "stream_reply",
]

# kind -> (status, error.type, error.code, message template)
_KINDS: Final[dict[str, tuple[int, str, str | None, str]]] = {
    "rate_limit": (
        429,
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for {model} in organization org-simulator on requests per min (RPM): Limit 500, "
        "Used 500, Requested 1. Please try again in {retry}. Visit https://platform.openai.com/account/rate-limits "
        "to learn more.",
    ),
    "quota": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details. For more information on "
        "this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
    ),
    "overloaded": (503, "server_error", None, "The server is overloaded or not ready yet."),
    "server_error": (
        500,
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    "auth": (
        401,
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    "permission": (
        403,
        "request_forbidden",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    "not_found": (
        404,
        "invalid_request_error",
        "model_not_found",
        "The model `{model}` does not exist or you do not have access to it.",
    ),
    "invalid_request": (400, "invalid_request_error", None, "Invalid request (simulated by a sim directive)."),
    "context_length": (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "This model's maximum context length is 128000 tokens. However, your messages resulted in {tokens} tokens. "
        "Please reduce the length of the messages.",
    ),
    "timeout": (408, "timeout", None, "Request timed out."),
}
_NO_KEY: Final = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth "
    "(i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from https://platform.openai.com/account/api-keys."
)
# A blocked prompt is a refusal: content null, `refusal` text, finish "stop" (openai/refusal.json).
_FINISH: Final = {"blocked": "stop"}
_JSON: Final = "application/json"
_SSE: Final = "text/event-stream; charset=utf-8"


def api_key(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def check_headers(request: Request, key: str | None) -> Fault | None:
    return None if key else Fault(kind="auth", message=_NO_KEY)


def model_of(body: Any, endpoint: Endpoint) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ""


def parse(body: Any, endpoint: Endpoint) -> Conversation:
    return parse_openai(body)


def _headers(ex: Exchange, *, tokens: int = 0, limited_for: float | None = None) -> dict[str, str]:
    limited = limited_for is not None
    reset = ratelimits.go_duration(limited_for or 1.0)
    return {
        "x-request-id": ex.request_id,
        "openai-version": "2020-10-01",
        "openai-processing-ms": str(ex.elapsed_ms()),
        "access-control-expose-headers": "X-Request-ID",
        "x-ratelimit-limit-requests": str(ratelimits.REQUEST_LIMIT),
        "x-ratelimit-limit-tokens": str(ratelimits.TOKEN_LIMIT),
        "x-ratelimit-remaining-requests": "0" if limited else str(ratelimits.REQUEST_LIMIT - 1),
        "x-ratelimit-remaining-tokens": str(max(ratelimits.TOKEN_LIMIT - tokens, 0)),
        "x-ratelimit-reset-requests": reset if limited else "6ms",
        "x-ratelimit-reset-tokens": reset if limited else "0s",
    }


def _error_fields(fault: Fault, ex: Exchange) -> tuple[int, dict[str, Any]]:
    status, kind_type, code, template = _KINDS[fault.kind]
    if fault.message is not None:
        message, code, param = fault.message, fault.code, fault.param
    else:
        retry = ratelimits.go_duration(fault.retry_after if fault.retry_after is not None else 1.0)
        message = template.format(model=ex.model or "this model", retry=retry, tokens=128_000 + ex.prompt_tokens + 1)
        param = "messages" if fault.kind == "context_length" else None
    return fault.status or status, {"message": message, "type": kind_type, "param": param, "code": code}


def error_response(fault: Fault, ex: Exchange) -> Response:
    status, error = _error_fields(fault, ex)
    limited = status == 429 and fault.kind == "rate_limit"
    headers = _headers(ex, limited_for=(fault.retry_after or 1.0) if limited else None)
    headers.update(ratelimits.retry_headers(fault.retry_after, with_ms=True))
    body = orjson.dumps({"error": error}, option=orjson.OPT_INDENT_2) + b"\n"
    return Response(body, status_code=status, headers=headers, media_type=_JSON)


def _usage(usage: Usage, choices: int) -> dict[str, Any]:
    completion = usage.completion * choices
    return {
        "prompt_tokens": usage.prompt,
        "completion_tokens": completion,
        "total_tokens": usage.prompt + completion,
        "prompt_tokens_details": {"cached_tokens": usage.cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning * choices,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _call_id(ex: Exchange, i: int) -> str:
    return "call_" + make_id(f"{ex.digest}:call:{i}", 24)


def _common(ex: Exchange) -> dict[str, Any]:
    return {
        "id": "chatcmpl-" + make_id(ex.digest, 29),
        "created": ex.created,
        "model": ex.model,
        "service_tier": "default",
        "system_fingerprint": "fp_" + ex.digest[:10],
    }


def json_reply(conv: Conversation, reply: Reply, ex: Exchange) -> tuple[bytes, dict[str, str]]:
    message: dict[str, Any] = {"role": "assistant", "content": None if reply.tool_calls else reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": _call_id(ex, i), "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
            for i, c in enumerate(reply.tool_calls)
        ]
    message.update(refusal=REFUSAL if reply.finish == "blocked" else None, annotations=[])
    if reply.finish == "blocked":
        message["content"] = None
    common = _common(ex)
    body = {
        "id": common.pop("id"),
        "object": "chat.completion",
        **common,
        "choices": [
            {"index": i, "message": message, "logprobs": None, "finish_reason": _FINISH.get(reply.finish, reply.finish)}
            for i in range(conv.choices)
        ],
        "usage": _usage(reply.usage, conv.choices),
    }
    headers = _headers(ex, tokens=reply.usage.total) | {"content-type": _JSON}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n", headers


def _deltas(reply: Reply, ex: Exchange, chunks: int) -> list[dict[str, Any]]:
    """One choice's deltas, role first; the finish delta is added by the caller."""
    if reply.finish == "blocked":
        first_refusal: dict[str, Any] = {"role": "assistant", "content": None, "refusal": ""}
        return [first_refusal] + [{"refusal": piece} for piece in split_text(REFUSAL, chunks)]
    if not reply.tool_calls:
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        return [first] + [{"content": piece} for piece in split_text(reply.text, chunks)]
    deltas: list[dict[str, Any]] = []
    for i, call in enumerate(reply.tool_calls):
        start = {
            "index": i,
            "id": _call_id(ex, i),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        deltas.append({"tool_calls": [start]})
        deltas.extend(
            {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
            for piece in split_text(call.arguments_json, chunks)
        )
    deltas[0] = {"role": "assistant", "content": None, **deltas[0], "refusal": None}
    return deltas


def stream_reply(conv: Conversation, reply: Reply, ex: Exchange, chunks: int) -> tuple[list[bytes], dict[str, str]]:
    common = _common(ex)
    head = {"id": common.pop("id"), "object": "chat.completion.chunk", **common}

    def frame(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        obj: dict[str, Any] = {**head, "choices": choices}
        if conv.include_usage:
            obj["usage"] = usage
        obj["obfuscation"] = make_id(f"{ex.digest}:pad:{len(frames)}", 3 + len(frames) % 11)
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    frames: list[bytes] = []
    for delta in _deltas(reply, ex, chunks):
        for c in range(conv.choices):
            frames.append(frame([{"index": c, "delta": delta, "logprobs": None, "finish_reason": None}]))
    for c in range(conv.choices):
        finish = _FINISH.get(reply.finish, reply.finish)
        frames.append(frame([{"index": c, "delta": {}, "logprobs": None, "finish_reason": finish}]))
    if conv.include_usage:
        frames.append(frame([], _usage(reply.usage, conv.choices)))
    frames.append(b"data: [DONE]\n\n")
    return frames, _headers(ex, tokens=reply.usage.total) | {"content-type": _SSE}


def stream_error(fault: Fault, ex: Exchange, sent: int) -> bytes:
    # The recorded mid-stream error frame carries only message and type (providers.md 1.3).
    _, error = _error_fields(fault, ex)
    return b"data: " + orjson.dumps({"error": {"message": error["message"], "type": error["type"]}}) + b"\n\n"
