"""Input checks: accepted spellings and bounds (the 400s naming fields run in tests/vault/test_service.py)."""

from __future__ import annotations

import pytest

from shared.errors import RequestError
from shared.vault.validation import check_api_key, check_name, check_provider, seed_name


@pytest.mark.parametrize(
    ("value", "internal"),
    [
        ("OPENAI", "openai"),
        ("openai", "openai"),
        ("Anthropic", "anthropic"),
        ("google", "gemini"),
        ("GEMINI", "gemini"),
    ],
)
def test_provider_spellings(value: str, internal: str) -> None:
    assert check_provider(value) == internal


def test_seed_names() -> None:
    assert [seed_name(p) for p in ("openai", "anthropic", "gemini")] == ["OPENAI", "ANTHROPIC", "GOOGLE"]


def test_bounds_are_inclusive() -> None:
    assert check_name("n") == "n"
    assert check_name("n" * 64) == "n" * 64
    assert check_api_key("k" * 8) == "k" * 8
    assert check_api_key("k" * 512) == "k" * 512
    assert check_name("Work key (prod) ünï") == "Work key (prod) ünï"


def test_api_key_errors_do_not_echo_it() -> None:
    with pytest.raises(RequestError) as caught:
        check_api_key("sk-secret\tvalue")
    assert "sk-secret" not in caught.value.message
    assert caught.value.field == "apiKey"
