"""The fake clock of the unit tests: wall and monotonic time that move only when a test says so."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["FakeClock"]


@dataclass
class FakeClock:
    """`now` is the wall clock (`time()`); `mono` the monotonic one, equal to `now` unless set apart.
    `advance` moves both; `sleep` (an injectable `asyncio.sleep`) records the wait and advances."""

    now: float = 1000.0
    mono: float | None = None
    sleeps: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now if self.mono is None else self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        if self.mono is not None:
            self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)
