"""The `[sim ...]` directive grammar: finding tags in message text, typing their values, layering them.

A directive set comes from three layers, later ones winning name by name: the admin defaults, the tags in
the request's last user text, and the rule registered for the request's API key (see `Directives.layered`).
The grammar itself is documented in the package docstring (`local/simulator/__init__.py`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "FINISHES",
    "KINDS",
    "DirectiveError",
    "Directives",
    "directives_from_mapping",
    "parse_tags",
    "strip_tags",
]

KINDS: Final = (
    "rate_limit",
    "overloaded",
    "server_error",
    "auth",
    "permission",
    "not_found",
    "invalid_request",
    "context_length",
    "timeout",
    "quota",
)
FINISHES: Final = ("stop", "length", "content_filter", "blocked")

# name -> inclusive (min, max) for integer directives.
_INTS: Final[dict[str, tuple[int, int]]] = {
    "latency_ms": (0, 600_000),
    "ttft_ms": (0, 600_000),
    "chunk_gap_ms": (0, 60_000),
    "chunks": (1, 1_000),
    "calls": (1, 16),
    "status": (400, 599),
    "cut_after": (0, 10_000),
    "error_after": (0, 10_000),
    "cached_tokens": (0, 10_000_000),
    "cache_write_tokens": (0, 10_000_000),
    "reasoning_tokens": (0, 10_000_000),
}
_FLOATS: Final[dict[str, tuple[float, float]]] = {"retry_after": (0.0, 86_400.0)}
_CHOICES: Final[dict[str, tuple[str, ...]]] = {"kind": KINDS, "finish": FINISHES}
_STRINGS: Final = frozenset({"text"})

_TAG_START: Final = re.compile(r"\[sim(?=[\s\]])")
_PAIR: Final = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^\s\]"]+)', re.DOTALL)
_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES: Final = {"n": "\n", "t": "\t"}


class DirectiveError(ValueError):
    """A malformed tag, an unknown directive name or a value out of range (answered with a 400)."""


@dataclass(frozen=True)
class Directives:
    """Behaviour for one request; None means "not set" (the next layer down, or the built-in default)."""

    latency_ms: int | None = None
    ttft_ms: int | None = None
    chunks: int | None = None
    chunk_gap_ms: int | None = None
    status: int | None = None
    kind: str | None = None
    retry_after: float | None = None
    cut_after: int | None = None
    error_after: int | None = None
    text: str | None = None
    calls: int | None = None
    finish: str | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None

    @classmethod
    def layered(cls, *layers: Directives) -> Directives:
        """Merge layers; a value set in a later layer replaces the earlier one."""
        merged: dict[str, Any] = {}
        for layer in layers:
            merged.update(layer.as_dict())
        return cls(**merged)

    def as_dict(self) -> dict[str, Any]:
        """The directives that are set, as JSON-ready values."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}


def _names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Directives))


def _coerce(name: str, raw: object) -> object:
    """Type and range-check one value; `raw` is a tag string or a JSON value from the admin API."""
    if isinstance(raw, bool):
        raise DirectiveError(f"sim directive {name}: booleans are not accepted")
    if name in _STRINGS:
        if not isinstance(raw, str):
            raise DirectiveError(f"sim directive {name}: expected a string")
        return raw
    if name in _CHOICES:
        if raw not in _CHOICES[name]:
            raise DirectiveError(f"sim directive {name}={raw!r}: expected one of {', '.join(_CHOICES[name])}")
        return raw
    if name in _INTS:
        low, high = _INTS[name]
        try:
            value = int(raw) if isinstance(raw, (str, int)) else None
        except ValueError:
            value = None
        if value is None:
            raise DirectiveError(f"sim directive {name}={raw!r}: expected an integer")
        if not low <= value <= high:
            raise DirectiveError(f"sim directive {name}={value}: expected {low}..{high}")
        return value
    if name in _FLOATS:
        low_f, high_f = _FLOATS[name]
        try:
            number = float(raw) if isinstance(raw, (str, int, float)) else None
        except ValueError:
            number = None
        if number is None or number != number:  # NaN never equals itself
            raise DirectiveError(f"sim directive {name}={raw!r}: expected a number")
        if not low_f <= number <= high_f:
            raise DirectiveError(f"sim directive {name}={number}: expected {low_f:g}..{high_f:g}")
        return number
    raise DirectiveError(f"unknown sim directive {name!r} (known: {', '.join(_names())})")


def directives_from_mapping(values: Mapping[str, object]) -> Directives:
    """Directives from a JSON object (admin defaults and key rules), validated like tags."""
    return Directives(**{name: _coerce(name, raw) for name, raw in values.items()})  # type: ignore[arg-type]


def _unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), value[1:-1])


def _scan_tag(text: str, start: int) -> tuple[dict[str, str], int]:
    """Parse one tag whose `[sim` begins at `start`; return its pairs and the index just past its `]`."""
    pos = start + len("[sim")
    pairs: dict[str, str] = {}
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            raise DirectiveError("unterminated [sim ...] tag (missing ']')")
        if text[pos] == "]":
            return pairs, pos + 1
        match = _PAIR.match(text, pos)
        if match is None:
            raise DirectiveError(f"malformed [sim ...] tag near {text[pos : pos + 24]!r}: expected name=value")
        pairs[match.group(1)] = _unquote(match.group(2))
        pos = match.end()


def _find_tags(text: str) -> list[tuple[int, int, dict[str, str]]]:
    found: list[tuple[int, int, dict[str, str]]] = []
    pos = 0
    while (match := _TAG_START.search(text, pos)) is not None:
        pairs, end = _scan_tag(text, match.start())
        found.append((match.start(), end, pairs))
        pos = end
    return found


def parse_tags(text: str) -> Directives:
    """All `[sim ...]` tags in `text`, merged left to right (a repeated name: the last one wins)."""
    merged: dict[str, object] = {}
    for _, _, pairs in _find_tags(text):
        for name, raw in pairs.items():
            merged[name] = _coerce(name, raw)
    return Directives(**merged)  # type: ignore[arg-type]


def strip_tags(text: str) -> str:
    """`text` without its tags (malformed tags are left in place), whitespace collapsed."""
    try:
        tags = _find_tags(text)
    except DirectiveError:
        return " ".join(text.split())
    pieces: list[str] = []
    pos = 0
    for start, end, _ in tags:
        pieces.append(text[pos:start])
        pos = end
    pieces.append(text[pos:])
    return " ".join("".join(pieces).split())
