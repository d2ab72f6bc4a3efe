"""The facade driven exactly as the seed's examples drive `aiService` (chat, stream, cost analysis,
analytics, health, key store and retrieve), against the simulator; errors carry the seed's contract."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.events.local_sink import SEGMENT_GLOB
from shared.facade import FACADE_KEY_ID, AIError
from shared.vault.audit import AuditEvent
from tests.facade.conftest import MakeService
from tests.simulator_server import SimulatorAdmin

HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello, world!"}]}


async def test_chat_answers_the_seed_reply(make_service: MakeService) -> None:
    service = make_service({"tenant": "shop", "router": {"costOptimizationEnabled": False}})
    response = await service.chat(HELLO, "user-1")
    assert response["object"] == "chat.completion"
    assert response["provider"] == "OPENAI"
    assert isinstance(response["choices"][0]["message"]["content"], str)
    assert response["choices"][0]["finishReason"] == "stop"
    usage = response["usage"]
    assert usage["totalTokens"] == usage["promptTokens"] + usage["completionTokens"]
    assert usage["cost"] > 0


async def test_chat_stream_yields_seed_chunks_then_usage(make_service: MakeService) -> None:
    service = make_service({"router": {"costOptimizationEnabled": False}})
    chunks = [c async for c in service.chat_stream({**HELLO, "stream": True}, "user-1")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text
    assert all(c["object"] == "chat.completion.chunk" and c["provider"] == "OPENAI" for c in chunks)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["cost"] > 0
    assert len({c["id"] for c in chunks}) == 1


async def test_analyze_costs_names_the_cheapest_provider_and_calls_none(
    make_service: MakeService, admin: SimulatorAdmin
) -> None:
    service = make_service()
    before = admin.stats()["calls_by_key"]
    analysis = await service.analyze_costs(
        {"model": "gpt-4", "messages": [{"role": "user", "content": "Analyze this data..."}]}
    )
    assert analysis["estimatedCost"] > 0
    assert analysis["cheapestProvider"] in {"OPENAI", "ANTHROPIC", "GOOGLE"}
    assert isinstance(analysis["recommendations"], list)
    assert admin.stats()["calls_by_key"] == before


async def test_analytics_count_the_users_requests_exactly(make_service: MakeService) -> None:
    service = make_service(
        {"tenant": "shop", "router": {"costOptimizationEnabled": False}, "cache": {"enabled": False}}
    )
    costs = [Decimal(str((await service.chat(HELLO, "user-1"))["usage"]["cost"])) for _ in range(3)]
    await service.chat(HELLO, "user-2")
    analytics = await service.get_analytics("user-1", 30)
    assert analytics["usage"]["requests"] == 3
    assert analytics["costs"]["total"] == sum(costs)
    assert analytics["period"]["user"] == "user-1"
    assert set(analytics) >= {"usage", "costs", "performance", "predictions"}
    tenant = await service.get_analytics(None, 7)
    assert tenant["usage"]["requests"] == 4


async def test_health_reports_status_providers_and_metrics(make_service: MakeService) -> None:
    service = make_service({"router": {"costOptimizationEnabled": False}})
    await service.chat(HELLO, "user-1")
    health = await service.get_health()
    assert health["status"] == "healthy"
    assert health["services"]["providers"]["OPENAI"]["gpt-4o-mini"]["requests"] == 1
    assert set(health["metrics"]) >= {"requestRate", "errorRate", "cacheHitRate"}


async def test_keys_are_stored_encrypted_and_retrieved_audited(make_service: MakeService) -> None:
    service = make_service({"tenant": "shop"})
    secret = "sk-user-own-" + "k" * 40
    stored = await service.api_keys.store_api_key(
        user_id="user-1", name="My OpenAI Key", provider="OPENAI", api_key=secret
    )
    assert secret not in str(stored)
    assert stored["name"] == "My OpenAI Key"
    key = await service.api_keys.retrieve_api_key(user_id="user-1", api_key_id=stored["id"])
    assert key == secret
    # Another user of the tenant cannot retrieve it.
    with pytest.raises(AIError) as caught:
        await service.api_keys.retrieve_api_key(user_id="user-2", api_key_id=stored["id"])
    assert caught.value.status == 404
    assert [k["id"] for k in await service.api_keys.list_api_keys(user_id="user-1")] == [stored["id"]]
    await service.aclose()  # seals the audit segment
    lines = b"".join(p.read_bytes() for p in (service.settings.data_dir / "audit").glob(SEGMENT_GLOB))
    events = [AuditEvent.from_json_bytes(line) for line in lines.splitlines()]
    assert [(e.action, e.key_id, e.actor) for e in events] == [
        ("store", stored["id"], FACADE_KEY_ID),
        ("first_use", stored["id"], FACADE_KEY_ID),
    ]
    assert secret.encode() not in lines


async def test_errors_carry_the_seed_contract(make_service: MakeService, admin: SimulatorAdmin) -> None:
    service = make_service({"router": {"costOptimizationEnabled": False, "fallbackEnabled": False, "maxRetries": 0}})
    with pytest.raises(AIError) as bad:
        await service.chat({"model": "gpt-4o-mini", "messages": []}, "user-1")
    assert (bad.value.code, bad.value.type, bad.value.status, bad.value.field) == (
        "invalid_request",
        "invalid_request",
        400,
        "messages",
    )
    assert (bad.value.retryable, bad.value.attempts, bad.value.provider) == (False, 0, None)
    admin.add_key_rule("sk-facade-openai", status=429)
    with pytest.raises(AIError) as limited:
        await service.chat(HELLO, "user-1")
    error = limited.value
    assert (error.code, error.type, error.provider, error.retryable, error.attempts) == (
        "rate_limit",
        "rate_limit",
        "OPENAI",
        True,
        1,
    )
    assert error.status == 429
    assert error.to_dict()["failures"][0]["provider"] == "OPENAI"


async def test_each_call_is_one_usage_event_of_the_tenant(make_service: MakeService) -> None:
    service = make_service({"tenant": "shop", "router": {"costOptimizationEnabled": False}})
    await service.chat(HELLO, "user-9")
    with pytest.raises(AIError):
        await service.chat({"model": "gpt-4o-mini"}, "user-9")
    report = await service.get_analytics("user-9", 1)
    assert (report["usage"]["requests"], report["usage"]["errors"]) == (2, 1)
    assert FACADE_KEY_ID == "in-process"


@pytest.mark.parametrize("days", [0, 366, True, "30"])
async def test_bad_days_are_a_clear_error(make_service: MakeService, days: object) -> None:
    with pytest.raises(AIError) as caught:
        await make_service().get_analytics("user-1", days)  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.field) == (400, "days")


async def test_a_request_that_is_not_a_mapping_is_a_clear_400(make_service: MakeService) -> None:
    with pytest.raises(AIError) as caught:
        await make_service().chat(["not", "a", "body"], "user-1")  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.field, caught.value.code) == (400, "body", "invalid_request")


async def test_unreadable_analytics_are_a_503(make_service: MakeService) -> None:
    service = make_service()
    events = service.settings.data_dir / "events"
    events.mkdir(parents=True, exist_ok=True)
    (events / "events-1-20260101T000000000000Z-000000.jsonl").write_bytes(b"this is not json\n")
    with pytest.raises(AIError) as caught:
        await service.get_analytics("user-1", 7)
    assert (caught.value.status, caught.value.retryable) == (503, True)
