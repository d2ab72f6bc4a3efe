"""The KMS test server itself: it really encrypts (AES-256-GCM per version, AAD enforced), over the real client."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud import kms

from tests.kms_server import KmsServer

PLAINTEXT = b"a data encryption key, 32 bytes!"
AAD = b"context"


def _encrypt(client: kms.KeyManagementServiceClient, name: str) -> kms.EncryptResponse:
    request = {"name": name, "plaintext": PLAINTEXT, "additional_authenticated_data": AAD}
    return client.encrypt(request=request)


def _decrypt(
    client: kms.KeyManagementServiceClient, name: str, ciphertext: bytes, aad: bytes = AAD
) -> kms.DecryptResponse:
    request = {"name": name, "ciphertext": ciphertext, "additional_authenticated_data": aad}
    return client.decrypt(request=request)


def test_resources_are_named_like_the_real_api(client: kms.KeyManagementServiceClient) -> None:
    ring = client.create_key_ring(parent="projects/p/locations/global", key_ring_id="r", key_ring=kms.KeyRing())
    assert ring.name == "projects/p/locations/global/keyRings/r"
    key = client.create_crypto_key(parent=ring.name, crypto_key_id="k", crypto_key=kms.CryptoKey())
    assert key.name == f"{ring.name}/cryptoKeys/k"
    assert key.primary.name == f"{key.name}/cryptoKeyVersions/1"
    assert key.primary.state == kms.CryptoKeyVersion.CryptoKeyVersionState.ENABLED
    assert client.get_crypto_key(name=key.name).primary.name == key.primary.name
    with pytest.raises(api_exceptions.AlreadyExists):
        client.create_key_ring(parent="projects/p/locations/global", key_ring_id="r", key_ring=kms.KeyRing())
    with pytest.raises(api_exceptions.NotFound):
        client.get_crypto_key(name=f"{ring.name}/cryptoKeys/missing")


def test_encrypt_really_encrypts_and_enforces_aad(client: kms.KeyManagementServiceClient, key_name: str) -> None:
    first = _encrypt(client, key_name)
    second = _encrypt(client, key_name)
    assert first.name == f"{key_name}/cryptoKeyVersions/1"
    assert PLAINTEXT not in first.ciphertext
    assert first.ciphertext != second.ciphertext  # a fresh nonce each time
    with pytest.raises(api_exceptions.InvalidArgument):
        _decrypt(client, key_name, first.ciphertext, b"other")
    with pytest.raises(api_exceptions.InvalidArgument):
        _decrypt(client, key_name, first.ciphertext, b"")
    answer = _decrypt(client, key_name, first.ciphertext)
    assert answer.plaintext == PLAINTEXT
    assert answer.used_primary


def test_decrypt_picks_the_version_and_refuses_a_disabled_one(
    kms_server: KmsServer, client: kms.KeyManagementServiceClient, key_name: str
) -> None:
    old = _encrypt(client, key_name)
    kms_server.set_primary(key_name, kms_server.add_version(key_name))
    new = _encrypt(client, key_name)
    assert new.name == f"{key_name}/cryptoKeyVersions/2"
    answer = _decrypt(client, key_name, old.ciphertext)
    assert (answer.plaintext, answer.used_primary) == (PLAINTEXT, False)

    kms_server.set_enabled(key_name, 1, enabled=False)
    with pytest.raises(api_exceptions.FailedPrecondition):
        _decrypt(client, key_name, old.ciphertext)
    assert _decrypt(client, key_name, new.ciphertext).plaintext
    assert client.get_crypto_key(name=key_name).primary.name == new.name
