"""A gateway for the BYOK proofs: the chat API and the keys API in process, on one SQLite file, one
SecretBox and one audit sink, with the provider simulator behind the chat API.

The two APIs are built the way two functions of one deployment are (`build_chat_deps`,
`build_keys_deps`): each opens its own `SqliteStore` on the same file of `data_dir` and its own `Vault`
(own short secret cache), sharing the salts, the box (the KEK) and the audit sink. Callers act for a
user the marketplace way: a platform key of the tenant with `act_as_user`, naming the user in
`X-User-Id`. Upstream calls are counted by the simulator per provider key (sha256(key)[:12]).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx2
import openai

from shared.api.chat import ChatApi
from shared.api.deps import ChatDeps, build_chat_deps
from shared.api.keys import KeysApi
from shared.api.keys_deps import KeysDeps, build_keys_deps
from shared.credentials import fingerprint
from shared.crypto.port import SecretBox
from shared.events.port import MemorySink
from shared.gateway_keys import GatewayKeyStore, TenantSettings
from shared.settings import Settings
from shared.vault.audit import MemoryAuditSink
from tests.fakes import FakeClock
from tests.simulator_server import SimulatorAdmin

__all__ = ["COST_ON", "KEYS_PATH", "PINNED", "PLATFORM", "Caller", "Gateway", "open_gateway"]

DEV_KEY = "gw-byok-dev-key-0123456789"
HASH_SALT = "api-key-hash-salt-for-the-byok-calls"
CONTEXT_SALT = "encryption-context-salt-for-the-byok-calls"
KEYS_PATH = "/api/ai/keys"
PLATFORM = {
    "openai": "sk-platform-openai-0001",
    "anthropic": "sk-platform-anthropic-0002",
    "gemini": "sk-platform-gemini-03",
}
# Both switches off: only the named model, and only its own provider's keys.
PINNED = {"x-gateway-cost-optimization": "off", "x-gateway-fallback": "off"}
COST_ON = {"x-gateway-cost-optimization": "on"}


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """A platform key of `tenant` with act_as_user, acting for `user` (the tenant itself when None)."""

    tenant: str
    user: str | None
    key: str = dataclasses.field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        user = {"x-user-id": self.user} if self.user is not None else {}
        return {"authorization": f"Bearer {self.key}", **user}


@dataclasses.dataclass
class Gateway:
    chat_http: httpx2.AsyncClient
    keys_http: httpx2.AsyncClient
    chat_deps: ChatDeps
    keys_deps: KeysDeps
    sink: MemorySink
    audit: MemoryAuditSink
    clock: FakeClock
    admin: SimulatorAdmin
    data_dir: Path
    gateway_keys: GatewayKeyStore
    tenants: TenantSettings
    used_gateway_keys: list[str] = dataclasses.field(default_factory=list)

    def calls(self, key: str) -> int:
        """Upstream calls the simulator saw with the provider key `key`."""
        counts: dict[str, int] = self.admin.stats()["calls_by_key"]
        return counts.get(fingerprint(key)[:12], 0)

    async def caller(self, tenant: str, user: str | None) -> Caller:
        _, key = await self.gateway_keys.create(
            tenant, scopes=frozenset({"chat", "keys", "act_as_user"}), platform=True, name=f"{tenant}-app"
        )
        self.used_gateway_keys.append(key)
        return Caller(tenant, user, key)

    async def store_key(self, caller: Caller, provider: str, api_key: str, name: str = "mine") -> dict[str, Any]:
        response = await self.keys_http.post(
            KEYS_PATH, json={"name": name, "provider": provider, "apiKey": api_key}, headers=caller.headers
        )
        assert response.status_code == 201, response.text
        meta: dict[str, Any] = response.json()
        return meta

    async def chat(self, caller: Caller, model: str = "gpt-4o-mini", *, switches: dict[str, str] = PINNED) -> Any:
        """A JSON chat through the official SDK as `caller`; the raw response (headers, `.parse()`)."""
        sdk = openai.AsyncOpenAI(
            api_key=caller.key,
            base_url="http://gateway.test/v1",
            http_client=self.chat_http,
            max_retries=0,
            default_headers={"x-user-id": caller.user} if caller.user is not None else None,
        )
        return await sdk.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "hello there"}], extra_headers=switches
        )


@contextlib.asynccontextmanager
async def open_gateway(
    sim_url: str,
    admin: SimulatorAdmin,
    data_dir: Path,
    box: SecretBox,
    *,
    platform_off: tuple[str, ...] = (),
    redis_url: str | None = None,
) -> AsyncIterator[Gateway]:
    """Both APIs on `data_dir`; the tenants in `platform_off` have platform keys turned off before the
    chat deps exist (the credential source caches that switch per tenant)."""
    clock = FakeClock()
    settings = dataclasses.replace(
        Settings(),
        provider_keys=MappingProxyType({p: (k,) for p, k in PLATFORM.items()}),
        base_urls=MappingProxyType({"openai": f"{sim_url}/v1", "anthropic": sim_url, "gemini": f"{sim_url}/v1beta"}),
        data_dir=data_dir,
        store_backend="sqlite",
        dev_key=DEV_KEY,
        api_key_hash_salt=HASH_SALT,
        encryption_context_salt=CONTEXT_SALT,
        # With Redis: the response cache, live metrics and signatures all live there (what could leak).
        cache_enabled=redis_url is not None,
        redis_url=redis_url,
        breaker_min_requests=4,
    )
    sink, audit = MemorySink(), MemoryAuditSink()
    async with contextlib.AsyncExitStack() as stack:
        keys_deps = build_keys_deps(settings, box=box, audit=audit, clock=clock)
        stack.push_async_callback(keys_deps.aclose)
        tenants = TenantSettings(keys_deps.store)
        for tenant in platform_off:
            await tenants.set_platform_keys(tenant, False)
        chat_deps = build_chat_deps(settings, events=sink, clock=clock, sleep=clock.sleep, box=box, audit=audit)
        stack.push_async_callback(chat_deps.aclose)

        async def chat_ready() -> ChatDeps:
            return chat_deps

        async def keys_ready() -> KeysDeps:
            return keys_deps

        chat_http, keys_http = [
            await stack.enter_async_context(
                httpx2.AsyncClient(
                    transport=httpx2.ASGITransport(app=app), base_url="http://gateway.test", timeout=30.0
                )
            )
            for app in (ChatApi(chat_ready).asgi(), KeysApi(keys_ready).asgi())
        ]
        yield Gateway(
            chat_http,
            keys_http,
            chat_deps,
            keys_deps,
            sink,
            audit,
            clock,
            admin,
            data_dir,
            GatewayKeyStore(keys_deps.store, HASH_SALT, clock),
            tenants,
            [DEV_KEY],
        )
