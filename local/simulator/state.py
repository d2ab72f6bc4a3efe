"""Mutable simulator state: admin defaults, per-key fault rules, call statistics.

API keys are never stored: rules are keyed by the key's SHA-256 hex digest and statistics show only its
first 12 hex characters (the "fingerprint"). One instance lives on the Starlette app (`app.state.sim`); the
server is single-threaded asyncio, so plain dicts need no lock.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any, Final

from local.simulator.directives import Directives

__all__ = ["FINGERPRINT_LENGTH", "SimState", "fingerprint", "key_digest"]

FINGERPRINT_LENGTH: Final = 12


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def fingerprint(key: str) -> str:
    return key_digest(key)[:FINGERPRINT_LENGTH]


class SimState:
    def __init__(self) -> None:
        self.defaults = Directives()
        self._rules: dict[str, Directives] = {}
        # Rules that apply to a number of requests only: digest -> requests left.
        self._left: dict[str, int] = {}
        self._calls: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._keys: Counter[str] = Counter()

    def reset(self) -> None:
        self.defaults = Directives()
        self._rules.clear()
        self._left.clear()
        self._calls.clear()
        self._statuses.clear()
        self._keys.clear()

    # Key rules ------------------------------------------------------------------------------------------------

    def set_rule(self, key: str, rule: Directives, times: int | None = None) -> str:
        """Set the rule for `key`: for every request, or for the next `times` requests only."""
        digest = key_digest(key)
        self._rules[digest] = rule
        if times is None:
            self._left.pop(digest, None)
        else:
            self._left[digest] = times
        return fingerprint(key)

    def rule_for(self, key: str | None) -> Directives:
        """The rule for a request with `key` (one use of a counted rule; it goes once used up)."""
        if not key:
            return Directives()
        digest = key_digest(key)
        rule = self._rules.get(digest, Directives())
        if digest in self._left:
            self._left[digest] -= 1
            if self._left[digest] <= 0:
                del self._left[digest]
                del self._rules[digest]
        return rule

    def clear_rules(self, prefix: str | None = None) -> int:
        """Remove the rules whose digest starts with `prefix` (all when None); return how many."""
        doomed = [d for d in self._rules if prefix is None or d.startswith(prefix.lower())]
        for digest in doomed:
            del self._rules[digest]
            self._left.pop(digest, None)
        return len(doomed)

    def rules(self) -> dict[str, dict[str, Any]]:
        shown: dict[str, dict[str, Any]] = {}
        for digest, rule in sorted(self._rules.items()):
            left = {"times": self._left[digest]} if digest in self._left else {}
            shown[digest[:FINGERPRINT_LENGTH]] = rule.as_dict() | left
        return shown

    # Statistics -----------------------------------------------------------------------------------------------

    def record_call(self, route: str, key: str | None) -> None:
        self._calls[route] += 1
        if key:
            self._keys[fingerprint(key)] += 1

    def record_status(self, status: int) -> None:
        self._statuses[status] += 1

    def stats(self) -> dict[str, Any]:
        return {
            "calls": dict(sorted(self._calls.items())),
            "total": sum(self._calls.values()),
            "statuses": {str(status): n for status, n in sorted(self._statuses.items())},
            "key_fingerprints": sorted(self._keys),
            "calls_by_key": dict(sorted(self._keys.items())),
        }
