"""Every recorded real request, sent to the simulator: answered in the provider's format, or rejected the way
the real provider rejected it.

The recorded rejections of the request itself (not of the key, as in the 401 recordings) are reproduced, and
the simulator's error body is compared with the recorded one field by field.
"""

from __future__ import annotations

import json
import random
from typing import Any

import httpx2
import pytest

from tests.recordings import entries, load_json, require_recordings
from tests.simulator.helpers import anthropic_post, gemini_post, openai_post, sse_events

_REQUESTS = [e for e in entries() if e["request_file"]]

# Recorded interactions whose request itself was refused: file -> fields of the error body to match exactly.
_REJECTED: dict[str, tuple[int, tuple[str, ...]]] = {
    "openai/error_400.json": (400, ("message", "type", "param", "code")),  # o1-mini does not take `stop`
    "openai/error_400_2.json": (400, ("message", "type", "param", "code")),  # content part without `type`
    "openai/error_404.json": (404, ("message", "type", "param", "code")),  # "non-existent-model"
    "anthropic/error_400.json": (400, ("type", "message")),  # "messages": ["Invalid content"]
    "anthropic/error_404.json": (404, ("type", "message")),  # "claude-sonet-4-5"
}


def test_the_recordings_hold_requests_for_every_provider() -> None:
    require_recordings()
    assert {e["provider"] for e in _REQUESTS} == {"openai", "anthropic", "gemini"}
    assert set(_REJECTED) <= {e["file"] for e in _REQUESTS}


def _send(http: httpx2.Client, entry: dict[str, Any], body: Any) -> httpx2.Response:
    url = entry["request"]["url"]
    if entry["provider"] == "openai":
        return openai_post(http, body)
    if entry["provider"] == "anthropic":
        return anthropic_post(http, body)
    model = url.split("/models/", 1)[1].split(":", 1)[0]
    return gemini_post(http, body, model=model, stream=":streamGenerateContent" in url, sse="alt=sse" in url)


def _expects_tool_call(entry: dict[str, Any], body: dict[str, Any]) -> bool:
    """Tools offered, tool choice not none, last message not a tool result (the simulator's rule)."""
    if entry["provider"] == "openai":
        return bool(body.get("tools")) and body.get("tool_choice") != "none" and body["messages"][-1]["role"] != "tool"
    if entry["provider"] == "anthropic":
        last = body["messages"][-1]["content"]
        result = isinstance(last, list) and any(b.get("type") == "tool_result" for b in last)
        return bool(body.get("tools")) and not result
    declared = any(t.get("functionDeclarations") for t in body.get("tools") or [])
    return declared and not any("functionResponse" in p for p in body["contents"][-1]["parts"])


def _openai_summary(response: httpx2.Response, body: dict[str, Any]) -> tuple[str, list[str]]:
    if not body.get("stream"):
        reply = response.json()
        assert reply["object"] == "chat.completion"
        assert len(reply["choices"]) == (body.get("n") or 1)
        message = reply["choices"][0]["message"]
        return message["content"] or "", [c["function"]["name"] for c in message.get("tool_calls") or []]
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    events = sse_events(response.content)
    assert events[-1] == (None, "[DONE]")
    chunks = [data for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    wants_usage = (body.get("stream_options") or {}).get("include_usage") is True
    assert (chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0) == wants_usage
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    names = [t["function"]["name"] for d in deltas for t in d.get("tool_calls") or [] if "id" in t]
    return "".join(d.get("content") or "" for d in deltas), names


def _anthropic_summary(response: httpx2.Response, body: dict[str, Any]) -> tuple[str, list[str]]:
    if not body.get("stream"):
        reply = response.json()
        assert reply["type"] == "message"
        text = "".join(b["text"] for b in reply["content"] if b["type"] == "text")
        return text, [b["name"] for b in reply["content"] if b["type"] == "tool_use"]
    events = sse_events(response.content)
    assert all(name == data["type"] for name, data in events)
    assert [events[0][0], events[-2][0], events[-1][0]] == ["message_start", "message_delta", "message_stop"]
    text = "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta")
    names = [
        d["content_block"]["name"]
        for n, d in events
        if n == "content_block_start" and d["content_block"]["type"] == "tool_use"
    ]
    return text, names


def _gemini_summary(response: httpx2.Response, entry: dict[str, Any]) -> tuple[str, list[str]]:
    url = entry["request"]["url"]
    if "alt=sse" in url:
        assert response.headers["content-type"] == "text/event-stream"
        assert response.content.endswith(b"\r\n\r\n")
        assert b"\n\n" not in response.content.replace(b"\r\n", b"")
        chunks = [data for _, data in sse_events(response.content)]
    elif ":streamGenerateContent" in url:
        chunks = json.loads(response.content)
        assert isinstance(chunks, list)
    else:
        chunks = [response.json()]
    assert all("usageMetadata" in c for c in chunks)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
    return text, [p["functionCall"]["name"] for p in parts if "functionCall" in p]


@pytest.mark.parametrize("entry", _REQUESTS, ids=[e["request_file"] for e in _REQUESTS])
def test_recorded_request_gets_the_real_providers_answer_shape(http: httpx2.Client, entry: dict[str, Any]) -> None:
    body = load_json(entry["request_file"])
    response = _send(http, entry, body)
    if entry["file"] in _REJECTED:
        status, fields = _REJECTED[entry["file"]]
        assert response.status_code == status == entry["http_status"]
        recorded = load_json(entry["file"])["error"]
        assert {f: response.json()["error"][f] for f in fields} == {f: recorded[f] for f in fields}
        return
    assert response.status_code == 200, response.text
    if entry["provider"] == "openai":
        text, tool_names = _openai_summary(response, body)
    elif entry["provider"] == "anthropic":
        text, tool_names = _anthropic_summary(response, body)
    else:
        text, tool_names = _gemini_summary(response, entry)
    if _expects_tool_call(entry, body):
        assert tool_names
        assert text == ""
    else:
        assert not tool_names
        assert text


_KEYS = ("text", "type", "role", "parts", "content", "name", "input", "args", "response", "tool_calls", "function")


def _random_json(rnd: random.Random, depth: int = 0) -> Any:
    choice = rnd.randint(0, 8 if depth < 3 else 6)
    if choice <= 6:
        return [None, True, 1, -5, 2.5, "x", ""][choice]
    if choice == 7:
        return [_random_json(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]
    return {rnd.choice(_KEYS): _random_json(rnd, depth + 1) for _ in range(rnd.randint(0, 3))}


def _mutate(rnd: random.Random, value: Any) -> Any:
    if rnd.random() < 0.2:
        return _random_json(rnd)
    if isinstance(value, dict):
        return {k: _mutate(rnd, v) for k, v in value.items() if rnd.random() > 0.05}
    if isinstance(value, list):
        return [_mutate(rnd, v) for v in value if rnd.random() > 0.05]
    return value


def _is_envelope(provider: str, body: Any) -> bool:
    if isinstance(body, list) and len(body) == 1:
        body = body[0]  # the Gemini JSON-array stream endpoint wraps its error in the array
    if provider == "anthropic":
        return body["type"] == "error" and set(body["error"]) == {"type", "message"}
    if provider == "openai":
        return set(body["error"]) == {"message", "type", "param", "code"}
    return set(body["error"]) >= {"code", "message", "status"}


@pytest.mark.parametrize("seed", range(4))
def test_mutated_recorded_requests_never_crash_the_simulator(http: httpx2.Client, seed: int) -> None:
    """Seeded random damage to the recorded requests: always a 200 or a 4xx in the provider's own envelope."""
    require_recordings()
    rnd = random.Random(seed)
    for _ in range(60):
        entry = rnd.choice(_REQUESTS)
        body = _mutate(rnd, load_json(entry["request_file"]))
        response = _send(http, entry, body)
        assert response.status_code < 500, (entry["request_file"], body, response.text)
        if response.status_code >= 400:
            assert _is_envelope(entry["provider"], response.json()), response.text
