"""The credential source for calls on users' own provider keys (BYOK), with platform keys behind them.

For a call by or for user U of tenant T (architecture, Identity; issue 6): U's active keys for a provider
come first, then the platform keys unless T has turned them off. A provider for which U has no key and
T allows no platform keys has no credential, so the router leaves it out. U's keys carry `owner="user"`
and their vault id: a 401/403 on one is U's to fix (the caller gets it), its credential breaker is
U's alone, and usage events record that key id as the one that paid.

Once per request (`keys_for`), before the router runs: U's key list and T's switch come from small
in-process caches (`ttl_seconds`), and each key's plaintext from the vault's own short cache, so a
request costs no store or KMS round trip while those are warm. A key that no longer decrypts is left
out (the vault audits it); the key service being down is the vault's clear 503 unless every key that
needs decrypting is already cached.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Generic, TypeVar

from shared.clock import Clock
from shared.credentials import Credential, KeysFor, PlatformCredentials
from shared.gateway_keys import TenantSettings
from shared.identity import Identity
from shared.vault.errors import KeyNotFound, KeyUnusable
from shared.vault.records import KeyMetadata
from shared.vault.service import Vault

__all__ = ["ByokCredentials"]

_log = logging.getLogger(__name__)

Owner = tuple[str, str | None]
K = TypeVar("K")
V = TypeVar("V")


class _TtlMap(Generic[K, V]):
    """A small bounded map whose entries expire `ttl` seconds after they were put."""

    def __init__(self, clock: Clock, ttl: float, size: int) -> None:
        self._clock, self._ttl, self._size = clock, ttl, size
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None or self._clock.monotonic() - item[0] >= self._ttl:
            return None
        return item[1]

    def put(self, key: K, value: V) -> None:
        self._items[key] = (self._clock.monotonic(), value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def drop(self, key: K) -> None:
        self._items.pop(key, None)


class ByokCredentials:
    def __init__(
        self,
        vault: Vault,
        platform: PlatformCredentials,
        tenants: TenantSettings,
        clock: Clock,
        *,
        ttl_seconds: float = 30.0,
        size: int = 10_000,
    ) -> None:
        self._vault = vault
        self._platform = platform
        self._tenants = tenants
        self._owned: _TtlMap[Owner, tuple[KeyMetadata, ...]] = _TtlMap(clock, ttl_seconds, size)
        self._allowed: _TtlMap[str, bool] = _TtlMap(clock, ttl_seconds, size)
        vault.on_change.append(self.forget)

    def forget(self, tenant: str, user: str | None) -> None:
        """Drop the cached key list of an owner (this instance changed it: store, rotate, delete)."""
        self._owned.drop((tenant, user))

    async def keys_for(self, identity: Identity) -> KeysFor:
        own = await self._own_credentials(identity)
        allowed = await self._platform_allowed(identity.tenant)
        platform = self._platform

        def keys(provider: str) -> tuple[Credential, ...]:
            mine = own.get(provider, ())
            return mine + platform.credentials(provider, identity) if allowed else mine

        return keys

    async def _platform_allowed(self, tenant: str) -> bool:
        allowed = self._allowed.get(tenant)
        if allowed is None:
            allowed = await self._tenants.platform_keys_allowed(tenant)
            self._allowed.put(tenant, allowed)
        return allowed

    async def _own_credentials(self, identity: Identity) -> dict[str, tuple[Credential, ...]]:
        owner: Owner = (identity.tenant, identity.user)
        listed = self._owned.get(owner)
        if listed is None:
            listed = tuple(await self._vault.list_keys(identity))
            self._owned.put(owner, listed)
        by_provider: dict[str, tuple[Credential, ...]] = {}
        for meta in listed:
            try:
                secret = await self._vault.secret_for(meta.tenant, meta.user, meta.key_id, actor=identity.key_id)
            except (KeyNotFound, KeyUnusable) as error:
                # Deleted meanwhile, or altered in the store (audited by the vault): not usable, not fatal.
                _log.warning(
                    "provider key %s of tenant %s left out: %s", meta.key_id, meta.tenant, type(error).__name__
                )
                continue
            credential = Credential(meta.provider, secret, meta.fingerprint, "user", key_id=meta.key_id)
            by_provider[meta.provider] = (*by_provider.get(meta.provider, ()), credential)
        return by_provider
