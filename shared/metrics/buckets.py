"""The shape of one live-metrics minute bucket, and the pure math on it (no I/O).

One bucket per (provider, model, minute) is a flat hash of numeric fields, the same in Redis and in memory:

    n                requests (successes and errors)
    err:<kind>       errors by kind (`ProviderError.kind`, or another short label)
    lat:<bound>      successful requests whose total latency was <= bound ms (and > the bound before it)
    ttft:<bound>     the same for time to first token; bounds 50 .. 10000 and `inf`
    lat_sum, ttft_sum  seconds (HINCRBYFLOAT), for the means behind the EWMA
    ttft_n           how many successes had a TTFT (non-streaming ones have none)

Latency and TTFT count successes only: a provider failing fast must not look fast to the router.
Percentiles are estimated from the histogram by linear interpolation inside the bucket that holds the
rank (the usual Prometheus `histogram_quantile` estimate); in the open `inf` bucket the estimate is its
lower bound (10 s), so a p95 of 10 s reads "at least 10 s".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "BOUNDS_MS",
    "Bucket",
    "MetricsSnapshot",
    "bucket_field",
    "bucket_key",
    "estimate_quantile",
    "minute_of",
    "summarize",
]

# Fixed bounds (ms): buckets from every instance add up field by field, which a sketch per instance would not.
BOUNDS_MS: tuple[float, ...] = (50, 100, 250, 500, 1000, 2500, 5000, 10000, math.inf)
MINUTE = 60


def minute_of(now: float) -> int:
    """The epoch second at which the minute holding `now` (wall clock) starts."""
    return int(now // MINUTE) * MINUTE


def bucket_key(prefix: str, provider: str, model: str, minute: int) -> str:
    # Provider names never hold ':' (a fixed registry), so the key parses back unambiguously even when a
    # model name does.
    return f"{prefix}{provider}:{model}:{minute}"


def bucket_field(histogram: str, seconds: float) -> str:
    """The field of the histogram bucket that `seconds` falls in, e.g. `lat:250` or `ttft:inf`."""
    milliseconds = seconds * 1000
    for bound in BOUNDS_MS:
        if milliseconds <= bound:
            return f"{histogram}:{_label(bound)}"
    return f"{histogram}:inf"  # not reached: the last bound is inf


def _label(bound: float) -> str:
    return "inf" if math.isinf(bound) else str(int(bound))


@dataclass(slots=True)
class Bucket:
    """Deltas for one (provider, model, minute) not yet written: integer and float fields apart."""

    ints: dict[str, int] = field(default_factory=dict)
    floats: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, amount: int = 1) -> None:
        self.ints[name] = self.ints.get(name, 0) + amount

    def add_float(self, name: str, amount: float) -> None:
        self.floats[name] = self.floats.get(name, 0.0) + amount

    def merge(self, other: Bucket) -> None:
        for name, amount in other.ints.items():
            self.add(name, amount)
        for name, value in other.floats.items():
            self.add_float(name, value)

    def fields(self) -> dict[str, float]:
        return {**{name: float(value) for name, value in self.ints.items()}, **self.floats}


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """What every instance saw for one (provider, model) over the last `minutes` minute buckets.

    Latency figures are seconds, `None` without a sample. `complete` is False when the backend could
    not be read: the figures then hold only this instance's unwritten deltas.
    """

    provider: str
    model: str
    minutes: int
    requests: int = 0
    errors_by_kind: Mapping[str, int] = field(default_factory=dict)
    ttft_p50: float | None = None
    ttft_p95: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    cache_hits: int = 0  # requests answered from the response cache (not in `requests`)
    complete: bool = True

    @property
    def errors(self) -> int:
        return sum(self.errors_by_kind.values())

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


def estimate_quantile(counts: Mapping[float, float], q: float) -> float | None:
    """The q-quantile (seconds) of a histogram given as {upper bound ms: count}; `None` when empty."""
    total = sum(counts.get(bound, 0.0) for bound in BOUNDS_MS)
    if total <= 0:
        return None
    rank = q * total
    lower, seen = 0.0, 0.0
    for bound in BOUNDS_MS:
        count = counts.get(bound, 0.0)
        if count > 0 and seen + count >= rank:
            if math.isinf(bound):
                return lower / 1000
            return (lower + (bound - lower) * max(0.0, rank - seen) / count) / 1000
        seen += count
        lower = bound
    return lower / 1000 if math.isfinite(lower) else None


def _histogram(total: Mapping[str, float], name: str) -> dict[float, float]:
    return {bound: total.get(f"{name}:{_label(bound)}", 0.0) for bound in BOUNDS_MS}


def summarize(provider: str, model: str, minutes: int, buckets: Iterable[Mapping[str, float]]) -> MetricsSnapshot:
    """Sum the buckets field by field and estimate the percentiles."""
    total: dict[str, float] = {}
    for bucket in buckets:
        for name, value in bucket.items():
            total[name] = total.get(name, 0.0) + value
    errors = {name[4:]: int(value) for name, value in total.items() if name.startswith("err:") and value}
    latency, ttft = _histogram(total, "lat"), _histogram(total, "ttft")
    return MetricsSnapshot(
        provider=provider,
        model=model,
        minutes=minutes,
        requests=int(total.get("n", 0)),
        errors_by_kind=dict(sorted(errors.items())),
        ttft_p50=estimate_quantile(ttft, 0.5),
        ttft_p95=estimate_quantile(ttft, 0.95),
        latency_p50=estimate_quantile(latency, 0.5),
        latency_p95=estimate_quantile(latency, 0.95),
        cache_hits=int(total.get("hit", 0)),
    )
