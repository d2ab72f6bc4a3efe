"""Building what the chat API needs, once per instance: settings in, a ready service out.

`build_chat_deps` wires the pieces (catalog, the one pooled upstream (shared.transport), platform credentials, the
events sink, the signature store, the store-backed key ring, the development key in the store) from a
parsed `Settings`. It is called lazily on the first request (Cloud Functions) or at start (the local
dev server), never at import. Tests pass their own events sink, transport, clock, sleep or catalog.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import httpx2

from shared.attempt_log import AttemptLog
from shared.breakers import BreakerBoard, BreakerPolicy
from shared.byok import ByokCredentials
from shared.cache import CachePort, CacheSignatureStore, build_cache
from shared.catalog import Catalog, default_catalog
from shared.clock import Clock, SystemClock
from shared.credentials import PlatformCredentials
from shared.crypto.port import SecretBox
from shared.events.local_sink import LocalSegmentSink, events_dir
from shared.events.port import EventSink, pubsub_topic
from shared.gateway_keys import GatewayKeyStore, TenantSettings
from shared.keys_dev import DevKey, ensure_dev_key_blocking
from shared.keys_ring import StoreKeyRing
from shared.limits import LimitsCache, LimitsStore, MemoryLedger
from shared.limits.enforce import Limiter
from shared.limits.ledger import Ledger
from shared.local_secrets import resolve_salt
from shared.metrics import LiveMetrics, build_live_metrics
from shared.metrics.gauges import EVENTS_BACKLOG
from shared.providers.signatures import InMemorySignatureStore
from shared.response_cache import ResponseCache
from shared.retry import RetryPolicy
from shared.routing import LatencyView, Router, RouterConfig
from shared.service import AIService
from shared.settings import Settings
from shared.store import DocumentStore, build_store
from shared.transport import Upstream, make_upstream
from shared.vault.audit import AuditSink
from shared.vault.build import build_vault
from shared.vault.service import Vault

__all__ = ["ChatDeps", "build_chat_deps", "build_event_sink", "build_limiter", "events_dir"]


@dataclass(slots=True)
class ChatDeps:
    settings: Settings
    catalog: Catalog
    service: AIService
    keys: StoreKeyRing
    events: EventSink
    upstream: Upstream
    dev_key: DevKey | None  # None on a cloud store without GATEWAY_DEV_KEY (shared.keys_dev)
    cache: CachePort
    metrics: LiveMetrics
    store: DocumentStore
    latency: LatencyView
    audit: AuditSink
    vault: Vault
    limiter: Limiter

    async def aclose(self) -> None:
        await self.events.close()
        await self.upstream.aclose()
        await self.latency.aclose()
        await self.metrics.close()
        await self.cache.close()
        await self.audit.close()
        await self.limiter.aclose()
        await self.service.breakers.drain()  # a mirror load in flight finishes before its store closes
        await self.store.close()


def build_event_sink(settings: Settings) -> EventSink:
    """Usage events: per-process segment files (embedded), or Pub/Sub (`EVENTS_BACKEND=pubsub`, topic
    `PUBSUB_USAGE_TOPIC` in `GOOGLE_CLOUD_PROJECT_ID`; events spill under GATEWAY_DATA_DIR/spill/)."""
    if settings.events_backend != "pubsub":
        return LocalSegmentSink(events_dir(settings.data_dir))
    from shared.events.pubsub_sink import USAGE, PubSubSink  # the Pub/Sub client loads only when it is used

    topic = pubsub_topic(settings.google_cloud_project_id, settings.pubsub_usage_topic)
    return PubSubSink(topic, settings.data_dir / "spill", USAGE)


def build_limiter(settings: Settings, store: DocumentStore, clock: Clock) -> Limiter:
    """Usage limits: read through a per-instance cache of the store, enforced on Redis when REDIS_URL is set
    (atomic across instances, failing open to 1/LIMITS_INSTANCES of each limit per instance while it is
    away), else in process. A hold outlives the longest request, so only a crashed call's hold expires."""
    hold = settings.request_timeout_seconds + 60.0
    ledger: Ledger
    if settings.redis_url:
        from shared.limits.redis_ledger import RedisLedger  # redis-py loads only when Redis is configured

        ledger = RedisLedger.from_url(
            settings.redis_url,
            ca_cert=settings.redis_ca_cert,
            clock=clock,
            instances=settings.limits_instances,
            hold_seconds=hold,
        )
    else:
        ledger = MemoryLedger(hold_seconds=hold)
    return Limiter(LimitsCache(LimitsStore(store, clock), clock=clock), ledger, clock, hold_seconds=hold)


def build_chat_deps(
    settings: Settings,
    *,
    events: EventSink | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    catalog: Catalog | None = None,
    box: SecretBox | None = None,
    audit: AuditSink | None = None,
) -> ChatDeps:
    clock = clock or SystemClock()
    salt = resolve_salt(settings.api_key_hash_salt, settings.data_dir, "API_KEY_HASH_SALT")
    dev_key = ensure_dev_key_blocking(settings, salt, clock=clock)
    catalog = catalog if catalog is not None else default_catalog()
    upstream = make_upstream(
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=max(settings.first_byte_timeout_seconds, settings.stream_idle_timeout_seconds),
        transport=transport,
    )
    sink = events if events is not None else build_event_sink(settings)
    # One cache port per instance: in-process, or an L1 in front of Redis when REDIS_URL is set.
    cache = build_cache(
        redis_url=settings.redis_url, redis_ca_cert=settings.redis_ca_cert, max_entries=settings.cache_max_size
    )
    # Live metrics per (provider, model) in one-minute buckets: Redis when configured (every instance adds
    # to the same buckets), else in-process.
    metrics = build_live_metrics(redis_url=settings.redis_url, redis_ca_cert=settings.redis_ca_cert)
    # Each instance reports its usage-event backlog there too; health shows the sum over instances.
    metrics.gauge(EVENTS_BACKLOG, lambda: sink.backlog)
    # Breaker state shared by every instance through the document store (SQLite file or Firestore).
    store = build_store(settings)
    keys = StoreKeyRing(GatewayKeyStore(store, salt, clock), clock=clock)
    breakers = BreakerBoard(store, BreakerPolicy.from_settings(settings), clock)
    # Provider keys: the caller's own (BYOK, from the vault) before the platform keys their tenant allows.
    vault, audit = build_vault(settings, store, clock, box=box, audit=audit)
    credentials = ByokCredentials(vault, PlatformCredentials(settings.provider_keys), TenantSettings(store), clock)

    def today() -> date:
        return datetime.fromtimestamp(clock.time(), UTC).date()

    limiter = build_limiter(settings, store, clock)
    latency = LatencyView(metrics, clock=clock)
    router = Router(catalog, RouterConfig.from_settings(settings), latency=latency, today=today)
    service = AIService(
        catalog=catalog,
        upstream=upstream,
        credentials=credentials,
        base_urls=settings.base_urls,
        events=sink,
        # Signatures live 24 h: on Redis they share the port; in-process they get their own store so they
        # do not crowd the response cache's small LRU.
        signatures=CacheSignatureStore(cache) if settings.redis_url else InMemorySignatureStore(),
        retry=RetryPolicy(
            max_retries=settings.router_max_retries, max_retry_after_seconds=settings.retry_after_max_seconds
        ),
        request_timeout=settings.request_timeout_seconds,
        cache=ResponseCache(
            cache,
            ttl_seconds=settings.cache_ttl_seconds,
            enabled=settings.cache_enabled,
            max_temperature=settings.cache_max_temperature,
        ),
        metrics=metrics,
        attempt_log=AttemptLog(content=settings.analytics_log_content) if settings.analytics_detailed_logging else None,
        router=router,
        breakers=breakers,
        latency=latency,
        clock=clock,
        sleep=sleep,
        limiter=limiter,
    )
    return ChatDeps(
        settings, catalog, service, keys, sink, upstream, dev_key, cache, metrics, store, latency, audit, vault, limiter
    )
