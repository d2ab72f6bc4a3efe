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
        self._calls: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._keys: Counter[str] = Counter()

    def reset(self) -> None:
        self.defaults = Directives()
        self._rules.clear()
        self._calls.clear()
        self._statuses.clear()
        self._keys.clear()

    # Key rules ------------------------------------------------------------------------------------------------

    def set_rule(self, key: str, rule: Directives) -> str:
        self._rules[key_digest(key)] = rule
        return fingerprint(key)

    def rule_for(self, key: str | None) -> Directives:
        return self._rules.get(key_digest(key), Directives()) if key else Directives()

    def clear_rules(self, prefix: str | None = None) -> int:
        """Remove the rules whose digest starts with `prefix` (all when None); return how many."""
        doomed = [d for d in self._rules if prefix is None or d.startswith(prefix.lower())]
        for digest in doomed:
            del self._rules[digest]
        return len(doomed)

    def rules(self) -> dict[str, dict[str, Any]]:
        return {digest[:FINGERPRINT_LENGTH]: rule.as_dict() for digest, rule in sorted(self._rules.items())}

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
