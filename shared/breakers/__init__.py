"""Circuit breakers: route (provider, model) and credential (provider, key fingerprint) scopes, counted
locally per instance and shared through the document store (architecture, Circuit breakers)."""

from shared.breakers.board import Admission, BreakerBoard, BreakerView
from shared.breakers.policy import BreakerPolicy
from shared.breakers.scopes import Fault, FaultScope, classify, credential_scope, route_scope
from shared.breakers.state import BreakerRecord, Phase

__all__ = [
    "Admission",
    "BreakerBoard",
    "BreakerPolicy",
    "BreakerRecord",
    "BreakerView",
    "Fault",
    "FaultScope",
    "Phase",
    "classify",
    "credential_scope",
    "route_scope",
]
