"""Small helpers shared by the simulator tests: request builders and a plain SSE splitter."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar

import httpx2

__all__ = [
    "KEY",
    "WEATHER_SCHEMA",
    "anthropic_body",
    "anthropic_post",
    "collect",
    "gemini_body",
    "gemini_post",
    "openai_body",
    "openai_post",
    "read_cut_stream",
    "sse_events",
]

_T = TypeVar("_T")

KEY = "sk-sim-test-key"
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city"],
}


def openai_body(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def anthropic_body(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": [{"role": "user", "content": text}], **extra}


def gemini_body(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def openai_post(http: httpx2.Client, body: Any, *, key: str | None = KEY) -> httpx2.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return http.post("/v1/chat/completions", json=body, headers=headers)


def anthropic_post(
    http: httpx2.Client, body: Any, *, key: str | None = KEY, version: str | None = "2023-06-01"
) -> httpx2.Response:
    headers = {"x-api-key": key} if key else {}
    if version:
        headers["anthropic-version"] = version
    return http.post("/v1/messages", json=body, headers=headers)


def gemini_post(
    http: httpx2.Client,
    body: Any,
    *,
    model: str = "gemini-2.5-flash",
    key: str | None = KEY,
    stream: bool = False,
    sse: bool = True,
    key_in_query: bool = False,
) -> httpx2.Response:
    method = "streamGenerateContent" if stream else "generateContent"
    params = {"alt": "sse"} if stream and sse else {}
    headers = {}
    if key and key_in_query:
        params["key"] = key
    elif key:
        headers["x-goog-api-key"] = key
    return http.post(f"/v1beta/models/{model}:{method}", json=body, headers=headers, params=params)


def collect(source: Iterable[_T]) -> tuple[list[_T], Exception | None]:
    """The items an iterable yields before it raises, and the exception (None when it ended normally)."""
    items: list[_T] = []
    try:
        for item in source:
            items.append(item)
    except Exception as err:
        return items, err
    return items, None


def read_cut_stream(http: httpx2.Client, path: str, body: Any, headers: dict[str, str]) -> bytes:
    """The bytes received before the server dropped the connection; fails if the stream ended normally."""
    received = bytearray()
    try:
        with http.stream("POST", path, json=body, headers=headers) as response:
            for chunk in response.iter_bytes():
                received += chunk
    except httpx2.RemoteProtocolError:
        return bytes(received)
    raise AssertionError(f"the stream was not cut: {bytes(received)!r}")


def sse_events(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) per SSE event; `[DONE]` stays a string. Accepts LF and CRLF framing."""
    text = raw.decode().replace("\r\n", "\n")
    events: list[tuple[str | None, Any]] = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        payload = "\n".join(data)
        events.append((name, payload if payload == "[DONE]" else json.loads(payload)))
    return events
