"""The gateway's settings: the environment, parsed once at the edge into a frozen `Settings` (style.md, 11).

`Settings.from_env(environ)` is the only place that reads configuration; everything below it gets the
object passed in. Nothing here reads `os.environ` itself: the caller (a function's lazy dependency
holder, the dev server, a test) hands over the mapping. Every variable read is listed in `ENV_VARS`
(a test keeps the two in step; a Terraform test checks each is defaulted or set by Terraform).

Field names are the variable names in lower case (`ROUTER_MAX_RETRIES` -> `router_max_retries`), except
`port`, `data_dir` and `dev_key`, and the per-provider maps `provider_keys` and `base_urls`, which are
keyed by internal provider name (`openai`, `anthropic`, `gemini`).

Rules, for every variable: an empty or blank value counts as unset (Terraform and container
runtimes often pass "" for "not set"); a bad value raises `SettingsError` naming the variable and
what it accepts. Secret values (gateway dev key, provider keys, salts) are never echoed in an error and
never shown by `repr`, which only says whether they are set.

Salts left unset stay `None` here: for local runs `shared.local_secrets` generates them into the data
dir; the cloud sets them through Terraform.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar
from urllib.parse import urlsplit

from shared.errors import GatewayError
from shared.providers import PROVIDERS

__all__ = ["ENV_VARS", "PROVIDER_ENV", "SECRET_FIELDS", "Settings", "SettingsError"]

_T = TypeVar("_T")

# Internal provider name -> (platform-key variable, base-URL variable).
PROVIDER_ENV: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
        "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        "gemini": ("GEMINI_API_KEY", "GEMINI_BASE_URL"),
    }
)

ENV_VARS: tuple[str, ...] = (
    "PORT",
    "GATEWAY_DATA_DIR",
    "GATEWAY_DEV_KEY",
    *(key_var for key_var, _ in PROVIDER_ENV.values()),
    *(url_var for _, url_var in PROVIDER_ENV.values()),
    "ROUTER_FALLBACK_ENABLED",
    "ROUTER_FALLBACK_ORDER",
    "ROUTER_COST_OPTIMIZATION",
    "ROUTER_PERFORMANCE_WEIGHTING",
    "ROUTER_MAX_RETRIES",
    "ROUTER_MAX_CANDIDATES",
    "BREAKER_WINDOW_SECONDS",
    "BREAKER_MIN_REQUESTS",
    "BREAKER_FAILURE_RATIO",
    "BREAKER_OPEN_SECONDS",
    "BREAKER_OPEN_MAX_SECONDS",
    "BREAKER_REFRESH_SECONDS",
    "STORE_BACKEND",
    "FIRESTORE_DATABASE",
    "GOOGLE_CLOUD_PROJECT_ID",
    "KMS_BACKEND",
    "GOOGLE_CLOUD_LOCATION_ID",
    "GOOGLE_CLOUD_KEYRING_ID",
    "GOOGLE_CLOUD_KEY_ID",
    "KMS_ENDPOINT",
    "EVENTS_BACKEND",
    "PUBSUB_USAGE_TOPIC",
    "PUBSUB_AUDIT_TOPIC",
    "ANALYTICS_BACKEND",
    "BIGQUERY_DATASET",
    "BIGQUERY_ENDPOINT",
    "CONNECT_TIMEOUT_SECONDS",
    "FIRST_BYTE_TIMEOUT_SECONDS",
    "STREAM_IDLE_TIMEOUT_SECONDS",
    "REQUEST_TIMEOUT_SECONDS",
    "RETRY_AFTER_MAX_SECONDS",
    "MAX_BODY_BYTES",
    "CACHE_ENABLED",
    "CACHE_TTL_SECONDS",
    "CACHE_MAX_SIZE",
    "CACHE_MAX_TEMPERATURE",
    "ANALYTICS_DETAILED_LOGGING",
    "ANALYTICS_LOG_CONTENT",
    "REDIS_URL",
    "REDIS_CA_CERT",
    "LIMITS_INSTANCES",
    "API_KEY_HASH_SALT",
    "ENCRYPTION_CONTEXT_SALT",
)

# REDIS_URL may carry the AUTH password.
SECRET_FIELDS = frozenset({"dev_key", "provider_keys", "api_key_hash_salt", "encryption_context_salt", "redis_url"})

_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no"})
_BOOL_FORMS = "true/false, 1/0, on/off or yes/no (any case)"
# The seed's provider spellings (OPENAI, ANTHROPIC, GOOGLE) and the internal names, both in any case.
_ORDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "google": "gemini", "gemini": "gemini"}
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Pub/Sub's resource-name rule for a topic id (cloud.google.com/pubsub/docs/pubsub-basics#resource_names).
_TOPIC_ID = re.compile(r"[A-Za-z][A-Za-z0-9._~+%-]{2,254}")
# A BigQuery dataset id, optionally qualified by its project id (which may carry a `domain:` prefix).
_DATASET = re.compile(r"(?:[a-z][a-z0-9.:-]{4,61}[a-z0-9]\.)?[A-Za-z0-9_]{1,1024}")
# Visible ASCII only: a key goes into an HTTP header, where anything else is refused or mangled.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class SettingsError(GatewayError):
    """A configuration value is invalid: names the variable and the accepted forms (never a secret value)."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}", status=500)
        self.variable = variable


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    port: int = 8080
    data_dir: Path = Path(".local")
    dev_key: str | None = None
    provider_keys: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType(dict.fromkeys(PROVIDER_ENV, ()))
    )
    base_urls: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({p: PROVIDERS[p].default_base_url for p in PROVIDER_ENV})
    )
    router_fallback_enabled: bool = True
    router_fallback_order: tuple[str, ...] = ("openai", "anthropic", "gemini")
    router_cost_optimization: bool = True
    router_performance_weighting: float = 0.3
    router_max_retries: int = 3
    router_max_candidates: int = 3
    # Circuit breakers (architecture, Circuit breakers): failure ratio over a window with a minimum volume;
    # the open period starts at BREAKER_OPEN_SECONDS and doubles on each repeated trip up to the max.
    breaker_window_seconds: float = 60.0
    breaker_min_requests: int = 5
    breaker_failure_ratio: float = 0.5
    breaker_open_seconds: float = 30.0
    breaker_open_max_seconds: float = 600.0
    # An instance's mirror of the shared breaker state is refreshed at request start when older than this.
    breaker_refresh_seconds: float = 2.0
    # The document store (breakers, later key metadata): `sqlite` (GATEWAY_DATA_DIR) or `firestore`.
    store_backend: str = "sqlite"
    firestore_database: str = "(default)"
    google_cloud_project_id: str | None = None
    # The key-encryption key of BYOK secrets: `local` (a Tink keyset file in GATEWAY_DATA_DIR) or `gcp` (Cloud
    # KMS key projects/P/locations/L/keyRings/R/cryptoKeys/K from the seed's GOOGLE_CLOUD_* variables).
    kms_backend: str = "local"
    google_cloud_location_id: str | None = None
    google_cloud_keyring_id: str | None = None
    google_cloud_key_id: str | None = None
    # host:port of a KMS gRPC endpoint other than Google's (tests); unset: the real service.
    kms_endpoint: str | None = None
    # Where usage events go (architecture, Usage events): `local` (segment files under GATEWAY_DATA_DIR/events)
    # or `pubsub` (the batching publisher, to these topic ids in GOOGLE_CLOUD_PROJECT_ID).
    events_backend: str = "local"
    pubsub_usage_topic: str = "usage-events"
    pubsub_audit_topic: str = "audit-events"
    # Where analytics read usage events and keep their daily rollups (shared.analytics): `duckdb` (the segment
    # files and GATEWAY_DATA_DIR/analytics/rollups.duckdb) or `bigquery` (BIGQUERY_DATASET, `dataset` or
    # `project.dataset`, in GOOGLE_CLOUD_PROJECT_ID; BIGQUERY_ENDPOINT: an emulator's URL, unset: the real service).
    analytics_backend: str = "duckdb"
    bigquery_dataset: str | None = None
    bigquery_endpoint: str | None = None
    connect_timeout_seconds: float = 5.0
    first_byte_timeout_seconds: float = 60.0
    stream_idle_timeout_seconds: float = 60.0
    request_timeout_seconds: float = 600.0
    retry_after_max_seconds: float = 10.0
    max_body_bytes: int = 20 * 1024 * 1024
    cache_enabled: bool = True
    cache_ttl_seconds: int = 300
    cache_max_size: int = 1000
    # Requests sampled hotter than this are not cached unless the caller asks (`x-gateway-cache: force`).
    cache_max_temperature: float = 0.5
    # The seed's analytics.detailedLogging: a JSON log line per provider attempt (shared.attempt_log); message
    # content only with ANALYTICS_LOG_CONTENT as well.
    analytics_detailed_logging: bool = False
    analytics_log_content: bool = False
    # The cache port on Redis (Memorystore): `redis://` or `rediss://` (TLS); unset: in-process only.
    redis_url: str | None = None
    redis_ca_cert: str | None = None
    # Usage limits (shared.limits): while Redis is away each instance enforces 1/N of every limit on its own
    # (N = this, the chat function's maximum instance count), so the whole never exceeds the limit by much.
    limits_instances: int = 1
    api_key_hash_salt: str | None = None
    encryption_context_salt: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Parse every variable of `ENV_VARS` from `environ`; raises `SettingsError` on the first bad one."""
        env = _Env(environ)
        d = cls()  # the field defaults are the documented defaults
        return cls(
            port=env.integer("PORT", d.port, 0, 65535),
            data_dir=env.parse("GATEWAY_DATA_DIR", d.data_dir, _path),
            dev_key=env.secret("GATEWAY_DEV_KEY"),
            provider_keys=MappingProxyType({p: env.key_list(names[0]) for p, names in PROVIDER_ENV.items()}),
            base_urls=MappingProxyType(
                {p: env.parse(names[1], d.base_urls[p], _base_url) for p, names in PROVIDER_ENV.items()}
            ),
            router_fallback_enabled=env.boolean("ROUTER_FALLBACK_ENABLED", d.router_fallback_enabled),
            router_fallback_order=env.parse("ROUTER_FALLBACK_ORDER", d.router_fallback_order, _order),
            router_cost_optimization=env.boolean("ROUTER_COST_OPTIMIZATION", d.router_cost_optimization),
            router_performance_weighting=env.number(
                "ROUTER_PERFORMANCE_WEIGHTING", d.router_performance_weighting, 0.0, 1.0
            ),
            router_max_retries=env.integer("ROUTER_MAX_RETRIES", d.router_max_retries, 0, 10),
            router_max_candidates=env.integer("ROUTER_MAX_CANDIDATES", d.router_max_candidates, 1, 20),
            breaker_window_seconds=env.positive("BREAKER_WINDOW_SECONDS", d.breaker_window_seconds),
            breaker_min_requests=env.integer("BREAKER_MIN_REQUESTS", d.breaker_min_requests, 1, None),
            breaker_failure_ratio=env.number("BREAKER_FAILURE_RATIO", d.breaker_failure_ratio, 0.0, 1.0),
            breaker_open_seconds=env.positive("BREAKER_OPEN_SECONDS", d.breaker_open_seconds),
            breaker_open_max_seconds=env.positive("BREAKER_OPEN_MAX_SECONDS", d.breaker_open_max_seconds),
            breaker_refresh_seconds=env.positive("BREAKER_REFRESH_SECONDS", d.breaker_refresh_seconds),
            store_backend=env.parse("STORE_BACKEND", d.store_backend, _store_backend),
            firestore_database=env.raw("FIRESTORE_DATABASE") or d.firestore_database,
            google_cloud_project_id=env.raw("GOOGLE_CLOUD_PROJECT_ID"),
            kms_backend=env.parse("KMS_BACKEND", d.kms_backend, _kms_backend),
            google_cloud_location_id=env.raw("GOOGLE_CLOUD_LOCATION_ID"),
            google_cloud_keyring_id=env.raw("GOOGLE_CLOUD_KEYRING_ID"),
            google_cloud_key_id=env.raw("GOOGLE_CLOUD_KEY_ID"),
            kms_endpoint=env.raw("KMS_ENDPOINT"),
            events_backend=env.parse("EVENTS_BACKEND", d.events_backend, _events_backend),
            pubsub_usage_topic=env.parse("PUBSUB_USAGE_TOPIC", d.pubsub_usage_topic, _topic_id),
            pubsub_audit_topic=env.parse("PUBSUB_AUDIT_TOPIC", d.pubsub_audit_topic, _topic_id),
            analytics_backend=env.parse("ANALYTICS_BACKEND", d.analytics_backend, _analytics_backend),
            bigquery_dataset=env.parse("BIGQUERY_DATASET", d.bigquery_dataset, _dataset),
            bigquery_endpoint=env.parse("BIGQUERY_ENDPOINT", d.bigquery_endpoint, _base_url),
            connect_timeout_seconds=env.positive("CONNECT_TIMEOUT_SECONDS", d.connect_timeout_seconds),
            first_byte_timeout_seconds=env.positive("FIRST_BYTE_TIMEOUT_SECONDS", d.first_byte_timeout_seconds),
            stream_idle_timeout_seconds=env.positive("STREAM_IDLE_TIMEOUT_SECONDS", d.stream_idle_timeout_seconds),
            request_timeout_seconds=env.positive("REQUEST_TIMEOUT_SECONDS", d.request_timeout_seconds),
            retry_after_max_seconds=env.number("RETRY_AFTER_MAX_SECONDS", d.retry_after_max_seconds, 0.0, math.inf),
            max_body_bytes=env.integer("MAX_BODY_BYTES", d.max_body_bytes, 1, None),
            cache_enabled=env.boolean("CACHE_ENABLED", d.cache_enabled),
            cache_ttl_seconds=env.integer("CACHE_TTL_SECONDS", d.cache_ttl_seconds, 1, None),
            cache_max_size=env.integer("CACHE_MAX_SIZE", d.cache_max_size, 1, None),
            cache_max_temperature=env.number("CACHE_MAX_TEMPERATURE", d.cache_max_temperature, 0.0, 2.0),
            analytics_detailed_logging=env.boolean("ANALYTICS_DETAILED_LOGGING", d.analytics_detailed_logging),
            analytics_log_content=env.boolean("ANALYTICS_LOG_CONTENT", d.analytics_log_content),
            redis_url=env.secret("REDIS_URL"),
            redis_ca_cert=env.raw("REDIS_CA_CERT"),
            limits_instances=env.integer("LIMITS_INSTANCES", d.limits_instances, 1, 10_000),
            api_key_hash_salt=env.secret("API_KEY_HASH_SALT"),
            encryption_context_salt=env.secret("ENCRYPTION_CONTEXT_SALT"),
        )

    def provider_key_configured(self, provider: str) -> bool:
        """Whether at least one platform key is set for `provider` (an internal name)."""
        if provider not in PROVIDER_ENV:
            raise ValueError(f"unknown provider {provider!r}: expected one of {', '.join(PROVIDER_ENV)}")
        return bool(self.provider_keys.get(provider))

    def __repr__(self) -> str:
        # Secrets appear only as whether they are set (and how many provider keys), never their values.
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "provider_keys":
                shown = "{" + ", ".join(f"{p!r}: <{len(keys)} set>" for p, keys in value.items()) + "}"
            elif f.name in SECRET_FIELDS:
                shown = "None" if value is None else "<set>"
            elif isinstance(value, Mapping):
                shown = repr(dict(value))
            else:
                shown = repr(value)
            parts.append(f"{f.name}={shown}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__

    def __hash__(self) -> int:
        # Hashable like any frozen value (e.g. a cache key), although two fields are read-only mappings.
        values = (getattr(self, f.name) for f in fields(self))
        return hash(tuple(tuple(v.items()) if isinstance(v, Mapping) else v for v in values))


class _Env:
    """Typed reads of one environment mapping; each raises `SettingsError` naming the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def parse(self, name: str, default: _T, parser: Callable[[str], _T]) -> _T:
        """`parser` raises ValueError with what the variable accepts; the value is not secret, so it is quoted."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parser(value)
        except ValueError as error:
            raise SettingsError(name, f"{_quote(value)} is not valid: {error}") from None

    def boolean(self, name: str, default: bool) -> bool:
        return self.parse(name, default, _boolean)

    def integer(self, name: str, default: int, low: int, high: int | None) -> int:
        return self.parse(name, default, lambda value: _integer(value, low, high))

    def number(self, name: str, default: float, low: float, high: float) -> float:
        return self.parse(name, default, lambda value: _number(value, low, high, strict_low=False))

    def positive(self, name: str, default: float) -> float:
        return self.parse(name, default, lambda value: _number(value, 0.0, math.inf, strict_low=True))

    def secret(self, name: str) -> str | None:
        value = self.raw(name)
        if value is not None and not _HEADER_SAFE.fullmatch(value):
            raise SettingsError(name, "contains spaces or characters outside visible ASCII (value not shown)")
        return value

    def key_list(self, name: str) -> tuple[str, ...]:
        """Comma-separated keys, stripped, empty items dropped, duplicates dropped (order kept)."""
        value = self.raw(name)
        if value is None:
            return ()
        keys: list[str] = []
        for index, item in enumerate(value.split(","), start=1):
            key = item.strip()
            if not key:
                continue
            if not _HEADER_SAFE.fullmatch(key):
                raise SettingsError(
                    name, f"key {index} contains spaces or characters outside visible ASCII (value not shown)"
                )
            if key not in keys:
                keys.append(key)
        return tuple(keys)


def _quote(value: str) -> str:
    # Settings values are not secret, but a huge value should not flood the log line.
    return repr(value if len(value) <= 80 else value[:80] + "...")


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected {_BOOL_FORMS}")


def _integer(value: str, low: int, high: int | None) -> int:
    if not _INTEGER.fullmatch(value):
        raise ValueError(f"expected a whole number {_range(low, high)}")
    number = int(value)
    if number < low or (high is not None and number > high):
        raise ValueError(f"expected a whole number {_range(low, high)}")
    return number


def _number(value: str, low: float, high: float, *, strict_low: bool) -> float:
    if strict_low:
        bounds = f"greater than {low:g}"
    else:
        bounds = f"of at least {low:g}" if math.isinf(high) else f"from {low:g} to {high:g}"
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number {bounds}") from None
    too_low = number <= low if strict_low else number < low
    if not math.isfinite(number) or too_low or number > high:
        raise ValueError(f"expected a number {bounds}")
    return number


def _range(low: int, high: int | None) -> str:
    return f"of at least {low}" if high is None else f"from {low} to {high}"


def _path(value: str) -> Path:
    if "\x00" in value:
        raise ValueError("expected a directory path (relative paths are from the current directory)")
    return Path(value)


def _base_url(value: str) -> str:
    accepted = "expected an http(s) URL such as https://host[:port]/path, without query, fragment or credentials"
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number or out of range
    except ValueError:
        raise ValueError(accepted) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(accepted)
    # The adapters append their own paths; a query or fragment would end up in the wrong place, and
    # credentials in a URL would be shown wherever the URL is.
    if parts.query or parts.fragment or "?" in value or "#" in value or parts.username or parts.password:
        raise ValueError(accepted)
    if not _HEADER_SAFE.fullmatch(value):
        raise ValueError(accepted)
    return value.rstrip("/")


def _order(value: str) -> tuple[str, ...]:
    accepted = "expected a comma-separated list of OPENAI, ANTHROPIC, GOOGLE (or GEMINI; any case), each at most once"
    names: list[str] = []
    for item in value.split(","):
        token = item.strip().lower()
        if not token:
            continue
        name = _ORDER_NAMES.get(token)
        if name is None or name in names:
            raise ValueError(accepted)
        names.append(name)
    if not names:
        raise ValueError(accepted)
    return tuple(names)


def _store_backend(value: str) -> str:
    backend = value.strip().lower()
    if backend not in ("sqlite", "firestore"):
        raise ValueError("expected sqlite or firestore")
    return backend


def _kms_backend(value: str) -> str:
    backend = value.strip().lower()
    if backend not in ("local", "gcp"):
        raise ValueError("expected local or gcp")
    return backend


def _events_backend(value: str) -> str:
    backend = value.strip().lower()
    if backend not in ("local", "pubsub"):
        raise ValueError("expected local or pubsub")
    return backend


def _analytics_backend(value: str) -> str:
    backend = value.strip().lower()
    if backend not in ("duckdb", "bigquery"):
        raise ValueError("expected duckdb or bigquery")
    return backend


def _dataset(value: str) -> str:
    # A dataset id (letters, digits, underscores), optionally after the project that holds it.
    if not _DATASET.fullmatch(value):
        raise ValueError(
            "expected a BigQuery dataset id (letters, digits and underscores, at most 1024), optionally as "
            "project.dataset with a project id of lowercase letters, digits and hyphens"
        )
    return value


def _topic_id(value: str) -> str:
    # A topic id, not a path: the project comes from GOOGLE_CLOUD_PROJECT_ID.
    if not _TOPIC_ID.fullmatch(value) or value.lower().startswith("goog"):
        raise ValueError(
            "expected a Pub/Sub topic id: 3 to 255 of letters, digits, - _ . ~ + %, starting with a letter, not goog"
        )
    return value
