"""EVENTS_BACKEND=pubsub: the chat deps publish each request's usage event to the configured topic (on the
Pub/Sub emulator), before the reply is returned to the caller; the vault's audit events go to the audit
topic the same way; a missing project is a clear settings error."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from shared.api.deps import build_chat_deps, build_event_sink
from shared.clock import SystemClock
from shared.crypto.factory import build_secret_box
from shared.events.local_sink import LocalSegmentSink
from shared.events.pubsub_sink import PubSubSink
from shared.events.schema import UsageEvent
from shared.identity import Identity
from shared.settings import ENV_VARS, Settings, SettingsError
from shared.store import build_store
from shared.store.sqlite import SqliteStore
from shared.unified import ChatRequest, Message
from shared.vault.audit import AuditEvent, MemoryAuditSink
from shared.vault.audit_sink import LocalAuditSink
from shared.vault.build import build_vault
from shared.vault.rewrap_job import rewrap_from_env
from shared.vault.service import Vault
from tests.events.conftest import PROJECT, Channel, open_channel
from tests.events.test_pubsub_sink import pull
from tests.kms_server import run_kms_server

WHO = Identity(tenant="shop", key_id="gk_1", user="u-1", scopes=frozenset({"chat"}))


def settings(tmp_path: Path, sim_url: str, topic: str) -> Settings:
    return dataclasses.replace(
        Settings(),
        data_dir=tmp_path,
        dev_key="gw-pubsub-wiring-key",
        provider_keys=MappingProxyType({"openai": ("sk-pubsub-wiring",), "anthropic": (), "gemini": ()}),
        base_urls=MappingProxyType({**Settings().base_urls, "openai": f"{sim_url}/v1"}),
        router_cost_optimization=False,
        events_backend="pubsub",
        google_cloud_project_id=PROJECT,
        pubsub_usage_topic=topic.rsplit("/", 1)[1],
    )


async def test_a_chat_requests_usage_event_reaches_the_topic(tmp_path: Path, sim_url: str, channel: Channel) -> None:
    deps = build_chat_deps(settings(tmp_path, sim_url, channel.topic))
    try:
        result = await deps.service.chat(
            ChatRequest(model="gpt-4o-mini", messages=(Message(role="user", content="hi"),)), WHO
        )
        await deps.events.flush()
    finally:
        await deps.aclose()
    (message,) = pull(channel, 1)
    event = UsageEvent.from_json_bytes(message.data)
    assert (event.request_id, event.tenant, event.provider, event.status) == (result.request_id, "shop", "OPENAI", "ok")
    assert dict(message.attributes)["tenant"] == "shop"


def test_the_embedded_sink_is_the_default_and_pubsub_needs_a_project(tmp_path: Path) -> None:
    assert isinstance(build_event_sink(dataclasses.replace(Settings(), data_dir=tmp_path)), LocalSegmentSink)
    missing = dataclasses.replace(Settings(), data_dir=tmp_path, events_backend="pubsub")
    with pytest.raises(SettingsError) as caught:
        build_event_sink(missing)
    assert caught.value.variable == "GOOGLE_CLOUD_PROJECT_ID"


async def test_audit_events_reach_the_audit_topic(
    tmp_path: Path, pubsub_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit_channel = open_channel(pubsub_host, monkeypatch)
    configured = dataclasses.replace(
        Settings(),
        data_dir=tmp_path,
        events_backend="pubsub",
        google_cloud_project_id=PROJECT,
        pubsub_audit_topic=audit_channel.topic.rsplit("/", 1)[1],
    )
    store = SqliteStore(tmp_path / "store.db")
    vault, audit = build_vault(configured, store, SystemClock())
    assert isinstance(audit, PubSubSink)
    try:
        meta = await vault.store_key(WHO, "main", "openai", "sk-audit-" + "x" * 40)
        await audit.close()
        (message,) = pull(audit_channel, 1, parse=AuditEvent.from_json_bytes)
    finally:
        await store.close()
        audit_channel.subscriber.close()
    event = AuditEvent.from_json_bytes(message.data)
    assert (event.action, event.outcome, event.key_id, event.tenant) == ("store", "ok", meta.key_id, "shop")
    assert dict(message.attributes) == {"event_type": "audit", "tenant": "shop", "action": "store", "outcome": "ok"}
    assert b"sk-audit-" not in message.data


def test_the_embedded_audit_sink_is_the_default(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    _, audit = build_vault(dataclasses.replace(Settings(), data_dir=tmp_path), store, SystemClock())
    assert isinstance(audit, LocalAuditSink)


async def test_the_rewrap_jobs_audit_events_reach_the_audit_topic(
    tmp_path: Path, pubsub_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Cloud Function's local files vanish with its instance: with EVENTS_BACKEND=pubsub the re-wrap job's
    # audit trail goes to the audit topic (the KMS test server plays Cloud KMS, as in tests/functions).
    audit_channel = open_channel(pubsub_host, monkeypatch)
    with run_kms_server() as kms:
        key_name = kms.create_key(PROJECT, "global", "gateway", "provider-keys")
        for name in ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        environ = {
            "GATEWAY_DATA_DIR": str(tmp_path),
            "KMS_BACKEND": "gcp",
            "KMS_ENDPOINT": kms.host,
            "GOOGLE_CLOUD_PROJECT_ID": PROJECT,
            "GOOGLE_CLOUD_LOCATION_ID": "global",
            "GOOGLE_CLOUD_KEYRING_ID": "gateway",
            "GOOGLE_CLOUD_KEY_ID": "provider-keys",
            "ENCRYPTION_CONTEXT_SALT": "rewrap-wiring-salt",
            "EVENTS_BACKEND": "pubsub",
            "PUBSUB_AUDIT_TOPIC": audit_channel.topic.rsplit("/", 1)[1],
        }
        settings = Settings.from_env(environ)
        store = build_store(settings)
        try:
            vault = Vault(store, build_secret_box(settings), "rewrap-wiring-salt", SystemClock(), MemoryAuditSink())
            meta = await vault.store_key(WHO, "main", "openai", "sk-rewrap-wiring-" + "x" * 30)
        finally:
            await store.close()
        kms.set_primary(key_name, kms.add_version(key_name))
        report = await rewrap_from_env(environ)
    try:
        assert not report.failed
        (message,) = pull(audit_channel, 1, parse=AuditEvent.from_json_bytes)
    finally:
        audit_channel.subscriber.close()
    event = AuditEvent.from_json_bytes(message.data)
    assert (event.action, event.outcome, event.key_id) == ("rewrap", "ok", meta.key_id)
    local = await asyncio.to_thread(lambda: list(tmp_path.rglob("events-*.jsonl")))
    assert local == []  # nothing went to local audit files
