"""Audit events of limit changes: the event from a record (scope, actor, version, limits after, budgets in
micro-USD), its JSON round trip, the embedded sink's segment files, and the Pub/Sub sink the settings pick
(the emulator: one message on `<PUBSUB_AUDIT_TOPIC>-limits`, its attributes)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.events.local_sink import SEGMENT_GLOB
from shared.events.pubsub_sink import PubSubSink
from shared.limits.audit import (
    LimitsAuditEvent,
    build_limits_audit_sink,
    limits_audit_dir,
)
from shared.limits.config import LimitRecord, Limits, LimitScope
from shared.settings import Settings, SettingsError
from shared.vault.audit_sink import LocalAuditSink
from tests.events.conftest import PROJECT, open_channel, pubsub_host
from tests.events.test_pubsub_sink import pull
from tests.fakes import FakeClock

__all__ = ["pubsub_host"]  # the fixture, for pytest

TS = datetime(2026, 1, 1, tzinfo=UTC)


def record() -> LimitRecord:
    return LimitRecord(
        scope=LimitScope(tenant_id="acme", key_id="gk_k1"),
        limits=Limits.model_validate({"tokensPerMinute": 5000, "monthlyBudgetUsd": "12.345678"}),
        version=4,
        updated_at=TS.isoformat(),
        updated_by="gk_admin",
    )


def event() -> LimitsAuditEvent:
    return LimitsAuditEvent.of_change(record(), actor="gk_admin", changed=["monthlyBudgetUsd"], ts=TS)


def test_the_event_describes_the_change() -> None:
    got = event()
    assert (got.tenant, got.user, got.key_id, got.scope_kind) == ("acme", None, "gk_k1", "key")
    assert (got.actor, got.action, got.version, got.changed) == ("gk_admin", "set", 4, "monthlyBudgetUsd")
    assert (got.requests_per_minute, got.tokens_per_minute) == (None, 5000)
    assert (got.daily_budget_micros, got.monthly_budget_micros) == (None, 12_345_678)
    assert len(got.event_id) == 32


def test_the_event_round_trips_as_json_in_utc() -> None:
    shifted = LimitsAuditEvent.of_change(
        record(), actor="gk_admin", changed=[], ts=datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    )
    assert shifted.ts == TS
    assert b'"ts":"2026-01-01T00:00:00Z"' in shifted.to_json_bytes()
    assert LimitsAuditEvent.from_json_bytes(shifted.to_json_bytes()) == shifted


def test_the_event_is_strict() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        LimitsAuditEvent.of_change(record(), actor="gk_admin", changed=[], ts=datetime(2026, 1, 1))
    with pytest.raises(ValidationError, match="extra"):
        LimitsAuditEvent.model_validate({**event().model_dump(), "apiKey": "x"})


async def test_the_embedded_sink_writes_segment_files(tmp_path: Path) -> None:
    clock = FakeClock()
    settings = dataclasses.replace(Settings(), data_dir=tmp_path)
    sink = build_limits_audit_sink(settings, clock)
    assert isinstance(sink, LocalAuditSink)
    assert sink.directory == limits_audit_dir(tmp_path) == tmp_path / "audit-limits"
    first, second = event(), event()
    await sink.publish(first)
    await sink.publish(second)
    await sink.close()
    (segment,) = await asyncio.to_thread(lambda: sorted((tmp_path / "audit-limits").glob(SEGMENT_GLOB)))
    lines = segment.read_bytes().splitlines()
    assert [LimitsAuditEvent.from_json_bytes(line) for line in lines] == [first, second]
    # The vault's audit directory is not touched: its readers parse only vault events.
    assert not (tmp_path / "audit").exists()


def test_pubsub_needs_the_project(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), data_dir=tmp_path, events_backend="pubsub")
    with pytest.raises(SettingsError, match="GOOGLE_CLOUD_PROJECT_ID"):
        build_limits_audit_sink(settings, FakeClock())


async def test_pubsub_publishes_on_the_limits_topic(
    tmp_path: Path, pubsub_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = open_channel(pubsub_host, monkeypatch)
    # The sink's topic is the audit topic's name + "-limits": make that the test channel's topic.
    base = channel.topic.rsplit("/", 1)[1]
    limits_topic = f"projects/{PROJECT}/topics/{base}-limits"
    channel.publisher.create_topic(name=limits_topic)
    subscription = channel.subscription + "-limits"
    channel.subscriber.create_subscription(name=subscription, topic=limits_topic, ack_deadline_seconds=60)
    settings = dataclasses.replace(
        Settings(),
        data_dir=tmp_path,
        events_backend="pubsub",
        google_cloud_project_id=PROJECT,
        pubsub_audit_topic=base,
    )
    sink = build_limits_audit_sink(settings, FakeClock())
    assert isinstance(sink, PubSubSink)
    sent = event()
    try:
        await sink.publish(sent)
        await sink.close()
        (message,) = await asyncio.to_thread(
            pull, dataclasses.replace(channel, subscription=subscription), 1, 30.0, LimitsAuditEvent.from_json_bytes
        )
    finally:
        channel.subscriber.close()
    assert LimitsAuditEvent.from_json_bytes(message.data) == sent
    assert dict(message.attributes) == {
        "event_type": "limits_audit",
        "tenant": "acme",
        "action": "set",
        "scope": "key",
    }
