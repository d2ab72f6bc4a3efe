"""Which provider key a call uses. First form: the platform keys from the environment.

`OPENAI_API_KEY` (and the other two) may hold several comma-separated keys; they are used in turn so
the load spreads over them. BYOK keys (a later issue) come before platform keys for the same provider.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping

__all__ = ["PlatformCredentials"]


class PlatformCredentials:
    def __init__(self, keys: Mapping[str, tuple[str, ...]]) -> None:
        self._cycles: dict[str, Iterator[str]] = {p: itertools.cycle(k) for p, k in keys.items() if k}

    def key_for(self, provider: str) -> str | None:
        cycle = self._cycles.get(provider)
        return next(cycle) if cycle is not None else None

    def __repr__(self) -> str:  # never show a key
        return f"PlatformCredentials(providers={sorted(self._cycles)})"
