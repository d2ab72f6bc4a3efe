"""build_secret_box: the local keyset by default, Cloud KMS (over KMS_ENDPOINT here) for KMS_BACKEND=gcp."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shared.crypto.factory import build_secret_box, kms_key_name
from shared.crypto.kms import KmsEnvelopeBox
from shared.crypto.local_keyset import LocalKeysetBox
from shared.settings import Settings, SettingsError
from tests.kms_server import KmsServer

GCP = {
    "KMS_BACKEND": "gcp",
    "GOOGLE_CLOUD_PROJECT_ID": "demo-test",
    "GOOGLE_CLOUD_LOCATION_ID": "global",
    "GOOGLE_CLOUD_KEYRING_ID": "gateway",
    "GOOGLE_CLOUD_KEY_ID": "provider-keys",
}


async def test_local_backend_keeps_the_keyset_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    box = build_secret_box(Settings.from_env({"GATEWAY_DATA_DIR": str(data_dir)}))
    assert isinstance(box, LocalKeysetBox)
    sealed = await box.seal(b"sk-secret", b"ad")
    keyset = data_dir / "secrets" / "byok-keyset.json"
    assert stat.S_IMODE(keyset.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert await box.open(sealed.ciphertext, b"ad") == b"sk-secret"


async def test_gcp_backend_uses_the_configured_key_over_kms_endpoint(kms_server: KmsServer, key_name: str) -> None:
    box = build_secret_box(Settings.from_env({**GCP, "KMS_ENDPOINT": kms_server.host}))
    assert isinstance(box, KmsEnvelopeBox)
    sealed = await box.seal(b"sk-secret", b"ad")
    assert sealed.kek_version == f"{key_name}/cryptoKeyVersions/1"
    assert await box.open(sealed.ciphertext, b"ad") == b"sk-secret"


def test_key_name_from_the_seed_variables() -> None:
    assert kms_key_name(Settings.from_env(GCP)) == (
        "projects/demo-test/locations/global/keyRings/gateway/cryptoKeys/provider-keys"
    )


@pytest.mark.parametrize("variable", [name for name in GCP if name != "KMS_BACKEND"])
def test_a_missing_variable_is_named(variable: str) -> None:
    environ = {**GCP, variable: ""}
    with pytest.raises(SettingsError, match=variable) as caught:
        build_secret_box(Settings.from_env(environ))
    assert caught.value.variable == variable
