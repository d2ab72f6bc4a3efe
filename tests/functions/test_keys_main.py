"""The Cloud Function `keys` (functions/keys/main.py) as functions-framework serves it, configured only by
environment variables read at the first request: the embedded store, the local Tink keyset box and the
embedded audit sink. Every route once, authentication, 404/405; the audit trail lands in segment files
under the data dir; neither the data dir nor any reply holds the provider key."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import orjson
import pytest
from functions_framework.aio import create_asgi_app
from starlette.types import ASGIApp

from shared.api import keys_deps
from shared.events.local_sink import SEGMENT_GLOB
from shared.settings import ENV_VARS
from shared.vault.audit import AuditEvent
from shared.vault.audit_sink import audit_dir

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "keys" / "main.py"
DEV_KEY = "gw-keys-function-key"
AUTH = {"authorization": f"Bearer {DEV_KEY}"}
SECRET = "sk-ant-function-test-0123456789"


def files_under(directory: Path) -> list[tuple[Path, bytes]]:
    return [(path, path.read_bytes()) for path in directory.rglob("*") if path.is_file()]


@pytest.fixture
def function_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[ASGIApp]:
    """The function's ASGI app, loaded as the framework loads it (module `main`), and a fresh holder."""
    monkeypatch.setattr(keys_deps, "_api", None)
    monkeypatch.setenv("FUNCTION_TARGET", "keys")
    monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "http")
    monkeypatch.setattr(sys, "path", list(sys.path))
    previous = sys.modules.get("main")
    app: ASGIApp = create_asgi_app(target="keys", source=str(SOURCE))  # type: ignore[no-untyped-call]
    yield app
    if previous is None:
        sys.modules.pop("main", None)
    else:
        sys.modules["main"] = previous


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATEWAY_DEV_KEY", DEV_KEY)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
async def client(function_app: ASGIApp, function_env: Path) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=function_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://function.test") as c:
        yield c
    api = keys_deps._api
    if api is not None:  # close what the first request built (its store and audit sink)
        await (await api._deps()).aclose()


async def test_the_function_serves_every_route(client: httpx2.AsyncClient, function_env: Path) -> None:
    created = await client.post(
        "/api/ai/keys", content=orjson.dumps({"name": "n", "provider": "anthropic", "apiKey": SECRET}), headers=AUTH
    )
    assert created.status_code == 201, created.text
    key_id = created.json()["id"]
    assert (await client.get("/api/ai/keys", headers=AUTH)).json()["keys"] == [created.json()]
    rotated = await client.post(
        f"/api/ai/keys/{key_id}/rotate", content=orjson.dumps({"apiKey": SECRET[::-1]}), headers=AUTH
    )
    assert rotated.status_code == 200
    api = keys_deps._api
    assert api is not None
    deps = await api._deps()
    assert await deps.vault.secret_for("local", None, key_id) == SECRET[::-1]  # through the local Tink keyset
    assert (await client.delete(f"/api/ai/keys/{key_id}", headers=AUTH)).status_code == 204
    assert await api._deps() is deps  # built once

    await deps.aclose()
    lines = [line for p in sorted(audit_dir(function_env).glob(SEGMENT_GLOB)) for line in p.read_bytes().splitlines()]
    assert [AuditEvent.from_json_bytes(line).action for line in lines] == ["store", "rotate", "first_use", "delete"]
    for path, data in files_under(function_env):
        assert SECRET.encode() not in data, path
        assert SECRET[::-1].encode() not in data, path


async def test_auth_and_unknown_routes(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/api/ai/keys", headers={"authorization": "Bearer nope-nope"})).status_code == 401
    assert (await client.get("/api/ai/chat", headers=AUTH)).status_code == 404
    wrong = await client.patch("/api/ai/keys", headers=AUTH)
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, POST")
