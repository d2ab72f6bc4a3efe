"""The model catalog: the data file `shared/data/catalog.json`, validated once at load, and its lookups.

Every row is a frozen pydantic model (`CatalogModel`). The file is the single place where prices, limits,
features, accepted sampling parameters, the equivalence class/tier policy and retirement dates live
(architecture.md, Routing; pricing.md). A row that does not validate fails the whole load with a
`CatalogError` naming the row id and the field, so a bad price can never reach billing.

Decisions recorded here:
- Lookups are case-insensitive over ids and aliases; ids and aliases are stored lowercase and must be
  unique across the whole catalog (an alias is a statement that it is the same model at the same price).
- Models served only by OpenAI's Responses API (`features.chat_completions` false) are kept for pricing
  but are never equivalents of anything and never have a class of their own that matters for routing.
- A model is retired *on* its `retired` date: from that day on (`today >= retired`) it is never chosen as a
  substitute. A caller may still name it (resolution ignores retirement; the provider decides).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from shared.errors import CatalogError

__all__ = [
    "DEFAULT_CATALOG_PATH",
    "SAMPLING_PARAMS",
    "Catalog",
    "CatalogModel",
    "Features",
    "LongContextPrices",
    "Prices",
    "Provider",
    "SamplingParam",
    "default_catalog",
    "load_catalog",
    "parse_catalog",
]

DEFAULT_CATALOG_PATH = Path(__file__).parent / "data" / "catalog.json"

Provider = Literal["openai", "anthropic", "gemini"]
SamplingParam = Literal["temperature", "top_p", "top_k", "stop", "n", "seed", "presence_penalty", "frequency_penalty"]
SAMPLING_PARAMS: frozenset[str] = frozenset(get_args(SamplingParam))

# Ids and aliases exactly as the providers spell them: lowercase, digits, '.', '-', '_'.
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_CLASS_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TOP_LEVEL_KEYS = frozenset({"schema_version", "about", "models"})
SCHEMA_VERSION = 1


def _decimal_string(value: object) -> Decimal:
    # Prices are strings in the file so that no binary float ever touches money ("0.075", not 0.075).
    if not isinstance(value, str):
        raise ValueError('a price must be a decimal string such as "2.50"')
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not parsed.is_finite():
        raise ValueError(f"a price must be finite, got {value!r}")
    return parsed


def _iso_date(value: object) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE_RE.match(value):
        raise ValueError("a date must be an ISO string YYYY-MM-DD")
    return date.fromisoformat(value)


def _name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a lowercase model name ([a-z0-9._-], starting with a letter or digit)")
    return value


Price = Annotated[Decimal, BeforeValidator(_decimal_string), Field(ge=0)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
ModelName = Annotated[str, AfterValidator(_name)]
PositiveInt = Annotated[StrictInt, Field(gt=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Prices(_Frozen):
    """USD per 1M tokens. None: the provider has no such price (cost.py bills those tokens at `input`)."""

    input: Price
    output: Price
    cached_input: Price | None
    cache_write_5m: Price | None
    cache_write_1h: Price | None


class LongContextPrices(_Frozen):
    """Prices for the whole request once its prompt exceeds `threshold` tokens.

    A None here means the standard price of that token class still applies.
    """

    threshold: PositiveInt
    input: Price
    output: Price
    cached_input: Price | None
    cache_write_5m: Price | None
    cache_write_1h: Price | None


class Features(_Frozen):
    tools: StrictBool
    vision: StrictBool
    json_mode: StrictBool
    streaming: StrictBool
    # False for OpenAI's Responses-only models (gpt-5-pro, ...): priced, but never a routing candidate.
    chat_completions: StrictBool


class CatalogModel(_Frozen):
    """One catalog row. `equivalence_class` is the file's `class` key (a Python keyword)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)

    id: ModelName
    provider: Provider
    aliases: tuple[ModelName, ...]
    prices: Prices
    long_context: LongContextPrices | None
    price_verified: StrictBool
    price_source: Annotated[str, Field(min_length=1)]
    price_date: IsoDate
    context_window: PositiveInt
    max_output: PositiveInt | None
    features: Features
    features_source: Annotated[str, Field(min_length=1)]
    sampling: tuple[SamplingParam, ...]
    sampling_source: Annotated[str, Field(min_length=1)]
    equivalence_class: str | None = Field(alias="class")
    tier: Annotated[StrictInt, Field(ge=1, le=5)] | None
    retired: IsoDate | None
    retired_source: str | None
    ttft_ms: PositiveInt
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CatalogModel:
        if (self.equivalence_class is None) != (self.tier is None):
            raise ValueError("class and tier must be set together (both null: outside the Equivalence table)")
        if self.equivalence_class is not None and not _CLASS_RE.match(self.equivalence_class):
            raise ValueError(f"class {self.equivalence_class!r} is not a lowercase word")
        if len(set(self.sampling)) != len(self.sampling):
            raise ValueError("sampling lists a parameter twice")
        if len(set(self.aliases)) != len(self.aliases) or self.id in self.aliases:
            raise ValueError("aliases repeat a name or the id")
        if self.retired is not None and not self.retired_source:
            raise ValueError("retired needs a retired_source")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """The id and every alias."""
        return (self.id, *self.aliases)

    @property
    def chat_completions(self) -> bool:
        return self.features.chat_completions

    @property
    def substitutable(self) -> bool:
        """May take part in substitution at all (ignores retirement, which depends on the date)."""
        return self.equivalence_class is not None and self.features.chat_completions

    def is_retired(self, today: date) -> bool:
        return self.retired is not None and today >= self.retired

    def accepts(self, param: str) -> bool:
        """Whether the model honours the sampling parameter `param` (e.g. "temperature")."""
        return param in self.sampling


class Catalog:
    """The validated catalog: lookups by id or alias (case-insensitive), by provider, and equivalents."""

    __slots__ = ("_by_name", "_by_provider", "models")

    models: tuple[CatalogModel, ...]

    def __init__(self, models: tuple[CatalogModel, ...]) -> None:
        by_name: dict[str, CatalogModel] = {}
        for entry in models:
            for name in entry.names:
                other = by_name.get(name)
                if other is not None:
                    field = "id" if name == entry.id else "aliases"
                    raise CatalogError(
                        f"catalog row {entry.id!r}, field {field!r}: name {name!r} is already used by row {other.id!r}",
                        row=entry.id,
                    )
                by_name[name] = entry
        self.models = models
        self._by_name: Mapping[str, CatalogModel] = by_name
        self._by_provider: Mapping[str, tuple[CatalogModel, ...]] = {
            provider: tuple(m for m in models if m.provider == provider) for provider in get_args(Provider)
        }

    def get(self, name: str) -> CatalogModel | None:
        """The row whose id or alias is `name` (case-insensitive, surrounding spaces ignored), or None."""
        return self._by_name.get(name.strip().lower())

    def __getitem__(self, name: str) -> CatalogModel:
        entry = self.get(name)
        if entry is None:
            raise KeyError(name)
        return entry

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[CatalogModel]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def by_provider(self, provider: str) -> tuple[CatalogModel, ...]:
        return self._by_provider.get(provider, ())

    def equivalents(self, model: CatalogModel | str, *, today: date) -> tuple[CatalogModel, ...]:
        """The models that may substitute for `model` on `today` (the model itself excluded).

        Same class, tier at least the model's, not retired on `today`, served by Chat Completions.
        Ordered by tier, then by id, so callers get a stable list. A model without a class has none.
        Feature/parameter/context checks belong to the router, which knows the request.
        """
        entry = model if isinstance(model, CatalogModel) else self[model]
        if entry.equivalence_class is None or entry.tier is None:
            return ()
        tier = entry.tier
        found = [
            m
            for m in self.models
            if m.id != entry.id
            and m.substitutable
            and m.equivalence_class == entry.equivalence_class
            and m.tier is not None
            and m.tier >= tier
            and not m.is_retired(today)
        ]
        return tuple(sorted(found, key=lambda m: (m.tier or 0, m.id)))


def _row_label(raw: object, index: int) -> str:
    if isinstance(raw, Mapping):
        rid = raw.get("id")
        if isinstance(rid, str) and rid:
            return rid
    return f"#{index}"


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(row)"


def parse_catalog(document: Any) -> Catalog:
    """Validate an already-decoded catalog document (the JSON object) into a `Catalog`."""
    if not isinstance(document, Mapping):
        raise CatalogError("catalog: the file must hold a JSON object with a 'models' list")
    unknown = set(document) - _TOP_LEVEL_KEYS
    if unknown:
        raise CatalogError(f"catalog: unknown top-level keys {sorted(unknown)}")
    if document.get("schema_version") != SCHEMA_VERSION:
        raise CatalogError(f"catalog: schema_version must be {SCHEMA_VERSION}")
    rows = document.get("models")
    if not isinstance(rows, list) or not rows:
        raise CatalogError("catalog: 'models' must be a non-empty list")
    models: list[CatalogModel] = []
    for index, raw in enumerate(rows):
        label = _row_label(raw, index)
        try:
            models.append(CatalogModel.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise CatalogError(
                f"catalog row {label!r}, field {_field_path(first['loc'])!r}: {first['msg']}"
                + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""),
                row=label,
            ) from None
    return Catalog(tuple(models))


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate the catalog file (default: the packaged `shared/data/catalog.json`)."""
    source = path or DEFAULT_CATALOG_PATH
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise CatalogError(f"catalog: cannot read {source}: {exc.strerror or exc}") from None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CatalogError(f"catalog: {source} is not valid JSON: {exc}") from None
    return parse_catalog(document)


@functools.cache
def default_catalog() -> Catalog:
    """The packaged catalog, loaded and validated once per process (the documented per-process holder)."""
    return load_catalog()
