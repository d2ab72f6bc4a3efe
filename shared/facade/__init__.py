"""The seed's contract in-process: `create_ai_service(config)` and the per-process `get_ai_service()`.

    from shared.facade import get_ai_service

    service = get_ai_service()                       # built on first use from the environment
    reply = await service.chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}, "user-1")
    print(reply["choices"][0]["message"]["content"], reply["usage"]["cost"])

`create_ai_service(config, environ=...)` builds a new service (tests, several tenants in one process);
`get_ai_service()` is the one documented per-process holder (style.md point 11): built once, on first use,
from `os.environ` and the configuration given to that first call, then shared. The facade calls the same
core as the HTTP functions (shared.facade.service); failures raise `AIError` (shared.facade.errors).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from shared.api.deps import build_chat_deps
from shared.clock import Clock, SystemClock
from shared.facade.config import AnalyticsOptions, CacheOptions, ConfigError, RouterOptions, ServiceConfig
from shared.facade.errors import AIError
from shared.facade.service import FACADE_KEY_ID, ApiKeyManager, GatewayService
from shared.settings import Settings

__all__ = [
    "FACADE_KEY_ID",
    "AIError",
    "AnalyticsOptions",
    "ApiKeyManager",
    "CacheOptions",
    "ConfigError",
    "GatewayService",
    "RouterOptions",
    "ServiceConfig",
    "create_ai_service",
    "get_ai_service",
]

_service: GatewayService | None = None
_config: ServiceConfig | None = None
_lock = threading.Lock()


def create_ai_service(
    config: ServiceConfig | Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    **parts: Any,
) -> GatewayService:
    """A new service: the environment's settings (`environ`, default `os.environ`) with `config` applied.

    Raises `ConfigError` for a bad configuration object and `SettingsError` for a bad environment, both
    naming the field or variable. `parts` go to `build_chat_deps` (a test's transport or events sink).
    """
    parsed = ServiceConfig.parse(dict(config) if isinstance(config, Mapping) else config)
    settings = parsed.apply(Settings.from_env(os.environ if environ is None else environ))
    clock = clock or SystemClock()
    return GatewayService(parsed, build_chat_deps(settings, clock=clock, **parts), clock=clock)


def get_ai_service(config: ServiceConfig | Mapping[str, Any] | None = None) -> GatewayService:
    """The process's service, built on the first call (with `config`, if given) and shared after.

    A later call may repeat the same configuration or give none; a different one raises `ConfigError`
    (the service is already built: build another with `create_ai_service`).
    """
    global _service, _config
    parsed = None if config is None else ServiceConfig.parse(dict(config) if isinstance(config, Mapping) else config)
    with _lock:
        if _service is None:
            _service = create_ai_service(parsed)
            _config = _service.config
        elif parsed is not None and parsed != _config:
            raise ConfigError("get_ai_service: the service is already built with another configuration", field=None)
        return _service
