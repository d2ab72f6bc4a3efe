"""Usage limits' configuration: whom a limit applies to (`LimitScope`), what it is (`Limits`), the stored
record (`LimitRecord`), and which scopes bind a caller (`scopes_for`).

A scope is a tenant, a user within a tenant, or a gateway key within a tenant (issue 11). Each scope holds
any subset of four limits: requests and tokens per minute (positive integers) and spend per day and per
month in USD (a decimal with at most 6 places, kept as integer micro-USD like every cost here, architecture
Money). No limit set means unlimited. A request is bound by every record that applies to its identity,
each on its own: its tenant's, its user's (when the identity has a user) and its key's, whatever the key's
type (platform and admin keys included).

An update is a merge: a field sent sets that limit, an explicit null removes it, a field left out stays.
Field names are camelCase on the wire; snake_case is accepted too. Validation errors name the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from shared.auth import valid_id
from shared.identity import Identity

__all__ = [
    "LIMIT_FIELDS",
    "MAX_BUDGET_USD",
    "MAX_RATE",
    "LimitRecord",
    "LimitScope",
    "Limits",
    "ScopeKind",
    "applicable_scopes",
    "scopes_for",
]

ScopeKind = Literal["tenant", "user", "key"]
# Per minute: far beyond any real traffic, and exact in a JSON number and a Firestore integer.
MAX_RATE = 10**12
# 1e9 USD with 6 decimals is 1e15 micro-USD: below 2**53, so exact everywhere a number travels.
MAX_BUDGET_USD = Decimal(10**9)
_MICROS = Decimal(10**6)
_ID_RULE = "must be 1 to 128 characters: letters, digits and . _ : @ + - (not only dots, not __name__)"

# snake_case field -> camelCase wire name, in the order the API shows them.
LIMIT_FIELDS: dict[str, str] = {
    "requests_per_minute": "requestsPerMinute",
    "tokens_per_minute": "tokensPerMinute",
    "daily_budget_usd": "dailyBudgetUsd",
    "monthly_budget_usd": "monthlyBudgetUsd",
}


class _Wire(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )


class LimitScope(_Wire):
    """A tenant; or a user of it (`user_id`); or a gateway key of it (`key_id`): never both."""

    tenant_id: StrictStr
    user_id: StrictStr | None = None
    key_id: StrictStr | None = None

    @field_validator("tenant_id", "user_id", "key_id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if value is not None and not valid_id(value):
            raise PydanticCustomError("id", _ID_RULE)
        return value

    @field_validator("key_id")
    @classmethod
    def _one_of(cls, value: str | None, info: Any) -> str | None:
        if value is not None and info.data.get("user_id") is not None:
            raise PydanticCustomError("scope", "must not be set together with userId: a scope is one user or one key")
        return value

    @property
    def kind(self) -> ScopeKind:
        return "user" if self.user_id is not None else "key" if self.key_id is not None else "tenant"

    @property
    def doc_id(self) -> str:
        """The store document id. '|' is not in any valid id, so ids cannot collide across kinds."""
        if self.user_id is not None:
            return f"user|{self.tenant_id}|{self.user_id}"
        if self.key_id is not None:
            return f"key|{self.tenant_id}|{self.key_id}"
        return f"tenant|{self.tenant_id}"

    def wire(self) -> dict[str, str | None]:
        return {"tenantId": self.tenant_id, "userId": self.user_id, "keyId": self.key_id}

    def document(self) -> dict[str, str | None]:
        return {"tenant_id": self.tenant_id, "user_id": self.user_id, "key_id": self.key_id}


def scopes_for(identity: Identity) -> tuple[LimitScope, ...]:
    """The scopes whose limits bind a caller: its tenant, its user (when it has one), its key."""
    return applicable_scopes(identity.tenant, user=identity.user, key_id=identity.key_id)


def applicable_scopes(tenant: str, *, user: str | None = None, key_id: str | None = None) -> tuple[LimitScope, ...]:
    """The tenant's scope, then the user's and the key's when given (a key acting for a user has both).
    Not validated again: the ids come from an authenticated identity or were checked by the caller (and
    this runs on every request)."""
    scopes = [LimitScope.model_construct(tenant_id=tenant, user_id=None, key_id=None)]
    if user is not None:
        scopes.append(LimitScope.model_construct(tenant_id=tenant, user_id=user, key_id=None))
    if key_id is not None:
        scopes.append(LimitScope.model_construct(tenant_id=tenant, user_id=None, key_id=key_id))
    return tuple(scopes)


def _budget(value: object) -> Decimal | None:
    """USD as a Decimal from a JSON number or a numeric string; at most 6 places, 0 to MAX_BUDGET_USD."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise PydanticCustomError("budget_type", "must be a number of USD")
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("budget_type", "must be a finite number of USD")
    try:
        # repr of a float is its shortest round-tripping decimal: 0.1 stays 0.1, not 0.1000000000000000055...
        amount = Decimal(repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        raise PydanticCustomError("budget_type", "must be a number of USD") from None
    if not amount.is_finite():
        raise PydanticCustomError("budget_type", "must be a finite number of USD")
    if amount < 0 or amount > MAX_BUDGET_USD:
        raise PydanticCustomError("budget_range", f"must be between 0 and {MAX_BUDGET_USD} USD")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        raise PydanticCustomError("budget_places", "must have at most 6 decimal places (micro-USD)")
    return amount


Rate = Annotated[StrictInt, Field(gt=0, le=MAX_RATE)]


class Limits(_Wire):
    """Any subset of the four limits; None is unlimited. `model_fields_set` tells an update's fields apart
    from those it left out (an explicit null is in it: it removes that limit)."""

    requests_per_minute: Rate | None = None
    tokens_per_minute: Rate | None = None
    daily_budget_usd: Decimal | None = None
    monthly_budget_usd: Decimal | None = None

    @field_validator("daily_budget_usd", "monthly_budget_usd", mode="before")
    @classmethod
    def _usd(cls, value: object) -> Decimal | None:
        return _budget(value)

    @property
    def daily_budget_micros(self) -> int | None:
        return _micros(self.daily_budget_usd)

    @property
    def monthly_budget_micros(self) -> int | None:
        return _micros(self.monthly_budget_usd)

    @property
    def empty(self) -> bool:
        """No limit at all (unlimited)."""
        return all(getattr(self, name) is None for name in LIMIT_FIELDS)

    def merged(self, update: Limits) -> Limits:
        """These limits with `update`'s fields applied: sent values set, explicit nulls remove."""
        changes = {name: getattr(update, name) for name in update.model_fields_set}
        return Limits.model_validate({**self.model_dump(), **changes})

    def document(self) -> dict[str, int | None]:
        return {
            "requests_per_minute": self.requests_per_minute,
            "tokens_per_minute": self.tokens_per_minute,
            "daily_budget_micros": self.daily_budget_micros,
            "monthly_budget_micros": self.monthly_budget_micros,
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Limits:
        return cls(
            requests_per_minute=doc.get("requests_per_minute"),
            tokens_per_minute=doc.get("tokens_per_minute"),
            daily_budget_usd=_usd(doc.get("daily_budget_micros")),
            monthly_budget_usd=_usd(doc.get("monthly_budget_micros")),
        )


def _micros(usd: Decimal | None) -> int | None:
    return None if usd is None else int(usd * _MICROS)


def _usd(micros: object) -> Decimal | None:
    if micros is None:
        return None
    if not isinstance(micros, int) or isinstance(micros, bool):
        raise ValueError("a budget is not an integer of micro-USD")
    return Decimal(micros) / _MICROS


@dataclass(frozen=True, slots=True)
class LimitRecord:
    """One scope's limits as stored: `version` grows by one per change (the store writes only newer ones),
    `updated_at` is ISO 8601 UTC, `updated_by` the gateway key id of the admin who changed it last."""

    scope: LimitScope
    limits: Limits
    version: int
    updated_at: str
    updated_by: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "scope": self.scope.document(),
            "limits": self.limits.document(),
            "version": self.version,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> LimitRecord:
        """Strict: a damaged document is an error to fix, not a limit to guess at."""
        try:
            version, updated_at, updated_by = doc["version"], doc["updated_at"], doc.get("updated_by")
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise TypeError("version is not a positive integer")
            if not isinstance(updated_at, str) or not (updated_by is None or isinstance(updated_by, str)):
                raise TypeError("updated_at or updated_by is not a string")
            return cls(
                scope=LimitScope.model_validate(doc["scope"]),
                limits=Limits.from_document(doc["limits"]),
                version=version,
                updated_at=updated_at,
                updated_by=updated_by,
            )
        except (KeyError, TypeError, ValueError, ValidationError) as error:
            raise ValueError(f"limits document {doc.get('scope')!r} is damaged: {error}") from None
