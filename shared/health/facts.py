"""What health knows at one moment: the facts the collector gathers and the status rules read.

Plain frozen values, no I/O, so the rules (`shared.health.rules`) are a pure function of them and the
tests can state any situation as a literal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shared.breakers.state import Phase

__all__ = ["EventsFact", "HealthFacts", "LimitsFact", "LimitsMode", "ProviderBreakers", "Reachability", "RouteFact"]

LimitsMode = Literal["embedded", "shared", "degraded"]


@dataclass(frozen=True, slots=True)
class Reachability:
    """One dependency ping: did it answer in time, and how long it took (`None` when nothing was called)."""

    ok: bool
    latency_ms: float | None = None
    detail: str | None = None  # why not (the error's type, "timeout"), or what was checked instead ("local")


@dataclass(frozen=True, slots=True)
class EventsFact:
    """The usage-event backlog summed over the chat instances reporting it (`instances`); `backlog` None
    when it could not be read."""

    backlog: int | None
    detail: str | None = None
    instances: int | None = None


@dataclass(frozen=True, slots=True)
class LimitsFact:
    """How usage limits are enforced (shared.health.limits): `embedded` (no Redis: each instance's own ledger),
    `shared` (on Redis, across instances) or `degraded` (Redis configured but not answering: each instance
    fails open to its own share of every limit). `instances` is the expected instance count N that share is
    1/N of, when health was told it."""

    mode: LimitsMode
    instances: int | None = None


@dataclass(frozen=True, slots=True)
class RouteFact:
    """One (provider, model) over the live-metrics window: its route breaker and what the metrics saw."""

    provider: str
    model: str
    breaker: Phase
    requests: int = 0
    errors: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    last_error_kind: str | None = None

    @property
    def error_ratio(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True, slots=True)
class ProviderBreakers:
    """How many of a provider's catalog routes have their route breaker open or half-open.

    Routes without a breaker record are closed: only routes that tripped ever get one.
    """

    routes: int
    open: int = 0
    half_open: int = 0

    @property
    def closed(self) -> int:
        return self.routes - self.open - self.half_open


@dataclass(frozen=True, slots=True)
class HealthFacts:
    store: Reachability
    cache: Reachability
    kms: Reachability
    events: EventsFact
    providers: Mapping[str, ProviderBreakers]  # internal provider name -> its route breakers
    routes: tuple[RouteFact, ...] = ()  # pairs with traffic in the window or a breaker not closed
    requests: int = 0  # over every catalog route, in the window
    errors: int = 0
    cache_hits: int = 0  # requests answered from the response cache, in the window
    window_seconds: float = 300.0  # how much time the metrics window really covers
    limits: LimitsFact = LimitsFact("embedded")

    @property
    def error_ratio(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def cache_hit_rate(self) -> float | None:
        answered = self.requests + self.cache_hits
        return self.cache_hits / answered if answered else None
