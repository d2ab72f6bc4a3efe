"""The per-process holder of the chat API (style.md point 11: the one documented module global).

A Cloud Functions instance builds its dependencies once, lazily, on the first request (nothing is
read from the environment at import) and reuses them, the pooled HTTP client above all, for every
request after. Built once, never mutated after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from shared.api.chat import ChatApi
from shared.api.deps import ChatDeps, build_chat_deps
from shared.heap import settle_heap
from shared.settings import Settings

__all__ = ["LazyDeps", "chat_api"]


class LazyDeps:
    """Builds `ChatDeps` from an environment on first use; concurrent first requests share one build."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        self._deps: ChatDeps | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> ChatDeps:
        if self._deps is None:
            async with self._lock:
                if self._deps is None:
                    self._deps = build_chat_deps(Settings.from_env(self._environ))
                    settle_heap()  # what the build leaves lives as long as the instance (shared.heap)
        return self._deps


_api: ChatApi | None = None


def chat_api(environ: Mapping[str, str]) -> ChatApi:
    global _api
    if _api is None:
        _api = ChatApi(LazyDeps(environ).get)
    return _api
