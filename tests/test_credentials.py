"""Credentials: a provider's platform keys in rotated order (each request starts one key further on, and
still has every key to fall back on), fingerprints instead of keys, and nothing ever shows a key."""

from __future__ import annotations

import hashlib

from shared.credentials import Credential, PlatformCredentials, fingerprint
from shared.identity import Identity

WHO = Identity(tenant="app-1", key_id="key-1")


def keys_of(creds: tuple[Credential, ...]) -> list[str]:
    return [c.key for c in creds]


def test_each_request_starts_one_key_further_and_keeps_every_key() -> None:
    creds = PlatformCredentials({"openai": ("sk-a", "sk-b", "sk-c"), "anthropic": ("ak-1", "ak-2")})
    orders = [keys_of(creds.credentials("openai", WHO)) for _ in range(4)]
    assert orders == [
        ["sk-a", "sk-b", "sk-c"],
        ["sk-b", "sk-c", "sk-a"],
        ["sk-c", "sk-a", "sk-b"],
        ["sk-a", "sk-b", "sk-c"],
    ]
    # Each provider has its own turn: drawing OpenAI keys did not move Anthropic's.
    assert keys_of(creds.credentials("anthropic", WHO)) == ["ak-1", "ak-2"]


def test_a_single_key_is_always_that_key() -> None:
    creds = PlatformCredentials({"gemini": ("g-1",)})
    assert {tuple(keys_of(creds.credentials("gemini", WHO))) for _ in range(5)} == {("g-1",)}


def test_missing_or_empty_provider_has_no_key() -> None:
    creds = PlatformCredentials({"openai": ("sk-a",), "anthropic": ()})
    assert creds.credentials("anthropic", WHO) == ()
    assert creds.credentials("gemini", WHO) == ()
    assert not creds.has("anthropic", WHO)
    assert not creds.has("nope", WHO)
    assert creds.has("openai", WHO)
    assert PlatformCredentials({}).credentials("openai", WHO) == ()


def test_keys_are_copied_at_construction() -> None:
    keys = {"openai": ("sk-a",)}
    creds = PlatformCredentials(keys)
    keys["openai"] = ("sk-other",)
    keys["gemini"] = ("g-1",)
    assert keys_of(creds.credentials("openai", WHO)) == ["sk-a"]
    assert not creds.has("gemini", WHO)


def test_credentials_carry_provider_owner_and_a_fingerprint_not_the_key() -> None:
    (cred,) = PlatformCredentials({"openai": ("sk-secret-1",)}).credentials("openai", WHO)
    assert (cred.provider, cred.owner) == ("openai", "platform")
    assert cred.fingerprint == hashlib.sha256(b"sk-secret-1").hexdigest()[:16] == fingerprint("sk-secret-1")
    assert fingerprint("sk-secret-2") != cred.fingerprint
    assert "secret" not in repr(cred)


def test_repr_names_providers_but_never_a_key() -> None:
    creds = PlatformCredentials({"openai": ("sk-secret-1", "sk-secret-2"), "gemini": ("AIza-secret",), "anthropic": ()})
    for shown in (repr(creds), str(creds), f"{creds}"):
        assert "secret" not in shown
        assert shown == "PlatformCredentials(providers=['gemini', 'openai'])"


async def test_keys_for_a_request_are_the_platform_keys_in_turn() -> None:
    creds = PlatformCredentials({"openai": ("sk-a", "sk-b")})
    keys = await creds.keys_for(WHO)
    assert keys_of(keys("openai")) == ["sk-a", "sk-b"]
    assert keys_of(keys("openai")) == ["sk-b", "sk-a"]
    assert keys("gemini") == ()
