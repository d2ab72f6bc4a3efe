"""Usage limits (issue 11).

Enforcement, the ledger: `Ledger` (the port), `Check`, `Reservation`, `Denied`, and `MemoryLedger` (in
process). `RedisLedger` lives in `shared.limits.redis_ledger`, imported only where a Redis URL is given,
so the embedded setup never loads redis-py.

Configuration: `LimitScope`, `Limits`, `LimitRecord` (shared.limits.config), `LimitsStore` on the document
store and `LimitsCache`, the per-instance cache whose `applicable(identity)` the hot path calls
(shared.limits.store); audit events of changes in shared.limits.audit.
"""

from __future__ import annotations

from shared.limits.config import LimitRecord, Limits, LimitScope, scopes_for
from shared.limits.ledger import Check, Denied, Ledger, LimitKind, Reservation
from shared.limits.memory_ledger import MemoryLedger
from shared.limits.store import LimitsCache, LimitsStore

__all__ = [
    "Check",
    "Denied",
    "Ledger",
    "LimitKind",
    "LimitRecord",
    "LimitScope",
    "Limits",
    "LimitsCache",
    "LimitsStore",
    "MemoryLedger",
    "Reservation",
    "scopes_for",
]
