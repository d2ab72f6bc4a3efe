"""The Cloud KMS SecretBox: Tink's `KmsEnvelopeAead` (a fresh AES-256-GCM data key per secret, wrapped by a
Cloud KMS key) over an injected `KeyManagementServiceClient`.

KMS calls are blocking gRPC, so seal, open and `primary_version` run in `asyncio.to_thread`. Each call
gets one attempt with a short deadline (`timeout_seconds`) instead of the client's default of retrying
for 60 s: a KMS outage must turn into a prompt 503 (`KeyServiceUnavailable`), and the caller, which keeps
opened keys in a short-lived cache, decides what to retry.

Errors. Tink's GCP AEAD wraps the client's `GoogleAPIError` in a `TinkError` (as its first argument,
raised inside the `except`, so also its `__context__`); `_kms_cause` digs it out. Then:
- no KMS error (the data-key layer refused: wrong associated data, a tampered payload or length header),
  or KMS INVALID_ARGUMENT (the wrapped data key does not open under this key: tampered, or another key's):
  `DecryptError`.
- any other KMS error: `KeyServiceUnavailable`. That includes FAILED_PRECONDITION, which KMS answers when
  the version that wrapped the data key is disabled (or destroyed): the ciphertext is intact and opens
  again once the version is re-enabled, so it is an operational failure (503, re-enable or re-wrap), not a
  forged or swapped record; likewise NOT_FOUND / PERMISSION_DENIED (a misconfigured key or role).

`Sealed.kek_version` is the version KMS actually used (the Encrypt response's `name`), exact even while
`primary_version`'s cached answer is a minute old.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import tink
from google.api_core import exceptions as api_exceptions
from google.cloud import kms
from tink import aead
from tink.integration import gcpkms

from shared.clock import Clock, SystemClock
from shared.crypto.port import DecryptError, KeyServiceUnavailable, Sealed

__all__ = ["KmsEnvelopeBox"]

_KEY_URI_PREFIX = "gcp-kms://"
_CAUSE_DEPTH = 8


class KmsEnvelopeBox:
    """`SecretBox` over the Cloud KMS key `key_name` (`projects/P/locations/L/keyRings/R/cryptoKeys/K`)."""

    def __init__(
        self,
        client: kms.KeyManagementServiceClient,
        key_name: str,
        *,
        clock: Clock | None = None,
        timeout_seconds: float = 5.0,
        version_ttl_seconds: float = 60.0,
    ) -> None:
        aead.register()  # Tink's registry; idempotent
        self._client = client
        self._key_name = key_name
        self._clock = clock or SystemClock()
        self._timeout = timeout_seconds
        self._version_ttl = version_ttl_seconds
        self._version: tuple[float, str] | None = None  # (monotonic expiry, version name)
        try:
            # A version name would seal but never open (Tink decrypts only under a CryptoKey); Tink checks
            # the rest of the form here, so a bad name fails at construction, not at first use.
            if "/cryptoKeyVersions/" in key_name:
                raise tink.TinkError("a CryptoKeyVersion, not a CryptoKey")
            self._kms_client(_Calls(client, timeout_seconds)).get_aead(_KEY_URI_PREFIX + key_name)
        except tink.TinkError:
            raise ValueError(
                f"{key_name!r} is not a Cloud KMS key name (projects/P/locations/L/keyRings/R/cryptoKeys/K)"
            ) from None

    async def seal(self, plaintext: bytes, associated_data: bytes) -> Sealed:
        return await asyncio.to_thread(self._seal, plaintext, associated_data)

    async def open(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        return await asyncio.to_thread(self._open, ciphertext, associated_data)

    async def primary_version(self) -> str | None:
        now = self._clock.monotonic()
        if self._version is not None and now < self._version[0]:
            return self._version[1]
        name = await asyncio.to_thread(self._fetch_primary)
        self._version = (now + self._version_ttl, name)
        return name

    def _envelope(self, calls: _Calls) -> Any:
        uri = _KEY_URI_PREFIX + self._key_name
        remote = self._kms_client(calls).get_aead(uri)
        return aead.KmsEnvelopeAead(aead.aead_key_templates.AES256_GCM, remote)

    @staticmethod
    def _kms_client(calls: _Calls) -> Any:
        return gcpkms.new_client(kms_v1_client=calls, key_uri=None)

    def _seal(self, plaintext: bytes, associated_data: bytes) -> Sealed:
        # One envelope per call, so the version recorded is this call's (seals run concurrently in threads).
        calls = _Calls(self._client, self._timeout)
        try:
            ciphertext = bytes(self._envelope(calls).encrypt(plaintext, associated_data))
        except tink.TinkError as error:
            cause = _kms_cause(error)
            if cause is None:
                raise
            raise KeyServiceUnavailable(f"Cloud KMS Encrypt failed: {_describe(cause)}") from cause
        return Sealed(ciphertext=ciphertext, kek_version=calls.encrypted_with)

    def _open(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        try:
            return bytes(self._envelope(_Calls(self._client, self._timeout)).decrypt(ciphertext, associated_data))
        except tink.TinkError as error:
            cause = _kms_cause(error)
            if cause is None or isinstance(cause, api_exceptions.InvalidArgument):
                raise DecryptError("the ciphertext does not open under this associated data") from None
            raise KeyServiceUnavailable(f"Cloud KMS Decrypt failed: {_describe(cause)}") from cause

    def _fetch_primary(self) -> str:
        try:
            key = self._client.get_crypto_key(name=self._key_name, retry=None, timeout=self._timeout)
        except api_exceptions.GoogleAPIError as error:
            raise KeyServiceUnavailable(f"Cloud KMS GetCryptoKey failed: {_describe(error)}") from error
        if not key.primary.name:
            raise KeyServiceUnavailable(f"Cloud KMS key {self._key_name} has no primary version")
        return str(key.primary.name)


class _Calls:
    """What Tink's GCP AEAD calls on the client (`encrypt`, `decrypt`), each one attempt with a deadline.

    Also notes the version an Encrypt used, which Tink does not return.
    """

    def __init__(self, client: kms.KeyManagementServiceClient, timeout: float) -> None:
        self._client = client
        self._timeout = timeout
        self.encrypted_with: str | None = None

    def encrypt(self, request: Mapping[str, Any]) -> kms.EncryptResponse:
        response = self._client.encrypt(request=dict(request), retry=None, timeout=self._timeout)
        self.encrypted_with = response.name
        return response

    def decrypt(self, request: Mapping[str, Any]) -> kms.DecryptResponse:
        return self._client.decrypt(request=dict(request), retry=None, timeout=self._timeout)


def _kms_cause(error: BaseException) -> api_exceptions.GoogleAPIError | None:
    """The KMS client error inside a TinkError: an argument, or down the cause/context chain."""
    current: BaseException | None = error
    for _ in range(_CAUSE_DEPTH):
        if current is None:
            return None
        if isinstance(current, api_exceptions.GoogleAPIError):
            return current
        for argument in current.args:
            if isinstance(argument, api_exceptions.GoogleAPIError):
                return argument
        current = current.__cause__ or current.__context__
    return None


def _describe(error: api_exceptions.GoogleAPIError) -> str:
    # The status and the service's message (never a plaintext: KMS messages carry resource names only).
    return f"{type(error).__name__}: {getattr(error, 'message', None) or error}"
