"""Live metrics (architecture, Live metrics and health; issue 4): what every instance saw, per (provider, model).

- `buckets`: the one-minute bucket's fields, `MetricsSnapshot`, and the percentile math.
- `backends`: `MetricsBackend`, on Redis (`RedisMetricsBackend`) or in-process (`MemoryMetricsBackend`).
- `live`: `LiveMetrics`, `record` on the request path (no I/O), batched `flush`, `snapshot` and EWMAs.

`build_live_metrics` picks the backend from configuration; redis-py is imported only for a Redis URL.
"""

from __future__ import annotations

from shared.clock import Clock, SystemClock
from shared.metrics.backends import BucketWrite, MemoryMetricsBackend, MetricsBackend, MetricsBackendError
from shared.metrics.buckets import BOUNDS_MS, MetricsSnapshot
from shared.metrics.live import DEFAULT_PREFIX, LiveMetrics

__all__ = [
    "BOUNDS_MS",
    "DEFAULT_PREFIX",
    "BucketWrite",
    "LiveMetrics",
    "MemoryMetricsBackend",
    "MetricsBackend",
    "MetricsBackendError",
    "MetricsSnapshot",
    "build_live_metrics",
]


def build_live_metrics(
    *, redis_url: str | None, redis_ca_cert: str | None = None, clock: Clock | None = None
) -> LiveMetrics:
    """The process's live metrics: on Redis when a URL is given (shared by every instance), else in-process.

    Raises `ValueError` on a bad Redis configuration, at startup. Connects lazily.
    """
    clock = clock or SystemClock()
    if not redis_url:
        return LiveMetrics(MemoryMetricsBackend(clock), clock=clock)
    from shared.metrics.redis_backend import RedisMetricsBackend  # deferred: only Redis setups load redis-py

    return LiveMetrics(RedisMetricsBackend.from_url(redis_url, ca_cert=redis_ca_cert, clock=clock), clock=clock)
