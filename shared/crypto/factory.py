"""Choosing the SecretBox from the settings: `KMS_BACKEND=local` (a keyset file in the data dir) or `gcp`.

The Cloud KMS modules (`google.cloud.kms`, Tink's GCP integration) take about half a second to import, so
they are imported only when the gcp backend is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.crypto.local_keyset import LocalKeysetBox
from shared.crypto.port import SecretBox
from shared.local_secrets import SECRETS_DIR, private_dir
from shared.settings import Settings, SettingsError

if TYPE_CHECKING:
    from google.cloud import kms

__all__ = ["KEYSET_FILE", "build_secret_box", "kms_client", "kms_key_name"]

KEYSET_FILE = "byok-keyset.json"


def build_secret_box(settings: Settings) -> SecretBox:
    """The box for `settings.kms_backend`; for gcp, a missing GOOGLE_CLOUD_* variable raises `SettingsError`."""
    if settings.kms_backend == "local":
        private_dir(settings.data_dir)
        return LocalKeysetBox(settings.data_dir / SECRETS_DIR / KEYSET_FILE)
    key_name = kms_key_name(settings)
    from shared.crypto.kms import KmsEnvelopeBox

    return KmsEnvelopeBox(kms_client(settings.kms_endpoint), key_name)


def kms_key_name(settings: Settings) -> str:
    """`projects/P/locations/L/keyRings/R/cryptoKeys/K` from the seed's GOOGLE_CLOUD_* variables."""
    parts = []
    for variable, value in (
        ("GOOGLE_CLOUD_PROJECT_ID", settings.google_cloud_project_id),
        ("GOOGLE_CLOUD_LOCATION_ID", settings.google_cloud_location_id),
        ("GOOGLE_CLOUD_KEYRING_ID", settings.google_cloud_keyring_id),
        ("GOOGLE_CLOUD_KEY_ID", settings.google_cloud_key_id),
    ):
        if value is None:
            raise SettingsError(variable, "must be set when KMS_BACKEND=gcp (it names the Cloud KMS key)")
        parts.append(value)
    project, location, key_ring, key = parts
    return f"projects/{project}/locations/{location}/keyRings/{key_ring}/cryptoKeys/{key}"


def kms_client(endpoint: str | None) -> kms.KeyManagementServiceClient:
    """The gRPC KMS client: Google's service with application default credentials, or, with `endpoint`
    (`host:port`, KMS_ENDPOINT; tests), a plaintext channel to it (the client ignores credentials then and
    never looks for application default ones)."""
    import grpc
    from google.cloud import kms
    from google.cloud.kms_v1.services.key_management_service.transports import KeyManagementServiceGrpcTransport

    if endpoint is None:
        channel = KeyManagementServiceGrpcTransport.create_channel(options=_CHANNEL_OPTIONS)
        return kms.KeyManagementServiceClient(transport=KeyManagementServiceGrpcTransport(channel=channel))
    channel = grpc.insecure_channel(endpoint, options=_CHANNEL_OPTIONS)
    return kms.KeyManagementServiceClient(transport=KeyManagementServiceGrpcTransport(host=endpoint, channel=channel))


# gRPC backs off reconnecting up to 120 s by default: after a KMS outage, decrypts would keep failing
# (503) long after the service is back. Retry the connection at least every 2 s instead.
_CHANNEL_OPTIONS = [("grpc.max_reconnect_backoff_ms", 2000), ("grpc.initial_reconnect_backoff_ms", 200)]
