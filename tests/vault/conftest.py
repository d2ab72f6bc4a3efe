"""Vault fixtures: a real AES-256-GCM `SecretBox` for unit tests, and the document store of
tests/store (SQLite and the Firestore emulator), reused as is."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.crypto.port import DecryptError, KeyServiceUnavailable, Sealed
from shared.store import DocumentStore
from shared.vault.audit import MemoryAuditSink
from shared.vault.service import Vault
from tests.fakes import FakeClock
from tests.store.conftest import firestore_host, firestore_store, sqlite_store, store

__all__ = ["SALT", "AesGcmBox", "firestore_host", "firestore_store", "sqlite_store", "store"]

SALT = "test-encryption-context-salt"
_NONCE = 12


class AesGcmBox:
    """A `SecretBox` with one AES-256-GCM key (AAD enforced), the nonce prefixed to the ciphertext.
    `down` makes every call fail as an unreachable KMS would; `opens` counts decrypts."""

    def __init__(self, version: str | None = "1") -> None:
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))
        self.version = version
        self.down = False
        self.opens = 0

    async def seal(self, plaintext: bytes, associated_data: bytes) -> Sealed:
        if self.down:
            raise KeyServiceUnavailable("test KMS is down")
        nonce = os.urandom(_NONCE)
        return Sealed(nonce + self._aead.encrypt(nonce, plaintext, associated_data), self.version)

    async def open(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        if self.down:
            raise KeyServiceUnavailable("test KMS is down")
        self.opens += 1
        try:
            return self._aead.decrypt(ciphertext[:_NONCE], ciphertext[_NONCE:], associated_data)
        except InvalidTag:
            raise DecryptError("does not open") from None

    async def primary_version(self) -> str | None:
        return self.version


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def box() -> AesGcmBox:
    return AesGcmBox()


@pytest.fixture
def audit() -> MemoryAuditSink:
    return MemoryAuditSink()


MakeVault = Callable[..., Vault]


@pytest.fixture
def make_vault(box: AesGcmBox, clock: FakeClock, audit: MemoryAuditSink) -> Callable[[DocumentStore], Vault]:
    def make(store: DocumentStore, *, cache_ttl: float = 60.0, cache_size: int = 1000) -> Vault:
        return Vault(store, box, SALT, clock, audit, cache_ttl=cache_ttl, cache_size=cache_size)

    return make
