"""The Cloud Function `keys_rewrap` (functions/keys/main.py) and the operator command `python -m
shared.vault.rewrap_job`, configured only by environment variables: KMS_BACKEND=gcp with KMS_ENDPOINT at
the KMS test server (tests/kms_server.py, real gRPC through Tink), the embedded SQLite store and audit sink
under GATEWAY_DATA_DIR. Keys stored under version 1, the primary moved to version 2, the job run, version 1
disabled: every key still opens, the audit trail has a "rewrap" per key, and no file holds a key."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import flask
import pytest
from cloudevents.http import CloudEvent
from functions_framework import create_app

from shared.clock import SystemClock
from shared.crypto.factory import build_secret_box
from shared.events.local_sink import SEGMENT_GLOB
from shared.identity import Identity
from shared.settings import ENV_VARS, Settings
from shared.store import build_store
from shared.vault import rewrap_job
from shared.vault.audit import AuditEvent, MemoryAuditSink
from shared.vault.audit_sink import audit_dir
from shared.vault.service import Vault
from tests.kms_server import KmsServer, run_kms_server

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "keys" / "main.py"
SALT = "function-encryption-context-salt"
PROJECT, LOCATION, RING, KEY = "demo-test", "global", "gateway", "provider-keys"
OWNERS = {
    Identity(tenant="app1", key_id="gk_a", user="alice"): ("openai", "sk-function-alice-0123456789"),
    Identity(tenant="app1", key_id="gk_b", user="bob"): ("anthropic", "sk-ant-function-bob-0123456789"),
}
Stored = dict[str, tuple[Identity, str]]


@pytest.fixture
def kms_server() -> Iterator[KmsServer]:
    with run_kms_server() as server:
        yield server


@pytest.fixture
def key_name(kms_server: KmsServer) -> str:
    return kms_server.create_key(PROJECT, LOCATION, RING, KEY)


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kms_server: KmsServer) -> Path:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "GATEWAY_DATA_DIR": str(tmp_path),
        "KMS_BACKEND": "gcp",
        "KMS_ENDPOINT": kms_server.host,
        "GOOGLE_CLOUD_PROJECT_ID": PROJECT,
        "GOOGLE_CLOUD_LOCATION_ID": LOCATION,
        "GOOGLE_CLOUD_KEYRING_ID": RING,
        "GOOGLE_CLOUD_KEY_ID": KEY,
        "ENCRYPTION_CONTEXT_SALT": SALT,
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


@pytest.fixture
def function_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[flask.Flask, ModuleType]]:
    """The function's app, loaded as the framework loads it (module `main`), and that module."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    previous = sys.modules.get("main")
    app = create_app(target="keys_rewrap", source=str(SOURCE), signature_type="cloudevent")  # type: ignore[no-untyped-call]
    yield app, sys.modules["main"]
    if previous is None:
        sys.modules.pop("main", None)
    else:
        sys.modules["main"] = previous


def with_vault(settings: Settings, work: Callable[[Vault], Any]) -> Any:
    """Run `work` on a vault over the function's own store and box (a fresh cache), then close the store."""

    async def run() -> Any:
        store = build_store(settings)
        try:
            return await work(Vault(store, build_secret_box(settings), SALT, SystemClock(), MemoryAuditSink()))
        finally:
            await store.close()

    return asyncio.run(run())


def store_keys(settings: Settings) -> Stored:
    async def work(vault: Vault) -> Stored:
        stored = {}
        for who, (provider, secret) in OWNERS.items():
            stored[(await vault.store_key(who, provider, provider, secret)).key_id] = (who, secret)
        return stored

    stored: Stored = with_vault(settings, work)
    return stored


def kek_versions(settings: Settings) -> set[str]:
    async def work(vault: Vault) -> set[str]:
        return {str(key.kek_version) for who in OWNERS for key in await vault.list_keys(who)}

    versions: set[str] = with_vault(settings, work)
    return versions


def assert_all_open(settings: Settings, stored: Stored) -> None:
    async def work(vault: Vault) -> None:
        for key_id, (who, secret) in stored.items():
            assert await vault.secret_for(who.tenant, who.user, key_id) == secret

    with_vault(settings, work)


def audited(data_dir: Path) -> list[tuple[str, str]]:
    lines = [line for p in sorted(audit_dir(data_dir).glob(SEGMENT_GLOB)) for line in p.read_bytes().splitlines()]
    return sorted((e.action, e.key_id) for e in map(AuditEvent.from_json_bytes, lines))


def rotate_primary(kms_server: KmsServer, key_name: str) -> str:
    kms_server.set_primary(key_name, kms_server.add_version(key_name))
    return f"{key_name}/cryptoKeyVersions/2"


def assert_rotation_proof(kms_server: KmsServer, key_name: str, data_dir: Path, stored: Stored) -> None:
    settings = Settings.from_env(os.environ)
    assert kek_versions(settings) == {f"{key_name}/cryptoKeyVersions/2"}
    kms_server.set_enabled(key_name, 1, enabled=False)
    assert_all_open(settings, stored)
    assert audited(data_dir) == sorted(("rewrap", key_id) for key_id in stored)
    for path in (p for p in data_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for _, secret in stored.values():
            assert secret.encode() not in data, path


def test_the_handler_rewraps_every_key_for_a_cloud_event(
    function_module: tuple[flask.Flask, ModuleType],
    function_env: Path,
    kms_server: KmsServer,
    key_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings.from_env(os.environ)
    stored = store_keys(settings)
    assert kek_versions(settings) == {f"{key_name}/cryptoKeyVersions/1"}
    rotate_primary(kms_server, key_name)
    event = CloudEvent(
        {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//pubsub.googleapis.com/t", "id": "ev-42"},
        {"message": {"data": ""}},
    )

    with caplog.at_level(logging.INFO):
        function_module[1].keys_rewrap(event)

    assert "started by event ev-42" in caplog.text
    assert f"rewrapped {len(stored)}/{len(stored)}" in caplog.text
    assert_rotation_proof(kms_server, key_name, function_env, stored)


def test_the_framework_serves_the_cloud_event(
    function_module: tuple[flask.Flask, ModuleType], function_env: Path, kms_server: KmsServer, key_name: str
) -> None:
    settings = Settings.from_env(os.environ)
    stored = store_keys(settings)
    rotate_primary(kms_server, key_name)
    headers = {
        "ce-id": "ev-43",
        "ce-source": "//pubsub.googleapis.com/projects/demo-test/topics/keys-rewrap",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "content-type": "application/json",
    }

    response = function_module[0].test_client().post("/", json={"message": {"data": ""}}, headers=headers)

    assert response.status_code == 200, response.text
    assert_rotation_proof(kms_server, key_name, function_env, stored)


def test_the_operator_command_prints_the_report(
    function_env: Path, kms_server: KmsServer, key_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env(os.environ)
    stored = store_keys(settings)
    primary = rotate_primary(kms_server, key_name)

    assert rewrap_job.main() == 0
    assert capsys.readouterr().out == (
        f"rewrap under {primary}: examined 2, rewrapped 2, already current 0, lost races 0, failed 0\n"
    )
    assert_rotation_proof(kms_server, key_name, function_env, stored)
    assert rewrap_job.main() == 0
    assert "rewrapped 0, already current 2" in capsys.readouterr().out
