"""The key-encryption port: sealing provider keys (BYOK) so that only this gateway, with its KEK, can open
them, and only for the context they were sealed for.

`SecretBox.seal(plaintext, associated_data)` returns the ciphertext and the KEK version that wrapped its
data key; `open(ciphertext, associated_data)` returns the plaintext or raises `DecryptError` (wrong
context: a swapped record, a tampered blob) or `KeyServiceUnavailable` (the KMS cannot be reached: a
503, nothing is lost). Adapters: Tink `KmsEnvelopeAead` over Cloud KMS, and a local Tink keyset file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["DecryptError", "KeyServiceUnavailable", "Sealed", "SecretBox"]


class DecryptError(Exception):
    """The ciphertext does not open under this associated data (never says more: no oracle)."""


class KeyServiceUnavailable(Exception):
    """The key service (Cloud KMS) could not be reached or refused to work; try again later."""


@dataclass(frozen=True, slots=True)
class Sealed:
    ciphertext: bytes
    kek_version: str | None  # the KEK's primary version at encryption time (None for a local keyset)


class SecretBox(Protocol):
    async def seal(self, plaintext: bytes, associated_data: bytes) -> Sealed: ...

    async def open(self, ciphertext: bytes, associated_data: bytes) -> bytes: ...

    async def primary_version(self) -> str | None:
        """The KEK version new seals are made under (cached briefly); None for a local keyset."""
        ...
