"""Recording what a request did: its one usage event, and the live metrics of the call that served it.

Three ways a request ends, three methods: `served` (a provider was reached: success, in-stream failure or
giving up after attempts), `hit` (answered from the response cache: $0, the stored cost recorded as
saved) and `refused` (stopped before any provider: bad input, unknown model, no route). The event rules
themselves (status, error kind, what a failure costs) are `service_events.build_event`.

Live metrics count the serving call here; the failed attempts of a request were counted one by one as
they happened (`Failover.settle`), so a request that gave up adds nothing more.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Protocol

from shared.cache.entry import CachedReply
from shared.catalog import Catalog
from shared.clock import Clock
from shared.cost import UNPRICED, Cost, cost_of
from shared.errors import GatewayError, NoRouteError, ProviderError, UpstreamFailure
from shared.events.port import EventSink
from shared.identity import Identity
from shared.metrics import LiveMetrics
from shared.service_events import EventFacts, build_event
from shared.service_failover import Attempt
from shared.unified import Usage

__all__ = ["RecordedCall", "Recorder"]

MICROS = Decimal(1_000_000)


class RecordedCall(Protocol):
    """What the recorder reads of a request under way (the service core's `_Call`)."""

    identity: Identity
    route: str
    request_id: str
    requested: str
    started_at: float
    t0: float
    last: Attempt | None
    note: str  # x-gateway-route, once a route served


class Recorder:
    def __init__(self, events: EventSink, catalog: Catalog, clock: Clock, metrics: LiveMetrics | None) -> None:
        self._events = events
        self._catalog = catalog
        self._clock = clock
        self._metrics = metrics

    async def served(
        self,
        call: RecordedCall,
        *,
        stream: bool,
        usage: Usage | None = None,
        cost: Cost | None = None,
        error: GatewayError | None = None,
        attempts: int,
        ttft: float | None = None,
    ) -> None:
        latency = self._clock.monotonic() - call.t0
        attempt = call.last
        if self._metrics is not None and attempt is not None and not isinstance(error, UpstreamFailure | NoRouteError):
            self._metrics.record(
                attempt.route.provider,
                attempt.route.model,
                error_kind=_metric_error_kind(error),
                latency_s=latency,
                ttft_s=ttft,
            )
        entry = attempt.route.entry if attempt is not None else None
        facts = EventFacts(
            identity=call.identity,
            route=call.route,
            request_id=call.request_id,
            model_requested=call.requested,
            provider=attempt.route.provider if attempt is not None else None,
            model=attempt.route.model if attempt is not None else None,
            price_verified=entry.price_verified if entry is not None else None,
            stream=stream,
            started_at=call.started_at,
            latency=latency,
            ttft=ttft,
            attempts=attempts,
            usage=usage,
            cost=cost,
            error=error,
            credential_id=attempt.credential.id if attempt is not None else None,
            route_reason=call.note or None,
            requested_cost=self._requested_cost(call.requested, attempt, usage),
        )
        await self._events.publish(build_event(facts))

    def _requested_cost(self, requested: str, attempt: Attempt | None, usage: Usage | None) -> Cost | None:
        """`usage` priced at the requested model when another model served it (routing savings), else None."""
        if attempt is None or usage is None:
            return None
        asked = self._catalog.get(requested)
        if asked is None or asked.id == attempt.route.model:
            return None
        return cost_of(usage, asked)

    async def hit(
        self,
        reply: CachedReply,
        *,
        identity: Identity,
        route: str,
        model_requested: str,
        request_id: str,
        started_at: float,
        t0: float,
        stream: bool,
    ) -> None:
        if self._metrics is not None:
            self._metrics.record_hit(reply.provider, reply.model)
        entry = self._catalog.get(reply.model)
        saved = (
            UNPRICED
            if reply.cost_micros is None
            else Cost(usd=Decimal(reply.cost_micros) / MICROS, micros=reply.cost_micros, unpriced=False)
        )
        facts = EventFacts(
            identity=identity,
            route=route,
            request_id=request_id,
            model_requested=model_requested,
            provider=reply.provider,
            model=reply.model,
            price_verified=entry.price_verified if entry is not None else None,
            stream=stream,
            started_at=started_at,
            latency=self._clock.monotonic() - t0,
            ttft=0.0 if stream else None,
            attempts=0,
            usage=reply.response.usage,
            cost=saved,
            error=None,
            cache_hit=True,
            route_reason="cache",
        )
        await self._events.publish(build_event(facts))

    async def refused(
        self,
        error: GatewayError,
        *,
        identity: Identity,
        route: str,
        model_requested: str,
        started_at: float,
        t0: float,
        stream: bool,
    ) -> None:
        """A request that reached no provider; gives `error` a request id when it has none."""
        error.request_id = error.request_id or uuid.uuid4().hex
        facts = EventFacts(
            identity=identity,
            route=route,
            request_id=error.request_id,
            model_requested=model_requested,
            provider=None,
            model=None,
            price_verified=None,
            stream=stream,
            started_at=started_at,
            latency=self._clock.monotonic() - t0,
            ttft=None,
            attempts=0,
            usage=None,
            cost=None,
            error=error,
        )
        await self._events.publish(build_event(facts))


def _metric_error_kind(error: GatewayError | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, (ProviderError, UpstreamFailure)):
        return error.kind
    return "client_closed" if error.status == 499 else "gateway"
