"""Which provider keys a call may use: the credential-source interface and its first source.

A `Credential` is one provider key with its fingerprint (the first 16 hex digits of its SHA-256: what
breakers, logs and stats name; the key itself is never shown by `repr`) and its owner: the platform
(the gateway's own keys, `OPENAI_API_KEY` and the other two, comma-separated for several) or the user
(BYOK, a later issue; a user's own key comes before platform keys for the same provider).

`PlatformCredentials` hands out a provider's keys in rotated order, one step per request, so the load
spreads over them while every request can still fall back to the others when one key fails.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from shared.identity import Identity

__all__ = ["Credential", "CredentialSource", "KeysFor", "PlatformCredentials", "fingerprint"]


def fingerprint(key: str) -> str:
    """A stable, non-reversible name for a key: 16 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Credential:
    provider: str
    key: str = field(repr=False)
    fingerprint: str
    owner: Literal["platform", "user"] = "platform"
    key_id: str | None = None  # a user's stored key (BYOK): its id in the vault

    @property
    def id(self) -> str:
        """What usage events record as the paying key: the BYOK key id, or platform:<fingerprint>."""
        return self.key_id if self.key_id is not None else f"platform:{self.fingerprint}"

    @classmethod
    def platform(cls, provider: str, key: str) -> Credential:
        return cls(provider, key, fingerprint(key), "platform")


# A request's keys per provider (internal name), best first; empty when it has none for that provider.
KeysFor = Callable[[str], tuple[Credential, ...]]


class CredentialSource(Protocol):
    async def keys_for(self, identity: Identity) -> KeysFor:
        """What `identity` may use, once per request (a BYOK source loads the user's keys here, so the
        router's per-candidate checks need no I/O)."""
        ...


class PlatformCredentials:
    def __init__(self, keys: Mapping[str, tuple[str, ...]]) -> None:
        self._keys: dict[str, tuple[Credential, ...]] = {
            provider: tuple(Credential.platform(provider, k) for k in ks) for provider, ks in keys.items() if ks
        }
        self._turns: dict[str, Iterator[int]] = {p: itertools.cycle(range(len(c))) for p, c in self._keys.items()}

    def credentials(self, provider: str, identity: Identity) -> tuple[Credential, ...]:
        keys = self._keys.get(provider, ())
        if len(keys) < 2:
            return keys
        start = next(self._turns[provider])
        return keys[start:] + keys[:start]

    def has(self, provider: str, identity: Identity) -> bool:
        return provider in self._keys

    async def keys_for(self, identity: Identity) -> KeysFor:
        def keys(provider: str) -> tuple[Credential, ...]:
            return self.credentials(provider, identity)

        return keys

    def __repr__(self) -> str:  # never show a key
        return f"PlatformCredentials(providers={sorted(self._keys)})"
