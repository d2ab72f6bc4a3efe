"""KmsEnvelopeBox through Tink and the real KMS client over gRPC, against the KMS test server."""

from __future__ import annotations

from typing import Any, cast

import pytest
import tink
from google.api_core import exceptions as api_exceptions
from google.cloud import kms

from shared.crypto.kms import KmsEnvelopeBox
from shared.crypto.port import DecryptError, KeyServiceUnavailable
from tests.fakes import FakeClock
from tests.kms_server import KmsServer

SECRET = b"sk-proj-0123456789abcdefghijklmnopqrstuvwxyz"
AD = b"v1|tenant=t1|user=u1|key_id=k1|provider=openai"


def _box(client: kms.KeyManagementServiceClient, key_name: str, **options: Any) -> KmsEnvelopeBox:
    return KmsEnvelopeBox(client, key_name, timeout_seconds=2.0, **options)


def _version(key_name: str, number: int) -> str:
    return f"{key_name}/cryptoKeyVersions/{number}"


def _rotate(client: kms.KeyManagementServiceClient, key_name: str) -> str:
    """A new version made primary, through the API as an operator (or rotation_period) would."""
    version = client.create_crypto_key_version(parent=key_name, crypto_key_version=kms.CryptoKeyVersion())
    client.update_crypto_key_primary_version(name=key_name, crypto_key_version_id=version.name.rsplit("/", 1)[1])
    return str(version.name)


def _set_state(client: kms.KeyManagementServiceClient, version: str, *, enabled: bool) -> None:
    state = kms.CryptoKeyVersion.CryptoKeyVersionState
    client.update_crypto_key_version(
        crypto_key_version=kms.CryptoKeyVersion(name=version, state=state.ENABLED if enabled else state.DISABLED),
        update_mask={"paths": ["state"]},
    )


async def test_round_trip_records_the_version_used(client: kms.KeyManagementServiceClient, key_name: str) -> None:
    box = _box(client, key_name)
    sealed = await box.seal(SECRET, AD)
    assert sealed.kek_version == _version(key_name, 1)
    assert SECRET not in sealed.ciphertext
    assert await box.open(sealed.ciphertext, AD) == SECRET
    # A fresh data key per seal: the same secret never gives the same ciphertext.
    assert (await box.seal(SECRET, AD)).ciphertext != sealed.ciphertext


async def test_wrong_associated_data_does_not_open(client: kms.KeyManagementServiceClient, key_name: str) -> None:
    box = _box(client, key_name)
    sealed = await box.seal(SECRET, AD)
    with pytest.raises(DecryptError):
        await box.open(sealed.ciphertext, AD.replace(b"user=u1", b"user=u2"))


@pytest.mark.parametrize(
    "position",
    [
        pytest.param(1, id="length-header"),  # Tink refuses before any KMS call
        pytest.param(12, id="wrapped-data-key"),  # KMS answers INVALID_ARGUMENT
        pytest.param(-1, id="payload-tag"),  # the data key's GCM tag fails
    ],
)
async def test_tampered_ciphertext_does_not_open(
    client: kms.KeyManagementServiceClient, key_name: str, position: int
) -> None:
    box = _box(client, key_name)
    tampered = bytearray((await box.seal(SECRET, AD)).ciphertext)
    tampered[position] ^= 0x01
    with pytest.raises(DecryptError):
        await box.open(bytes(tampered), AD)
    with pytest.raises(DecryptError):
        await box.open(b"", AD)


@pytest.mark.parametrize(("ring", "key"), [("other-ring", "provider-keys"), ("gateway", "other-key")])
async def test_ciphertext_of_another_key_does_not_open(
    kms_server: KmsServer, client: kms.KeyManagementServiceClient, key_name: str, ring: str, key: str
) -> None:
    other = kms_server.create_key("demo-test", "global", ring, key)
    sealed = await _box(client, key_name).seal(SECRET, AD)
    with pytest.raises(DecryptError):
        await _box(client, other).open(sealed.ciphertext, AD)


async def test_rotation_new_seals_use_the_new_primary_old_ciphertexts_still_open(
    client: kms.KeyManagementServiceClient, key_name: str
) -> None:
    clock = FakeClock()
    box = _box(client, key_name, clock=clock, version_ttl_seconds=60.0)
    assert await box.primary_version() == _version(key_name, 1)
    old = await box.seal(SECRET, AD)

    new_version = _rotate(client, key_name)
    assert new_version == _version(key_name, 2)
    # Seals record the version KMS used at once; primary_version's answer is cached for its TTL.
    new = await box.seal(SECRET, AD)
    assert new.kek_version == new_version
    assert await box.primary_version() == _version(key_name, 1)
    clock.advance(60.0)
    assert await box.primary_version() == new_version

    assert await box.open(old.ciphertext, AD) == SECRET
    assert await box.open(new.ciphertext, AD) == SECRET


async def test_disabled_version_fails_until_rewrapped_or_reenabled(
    client: kms.KeyManagementServiceClient, key_name: str
) -> None:
    """FAILED_PRECONDITION is KeyServiceUnavailable: the record is intact, not forged (see shared.crypto.kms)."""
    box = _box(client, key_name)
    old = await box.seal(SECRET, AD)
    _rotate(client, key_name)
    rewrapped = await box.seal(await box.open(old.ciphertext, AD), AD)

    _set_state(client, _version(key_name, 1), enabled=False)
    with pytest.raises(KeyServiceUnavailable, match="FailedPrecondition"):
        await box.open(old.ciphertext, AD)
    assert rewrapped.kek_version == _version(key_name, 2)
    assert await box.open(rewrapped.ciphertext, AD) == SECRET

    _set_state(client, _version(key_name, 1), enabled=True)
    assert await box.open(old.ciphertext, AD) == SECRET


async def test_disabled_primary_cannot_seal(
    kms_server: KmsServer, client: kms.KeyManagementServiceClient, key_name: str
) -> None:
    kms_server.set_enabled(key_name, 1, enabled=False)
    with pytest.raises(KeyServiceUnavailable):
        await _box(client, key_name).seal(SECRET, AD)


async def test_stopped_service_is_unavailable(
    kms_server: KmsServer, client: kms.KeyManagementServiceClient, key_name: str
) -> None:
    box = _box(client, key_name)
    sealed = await box.seal(SECRET, AD)
    kms_server.stop()
    with pytest.raises(KeyServiceUnavailable, match="ServiceUnavailable"):
        await box.open(sealed.ciphertext, AD)
    with pytest.raises(KeyServiceUnavailable, match="ServiceUnavailable"):
        await box.seal(SECRET, AD)
    with pytest.raises(KeyServiceUnavailable, match="ServiceUnavailable"):
        await box.primary_version()


async def test_hung_service_ends_at_the_call_deadline(
    kms_server: KmsServer, client: kms.KeyManagementServiceClient, key_name: str
) -> None:
    box = KmsEnvelopeBox(client, key_name, timeout_seconds=0.2)
    sealed = await box.seal(SECRET, AD)
    kms_server.hold()
    try:
        with pytest.raises(KeyServiceUnavailable, match="DeadlineExceeded"):
            await box.open(sealed.ciphertext, AD)
    finally:
        kms_server.release()


async def test_primary_version_of_a_missing_key_is_unavailable(client: kms.KeyManagementServiceClient) -> None:
    box = _box(client, "projects/demo-test/locations/global/keyRings/gateway/cryptoKeys/missing")
    with pytest.raises(KeyServiceUnavailable, match="NotFound"):
        await box.primary_version()


class _ChainingClient:
    """A client whose failure reaches Tink as a TinkError chained from the KMS error (not Tink's wrapping)."""

    def encrypt(self, request: object, **options: object) -> object:
        cause = api_exceptions.ServiceUnavailable("connection refused")  # type: ignore[no-untyped-call]
        raise tink.TinkError("KMS call failed") from cause

    decrypt = encrypt


async def test_kms_error_found_down_the_cause_chain() -> None:
    box = KmsEnvelopeBox(
        cast(kms.KeyManagementServiceClient, _ChainingClient()),
        "projects/p/locations/global/keyRings/r/cryptoKeys/k",
    )
    with pytest.raises(KeyServiceUnavailable, match="ServiceUnavailable"):
        await box.seal(SECRET, AD)
    with pytest.raises(KeyServiceUnavailable, match="ServiceUnavailable"):
        await box.open(b"\x00\x00\x00\x01" + b"x" * 40, AD)


@pytest.mark.parametrize(
    "name",
    [
        "provider-keys",
        "projects/p/locations/global/keyRings/r",
        "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
    ],
)
def test_a_name_that_is_not_a_crypto_key_is_refused(client: kms.KeyManagementServiceClient, name: str) -> None:
    with pytest.raises(ValueError, match="not a Cloud KMS key name"):
        KmsEnvelopeBox(client, name)
