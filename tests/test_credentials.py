"""PlatformCredentials: each provider's platform keys are used in turn, a provider without keys has none,
and the object never shows a key."""

from __future__ import annotations

from shared.credentials import PlatformCredentials


def test_keys_are_used_round_robin_per_provider() -> None:
    creds = PlatformCredentials({"openai": ("sk-a", "sk-b", "sk-c"), "anthropic": ("ak-1", "ak-2")})
    assert [creds.key_for("openai") for _ in range(7)] == ["sk-a", "sk-b", "sk-c", "sk-a", "sk-b", "sk-c", "sk-a"]
    # Each provider has its own turn: drawing OpenAI keys did not move Anthropic's.
    assert [creds.key_for("anthropic") for _ in range(3)] == ["ak-1", "ak-2", "ak-1"]


def test_a_single_key_is_always_that_key() -> None:
    creds = PlatformCredentials({"gemini": ("g-1",)})
    assert {creds.key_for("gemini") for _ in range(5)} == {"g-1"}


def test_missing_or_empty_provider_has_no_key() -> None:
    creds = PlatformCredentials({"openai": ("sk-a",), "anthropic": ()})
    assert creds.key_for("anthropic") is None
    assert creds.key_for("gemini") is None
    assert creds.key_for("nope") is None
    assert PlatformCredentials({}).key_for("openai") is None


def test_keys_are_copied_at_construction() -> None:
    keys = {"openai": ("sk-a",)}
    creds = PlatformCredentials(keys)
    keys["openai"] = ("sk-other",)
    keys["gemini"] = ("g-1",)
    assert creds.key_for("openai") == "sk-a"
    assert creds.key_for("gemini") is None


def test_repr_names_providers_but_never_a_key() -> None:
    creds = PlatformCredentials({"openai": ("sk-secret-1", "sk-secret-2"), "gemini": ("AIza-secret",), "anthropic": ()})
    for shown in (repr(creds), str(creds), f"{creds}"):
        assert "secret" not in shown
        assert shown == "PlatformCredentials(providers=['gemini', 'openai'])"
