"""build_chat_deps: the settings reach every piece it wires. The development key authenticates (from the
setting, or generated once and found again under the stored salt), outbound calls go to the configured
base URL with the platform keys in turn, through one client with the configured timeouts, retried by the
configured policy; the default events sink writes segment files under the data dir; `aclose` closes both.

Provider traffic here is an `httpx2.MockTransport` (the injected transport seam): each test decides what
"OpenAI" answers and sees exactly what was sent."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx2
import orjson
import pytest

from shared.aiohttp_transport import AiohttpUpstream
from shared.api.deps import build_chat_deps, events_dir
from shared.auth import authenticate
from shared.errors import UpstreamFailure
from shared.events.local_sink import SEGMENT_GLOB, LocalSegmentSink
from shared.events.port import MemorySink
from shared.events.schema import UsageEvent
from shared.identity import Identity
from shared.settings import Settings
from shared.store.build import SQLITE_FILE
from shared.transport import HttpxUpstream
from shared.unified import ChatRequest, Message
from tests.api import dev

DEV_KEY = "gw-deps-test-key"
OPENAI_URL = "https://openai.example/v1"
REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_760_000_000,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
REQUEST = ChatRequest(model="gpt-4o-mini", messages=(Message(role="user", content="hello"),))
IDENTITY = Identity(tenant="app-1", key_id="key-1", scopes=frozenset({"chat"}))


def settings(data_dir: Path, **changes: Any) -> Settings:
    fields: dict[str, Any] = {
        "provider_keys": MappingProxyType({"openai": ("sk-1",), "anthropic": (), "gemini": ()}),
        "base_urls": MappingProxyType({**Settings().base_urls, "openai": OPENAI_URL}),
        "data_dir": data_dir,
        "dev_key": DEV_KEY,
        # One scripted OpenAI upstream: the named model is served and its faults come back as they are.
        "router_cost_optimization": False,
        "router_fallback_enabled": False,
    }
    return dataclasses.replace(Settings(), **{**fields, **changes})


class Upstream:
    """A scripted provider: answers from `replies` in turn (the last one repeats) and records requests."""

    def __init__(self, *replies: httpx2.Response) -> None:
        self.replies = list(replies) or [httpx2.Response(200, json=REPLY)]
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.replies[min(len(self.requests), len(self.replies)) - 1]

    @property
    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self)


def rate_limited(retry_after: str) -> httpx2.Response:
    body = {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded", "param": None}}
    return httpx2.Response(429, json=body, headers={"retry-after": retry_after})


# --- keys -----------------------------------------------------------------------------------------


async def test_the_dev_key_setting_authenticates(tmp_path: Path) -> None:
    deps = build_chat_deps(settings(tmp_path), events=MemorySink())
    try:
        assert dev(deps).source == "env"
        identity = await authenticate({"authorization": f"Bearer {DEV_KEY}"}, deps.keys)
        assert (identity.tenant, identity.key_id, identity.platform) == ("local", dev(deps).key_id, True)
        assert DEV_KEY not in repr(deps.dev_key)
        # The key from the environment is an ordinary key record in the store, as its HMAC.
        (meta,) = await deps.keys.keys.list()
        assert (meta.key_id, meta.tenant, meta.status) == (dev(deps).key_id, "local", "active")
    finally:
        await deps.aclose()


async def test_without_the_setting_a_dev_key_is_generated_once_and_found_again(tmp_path: Path) -> None:
    first = build_chat_deps(settings(tmp_path, dev_key=None), events=MemorySink())
    await first.aclose()
    assert (dev(first).source, dev(first).fresh) == ("generated", True)
    key = dev(first).plaintext
    assert key is not None
    assert key not in (tmp_path / SQLITE_FILE).read_bytes().decode("utf-8", "replace")  # stored as its HMAC only
    # A new instance (same data dir) finds the stored record and the stored salt: the printed key still works.
    again = build_chat_deps(settings(tmp_path, dev_key=None), events=MemorySink())
    try:
        assert (dev(again).source, dev(again).fresh, dev(again).plaintext) == ("stored", False, None)
        assert (await authenticate({"x-api-key": key}, again.keys)).key_id == dev(first).key_id
    finally:
        await again.aclose()


async def test_a_configured_salt_is_used_as_is(tmp_path: Path) -> None:
    a = build_chat_deps(settings(tmp_path / "a", api_key_hash_salt="salt-one-" + "x" * 32), events=MemorySink())
    b = build_chat_deps(settings(tmp_path / "b", api_key_hash_salt="salt-one-" + "x" * 32), events=MemorySink())
    c = build_chat_deps(settings(tmp_path / "c", api_key_hash_salt="salt-two-" + "x" * 32), events=MemorySink())
    for deps in (a, b, c):
        await deps.aclose()
    # The same key under the same salt has the same id (its HMAC) on every instance; another salt differs.
    assert dev(a).key_id == dev(b).key_id != dev(c).key_id


# --- the client, credentials and retry policy -----------------------------------------------------


async def test_upstream_timeouts_come_from_settings(tmp_path: Path) -> None:
    custom = settings(
        tmp_path, connect_timeout_seconds=2.0, first_byte_timeout_seconds=30.0, stream_idle_timeout_seconds=45.0
    )
    deps = build_chat_deps(custom, events=MemorySink())
    await deps.aclose()
    # One read timeout serves as both the first-byte and the idle-gap limit: the larger of the two.
    assert isinstance(deps.upstream, AiohttpUpstream)
    assert (deps.upstream.connect_timeout, deps.upstream.read_timeout) == (2.0, 45.0)
    given = build_chat_deps(custom, events=MemorySink(), transport=httpx2.MockTransport(lambda r: httpx2.Response(200)))
    await given.aclose()
    assert isinstance(given.upstream, HttpxUpstream)  # a transport given (tests): httpx2 over it
    assert given.upstream.client.timeout == httpx2.Timeout(connect=2.0, read=45.0, write=45.0, pool=2.0)


async def test_calls_go_to_the_base_url_with_the_platform_keys_in_turn(tmp_path: Path) -> None:
    upstream = Upstream()
    keys = MappingProxyType({"openai": ("sk-1", "sk-2"), "anthropic": (), "gemini": ()})
    changes: dict[str, Any] = {"provider_keys": keys, "cache_enabled": False}  # every call goes upstream
    deps = build_chat_deps(settings(tmp_path, **changes), events=MemorySink(), transport=upstream.transport)
    try:
        for _ in range(3):
            result = await deps.service.chat(REQUEST, IDENTITY)
            assert (result.provider, result.model, result.attempts) == ("openai", "gpt-4o-mini", 1)
    finally:
        await deps.aclose()
    assert {str(r.url) for r in upstream.requests} == {f"{OPENAI_URL}/chat/completions"}
    assert [r.headers["authorization"] for r in upstream.requests] == ["Bearer sk-1", "Bearer sk-2", "Bearer sk-1"]
    assert orjson.loads(upstream.requests[0].content)["model"] == "gpt-4o-mini"


async def test_the_response_cache_is_wired_in_by_default(tmp_path: Path) -> None:
    upstream = Upstream()
    events = MemorySink()
    deps = build_chat_deps(settings(tmp_path), events=events, transport=upstream.transport)
    try:
        first = await deps.service.chat(REQUEST, IDENTITY)
        second = await deps.service.chat(REQUEST, IDENTITY)
    finally:
        await deps.aclose()
    assert (first.cache_status, first.attempts) == ("MISS", 1)
    assert (second.cache_status, second.attempts, second.cost.micros) == ("HIT", 0, 0)
    assert second.cost_saved_micros == first.cost.micros
    assert len(upstream.requests) == 1
    assert [e.cache_hit for e in events.events] == [False, True]


async def test_retries_follow_router_max_retries(tmp_path: Path) -> None:
    upstream = Upstream(rate_limited("0"))
    deps = build_chat_deps(settings(tmp_path, router_max_retries=1), events=MemorySink(), transport=upstream.transport)
    try:
        with pytest.raises(UpstreamFailure) as info:
            await deps.service.chat(REQUEST, IDENTITY)
    finally:
        await deps.aclose()
    assert (len(upstream.requests), len(info.value.attempts), info.value.status) == (2, 2, 429)


async def test_a_retry_after_beyond_the_setting_is_not_waited_for(tmp_path: Path) -> None:
    upstream = Upstream(rate_limited("2"), httpx2.Response(200, json=REPLY))
    custom = settings(tmp_path, retry_after_max_seconds=1.0)
    deps = build_chat_deps(custom, events=MemorySink(), transport=upstream.transport)
    try:
        with pytest.raises(UpstreamFailure) as info:
            await deps.service.chat(REQUEST, IDENTITY)
    finally:
        await deps.aclose()
    assert len(upstream.requests) == 1
    assert info.value.retry_after == 2.0


async def test_the_whole_request_is_bounded_by_the_request_timeout(tmp_path: Path) -> None:
    async def hang(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(5)
        return httpx2.Response(200, json=REPLY)

    custom = settings(tmp_path, request_timeout_seconds=0.05)
    deps = build_chat_deps(custom, events=MemorySink(), transport=httpx2.MockTransport(hang))
    try:
        with pytest.raises(UpstreamFailure) as info:
            await deps.service.chat(REQUEST, IDENTITY)
    finally:
        await deps.aclose()
    assert (info.value.status, info.value.kind) == (504, "timeout")


# --- events and closing ---------------------------------------------------------------------------


async def test_the_given_sink_receives_the_events(tmp_path: Path) -> None:
    sink = MemorySink()
    deps = build_chat_deps(settings(tmp_path), events=sink, transport=Upstream().transport)
    result = await deps.service.chat(REQUEST, IDENTITY)
    await deps.aclose()
    assert deps.events is sink
    assert [(e.request_id, e.tenant, e.status) for e in sink.events] == [(result.request_id, "app-1", "ok")]


async def test_the_default_sink_writes_segments_under_the_data_dir(tmp_path: Path) -> None:
    deps = build_chat_deps(settings(tmp_path), transport=Upstream().transport)
    assert isinstance(deps.events, LocalSegmentSink)
    result = await deps.service.chat(REQUEST, IDENTITY)
    await deps.aclose()  # flushes: the segment is sealed and visible
    segments = sorted(events_dir(tmp_path).glob(SEGMENT_GLOB))
    lines = [line for path in segments for line in path.read_bytes().splitlines()]
    events = [UsageEvent.from_json_bytes(line) for line in lines]
    assert [(e.request_id, e.provider, e.cost_micros) for e in events] == [(result.request_id, "OPENAI", 1)]
    assert events_dir(tmp_path) == tmp_path / "events"


async def test_aclose_closes_the_sink_and_the_upstream(tmp_path: Path) -> None:
    sink = MemorySink()
    deps = build_chat_deps(
        settings(tmp_path), events=sink, transport=httpx2.MockTransport(lambda r: httpx2.Response(200))
    )
    assert deps.settings.dev_key == DEV_KEY
    assert isinstance(deps.upstream, HttpxUpstream)
    assert not deps.upstream.client.is_closed
    await deps.aclose()
    assert sink.closed
    assert deps.upstream.client.is_closed


async def test_live_metrics_count_provider_calls_not_cache_hits(tmp_path: Path) -> None:
    upstream = Upstream()
    deps = build_chat_deps(settings(tmp_path), events=MemorySink(), transport=upstream.transport)
    try:
        await deps.service.chat(REQUEST, IDENTITY)
        await deps.service.chat(REQUEST, IDENTITY)  # a cache hit: no provider call, no metric
        snapshot = await deps.metrics.snapshot("openai", "gpt-4o-mini")
    finally:
        await deps.aclose()
    assert snapshot.requests == 1
    assert snapshot.errors == 0
