"""The provider registry: a literal dict from provider name to its spec of pure functions.

The file name, the registry key and the spec's `name` are the same word (style.md, point 4).
Internal names are `openai`, `anthropic`, `gemini`; the seed API's spellings (`OPENAI`,
`ANTHROPIC`, `GOOGLE`) are mapped in `SEED_NAMES`.
"""

from __future__ import annotations

from typing import Literal

from shared.providers import anthropic, gemini, openai
from shared.providers.spec import HttpRequest, ProviderSpec, StreamParser

__all__ = ["PROVIDERS", "SEED_NAMES", "HttpRequest", "ProviderName", "ProviderSpec", "StreamParser"]

ProviderName = Literal["openai", "anthropic", "gemini"]

PROVIDERS: dict[str, ProviderSpec] = {
    "openai": openai.SPEC,
    "anthropic": anthropic.SPEC,
    "gemini": gemini.SPEC,
}

SEED_NAMES: dict[str, str] = {"openai": "OPENAI", "anthropic": "ANTHROPIC", "gemini": "GOOGLE"}
