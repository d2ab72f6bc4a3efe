"""`get_ai_service()`: the one per-process holder, built on first use from the environment and shared."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import shared.facade as facade
from shared.facade import ConfigError, get_ai_service
from tests.facade.conftest import environ_for


@pytest.fixture
async def fresh_holder(tmp_path: Path, sim_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    for name, value in environ_for(tmp_path, sim_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(facade, "_service", None)
    monkeypatch.setattr(facade, "_config", None)
    yield
    if facade._service is not None:
        await facade._service.aclose()


async def test_built_once_and_shared(fresh_holder: None, tmp_path: Path) -> None:
    first = get_ai_service({"tenant": "shop", "cache": {"ttlSeconds": 60}})
    assert get_ai_service() is first
    assert get_ai_service({"tenant": "shop", "cache": {"ttl_seconds": 60}}) is first  # the same, spelt otherwise
    assert first.settings.data_dir == tmp_path / "data"  # from os.environ
    assert first.settings.cache_ttl_seconds == 60
    with pytest.raises(ConfigError, match="already built"):
        get_ai_service({"tenant": "other"})
    reply = await first.chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, "u")
    assert reply["provider"]
