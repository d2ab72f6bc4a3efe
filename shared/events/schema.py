"""The usage event: one per request, the single source of truth for analytics (architecture, Usage events).

`UsageEvent` is what the events port carries, the local segment files store (one JSON object per line),
and what the Pub/Sub topic schema and the BigQuery table schema are generated from. Its types are kept
to what those schemas can say plainly: str, int, bool, a UTC timestamp, string enums (Literal), NULL-able.
Field descriptions become column descriptions.

Decisions (the model validator enforces each; a violation names the field at fault):
- Money is integer micro-USD (architecture, Money). `cost_micros` is None exactly when `unpriced` is
  True: a model without a catalog row, reached, is never billed as $0.
- No provider reached (`attempts == 0`, not a cache hit: bad input, no key, quota refused, every breaker
  open): `provider` is None, no tokens, and the cost is a known 0 (`cost_micros == 0`, `unpriced` False):
  nothing was spent, which is a fact, not a missing price.
- Cache hits cost 0 (`cost_micros == 0`, `attempts == 0`) and carry the cost they saved in
  `cost_saved_micros` (0 when the cached reply was unpriced); their `provider`/`model` are those of the
  cached reply and their token counts are the ones the reply shows. Analytics that want tokens actually
  consumed from providers filter on `NOT cache_hit`.
- `provider` and `model` are the final attempt's (the one that served, or the last that failed).
- `status` "ok" has no `error_kind` and a 2xx `http_status`; "error" has an `error_kind`. A stream that
  fails after its first byte is "error" with `http_status` 200 (the status line was already sent).
- Tenant and gateway key id are "" only when authentication failed (the caller is unknown);
  `model_requested` is "" only on an error before the body was read.
- `requested_cost_micros` (what the served usage would have cost on the requested model) is set only
  when a provider was reached, the request is priced, and another model than the requested one served:
  routing savings are `requested_cost_micros - cost_micros` over the routed requests.
- `ts` must be timezone-aware; it is stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from uuid import uuid4

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.errors import ErrorKind

if TYPE_CHECKING:
    from shared.cost import Cost
    from shared.unified import Usage

__all__ = ["TOKEN_FIELDS", "Route", "SeedProvider", "Status", "UsageEvent"]

SeedProvider = Literal["OPENAI", "ANTHROPIC", "GOOGLE"]
Route = Literal["seed", "openai"]
Status = Literal["ok", "error"]

TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)

# The service core knows providers by their internal names (shared.providers); events store the seed's
# spelling (architecture, Providers). Kept here rather than imported so that reading the schema does not
# import the whole provider layer; tests/events/test_schema.py checks it equals shared.providers.SEED_NAMES.
_SEED_SPELLING: dict[str, str] = {"openai": "OPENAI", "anthropic": "ANTHROPIC", "gemini": "GOOGLE"}

_Count = Annotated[int, Field(ge=0)]


class UsageEvent(BaseModel):
    """One request's usage record. Build it with `from_usage` where a Usage and a Cost are at hand."""

    # strict: an int field takes no bool or float, a bool no 0/1, so a caller's slip fails loudly here
    # instead of landing in BigQuery. extra="forbid": a misspelt field is an error, not a dropped column.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, protected_namespaces=())

    event_id: str = Field(
        default_factory=lambda: uuid4().hex, pattern=r"^[0-9a-f]{32}$", description="uuid4 hex; the dedupe key"
    )
    ts: datetime = Field(description="request start, UTC")
    request_id: str = Field(min_length=1, description="the gateway's request id (also in the reply)")
    tenant: str = Field(description="the app the gateway key belongs to")
    user: str | None = Field(default=None, min_length=1, description="the end user, when the key names one")
    key_id: str = Field(description="gateway key id (never the key)")
    route: Route = Field(description="seed: /api/ai/chat; openai: /v1/chat/completions")
    provider: SeedProvider | None = Field(default=None, description="final provider; null when none was reached")
    model_requested: str = Field(description="the model name the caller sent")
    model: str | None = Field(default=None, description="the model of the final attempt (the one that served)")
    stream: bool = False
    status: Status
    http_status: int = Field(ge=100, le=599)
    error_kind: ErrorKind | None = Field(default=None, description="normalized error kind; null when ok")
    attempts: _Count = Field(description="provider attempts made (retries and failovers included)")
    input_tokens: _Count = Field(default=0, description="all prompt tokens, cached and cache writes included")
    output_tokens: _Count = Field(default=0, description="completion tokens, reasoning included")
    cached_input_tokens: _Count = 0
    cache_write_tokens: _Count = Field(default=0, description="prompt-cache writes (5 minute TTL)")
    cache_write_1h_tokens: _Count = 0
    reasoning_tokens: _Count = Field(default=0, description="the reasoning part of output_tokens")
    cost_micros: _Count | None = Field(description="cost in micro-USD; null when unpriced")
    unpriced: bool = Field(description="the model has no catalog price")
    cache_hit: bool = False
    cost_saved_micros: _Count = Field(default=0, description="cache hits: what the cached reply cost")
    latency_ms: _Count = Field(description="request start to last byte")
    ttft_ms: _Count | None = Field(default=None, description="streams: request start to first content byte")
    price_verified: bool | None = Field(default=None, description="false: a catalog price marked unverified")
    route_reason: str | None = Field(
        default=None,
        description="why the serving model served (x-gateway-route): requested, cheapest, preferred, cache, or"
        " fallback after provider/model (why); null when no provider was reached",
    )
    requested_cost_micros: _Count | None = Field(
        default=None,
        description="what the same usage would have cost on the requested model, in micro-USD, when another"
        " model served; null when the requested model served, is unpriced, or nothing was billed",
    )
    credential_id: str | None = Field(
        default=None,
        description="the provider key that paid for the final attempt: a BYOK key id, or platform:<fingerprint>"
        " for a platform key (never the key); null when no provider was reached",
    )

    @field_validator("ts", mode="before")
    @classmethod
    def _parse_ts(cls, value: object) -> object:
        # Strict mode takes only datetime objects; JSON brings RFC 3339 strings (fromisoformat reads "Z").
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError as exc:
                raise ValueError(f"ts is not an ISO 8601 timestamp: {value!r}") from exc
        return value

    @field_validator("ts")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("ts must be timezone-aware (UTC)")
        return value.astimezone(UTC)

    @field_validator("provider", mode="before")
    @classmethod
    def _seed_spelling(cls, value: object) -> object:
        return _SEED_SPELLING.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problem = _inconsistency(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    def to_json_bytes(self) -> bytes:
        """One compact JSON object (no newline), ts as RFC 3339 with "Z"."""
        return orjson.dumps(self.model_dump(), option=orjson.OPT_UTC_Z)

    @classmethod
    def from_json_bytes(cls, data: bytes | str) -> UsageEvent:
        """Parse and validate one event (the inverse of `to_json_bytes`)."""
        return cls.model_validate(orjson.loads(data))

    @classmethod
    def from_usage(cls, usage: Usage | None, cost: Cost, *, cache_hit: bool = False, **fields: Any) -> UsageEvent:
        """An event with its token and money fields taken from the provider's `usage` and its `cost`.

        `usage` None (the provider reported none) records zero tokens. With `cache_hit`, `cost` is the cost
        of the cached reply: the event costs 0 and records that cost as saved. Every other field comes
        from `fields`, validated like the constructor's; passing a field this method fills is a TypeError.
        """
        if not _FILLED.isdisjoint(fields):
            raise TypeError(f"UsageEvent.from_usage fills {', '.join(sorted(_FILLED.intersection(fields)))} itself")
        # `fields` is this call's own dict: filled in place, validated once.
        if usage is not None:  # else each token field keeps its default, 0
            for name in TOKEN_FIELDS:
                fields[name] = getattr(usage, name)
        if cache_hit:
            fields["cost_micros"], fields["unpriced"], fields["cost_saved_micros"] = 0, False, cost.micros or 0
        else:
            fields["cost_micros"], fields["unpriced"] = cost.micros, cost.unpriced
        fields["cache_hit"] = cache_hit
        return cls.model_validate(fields)


_FILLED = frozenset({*TOKEN_FIELDS, "cost_micros", "unpriced", "cost_saved_micros", "cache_hit"})


def _inconsistency(e: UsageEvent) -> str | None:
    """The first cross-field rule `e` breaks (module docstring), or None."""
    if (e.cost_micros is None) != e.unpriced:
        return "cost_micros must be null exactly when unpriced is true"
    if e.unpriced and e.price_verified is not None:
        return "price_verified must be null when unpriced is true"
    if e.provider is None and e.attempts > 0:
        return "provider is required when attempts > 0"
    if e.credential_id is not None and e.attempts == 0:
        return "credential_id must be null when no attempt was made"
    if e.requested_cost_micros is not None and (e.attempts == 0 or e.cost_micros is None):
        return "requested_cost_micros is only for a priced request served by a provider"
    if e.cache_hit:
        if e.cost_micros != 0 or e.attempts != 0:
            return "a cache hit has cost_micros 0 and attempts 0 (its cost goes in cost_saved_micros)"
    elif e.cost_saved_micros:
        return "cost_saved_micros is only for cache hits"
    elif e.attempts == 0:
        if e.provider is not None:
            return "provider must be null when no attempt was made"
        if e.cost_micros != 0 or any(getattr(e, name) for name in TOKEN_FIELDS):
            return "no provider reached: cost_micros must be 0 and token counts 0"
    if e.status == "ok":
        if e.error_kind is not None:
            return "error_kind must be null when status is ok"
        if not 200 <= e.http_status < 300:
            return "http_status must be 2xx when status is ok"
        if e.model is None or not e.model_requested:
            return "an ok event names model_requested and model"
    elif e.error_kind is None:
        return "error_kind is required when status is error"
    if e.error_kind != "authentication" and not (e.tenant and e.key_id):
        return "tenant and key_id may be empty only when authentication failed"
    if e.ttft_ms is not None and not e.stream:
        return "ttft_ms is only for streams"
    return None
