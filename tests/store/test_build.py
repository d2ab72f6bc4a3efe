"""`build_store` picks the adapter from the settings; the Firestore one (and google.cloud) only when chosen."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import Settings
from shared.store import SqliteStore, build_store
from shared.store.firestore import FirestoreStore
from tests.store.conftest import unique_prefix

REPO = Path(__file__).resolve().parents[2]


async def test_sqlite_is_the_default_and_lives_in_the_data_dir(tmp_path: Path) -> None:
    store = build_store(Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path / "data")}))
    try:
        assert isinstance(store, SqliteStore)
        await store.set("breakers", "a", {"n": 1})
        assert (tmp_path / "data" / "gateway.sqlite3").is_file()
        other = SqliteStore(tmp_path / "data" / "gateway.sqlite3")
        assert await other.get("breakers", "a") == {"n": 1}
        await other.close()
    finally:
        await store.close()


async def test_firestore_on_the_emulator_without_a_project(
    firestore_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FIRESTORE_EMULATOR_HOST is honoured by the Google client; with no project it picks its own id."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GCLOUD_PROJECT", raising=False)
    store = build_store(Settings.from_env({"STORE_BACKEND": "firestore"}))
    try:
        assert isinstance(store, FirestoreStore)
        await store.set("build_test", "a", {"n": 1})
        assert await store.get("build_test", "a") == {"n": 1}
        await store.delete("build_test", "a")
    finally:
        await store.close()


async def test_firestore_gets_the_project_and_database(firestore_host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A document written through the built store is in that project and database, and only there."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    env = {"STORE_BACKEND": "firestore", "GOOGLE_CLOUD_PROJECT_ID": "demo-build", "FIRESTORE_DATABASE": "breakers-db"}
    collection = f"{unique_prefix()}build"
    stores = [build_store(Settings.from_env(env | changed)) for changed in ({}, {"FIRESTORE_DATABASE": ""})]
    stores.append(build_store(Settings.from_env(env | {"GOOGLE_CLOUD_PROJECT_ID": "demo-other"})))
    built, default_database, other_project = stores
    try:
        assert isinstance(built, FirestoreStore)
        await built.set(collection, "a", {"n": 1})
        assert await built.get(collection, "a") == {"n": 1}
        assert await default_database.get(collection, "a") is None
        assert await other_project.get(collection, "a") is None
    finally:
        for store in stores:
            await store.close()


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown store backend 'redis'"):
        build_store(dataclasses.replace(Settings(), store_backend="redis"))


def test_google_cloud_is_imported_only_when_firestore_is_chosen(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from shared.settings import Settings\n"
        "from shared.store import build_store\n"
        f"store = build_store(Settings.from_env({{'GATEWAY_DATA_DIR': {str(tmp_path)!r}}}))\n"
        "asyncio.run(store.close())\n"
        "print(sorted(m for m in sys.modules if m.startswith(('google.cloud.firestore', 'google.api_core', 'grpc'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
