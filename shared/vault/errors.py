"""The vault's errors, each a `GatewayError` so every route renders it in its own envelope.

Decisions:
- Another tenant's or user's key id is `KeyNotFound` (404), exactly like an id that never existed: a 403
  would confirm the id exists.
- `KeyUnusable` (500) is a ciphertext that does not open under its record's associated data: the record
  was altered or swapped (the swap attack), or its KEK is gone. The caller did nothing wrong, so not a
  4xx; the message says the remedy (rotate: store the key again). The failure is audited.
- `KeyServiceDown` (503) is the KMS unreachable: nothing was lost, try again later.
"""

from __future__ import annotations

from shared.errors import GatewayError, RequestError

__all__ = ["KMS_RETRY_AFTER", "DuplicateKeyName", "KeyNotFound", "KeyServiceDown", "KeyUnusable"]

# Seconds a 503 asks the caller to wait: the KMS client's own retries have already run.
KMS_RETRY_AFTER = 5.0


class KeyNotFound(RequestError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"no provider key {key_id[:64]!r} for this caller", field="id", status=404)


class DuplicateKeyName(RequestError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a provider key named {name!r} already exists: choose another name", field="name", status=409)


class KeyUnusable(GatewayError):
    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"provider key {key_id} cannot be decrypted for this caller (its record was altered or its "
            f"encryption key is gone): store it again with POST /api/ai/keys/{key_id}/rotate",
            status=500,
        )


class KeyServiceDown(GatewayError):
    def __init__(self) -> None:
        super().__init__(
            "the key service (KMS) is unavailable, so provider keys cannot be encrypted or decrypted now; "
            "nothing was changed or lost: try again shortly",
            status=503,
        )
        self.retry_after = KMS_RETRY_AFTER
