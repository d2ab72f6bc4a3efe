"""Gemini generateContent on the wire: auth, JSON replies, streams, errors (providers.md 3.2-3.4, 8).

camelCase throughout; `finishReason` is STOP on tool calls too, and function calls arrive whole, each with
a `thoughtSignature`. Every stream chunk carries cumulative `usageMetadata`. `alt=sse` streams are
`data: {json}` events separated by CRLF CRLF (`gemini/stream_text.sse`); without it the endpoint streams one
pretty-printed JSON array (`gemini/stream_json_array.json`). Errors (bodies from `gemini_errors.py`) are
pretty-printed; before a stream they keep the real status and, on the SSE endpoint, come as plain JSON with
`Content-Type: text/event-stream` (`gemini/error_400_api_key.json`).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from local.simulator.exchange import Endpoint, Exchange
from local.simulator.faults import Fault
from local.simulator.gemini_errors import status_body
from local.simulator.gemini_request import parse_gemini
from local.simulator.generation import Conversation, Reply, estimate_tokens, split_text

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

_FINISH: Final = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}
_SAFETY_RATINGS: Final = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "MEDIUM", "blocked": True},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
]
_JSON: Final = "application/json; charset=UTF-8"
_SSE: Final = "text/event-stream"
_SSE_SEPARATOR: Final = b"\r\n\r\n"
_ARRAY_SEPARATOR: Final = b"\n,\r\n"


def api_key(request: Request) -> str | None:
    return request.headers.get("x-goog-api-key", "").strip() or request.query_params.get("key", "").strip() or None


def check_headers(request: Request, key: str | None) -> Fault | None:
    return None if key else Fault(kind="auth")


def model_of(body: Any, endpoint: Endpoint) -> str:
    return endpoint.model or ""


def parse(body: Any, endpoint: Endpoint) -> Conversation:
    return parse_gemini(body, model=endpoint.model or "", stream=bool(endpoint.stream))


def _pretty(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2)


def _headers(ex: Exchange, content_type: str) -> dict[str, str]:
    headers = {"content-type": content_type, "vary": "Origin, X-Origin, Referer"}
    headers["server-timing"] = f"gfet4t7; dur={ex.elapsed_ms()}"
    if content_type == _SSE:
        headers["content-disposition"] = "attachment"
    return headers


def error_response(fault: Fault, ex: Exchange) -> Response:
    status, body = status_body(fault, ex)
    if ex.endpoint.stream and ex.endpoint.sse:
        # Pre-stream errors: real status, plain pretty JSON, yet text/event-stream (gemini/error_400_api_key.json).
        content, content_type = _pretty(body) + b"\n", _SSE
    elif ex.endpoint.stream:
        # ⚠ inferred: the array endpoint wraps its error in the array (the SDK unwraps one-element lists).
        content, content_type = b"[" + _pretty(body) + b"\n]", _JSON
    else:
        content, content_type = _pretty(body) + b"\n", _JSON
    return Response(content, status_code=status, headers=_headers(ex, content_type))


def _signature(ex: Exchange, label: str) -> str:
    return base64.b64encode(hashlib.sha256(f"{ex.digest}:{label}".encode()).digest() * 2).decode()


def _response_id(ex: Exchange) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(ex.digest)[:17]).decode().rstrip("=")


def _usage(reply: Reply, choices: int, candidates: int | None = None) -> dict[str, Any]:
    usage = reply.usage
    visible = (usage.completion - usage.reasoning) * choices if candidates is None else candidates * choices
    thoughts = usage.reasoning * choices
    meta: dict[str, Any] = {
        "promptTokenCount": usage.prompt,
        "candidatesTokenCount": visible,
        "totalTokenCount": usage.prompt + visible + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": usage.prompt}],
    }
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    if usage.cached:
        meta["cachedContentTokenCount"] = usage.cached
        meta["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": usage.cached}]
    return meta


def _call_parts(reply: Reply, ex: Exchange) -> list[dict[str, Any]]:
    return [
        {"functionCall": {"name": c.name, "args": c.arguments}, "thoughtSignature": _signature(ex, f"call:{i}")}
        for i, c in enumerate(reply.tool_calls)
    ]


def _candidate(parts: list[dict[str, Any]] | None, index: int, finish: str | None, reply: Reply) -> dict[str, Any]:
    if finish == "SAFETY":
        return {"content": {}, "finishReason": "SAFETY", "index": index, "safetyRatings": _SAFETY_RATINGS}
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish is not None:
        candidate["finishReason"] = finish
    candidate["index"] = index
    if finish is not None and reply.tool_calls:
        candidate["finishMessage"] = "Model generated function call(s)."
    return candidate


def _envelope(reply: Reply, ex: Exchange, candidates: list[dict[str, Any]], usage: dict[str, Any]) -> dict[str, Any]:
    return {"candidates": candidates, "usageMetadata": usage, "modelVersion": ex.model, "responseId": _response_id(ex)}


def _blocked(reply: Reply, ex: Exchange) -> dict[str, Any]:
    """A refused prompt: HTTP 200, no candidates, `promptFeedback.blockReason` (providers.md 3.2)."""
    prompt = reply.usage.prompt
    usage = {
        "promptTokenCount": prompt,
        "totalTokenCount": prompt,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    feedback = {"blockReason": "PROHIBITED_CONTENT"}
    return {
        "promptFeedback": feedback,
        "usageMetadata": usage,
        "modelVersion": ex.model,
        "responseId": _response_id(ex),
    }


def json_reply(conv: Conversation, reply: Reply, ex: Exchange) -> tuple[bytes, dict[str, str]]:
    if reply.finish == "blocked":
        return _pretty(_blocked(reply, ex)) + b"\n", _headers(ex, _JSON)
    parts: list[dict[str, Any]] = []
    if reply.thinking:
        parts.append({"text": reply.thinking, "thought": True})
    if reply.text or not reply.tool_calls:
        text_part: dict[str, Any] = {"text": reply.text}
        if ex.model.startswith("gemini-3"):
            text_part["thoughtSignature"] = _signature(ex, "text")  # as on gemini/text.json (gemini-3-pro-preview)
        parts.append(text_part)
    parts.extend(_call_parts(reply, ex))
    finish = _FINISH[reply.finish]
    candidates = [_candidate(parts, i, finish, reply) for i in range(conv.choices)]
    body = _envelope(reply, ex, candidates, _usage(reply, conv.choices))
    return _pretty(body) + b"\n", _headers(ex, _JSON)


def _steps(reply: Reply, ex: Exchange, chunks: int) -> list[tuple[list[dict[str, Any]], int]]:
    """(parts, cumulative visible tokens) per chunk; the finish reason goes on the last one."""
    steps: list[tuple[list[dict[str, Any]], int]] = []
    if reply.thinking:
        steps.append(([{"text": reply.thinking, "thought": True}], 0))
    seen = ""
    for piece in split_text(reply.text, chunks):
        seen += piece
        steps.append(([{"text": piece}], estimate_tokens(seen)))
    if reply.tool_calls:
        steps.append((_call_parts(reply, ex), reply.usage.completion - reply.usage.reasoning))
        steps.append(([{"text": ""}], reply.usage.completion - reply.usage.reasoning))  # gemini/stream_tool_call.sse
    if not steps or steps[-1][0][0].get("thought"):
        steps.append(([{"text": ""}], 0))
    return steps


def stream_reply(conv: Conversation, reply: Reply, ex: Exchange, chunks: int) -> tuple[list[bytes], dict[str, str]]:
    steps = [] if reply.finish == "blocked" else _steps(reply, ex, chunks)
    final = _FINISH.get(reply.finish, "STOP")
    final_tokens = reply.usage.completion - reply.usage.reasoning
    bodies: list[dict[str, Any]] = [_blocked(reply, ex)] if reply.finish == "blocked" else []
    for n, (parts, tokens) in enumerate(steps):
        last = n == len(steps) - 1
        finish = final if last else None
        candidates = [_candidate(parts, i, finish, reply) for i in range(conv.choices)]
        bodies.append(
            _envelope(
                reply, ex, candidates, _usage(reply, conv.choices, final_tokens if last else min(tokens, final_tokens))
            )
        )
    if ex.endpoint.sse:
        frames = [b"data: " + orjson.dumps(body) + _SSE_SEPARATOR for body in bodies]
        return frames, _headers(ex, _SSE)
    frames = [(b"[" if n == 0 else _ARRAY_SEPARATOR) + _pretty(body) for n, body in enumerate(bodies)]
    frames[-1] += b"\n]"
    return frames, _headers(ex, _JSON)


def stream_error(fault: Fault, ex: Exchange, sent: int) -> bytes:
    _, body = status_body(fault, ex)
    if ex.endpoint.sse:
        return b"data: " + orjson.dumps(body) + _SSE_SEPARATOR
    return (b"[" if sent == 0 else _ARRAY_SEPARATOR) + _pretty(body) + b"\n]"
