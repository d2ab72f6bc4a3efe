"""What of a provider's error message a tenant may see.

Upstream messages are useful (they say what was wrong) but written for the key's owner: OpenAI's
rate-limit text names the organization ("... in organization org-..."), 401s echo a masked key. With
platform keys that owner is the gateway, so identifiers of the account are masked before any message
leaves the gateway.
"""

from __future__ import annotations

import re

__all__ = ["redact"]

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\borg-[A-Za-z0-9]{6,}"), "org-***"),
    (re.compile(r"\bproj_[A-Za-z0-9]{6,}"), "proj_***"),
    (re.compile(r"\b(?:sk|rk)-[A-Za-z0-9_*\-]{4,}"), "sk-***"),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{10,}"), "AIza***"),
    (re.compile(r"(?i)(api[_ ]?key\s*[=:]\s*)[^\s,.;]{8,}"), r"\1***"),
)


def redact(message: str) -> str:
    for pattern, replacement in _PATTERNS:
        message = pattern.sub(replacement, message)
    return message
