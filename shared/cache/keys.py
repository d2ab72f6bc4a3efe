"""The response cache key: who may see an entry (the scope) and which request it answers (the canonical request).

Owns the key's format, `<version>:resp:<sha256 of the scope>:<sha256 of the canonical request>`. The scope
(tenant, user, credential owner) is always part of the key, JSON-encoded before hashing so no choice of
delimiters in the names can make two scopes collide: the same prompt from two tenants or two users is two
entries, never a cross hit (issue 4; other gateways leaked answers and bills across tenants this way).

The canonical request is every field of `ChatRequest` that can change the answer, walked generically over the
unified dataclasses so a field added later is keyed by default (a missed hit, never a wrong one). Only the
fields in `EXCLUDED` are left out. Normalized so that equal requests hash equal:
- JSON objects (tool parameters, response schemas, parsed tool-call arguments) are serialized with sorted keys;
- tool-call `arguments` are parsed and re-serialized when they are valid JSON (whitespace and key order do not
  matter; an empty string means `{}`, as on the OpenAI wire); invalid JSON is keyed as its raw text;
- numbers: an integral float equals the int (1 == 1.0, -0.0 == 0); `n` absent equals `n=1` (every provider's
  default).
A string content and a list holding the same single text part stay different keys: equal answers are likely but
not certain, and a missed hit costs only a provider call.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from dataclasses import dataclass
from typing import Final

import orjson

from shared.identity import Identity
from shared.unified import ChatRequest, ToolCall

__all__ = ["EXCLUDED", "CacheScope", "canonical_request", "response_cache_key"]

EXCLUDED: Final = frozenset(
    {
        "stream",  # a stream and a JSON request share an entry: a hit is replayed in either form
        "include_usage",  # only changes whether the usage chunk is sent, not the answer
        "user",  # the end-user id is abuse-monitoring metadata; isolation comes from the scope
    }
)

# orjson serializes integers in [-2**63, 2**64); a bigger one (only possible from an in-process caller, JSON
# decoding makes it a float) is keyed by its digits.
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1


@dataclass(frozen=True, slots=True)
class CacheScope:
    """Who may read an entry. `credential_owner` is the BYOK key's owner once BYOK exists (None: platform key)."""

    tenant: str
    user: str | None
    credential_owner: str | None = None

    def __post_init__(self) -> None:
        # An empty tenant would pool every caller whose identity lost its tenant into one scope.
        if not self.tenant:
            raise ValueError("a cache scope needs a tenant")

    @classmethod
    def of(cls, identity: Identity, credential_owner: str | None = None) -> CacheScope:
        return cls(tenant=identity.tenant, user=identity.user, credential_owner=credential_owner)

    def digest(self) -> str:
        """SHA-256 hex of the scope as a JSON array: unambiguous whatever characters the names hold."""
        encoded = orjson.dumps([self.tenant, self.user, self.credential_owner])
        return hashlib.sha256(encoded).hexdigest()


def response_cache_key(request: ChatRequest, scope: CacheScope, *, version: str = "v1") -> str:
    """The cache key of `request` (its model already resolved to the catalog id) for callers in `scope`.

    Raises TypeError only for values no JSON body can produce (a tool schema holding a non-JSON object or a
    non-string key), which an in-process caller would have to build by hand.
    """
    if not version or ":" in version:
        raise ValueError(f"the key version must be a non-empty word without ':', not {version!r}")
    request_digest = hashlib.sha256(canonical_request(request)).hexdigest()
    return f"{version}:resp:{scope.digest()}:{request_digest}"


def canonical_request(request: ChatRequest) -> bytes:
    """The normalized request as sorted-key JSON: what the request half of the key hashes."""
    body: dict[str, object] = {
        name: _canon(getattr(request, name)) for name in _field_names(ChatRequest) if name not in EXCLUDED
    }
    if request.n is None:
        body["n"] = 1
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


def _canon(value: object) -> object:
    """`value` as plain JSON data with numbers normalized; dataclasses become objects tagged with their type."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else {"~int": str(value)}
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, tuple | list):
        return [_canon(item) for item in value]
    if isinstance(value, dict):
        return {_object_key(k): _canon(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, object] = {"~": type(value).__name__}
        for name in _field_names(type(value)):
            out[name] = _canon(getattr(value, name))
        if isinstance(value, ToolCall):
            out["arguments"] = _arguments(value.arguments)
        return out
    raise TypeError(f"cannot key a value of type {type(value).__name__}")


def _float(value: float) -> object:
    if not math.isfinite(value):
        # orjson writes NaN and infinities as null, which would equal "absent".
        return {"~float": repr(value)}
    if value.is_integer() and _INT_MIN <= value <= _INT_MAX:
        return int(value)
    return value


def _object_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"cannot key a JSON object with a {type(key).__name__} key")
    return key


def _arguments(arguments: str) -> object:
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {"~raw": arguments}
    return {"~json": _canon(parsed)}
