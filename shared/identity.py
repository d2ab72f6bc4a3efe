"""Who is calling: the identity every service-core call takes explicitly (architecture, Identity).

A gateway key identifies a tenant (an app of the marketplace), optionally a user, and scopes. A
platform key with `act_as_user` may name the end user in `X-User-Id`; the user then becomes part of the
identity. Nothing below the HTTP layer reads headers: it gets an `Identity`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SCOPES", "Identity"]

SCOPES = frozenset({"chat", "analytics", "keys", "admin", "act_as_user"})


@dataclass(frozen=True, slots=True)
class Identity:
    tenant: str
    key_id: str
    user: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    platform: bool = False

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def as_user(self, user: str | None) -> Identity:
        """The same key acting for `user` (the caller checked `act_as_user`)."""
        return Identity(tenant=self.tenant, key_id=self.key_id, user=user, scopes=self.scopes, platform=self.platform)
