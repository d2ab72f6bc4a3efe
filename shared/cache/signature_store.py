"""`CacheSignatureStore`: the Gemini `thoughtSignature` store (shared.providers.signatures) on the cache port.

With Redis behind the port, a signature remembered by one instance is found by the instance that
serves the next turn. Keys are `v1:sig:<tenant>:<call id>` with both parts percent-encoded (`:` and `%`
included), so the encoding is one-to-one and no tenant can name a key inside another tenant's space.
Entries live 24 h (`DEFAULT_TTL_SECONDS`). Like every cache user it degrades to "not found" when the
backend is in trouble: the next turn then goes out without the signature, exactly as when it expired
(Gemini 3 may refuse that turn, providers.md 3.1); the store itself never raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import quote

from shared.cache.port import CachePort
from shared.providers.signatures import DEFAULT_TTL_SECONDS

__all__ = ["SIGNATURE_KEY_PREFIX", "CacheSignatureStore", "signature_key"]

SIGNATURE_KEY_PREFIX = "v1:sig:"


def signature_key(tenant: str, call_id: str) -> str:
    """The cache key for one tool call's signature; distinct (tenant, call id) pairs never share a key."""
    return f"{SIGNATURE_KEY_PREFIX}{quote(tenant, safe='')}:{quote(call_id, safe='')}"


class CacheSignatureStore:
    """Implements `shared.providers.signatures.SignatureStore` on any `CachePort`."""

    def __init__(self, cache: CachePort, *, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> None:
        self._cache = cache
        self._ttl = ttl_seconds

    async def get_many(self, tenant: str, call_ids: Iterable[str]) -> dict[str, str]:
        keys = {signature_key(tenant, call_id): call_id for call_id in call_ids}
        if not keys:
            return {}
        found: dict[str, str] = {}
        for key, raw in (await self._cache.get_many(keys)).items():
            try:
                found[keys[key]] = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue  # not something this store wrote: treat as absent
        return found

    async def put_many(self, tenant: str, signatures: Mapping[str, str]) -> None:
        # The port has no batch write; a response carries one signature per tool call, so a few at most.
        for call_id, signature in signatures.items():
            await self._cache.set(signature_key(tenant, call_id), signature.encode("utf-8"), self._ttl)
