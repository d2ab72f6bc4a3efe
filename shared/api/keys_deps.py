"""Building what the keys API needs, once per instance: settings in, a ready `Vault` and key ring out.

`build_keys_deps` is called lazily on the first request (the Cloud Function `keys`) or at start (the dev
server), never at import; tests pass their own SecretBox, audit sink and clock. `gateway_key_ring` is
the one place the gateway keys come from, so moving them into the document store changes one function.
`keys_api` is this module's per-process holder (style.md point 11), built once and never mutated after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from shared.api.keys import KeysApi
from shared.api.limits_deps import LimitsDeps, build_limits_deps
from shared.auth import KeyLookup
from shared.clock import Clock, SystemClock
from shared.crypto.port import SecretBox
from shared.gateway_keys import GatewayKeyStore
from shared.keys_dev import ensure_dev_key_blocking
from shared.keys_ring import StoreKeyRing
from shared.limits.audit import LimitsAuditSink
from shared.local_secrets import resolve_salt
from shared.settings import Settings
from shared.store import DocumentStore, build_store
from shared.vault.audit import AuditSink
from shared.vault.build import build_vault
from shared.vault.service import Vault

__all__ = ["KEYS_BODY_LIMIT", "KeysDeps", "LazyKeysDeps", "build_keys_deps", "gateway_key_ring", "keys_api"]

KEYS_BODY_LIMIT = 64 * 1024


@dataclass(slots=True)
class KeysDeps:
    settings: Settings
    vault: Vault
    keys: KeyLookup
    store: DocumentStore
    audit: AuditSink
    limits: LimitsDeps
    body_limit: int = KEYS_BODY_LIMIT

    async def aclose(self) -> None:
        await self.audit.close()
        await self.limits.aclose()
        await self.store.close()


def gateway_key_ring(settings: Settings, store: DocumentStore, clock: Clock) -> KeyLookup:
    """The gateway keys that may call, as shared.api.deps wires them: the store's keys (the development
    key made sure of first), behind the ring's TTL cache."""
    salt = resolve_salt(settings.api_key_hash_salt, settings.data_dir, "API_KEY_HASH_SALT")
    ensure_dev_key_blocking(settings, salt, clock=clock)
    return StoreKeyRing(GatewayKeyStore(store, salt, clock), clock=clock)


def build_keys_deps(
    settings: Settings,
    *,
    box: SecretBox | None = None,
    audit: AuditSink | None = None,
    clock: Clock | None = None,
    store: DocumentStore | None = None,
    limits_audit: LimitsAuditSink | None = None,
) -> KeysDeps:
    clock = clock or SystemClock()
    store = store if store is not None else build_store(settings)
    vault, audit = build_vault(settings, store, clock, box=box, audit=audit)
    limits = build_limits_deps(settings, store, clock, audit=limits_audit)
    return KeysDeps(settings, vault, gateway_key_ring(settings, store, clock), store, audit, limits)


class LazyKeysDeps:
    """Builds `KeysDeps` from an environment on first use; concurrent first requests share one build."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        self._deps: KeysDeps | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> KeysDeps:
        if self._deps is None:
            async with self._lock:
                if self._deps is None:
                    self._deps = build_keys_deps(Settings.from_env(self._environ))
        return self._deps


_api: KeysApi | None = None


def keys_api(environ: Mapping[str, str]) -> KeysApi:
    global _api
    if _api is None:
        _api = KeysApi(LazyKeysDeps(environ).get)
    return _api
