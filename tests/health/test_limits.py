"""The limits component: the mode from the Redis configuration and its ping, and the words health says."""

from __future__ import annotations

import pytest

from shared.health.facts import LimitsFact, Reachability
from shared.health.limits import describe, limits_fact

UP = Reachability(ok=True, latency_ms=0.3)
DOWN = Reachability(ok=False, latency_ms=500.0, detail="timeout")


@pytest.mark.parametrize(
    ("redis", "ping", "mode"),
    [
        (False, UP, "embedded"),
        (False, DOWN, "embedded"),  # no Redis: a failed stand-in cache check says nothing about limits
        (True, UP, "shared"),
        (True, DOWN, "degraded"),
    ],
)
def test_the_mode(redis: bool, ping: Reachability, mode: str) -> None:
    assert limits_fact(redis=redis, ping=ping, instances=3) == LimitsFact(mode, 3)  # type: ignore[arg-type]


def test_degraded_names_the_local_share_in_words() -> None:
    told = describe(LimitsFact("degraded", 4))
    assert "fail open" in told
    assert "at most 1/4 of every limit" in told
    assert "4 expected instances" in told
    untold = describe(LimitsFact("degraded"))
    assert "at most 1/N of every limit" in untold


def test_each_mode_has_its_own_words() -> None:
    words = {describe(LimitsFact(mode)) for mode in ("embedded", "shared", "degraded")}
    assert len(words) == 3
    assert "atomically across every instance" in describe(LimitsFact("shared"))
    assert "no REDIS_URL" in describe(LimitsFact("embedded"))
