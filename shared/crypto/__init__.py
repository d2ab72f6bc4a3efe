"""Envelope encryption of provider keys (BYOK): the port and its adapters (Tink over Cloud KMS, local keyset)."""

from shared.crypto.port import DecryptError, KeyServiceUnavailable, Sealed, SecretBox

__all__ = ["DecryptError", "KeyServiceUnavailable", "Sealed", "SecretBox"]
