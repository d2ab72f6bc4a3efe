"""Anthropic Messages on the wire: auth, JSON replies, SSE events, errors (providers.md 2.2-2.4, 8).

Streams are `event:`/`data:` pairs: message_start (input usage), per block content_block_start / deltas /
content_block_stop, a `ping` after the first block start, message_delta (stop_reason and cumulative usage),
message_stop. Like the recordings (`anthropic/stream_text.sse`), `data:` JSON carries padding spaces before
its closing brace. Errors are `{"type":"error","error":{type,message},"request_id"}` with a `request-id`
header; overload is 529.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from local.simulator import ratelimits
from local.simulator.anthropic_request import parse_anthropic
from local.simulator.exchange import Endpoint, Exchange
from local.simulator.faults import Fault
from local.simulator.generation import Conversation, Reply, Usage, make_id, split_text

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

# kind -> (status, error.type, message template)
_KINDS: Final[dict[str, tuple[int, str, str]]] = {
    "rate_limit": (
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. For details, "
        "refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. "
        "Please reduce the prompt length or the maximum tokens requested, or try again later.",
    ),
    # Out of credit; providers.md section 4 files 402 billing_error under permission.
    "quota": (
        402,
        "billing_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or "
        "purchase credits.",
    ),
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "server_error": (500, "api_error", "Internal server error"),
    "auth": (401, "authentication_error", "invalid x-api-key"),
    "permission": (403, "permission_error", "Your API key does not have permission to use the specified resource."),
    "not_found": (404, "not_found_error", "model: {model}"),
    "invalid_request": (400, "invalid_request_error", "Invalid request (simulated by a sim directive)."),
    "context_length": (400, "invalid_request_error", "prompt is too long: {tokens} tokens > 200000 maximum"),
    "timeout": (504, "timeout_error", "Request timed out"),
}
_STOP: Final = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "blocked": "refusal",  # with no content blocks at all (providers.md 2.2)
}
_RETRYABLE: Final = frozenset({408, 409, 429})
_JSON: Final = "application/json"
_SSE: Final = "text/event-stream; charset=utf-8"


def api_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def check_headers(request: Request, key: str | None) -> Fault | None:
    if not key:
        return Fault(kind="auth", message="x-api-key header is required")
    if not request.headers.get("anthropic-version"):
        return Fault(kind="invalid_request", message="anthropic-version: header is required")
    return None


def model_of(body: Any, endpoint: Endpoint) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ""


def parse(body: Any, endpoint: Endpoint) -> Conversation:
    return parse_anthropic(body)


def _headers(ex: Exchange, *, tokens: int = 0, limited: bool = False) -> dict[str, str]:
    headers = {"request-id": ex.request_id}
    reset = ratelimits.rfc3339_after(1.0)
    for family, limit in (
        ("requests", 4_000),
        ("tokens", 2_000_000),
        ("input-tokens", 1_600_000),
        ("output-tokens", 400_000),
    ):
        used = 1 if family == "requests" else tokens
        headers[f"anthropic-ratelimit-{family}-limit"] = str(limit)
        headers[f"anthropic-ratelimit-{family}-remaining"] = "0" if limited else str(max(limit - used, 0))
        headers[f"anthropic-ratelimit-{family}-reset"] = reset
    return headers


def _error(fault: Fault, ex: Exchange) -> tuple[int, dict[str, str]]:
    status, error_type, template = _KINDS[fault.kind]
    tokens = 200_000 + ex.prompt_tokens + 1
    message = fault.message if fault.message is not None else template.format(model=ex.model, tokens=tokens)
    return fault.status or status, {"type": error_type, "message": message}


def error_response(fault: Fault, ex: Exchange) -> Response:
    status, error = _error(fault, ex)
    headers = _headers(ex, limited=status == 429) | ratelimits.retry_headers(fault.retry_after, with_ms=False)
    if 400 <= status < 500 and status not in _RETRYABLE:
        headers["x-should-retry"] = "false"  # as recorded on anthropic/error_400.json and error_401.json
    body = orjson.dumps({"type": "error", "error": error, "request_id": ex.request_id})
    return Response(body, status_code=status, headers=headers, media_type=_JSON)


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt - usage.cached - usage.cache_write,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cached,
        "cache_creation": {"ephemeral_5m_input_tokens": usage.cache_write, "ephemeral_1h_input_tokens": 0},
        "output_tokens": usage.completion,
        # The 2026 wire adds a thinking breakdown inside output_tokens (providers.md 2.2).
        "output_tokens_details": {"thinking_tokens": usage.reasoning},
        "service_tier": "standard",
    }


def _signature(ex: Exchange) -> str:
    return base64.b64encode(hashlib.sha256(f"{ex.digest}:thinking".encode()).digest() * 3).decode()


def _tool_id(ex: Exchange, i: int) -> str:
    return "toolu_01" + make_id(f"{ex.digest}:tool:{i}", 22)


def _message_id(ex: Exchange) -> str:
    return "msg_01" + make_id(ex.digest, 22)


def json_reply(conv: Conversation, reply: Reply, ex: Exchange) -> tuple[bytes, dict[str, str]]:
    content: list[dict[str, Any]] = []
    if reply.thinking:
        content.append({"type": "thinking", "thinking": reply.thinking, "signature": _signature(ex)})
    if reply.text or not (reply.tool_calls or reply.finish == "blocked"):
        content.append({"type": "text", "text": reply.text})
    for i, call in enumerate(reply.tool_calls):
        content.append({"type": "tool_use", "id": _tool_id(ex, i), "name": call.name, "input": call.arguments})
    body = {
        "model": ex.model,
        "id": _message_id(ex),
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": _STOP[reply.finish],
        "stop_sequence": None,
        "usage": _usage(reply.usage),
    }
    return orjson.dumps(body), _headers(ex, tokens=reply.usage.total) | {"content-type": _JSON}


def _frame(event: str, data: dict[str, Any], pad: int) -> bytes:
    payload = orjson.dumps(data)
    return b"event: " + event.encode() + b"\ndata: " + payload[:-1] + b" " * pad + b"}\n\n"


def _blocks(reply: Reply, ex: Exchange, chunks: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(content_block_start block, deltas) per block, in final content order."""
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if reply.thinking:
        deltas = [{"type": "thinking_delta", "thinking": p} for p in split_text(reply.thinking, chunks)]
        deltas.append({"type": "signature_delta", "signature": _signature(ex)})
        blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas))
    if reply.text or not (reply.tool_calls or reply.finish == "blocked"):
        deltas = [{"type": "text_delta", "text": p} for p in split_text(reply.text, chunks)]
        blocks.append(({"type": "text", "text": ""}, deltas))
    for i, call in enumerate(reply.tool_calls):
        # A first empty partial_json, even for a call without arguments (anthropic/stream_tool_call_2.sse).
        pieces = ["", *split_text(call.arguments_json if call.arguments else "", chunks)]
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        blocks.append(({"type": "tool_use", "id": _tool_id(ex, i), "name": call.name, "input": {}}, deltas))
    return blocks


def stream_reply(conv: Conversation, reply: Reply, ex: Exchange, chunks: int) -> tuple[list[bytes], dict[str, str]]:
    events: list[tuple[str, dict[str, Any]]] = []
    start_usage = _usage(reply.usage) | {"output_tokens": 1}
    message: dict[str, Any] = {
        "model": ex.model,
        "id": _message_id(ex),
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    events.append(("message_start", {"type": "message_start", "message": message}))
    for index, (block, deltas) in enumerate(_blocks(reply, ex, chunks)):
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}))
        if index == 0:
            events.append(("ping", {"type": "ping"}))
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    usage = _usage(reply.usage)
    final_usage = {k: usage[k] for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")}
    delta = {"stop_reason": _STOP[reply.finish], "stop_sequence": None}
    events.append(
        (
            "message_delta",
            {"type": "message_delta", "delta": delta, "usage": final_usage | {"output_tokens": reply.usage.completion}},
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    frames = [
        b'event: ping\ndata: {"type": "ping"}\n\n' if name == "ping" else _frame(name, data, _pad(ex, i))
        for i, (name, data) in enumerate(events)
    ]
    headers = _headers(ex, tokens=reply.usage.total) | {"content-type": _SSE, "cache-control": "no-cache"}
    return frames, headers


def _pad(ex: Exchange, i: int) -> int:
    return int(ex.digest[(i * 2) % 60 : (i * 2) % 60 + 2], 16) % 14


def stream_error(fault: Fault, ex: Exchange, sent: int) -> bytes:
    _, error = _error(fault, ex)
    return _frame("error", {"type": "error", "error": error}, 0)
