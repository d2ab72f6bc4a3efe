"""The recorder: one usage event per request however it ended, and live metrics only for the serving call
(a request that gave up was counted attempt by attempt already)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.cache.entry import CachedReply
from shared.catalog import default_catalog
from shared.cost import cost_of
from shared.credentials import Credential
from shared.errors import NoRouteError, ProviderError, RequestError, UpstreamFailure
from shared.events.port import MemorySink
from shared.identity import Identity
from shared.metrics import LiveMetrics
from shared.metrics.backends import MemoryMetricsBackend
from shared.routing import Route
from shared.service_events import FREE
from shared.service_failover import Attempt
from shared.service_record import Recorder
from shared.unified import ChatResponse, Usage
from tests.fakes import FakeClock

WHO = Identity(tenant="app-1", key_id="key-1", user="u-1")
CATALOG = default_catalog()
ROUTE = Route("gemini", "gemini-2.5-flash", CATALOG.get("gemini-2.5-flash"), "cheapest", 0.001, 0.4, 1.0)


class Metrics(LiveMetrics):
    def __init__(self) -> None:
        super().__init__(MemoryMetricsBackend())
        self.calls: list[tuple[str, str, str | None]] = []

    def record(
        self, provider: str, model: str, *, error_kind: str | None, latency_s: float, ttft_s: float | None
    ) -> None:
        self.calls.append((provider, model, error_kind))

    def record_hit(self, provider: str, model: str) -> None:
        self.calls.append((provider, model, "cache_hit"))


@dataclass
class Call:
    identity: Identity = WHO
    route: str = "openai"
    request_id: str = "req-1"
    requested: str = "gpt-4o-mini"
    started_at: float = 1_800_000_000.0
    t0: float = 1000.0
    last: Attempt | None = None
    note: str = ""


def rig() -> tuple[Recorder, MemorySink, Metrics, FakeClock]:
    sink, metrics, clock = MemorySink(), Metrics(), FakeClock(now=1000.0)
    return Recorder(sink, CATALOG, clock, metrics), sink, metrics, clock


def served_call() -> Call:
    return Call(last=Attempt(ROUTE, Credential.platform("gemini", "sk-g"), 1000.0), note="cheapest")


async def test_a_served_request_records_the_serving_model_and_its_metrics() -> None:
    recorder, sink, metrics, clock = rig()
    clock.advance(0.25)
    await recorder.served(served_call(), stream=False, usage=Usage(10, 2), cost=FREE, attempts=2)
    (event,) = sink.events
    assert (event.provider, event.model, event.model_requested) == ("GOOGLE", "gemini-2.5-flash", "gpt-4o-mini")
    assert (event.attempts, event.status, event.latency_ms) == (2, "ok", 250)
    assert event.credential_id == "platform:" + Credential.platform("gemini", "sk-g").fingerprint
    assert event.route_reason == "cheapest"
    assert "sk-g" not in event.to_json_bytes().decode()
    assert metrics.calls == [("gemini", "gemini-2.5-flash", None)]


async def test_a_routed_request_records_what_the_requested_model_would_have_cost() -> None:
    recorder, sink, _, _ = rig()
    usage = Usage(1000, 200)
    served = cost_of(usage, CATALOG.get("gemini-2.5-flash"))
    await recorder.served(served_call(), stream=False, usage=usage, cost=served, attempts=1)
    asked = cost_of(usage, CATALOG.get("gpt-4o-mini"))
    (event,) = sink.events
    assert (event.cost_micros, event.requested_cost_micros) == (served.micros, asked.micros)
    assert asked.micros != served.micros


async def test_no_requested_cost_when_the_requested_model_served_or_is_unknown() -> None:
    recorder, sink, _, _ = rig()
    usage = Usage(1000, 200)
    cost = cost_of(usage, CATALOG.get("gemini-2.5-flash"))
    await recorder.served(
        Call(requested="Gemini-2.5-Flash", last=served_call().last), stream=False, usage=usage, cost=cost, attempts=1
    )
    await recorder.served(
        Call(requested="no-such-model", last=served_call().last), stream=False, usage=usage, cost=cost, attempts=1
    )
    failure = UpstreamFailure((ProviderError("down", kind="overloaded", provider="gemini", status=529),))
    await recorder.served(served_call(), stream=False, error=failure, attempts=1)
    assert [e.requested_cost_micros for e in sink.events] == [None, None, None]


async def test_giving_up_adds_no_metrics_the_attempts_were_counted_already() -> None:
    recorder, sink, metrics, _ = rig()
    failure = UpstreamFailure((ProviderError("down", kind="overloaded", provider="gemini", status=529),))
    await recorder.served(served_call(), stream=False, error=failure, attempts=1)
    no_route = NoRouteError("all open", reasons={}, retry_after=3.0)
    await recorder.served(Call(), stream=False, error=no_route, attempts=0)
    assert metrics.calls == []
    assert [(e.status, e.error_kind) for e in sink.events] == [("error", "overloaded"), ("error", "api_error")]
    assert sink.events[1].provider is None


async def test_a_stream_cut_counts_in_the_metrics_of_the_serving_model() -> None:
    recorder, _, metrics, _ = rig()
    cut = ProviderError("cut", kind="network_error", provider="gemini", in_stream=True)
    await recorder.served(served_call(), stream=True, error=cut, attempts=1, ttft=0.1)
    assert metrics.calls == [("gemini", "gemini-2.5-flash", "network_error")]


async def test_a_cache_hit_costs_nothing_and_records_what_it_saved() -> None:
    recorder, sink, metrics, _ = rig()
    reply = CachedReply(
        ChatResponse("r", "gemini-2.5-flash", 1, (), Usage(10, 2)), "gemini", "gemini-2.5-flash", 42, 0.0
    )
    await recorder.hit(
        reply, identity=WHO, route="seed", model_requested="gpt-4o-mini", request_id="r2", started_at=1.0, t0=1000.0,
        stream=True,
    )  # fmt: skip
    (event,) = sink.events
    assert (event.cache_hit, event.cost_micros, event.cost_saved_micros, event.attempts) == (True, 0, 42, 0)
    assert event.credential_id is None
    assert event.route_reason == "cache"
    assert event.ttft_ms == 0
    assert metrics.calls == [("gemini", "gemini-2.5-flash", "cache_hit")]  # a hit, not a provider call


@pytest.mark.parametrize("request_id", [None, "given"])
async def test_a_refused_request_gets_a_request_id_and_names_no_provider(request_id: str | None) -> None:
    recorder, sink, metrics, _ = rig()
    error = RequestError("bad", field="messages")
    error.request_id = request_id
    await recorder.refused(
        error, identity=WHO, route="openai", model_requested="gpt-4o", started_at=1.0, t0=1000.0, stream=False
    )
    (event,) = sink.events
    assert error.request_id is not None
    assert event.request_id == error.request_id
    assert request_id is None or event.request_id == request_id
    assert (event.provider, event.model, event.http_status, event.error_kind) == (None, None, 400, "invalid_request")
    assert metrics.calls == []


async def test_a_users_own_key_is_recorded_by_its_vault_id() -> None:
    recorder, sink, _, _ = rig()
    own = Credential("gemini", "sk-user-secret", "0" * 16, "user", key_id="pk_ABC")
    await recorder.served(Call(last=Attempt(ROUTE, own, 1000.0)), stream=False, usage=Usage(1, 1), attempts=1)
    assert sink.events[0].credential_id == "pk_ABC"
