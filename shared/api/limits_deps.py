"""What the limits API needs, built once per instance with the keys function's deps (shared.api.keys_deps):
the limits store on the shared document store, this instance's cache of it, and the limits audit sink."""

from __future__ import annotations

from dataclasses import dataclass

from shared.clock import Clock
from shared.limits.audit import LimitsAuditSink, build_limits_audit_sink
from shared.limits.store import DEFAULT_REFRESH_SECONDS, LimitsCache, LimitsStore
from shared.settings import Settings
from shared.store.port import DocumentStore

__all__ = ["LimitsDeps", "build_limits_deps"]


@dataclass(frozen=True, slots=True)
class LimitsDeps:
    store: LimitsStore
    cache: LimitsCache
    audit: LimitsAuditSink
    clock: Clock

    async def aclose(self) -> None:
        await self.audit.close()


def build_limits_deps(
    settings: Settings,
    store: DocumentStore,
    clock: Clock,
    *,
    audit: LimitsAuditSink | None = None,
    cache: LimitsCache | None = None,
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
) -> LimitsDeps:
    """`cache`: the instance's own, when something else (the chat core in one process) already reads
    limits through one, so a change made here is in force there at once."""
    if cache is not None:
        return LimitsDeps(cache.store, cache, _audit(settings, clock, audit), clock)
    limits = LimitsStore(store, clock)
    return LimitsDeps(
        store=limits,
        cache=LimitsCache(limits, clock=clock, refresh_seconds=refresh_seconds),
        audit=_audit(settings, clock, audit),
        clock=clock,
    )


def _audit(settings: Settings, clock: Clock, audit: LimitsAuditSink | None) -> LimitsAuditSink:
    return audit if audit is not None else build_limits_audit_sink(settings, clock)
