"""The Cloud Function `chat` (functions/chat/main.py) as functions-framework serves it: the ASGI app of
`functions_framework.aio.create_asgi_app`, configured only by environment variables read at the first
request, with every provider pointed at the simulator. Both chat routes (JSON and SSE), the model list,
authentication, an unknown path and a wrong method; usage events end up in segment files in the data dir.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import orjson
import pytest
from functions_framework.aio import create_asgi_app
from starlette.types import ASGIApp

from shared.api import instance
from shared.events.local_sink import SEGMENT_GLOB
from shared.events.schema import UsageEvent
from shared.settings import ENV_VARS
from tests.simulator_server import SimulatorAdmin

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "chat" / "main.py"
DEV_KEY = "gw-function-key"
AUTH = {"authorization": f"Bearer {DEV_KEY}"}
USER = [{"role": "user", "content": '[sim text="from the function"]'}]


@pytest.fixture
def function_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[ASGIApp]:
    """The function's ASGI app, loaded as the framework loads it (module `main`), and a fresh holder."""
    monkeypatch.setattr(instance, "_api", None)
    # create_asgi_app writes these two variables, appends the source folder to sys.path and registers
    # the module as `main`: all put back afterwards.
    monkeypatch.setenv("FUNCTION_TARGET", "chat")
    monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "http")
    monkeypatch.setattr(sys, "path", list(sys.path))
    previous = sys.modules.get("main")
    app: ASGIApp = create_asgi_app(target="chat", source=str(SOURCE))  # type: ignore[no-untyped-call]
    yield app
    if previous is None:
        sys.modules.pop("main", None)
    else:
        sys.modules["main"] = previous


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim_url: str) -> Path:
    """The deployment's environment (set after the app was loaded: nothing is read at import)."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATEWAY_DEV_KEY", DEV_KEY)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CACHE_ENABLED", "false")
    monkeypatch.setenv("ROUTER_COST_OPTIMIZATION", "false")  # the named model answers (routing: tests/api)
    for provider, path in (("OPENAI", "/v1"), ("ANTHROPIC", ""), ("GEMINI", "/v1beta")):
        monkeypatch.setenv(f"{provider}_API_KEY", "sim-key")
        monkeypatch.setenv(f"{provider}_BASE_URL", sim_url + path)
    return tmp_path


@pytest.fixture
async def client(function_app: ASGIApp, function_env: Path) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=function_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://function.test") as c:
        yield c
    api = instance._api
    if api is not None:  # close what the first request built (its client and events sink)
        deps = await api._deps()
        await deps.aclose()


def events_in(data_dir: Path) -> list[UsageEvent]:
    lines = [line for p in sorted((data_dir / "events").glob(SEGMENT_GLOB)) for line in p.read_bytes().splitlines()]
    return [UsageEvent.from_json_bytes(line) for line in lines]


async def test_the_function_serves_both_chat_routes_and_the_models(
    client: httpx2.AsyncClient, function_env: Path, admin: SimulatorAdmin
) -> None:
    openai = await client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": USER}, headers=AUTH)
    assert openai.status_code == 200
    assert openai.json()["choices"][0]["message"]["content"] == "from the function"
    assert (openai.headers["x-gateway-provider"], openai.headers["x-gateway-attempts"]) == ("OPENAI", "1")
    assert "server-timing" in openai.headers

    seed = await client.post("/api/ai/chat", json={"model": "claude-haiku-4-5", "messages": USER}, headers=AUTH)
    assert seed.status_code == 200
    assert (seed.json()["provider"], seed.json()["choices"][0]["message"]["content"]) == (
        "ANTHROPIC",
        "from the function",
    )

    stream = await client.post(
        "/api/ai/chat", json={"model": "gemini-2.5-flash", "messages": USER, "stream": True}, headers=AUTH
    )
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    data = [e.removeprefix("data: ") for e in stream.text.split("\n\n") if e]
    assert data[-1] == "[DONE]"
    chunks = [orjson.loads(d) for d in data[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "from the function"
    assert chunks[-1]["usage"]["totalTokens"] > 0

    models = await client.get("/v1/models", headers=AUTH)
    assert models.status_code == 200
    assert "gpt-4o-mini" in {m["id"] for m in models.json()["data"]}
    assert admin.stats()["calls"] == {"openai.chat": 1, "anthropic.messages": 1, "gemini.stream": 1}

    # One usage event per chat request, in the data dir's segment files once the sink flushes.
    api = instance._api
    assert api is not None
    await (await api._deps()).events.flush()
    request_ids = [openai.headers["x-request-id"], seed.headers["x-request-id"], stream.headers["x-request-id"]]
    events = events_in(function_env)
    assert sorted(e.request_id for e in events) == sorted(request_ids)
    assert {(e.route, e.provider, e.status) for e in events} == {
        ("openai", "OPENAI", "ok"),
        ("seed", "ANTHROPIC", "ok"),
        ("seed", "GOOGLE", "ok"),
    }


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/ai/chat"), ("POST", "/v1/chat/completions"), ("GET", "/v1/models")]
)
async def test_every_route_needs_a_key(client: httpx2.AsyncClient, method: str, path: str) -> None:
    body = {"model": "gpt-4o-mini", "messages": USER} if method == "POST" else None
    response = await client.request(method, path, json=body, headers={"authorization": "Bearer gw-not-this-one"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] in ("authentication", "authentication_error")


async def test_an_unknown_path_is_404_and_a_wrong_method_405(client: httpx2.AsyncClient) -> None:
    missing = await client.post("/v1/embeddings", json={}, headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "no route for /v1/embeddings"
    wrong = await client.get("/v1/chat/completions", headers=AUTH)
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["type"] == "invalid_request_error"


async def test_the_instance_builds_once_and_reuses_its_dependencies(client: httpx2.AsyncClient) -> None:
    for _ in range(3):
        assert (await client.get("/v1/models", headers=AUTH)).status_code == 200
    api = instance._api
    assert api is not None
    first = await api._deps()
    assert await api._deps() is first
