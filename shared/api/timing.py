"""`Server-Timing` for every reply: how long each step took inside the gateway (architecture, Hot path)."""

from __future__ import annotations

import time

__all__ = ["ServerTiming"]


class ServerTiming:
    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self._steps: list[tuple[str, float]] = []

    def mark(self, step: str) -> None:
        """End `step` now (its duration runs from the previous mark)."""
        now = time.perf_counter()
        self._steps.append((step, now - self._last))
        self._last = now

    def header(self) -> dict[str, str]:
        total = time.perf_counter() - self._start
        parts = [f"{name};dur={seconds * 1000:.2f}" for name, seconds in self._steps]
        parts.append(f"total;dur={total * 1000:.2f}")
        return {"server-timing": ", ".join(parts)}
