"""What a provider error counts against: breaker scope names and the fault classification.

Two scopes keep one user's revoked key from taking a provider down for everyone (architecture, Circuit
breakers):
- route (provider, model): provider faults, the ones a different credential would not fix
  (overloaded, api_error, timeout, network_error);
- credential (provider, key fingerprint): faults of one key (authentication, permission, rate_limit).

Authentication, permission and exhausted quota (a rate_limit the provider module marked not
retryable) are definitive: one such answer is certain, so it trips the credential breaker at once
instead of waiting for a ratio. Caller kinds (invalid_request, context_length, content_filter,
not_found) say nothing about the provider or the key and count nowhere.

Scope strings name keys only by fingerprint: a plaintext key is never stored or logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.errors import ErrorKind, ProviderError

__all__ = ["Fault", "FaultScope", "classify", "credential_scope", "route_scope"]

FaultScope = Literal["route", "credential"]

_SCOPE_OF: dict[ErrorKind, FaultScope] = {
    "overloaded": "route",
    "api_error": "route",
    "timeout": "route",
    "network_error": "route",
    "authentication": "credential",
    "permission": "credential",
    "rate_limit": "credential",
}
_ALWAYS_DEFINITIVE: frozenset[ErrorKind] = frozenset({"authentication", "permission"})


@dataclass(frozen=True, slots=True)
class Fault:
    """Which breaker a failure counts against, and whether it trips that breaker on its own."""

    scope: FaultScope
    definitive: bool


def route_scope(provider: str, model: str) -> str:
    return f"route:{provider}:{model}"


def credential_scope(provider: str, fingerprint: str) -> str:
    return f"cred:{provider}:{fingerprint}"


def classify(error: ProviderError) -> Fault | None:
    """The fault `error` counts as, or None for the caller's own mistakes."""
    scope = _SCOPE_OF.get(error.kind)
    if scope is None:
        return None
    quota_exhausted = error.kind == "rate_limit" and not error.retryable
    return Fault(scope=scope, definitive=error.kind in _ALWAYS_DEFINITIVE or quota_exhausted)
