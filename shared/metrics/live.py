"""`LiveMetrics`: per (provider, model) request, error and latency counters in one-minute buckets.

The request path only calls `record`, which is synchronous and O(1): it adds to this minute's bucket in
memory. A background task (started lazily by the first `record` inside a running loop) calls `flush`
every `flush_interval` seconds, which writes all pending deltas in ONE backend round trip; `close` flushes
once more. Buckets live until the end of their minute plus `retention_seconds` (an hour).

Backend trouble never reaches a caller: a failed flush puts its deltas back (merged with newer ones) to be
retried on the next flush, keeps at most `max_pending_buckets` (the oldest minutes go first) and drops
buckets that would have expired anyway, and logs at most once per `log_interval`. A flush that timed out
after Redis applied it is retried too, so an outage may count a few requests twice: these are estimates.

Reads (`snapshot`, `ttft_ewma`, `latency_ewma`) are for the router and health, not per request: one
backend round trip for the last N minutes, plus this instance's deltas not yet written.

Gauges (`gauge`, `gauge_total`; shared.metrics.gauges) are per-instance values, such as the event backlog,
written on the same flush and summed over the instances alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable

from shared.clock import Clock, SystemClock
from shared.metrics.backends import BucketWrite, MetricsBackend
from shared.metrics.buckets import MINUTE, Bucket, MetricsSnapshot, bucket_field, bucket_key, minute_of, summarize
from shared.metrics.gauges import Gauges, GaugeTotal

__all__ = ["DEFAULT_PREFIX", "LiveMetrics"]

DEFAULT_PREFIX = "v1:m:"
_log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
_Slot = tuple[str, str, int]  # provider, model, minute


class LiveMetrics:
    def __init__(
        self,
        backend: MetricsBackend,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        prefix: str = DEFAULT_PREFIX,
        retention_seconds: float = 3600.0,
        flush_interval: float = 1.0,
        max_pending_buckets: int = 2048,
        log_interval: float = 30.0,
    ) -> None:
        if not retention_seconds > 0:
            raise ValueError(f"retention_seconds must be positive, got {retention_seconds}")
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be positive, got {flush_interval}")
        if max_pending_buckets < 1:
            raise ValueError(f"max_pending_buckets must be at least 1, got {max_pending_buckets}")
        self.backend = backend
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._prefix = prefix
        self._retention = retention_seconds
        self._interval = flush_interval
        self._max_pending = max_pending_buckets
        self._log_interval = log_interval
        self._pending: dict[_Slot, Bucket] = {}
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._closed = False
        self._last_log = -math.inf
        self._held_logs = 0
        self.dropped_buckets = 0  # deltas given up on (pending bound, or expired before Redis came back)
        self.gauges = Gauges(prefix)

    # --- the request path ---

    def record(
        self, provider: str, model: str, *, error_kind: str | None, latency_s: float, ttft_s: float | None
    ) -> None:
        """Count one finished request. Never raises, never does I/O."""
        try:
            bucket = self._bucket((provider, model, minute_of(self._clock.time())))
            bucket.add("n")
            if error_kind is not None:
                bucket.add(f"err:{error_kind}")
            else:
                # Successes only: a provider that fails fast must not look fast.
                if math.isfinite(latency_s) and latency_s >= 0:
                    bucket.add(bucket_field("lat", latency_s))
                    bucket.add_float("lat_sum", latency_s)
                if ttft_s is not None and math.isfinite(ttft_s) and ttft_s >= 0:
                    bucket.add(bucket_field("ttft", ttft_s))
                    bucket.add_float("ttft_sum", ttft_s)
                    bucket.add("ttft_n")
            self._start_flusher()
        except Exception as exc:  # metrics never fail a request, not even on a bug here
            self._warn("record", exc)

    def record_hit(self, provider: str, model: str) -> None:
        """Count one request answered from the response cache (no provider call): kept apart from `n`, so
        provider error ratios and latencies stay about provider calls. Never raises, never does I/O."""
        try:
            self._bucket((provider, model, minute_of(self._clock.time()))).add("hit")
            self._start_flusher()
        except Exception as exc:
            self._warn("record_hit", exc)

    def gauge(self, name: str, read: Callable[[], int]) -> None:
        """Report `read()` (cheap, no I/O) as this instance's `name` on every flush from now on."""
        self.gauges.register(name, read)
        self._start_flusher()

    def _bucket(self, slot: _Slot) -> Bucket:
        bucket = self._pending.get(slot)
        if bucket is None:
            if len(self._pending) >= self._max_pending:
                self._drop_oldest()
            bucket = self._pending[slot] = Bucket()
        return bucket

    def _drop_oldest(self) -> None:
        # Only when the bound is hit (a long outage): the oldest minute matters least to the router.
        oldest = min(self._pending, key=lambda slot: slot[2])
        del self._pending[oldest]
        self.dropped_buckets += 1

    def _start_flusher(self) -> None:
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # recorded outside a loop (a sync test): flushed by an explicit flush() or close()
        task = self._task
        # A new loop (a test, a server restarted in-process) gets a flusher of its own.
        if task is None or task.done() or task.get_loop() is not loop:
            self._task = loop.create_task(self._flush_loop(), name="live-metrics-flush")

    async def _flush_loop(self) -> None:
        while not self._closed:
            await self._sleep(self._interval)
            await self.flush()

    # --- writing ---

    @property
    def pending_buckets(self) -> int:
        return len(self._pending)

    async def flush(self) -> bool:
        """Write the pending deltas in one round trip. True when nothing is left pending; never raises."""
        async with self._flush_lock:
            now = self._clock.time()
            gauges = self.gauges.due(now) if self.gauges else []
            if not self._pending and not gauges:
                return True
            batch, self._pending = self._pending, {}
            writes: list[BucketWrite] = []
            kept: dict[_Slot, Bucket] = {}
            for slot, bucket in batch.items():
                expire_ms = math.ceil((slot[2] + MINUTE + self._retention - now) * 1000)
                if expire_ms <= 0:
                    self.dropped_buckets += 1  # it would expire on arrival
                    continue
                kept[slot] = bucket
                writes.append(BucketWrite(bucket_key(self._prefix, *slot), bucket.ints, bucket.floats, expire_ms))
            writes.extend(write for *_, write in gauges)
            if not writes:
                return not self._pending
            try:
                await self.backend.apply(writes)
            except asyncio.CancelledError:
                self._requeue(kept)
                raise
            except Exception as exc:  # MetricsBackendError, or a bug in an adapter: keep the deltas either way
                self._requeue(kept)
                self._warn("flush", exc)
                return False
            for name, minute, value, _ in gauges:
                self.gauges.written(name, minute, value)
            return not self._pending

    def _requeue(self, batch: dict[_Slot, Bucket]) -> None:
        newer, self._pending = self._pending, batch
        for slot, bucket in newer.items():
            if slot in self._pending:
                self._pending[slot].merge(bucket)
            else:
                self._pending[slot] = bucket
        while len(self._pending) > self._max_pending:
            self._drop_oldest()

    # --- reading ---

    def _slots(self, provider: str, model: str, minutes: int) -> list[_Slot]:
        if minutes < 1:
            raise ValueError(f"minutes must be at least 1, got {minutes}")
        current = minute_of(self._clock.time())
        return [(provider, model, current - MINUTE * age) for age in range(minutes)]

    async def _read(self, slots: list[_Slot]) -> tuple[list[dict[str, float]], bool]:
        """Each slot's fields (backend plus this instance's unwritten deltas), newest first; and whether the
        backend answered."""
        complete = True
        try:
            stored = await self.backend.read([bucket_key(self._prefix, *slot) for slot in slots])
        except Exception as exc:  # health and the router get what this instance knows, flagged as partial
            self._warn("read", exc)
            stored, complete = [{} for _ in slots], False
        merged: list[dict[str, float]] = []
        for slot, fields in zip(slots, stored, strict=True):
            pending = self._pending.get(slot)
            if pending is not None:
                fields = dict(fields)
                for name, value in pending.fields().items():
                    fields[name] = fields.get(name, 0.0) + value
            merged.append(fields)
        return merged, complete

    async def snapshot(self, provider: str, model: str, *, minutes: int = 5) -> MetricsSnapshot:
        """Totals and percentile estimates over the current minute and the `minutes - 1` before it."""
        buckets, complete = await self._read(self._slots(provider, model, minutes))
        summary = summarize(provider, model, minutes, buckets)
        if complete:
            return summary
        return MetricsSnapshot(
            provider=summary.provider,
            model=summary.model,
            minutes=summary.minutes,
            requests=summary.requests,
            errors_by_kind=summary.errors_by_kind,
            ttft_p50=summary.ttft_p50,
            ttft_p95=summary.ttft_p95,
            latency_p50=summary.latency_p50,
            latency_p95=summary.latency_p95,
            complete=False,
        )

    async def ttft_ewma(
        self, provider: str, model: str, *, minutes: int = 15, half_life_minutes: float = 2.0
    ) -> float | None:
        """An exponentially weighted mean TTFT (seconds) over the last `minutes` minutes; `None` without data.

        The estimate: each minute's mean (`ttft_sum / ttft_n`) weighted by its sample count times
        0.5 ** (age in minutes / half-life), the current minute being age 0. Weighting by count keeps a
        quiet minute with one slow request from swinging the router; the decay keeps it recent.
        """
        return await self._ewma(provider, model, "ttft_sum", "ttft_n", minutes, half_life_minutes)

    async def latency_ewma(
        self, provider: str, model: str, *, minutes: int = 15, half_life_minutes: float = 2.0
    ) -> float | None:
        """As `ttft_ewma`, for the total latency of successful requests."""
        return await self._ewma(provider, model, "lat_sum", "", minutes, half_life_minutes)

    async def _ewma(
        self, provider: str, model: str, total: str, count: str, minutes: int, half_life: float
    ) -> float | None:
        if not half_life > 0:
            raise ValueError(f"half_life_minutes must be positive, got {half_life}")
        buckets, _ = await self._read(self._slots(provider, model, minutes))
        weighted = weights = 0.0
        for age, fields in enumerate(buckets):
            # Latency counts every success in its histogram; TTFT has its own count.
            samples = fields.get(count, 0.0) if count else sum(v for k, v in fields.items() if k.startswith("lat:"))
            if samples <= 0:
                continue
            weight = samples * 0.5 ** (age / half_life)
            weighted += weight * fields.get(total, 0.0) / samples
            weights += weight
        return weighted / weights if weights else None

    async def gauge_total(self, name: str) -> GaugeTotal:
        """The gauge `name` summed over the instances alive, this one's live value included; never raises."""
        return await self.gauges.total(self.backend, name, self._clock.time())

    # --- lifecycle ---

    async def close(self) -> None:
        """Stop the background flusher, flush once more and close the backend. Never raises."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
        try:
            await self.backend.close()
        except Exception as exc:
            self._warn("close", exc)

    def _warn(self, op: str, exc: BaseException) -> None:
        now = self._clock.monotonic()
        if now - self._last_log < self._log_interval:
            self._held_logs += 1
            return
        held, self._held_logs, self._last_log = self._held_logs, 0, now
        _log.warning(
            "live metrics: %s failed (%s: %s); %d pending buckets, %d more errors since the last report",
            op,
            type(exc).__name__,
            str(exc)[:200],
            len(self._pending),
            held,
        )
