"""Checking what a caller sends for a provider key; each failure is a 400 naming the field.

The API key itself is never echoed: its errors say what is wrong, never what was sent.
"""

from __future__ import annotations

import re

from shared.errors import RequestError
from shared.events.schema import SeedProvider

__all__ = [
    "MAX_KEY_CHARS",
    "MAX_NAME_CHARS",
    "MIN_KEY_CHARS",
    "check_api_key",
    "check_name",
    "check_provider",
    "seed_name",
]

MIN_KEY_CHARS = 8
MAX_KEY_CHARS = 512
MAX_NAME_CHARS = 64
# The seed's spellings and the internal names, any case -> the internal name.
_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "gemini",
    "gemini": "gemini",
}
# Internal name -> the seed's spelling, what the API and audit events show.
_SEED_NAMES: dict[str, SeedProvider] = {"openai": "OPENAI", "anthropic": "ANTHROPIC", "gemini": "GOOGLE"}
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_provider(value: str) -> str:
    provider = _PROVIDERS.get(value.strip().lower())
    if provider is None:
        raise RequestError(f"provider must be OPENAI, ANTHROPIC or GOOGLE, not {value[:64]!r}", field="provider")
    return provider


def check_name(value: str) -> str:
    if not 1 <= len(value) <= MAX_NAME_CHARS:
        raise RequestError(f"name must be 1 to {MAX_NAME_CHARS} characters", field="name")
    if _CONTROL.search(value) or not value.strip():
        raise RequestError("name must not be blank or hold control characters", field="name")
    return value


def check_api_key(value: str) -> str:
    if not MIN_KEY_CHARS <= len(value) <= MAX_KEY_CHARS:
        raise RequestError(f"apiKey must be {MIN_KEY_CHARS} to {MAX_KEY_CHARS} characters", field="apiKey")
    if not _VISIBLE_ASCII.fullmatch(value):
        raise RequestError("apiKey must be visible ASCII characters only (no spaces or line breaks)", field="apiKey")
    return value


def seed_name(provider: str) -> SeedProvider:
    return _SEED_NAMES[provider]
