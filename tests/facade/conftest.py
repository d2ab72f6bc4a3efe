"""The facade over a real simulator (the session's, tests/conftest.py) and a temporary data dir: embedded
store, events and keyset, the providers' platform keys pointing at the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from shared.facade import GatewayService, create_ai_service

KEYS = {"OPENAI_API_KEY": "sk-facade-openai", "ANTHROPIC_API_KEY": "sk-facade-anth", "GEMINI_API_KEY": "gm-facade"}

MakeService = Callable[..., GatewayService]


def environ_for(tmp_path: Path, sim_url: str, **extra: str) -> dict[str, str]:
    return {
        **KEYS,
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
        "GATEWAY_DEV_KEY": "gw-facade-dev-key",
        "OPENAI_BASE_URL": f"{sim_url}/v1",
        "ANTHROPIC_BASE_URL": sim_url,
        "GEMINI_BASE_URL": f"{sim_url}/v1beta",
        **extra,
    }


@pytest.fixture
async def make_service(tmp_path: Path, sim_url: str) -> AsyncIterator[MakeService]:
    built: list[GatewayService] = []

    def make(config: Any = None, **extra: str) -> GatewayService:
        service = create_ai_service(config, environ=environ_for(tmp_path, sim_url, **extra))
        built.append(service)
        return service

    yield make
    for service in built:
        await service.aclose()
