"""Which model names the simulator serves, and the per-model parameter rejections it reproduces.

Acceptance is by name pattern, not by a catalog, so new snapshots keep working:
- OpenAI: `gpt-`, `chatgpt-`, or `o` + digit (o1, o3-mini, o4-mini, ...). Anything else is a 404
  `model_not_found` (`openai/error_404.json`: "non-existent-model").
- Anthropic: `claude-` followed by an optional version (`3-`, `3-5-`), then a family word (`_CLAUDE_FAMILIES`,
  the families in the SDK's model list) and an optional suffix; or `claude-<n>[.<m>]` (claude-2.1). A
  misspelled family is a 404 `not_found_error` "model: <name>" (`anthropic/error_404.json`:
  "claude-sonet-4-5"); a new family has to be added to the table.
- Gemini: `gemini-` or `gemma-`. Retired models are not modelled: `gemini/error_404.json` (1.5-flash, 2026)
  and `gemini/content_filter.json` (a 200 from the same model, 2025) disagree only in time.

Parameter rejections follow providers.md 1.1 and the recording `openai/error_400.json`: reasoning models
reject `stop` (o1-mini, o3*, o4-mini*) and the legacy `max_tokens` (every o-series model).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["OPENAI_UNSUPPORTED", "model_accepted"]

_CLAUDE_FAMILIES: Final = ("opus", "sonnet", "haiku", "instant", "fable", "mythos")
_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    "openai": re.compile(r"^(?:gpt-|chatgpt-|o\d)"),
    "anthropic": re.compile(
        rf"^claude-(?:(?:\d+(?:\.\d+)?-)*(?:{'|'.join(_CLAUDE_FAMILIES)})(?:-[a-z0-9.-]+)?|\d+(?:\.\d+)?)$"
    ),
    "gemini": re.compile(r"^(?:gemini-|gemma-)"),
}

# (model pattern, body parameter, message) for OpenAI 400 `unsupported_parameter`.
OPENAI_UNSUPPORTED: Final[tuple[tuple[re.Pattern[str], str, str], ...]] = (
    (
        re.compile(r"^(?:o1-mini|o3|o4-mini)"),
        "stop",
        "Unsupported parameter: 'stop' is not supported with this model.",
    ),
    (
        re.compile(r"^o\d"),
        "max_tokens",
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
    ),
)


def model_accepted(provider: str, model: str) -> bool:
    return _PATTERNS[provider].match(model) is not None
