"""The associated data every BYOK ciphertext is sealed under: what binds a secret to its one record.

Exact form (version "v1"), UTF-8:

    context = "v1|{tenant}|{user or ''}|{key_id}|{provider}"
    aad     = context + "|" + hex(HMAC-SHA256(ENCRYPTION_CONTEXT_SALT, context))

`provider` is the internal name (`openai`, `anthropic`, `gemini`); a tenant-level key has user ''. The
AEAD authenticates the whole string, so a ciphertext copied onto another record (another tenant, user,
key id or provider) does not open. The salt's HMAC ties every ciphertext to this deployment's salt too:
someone who can write records and call the KMS with the gateway's identity still cannot forge the
associated data of a record without the salt. No part may hold '|' (the separator); user ids cannot
(shared.auth), key ids are ours, and a tenant holding one is refused rather than made ambiguous.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["AAD_VERSION", "associated_data"]

AAD_VERSION = "v1"
_SEPARATOR = "|"


def associated_data(salt: str, *, tenant: str, user: str | None, key_id: str, provider: str) -> bytes:
    if not salt:
        raise ValueError("associated data needs the ENCRYPTION_CONTEXT_SALT")
    parts = (AAD_VERSION, tenant, user or "", key_id, provider)
    if any(_SEPARATOR in part for part in parts):
        raise ValueError("tenant, user, key id and provider must not contain '|'")
    context = _SEPARATOR.join(parts)
    digest = hmac.new(salt.encode("utf-8"), context.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{context}{_SEPARATOR}{digest}".encode()
