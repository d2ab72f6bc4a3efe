"""Whether a request may use the response cache: look up, store, both or neither, and the reply header.

Owns the rules of issue 4 in one table-like function, evaluated in this order:

| condition                                      | lookup | store | reason        |
|------------------------------------------------|--------|-------|---------------|
| cache disabled (seed `cache.enabled` false)    | no     | no    | `disabled`    |
| `Cache-Control: no-store`                      | no     | no    | `no-store`    |
| `temperature` above the threshold, not forced  | no     | no    | `temperature` |
| `n` above 1, not forced                        | no     | no    | `n`           |
| `Cache-Control: no-cache`                      | no     | yes   | `no-cache`    |
| `x-gateway-cache: force`                       | yes    | yes   | `forced`      |
| otherwise                                      | yes    | yes   | `cacheable`   |

`x-gateway-cache: force` (request header, case-insensitive) is the caller saying "a cached answer is fine":
it lifts the two sampling rules (a high temperature, several choices), never `no-store`/`no-cache`. Any other
value of that header is a 400 naming it, the same whether or not the cache is on.

Decisions taken here:
- `n > 1` bypasses like a high temperature: a caller asking for several samples wants different answers, and
  replaying one stored set would give the same "samples" every time.
- Only an explicit `temperature` counts. An absent one is the provider's default (1.0 at all three providers),
  but that is the common request, the one the seed's hit-rate target is about.
- The reply header for `no-cache` is MISS: the answer is fresh and written to the cache, as after a miss.
  BYPASS means the cache played no part in the request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from shared.errors import RequestError
from shared.headers import find_header
from shared.unified import ChatRequest

__all__ = [
    "CACHE_HEADER",
    "FORCE",
    "CacheDecision",
    "CacheStatus",
    "cache_decision",
    "header_value",
]

# Request header (`force`) and reply header (HIT|MISS|BYPASS) alike.
CACHE_HEADER: Final = "x-gateway-cache"
FORCE: Final = "force"
CacheStatus = Literal["HIT", "MISS", "BYPASS"]
# How much of a bad header value the error echoes (the API layer's limit too).
_ECHO: Final = 64
_NAME_END: Final = re.compile(r"[=;\s]")


@dataclass(frozen=True, slots=True)
class CacheDecision:
    lookup: bool
    store: bool
    reason: str


_DISABLED = CacheDecision(lookup=False, store=False, reason="disabled")
_NO_STORE = CacheDecision(lookup=False, store=False, reason="no-store")
_HOT = CacheDecision(lookup=False, store=False, reason="temperature")
_SEVERAL = CacheDecision(lookup=False, store=False, reason="n")
_REFRESH = CacheDecision(lookup=False, store=True, reason="no-cache")
_FORCED = CacheDecision(lookup=True, store=True, reason="forced")
_CACHEABLE = CacheDecision(lookup=True, store=True, reason="cacheable")


def cache_decision(
    request: ChatRequest, headers: Mapping[str, str], *, enabled: bool, temperature_threshold: float = 0.5
) -> CacheDecision:
    """What the cache may do for `request`. Raises `RequestError` for an `x-gateway-cache` value other than force."""
    forced = _forced(headers)
    if not enabled:
        return _DISABLED
    directives = _directives(find_header(headers, "cache-control"))
    if "no-store" in directives:
        return _NO_STORE
    if not forced:
        if request.temperature is not None and request.temperature > temperature_threshold:
            return _HOT
        if request.n is not None and request.n > 1:
            return _SEVERAL
    if "no-cache" in directives:
        return _REFRESH
    return _FORCED if forced else _CACHEABLE


def header_value(decision: CacheDecision, hit: bool) -> CacheStatus:
    """The `x-gateway-cache` reply header: HIT (served from the cache), MISS (answered fresh, the cache was
    consulted or refreshed), BYPASS (the cache played no part)."""
    if hit:
        if not decision.lookup:
            raise ValueError(f"a hit is impossible when the decision skipped the lookup ({decision.reason})")
        return "HIT"
    return "MISS" if decision.lookup or decision.store else "BYPASS"


def _forced(headers: Mapping[str, str]) -> bool:
    raw = find_header(headers, CACHE_HEADER)
    if raw is None:
        return False
    if raw.strip().lower() != FORCE:
        raise RequestError(f"header {CACHE_HEADER} must be {FORCE} when sent, not {raw[:_ECHO]!r}", field=CACHE_HEADER)
    return True


def _directives(raw: str | None) -> frozenset[str]:
    """Cache-Control directive names, lower-case (RFC 9111 5.2: case-insensitive, arguments after '=').

    A malformed directive still counts by its leading word: reading "no-store;x" as no-store errs on the
    side of the caller who asked not to be stored."""
    if not raw:
        return frozenset()
    return frozenset(_NAME_END.split(part.strip(), maxsplit=1)[0].lower() for part in raw.split(","))
