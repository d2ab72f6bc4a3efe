"""The per-process holder: `LazyDeps` reads its environment only on the first `get` (a copy taken when it
was made), builds once however many first requests race, tries again after a failed build; `chat_api`
makes the one `ChatApi` of the process and keeps it (later environments are ignored)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from shared.api import instance
from shared.api.chat import ChatApi
from shared.api.deps import ChatDeps, build_chat_deps
from shared.api.instance import LazyDeps, chat_api
from shared.events.local_sink import LocalSegmentSink
from shared.events.port import MemorySink
from shared.settings import Settings, SettingsError


def environ(data_dir: Path, key: str = "gw-instance-key", **more: str) -> dict[str, str]:
    return {"GATEWAY_DEV_KEY": key, "GATEWAY_DATA_DIR": str(data_dir), **more}


@pytest.fixture
async def built(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[ChatDeps]]:
    """Every `ChatDeps` the holder builds (the real builder, with an in-memory sink), closed afterwards."""
    made: list[ChatDeps] = []

    def build(settings: Settings) -> ChatDeps:
        deps = build_chat_deps(settings, events=MemorySink())
        made.append(deps)
        return deps

    monkeypatch.setattr(instance, "build_chat_deps", build)
    yield made
    for deps in made:
        await deps.aclose()


async def test_the_environment_is_read_on_first_use_not_before() -> None:
    lazy = LazyDeps({"MAX_BODY_BYTES": "lots"})  # a bad value: nothing fails yet
    with pytest.raises(SettingsError) as info:
        await lazy.get()
    assert info.value.variable == "MAX_BODY_BYTES"


async def test_the_environment_is_a_copy_taken_at_construction(tmp_path: Path, built: list[ChatDeps]) -> None:
    env = environ(tmp_path, MAX_BODY_BYTES="1234")
    lazy = LazyDeps(env)
    env["MAX_BODY_BYTES"] = "99"
    env["GATEWAY_DEV_KEY"] = "gw-changed"
    deps = await lazy.get()
    assert (deps.settings.max_body_bytes, deps.settings.dev_key, deps.settings.data_dir) == (
        1234,
        "gw-instance-key",
        tmp_path,
    )


async def test_concurrent_first_requests_share_one_build(tmp_path: Path, built: list[ChatDeps]) -> None:
    lazy = LazyDeps(environ(tmp_path))
    results = await asyncio.gather(*(lazy.get() for _ in range(20)))
    assert len(built) == 1
    assert all(deps is built[0] for deps in results)
    assert await lazy.get() is built[0]


async def test_a_failed_build_is_tried_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Settings] = []

    def flaky(settings: Settings) -> ChatDeps:
        calls.append(settings)
        if len(calls) == 1:
            raise SettingsError("GATEWAY_DATA_DIR", "not writable (the test says so)")
        return build_chat_deps(settings, events=MemorySink())

    monkeypatch.setattr(instance, "build_chat_deps", flaky)
    lazy = LazyDeps(environ(tmp_path))
    with pytest.raises(SettingsError):
        await lazy.get()
    deps = await lazy.get()
    await deps.aclose()
    assert len(calls) == 2


async def test_the_real_build_uses_the_local_segment_sink(tmp_path: Path) -> None:
    env = environ(tmp_path, OPENAI_API_KEY="sk-a,sk-b", ROUTER_MAX_RETRIES="1")
    deps = await LazyDeps(env).get()
    await deps.aclose()
    assert isinstance(deps.events, LocalSegmentSink)
    assert deps.settings.provider_keys["openai"] == ("sk-a", "sk-b")
    assert deps.settings.router_max_retries == 1


async def test_chat_api_is_made_once_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: list[ChatDeps]
) -> None:
    monkeypatch.setattr(instance, "_api", None)
    first = chat_api(environ(tmp_path, key="gw-first"))
    second = chat_api(environ(tmp_path, key="gw-second"))
    assert isinstance(first, ChatApi)
    assert second is first
    assert built == []  # nothing is built before a request needs it
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=first.asgi()), base_url="http://t") as client:
        ok = await client.get("/v1/models", headers={"authorization": "Bearer gw-first"})
        ignored = await client.get("/v1/models", headers={"authorization": "Bearer gw-second"})
    assert (ok.status_code, ignored.status_code) == (200, 401)
    assert len(built) == 1
