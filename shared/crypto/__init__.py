"""Envelope encryption of provider keys (BYOK): the port and its adapters (Tink over Cloud KMS, local keyset).

`KmsEnvelopeBox` is not re-exported here: it lives in `shared.crypto.kms`, which imports the Cloud KMS
client (half a second), and `build_secret_box` imports it only for KMS_BACKEND=gcp.
"""

from shared.crypto.factory import build_secret_box
from shared.crypto.local_keyset import LocalKeysetBox
from shared.crypto.port import DecryptError, KeyServiceUnavailable, Sealed, SecretBox

__all__ = ["DecryptError", "KeyServiceUnavailable", "LocalKeysetBox", "Sealed", "SecretBox", "build_secret_box"]
