from __future__ import annotations

import hashlib

import pytest

from shared.breakers.scopes import Fault, classify, credential_scope, route_scope
from shared.credentials import fingerprint
from shared.errors import ErrorKind, ProviderError


def _error(kind: ErrorKind, *, retryable: bool = False) -> ProviderError:
    return ProviderError("upstream said no", kind=kind, provider="openai", retryable=retryable)


def test_scope_names() -> None:
    assert route_scope("openai", "gpt-4o") == "route:openai:gpt-4o"
    assert credential_scope("anthropic", "0123456789abcdef") == "cred:anthropic:0123456789abcdef"


def test_a_credential_scope_names_the_key_by_fingerprint_only() -> None:
    key = "sk-test-abcdefghijklmnop"
    scope = credential_scope("openai", fingerprint(key))
    assert scope == "cred:openai:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    assert key not in scope


@pytest.mark.parametrize(
    ("kind", "retryable", "fault"),
    [
        ("overloaded", True, Fault("route", definitive=False)),
        ("api_error", True, Fault("route", definitive=False)),
        ("api_error", False, Fault("route", definitive=False)),
        ("timeout", True, Fault("route", definitive=False)),
        ("network_error", True, Fault("route", definitive=False)),
        ("authentication", False, Fault("credential", definitive=True)),
        ("permission", False, Fault("credential", definitive=True)),
        ("rate_limit", True, Fault("credential", definitive=False)),
        # A rate limit that trying again cannot fix is an exhausted quota: certain after one answer.
        ("rate_limit", False, Fault("credential", definitive=True)),
        ("invalid_request", False, None),
        ("context_length", False, None),
        ("content_filter", False, None),
        ("not_found", False, None),
    ],
)
def test_classify(kind: ErrorKind, retryable: bool, fault: Fault | None) -> None:
    assert classify(_error(kind, retryable=retryable)) == fault
