"""Tests of shared.cache, and the helpers they share: `FakeClock` (the injected clock, driven by hand),
`delete_prefix` (re-exported from tests.redis_server), `state_of` and `RELAXED_TIMEOUT`."""

from __future__ import annotations

from shared.cache.breaker import BreakerState, CacheBreaker
from tests.fakes import FakeClock
from tests.redis_server import delete_prefix

__all__ = ["RELAXED_TIMEOUT", "FakeClock", "delete_prefix", "state_of"]

# Functional tests must not flake on a busy machine; the production timeouts are tested on their own.
RELAXED_TIMEOUT = 1.0


def state_of(breaker: CacheBreaker) -> BreakerState:
    """`breaker.state` through a call, so mypy does not keep a narrowed literal across state changes."""
    return breaker.state
