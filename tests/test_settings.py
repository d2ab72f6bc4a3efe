"""Settings from the environment (shared/settings.py): defaults, every variable, bad values naming the
variable, comma lists, and secrets kept out of repr and error messages."""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import shared.settings as settings_module
from shared.errors import GatewayError
from shared.settings import ENV_VARS, PROVIDER_ENV, Settings, SettingsError


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every name looked up."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self.data = dict(values or {})
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.data[name]

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.read.add(name)
        return self.data.get(name, default)

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("settings must read named variables, not scan the environment")

    def __len__(self) -> int:
        return len(self.data)


def bad(variable: str, value: str) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert caught.value.variable == variable
    assert caught.value.message.startswith(f"{variable}: ")
    return caught.value


# ------------------------------------------------------------------------------------------ ENV_VARS


def test_every_variable_read_is_listed_in_env_vars_and_every_listed_one_is_read() -> None:
    env = RecordingEnv()
    Settings.from_env(env)
    assert env.read == set(ENV_VARS)
    assert len(ENV_VARS) == len(set(ENV_VARS))


def test_the_module_never_reads_the_process_environment() -> None:
    source = inspect.getsource(settings_module)
    assert not hasattr(settings_module, "os")
    assert "import os" not in source
    assert "getenv(" not in source


# ------------------------------------------------------------------------------------------ defaults


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s == Settings()
    assert s.port == 8080
    assert s.data_dir == Path(".local")
    assert s.dev_key is None
    assert dict(s.provider_keys) == {"openai": (), "anthropic": (), "gemini": ()}
    assert dict(s.base_urls) == {
        "openai": "https://api.openai.com/v1",
        "anthropic": "https://api.anthropic.com",
        "gemini": "https://generativelanguage.googleapis.com/v1beta",
    }
    assert s.router_fallback_enabled is True
    assert s.router_fallback_order == ("openai", "anthropic", "gemini")
    assert s.router_cost_optimization is True
    assert s.router_performance_weighting == 0.3
    assert s.router_max_retries == 3
    assert s.router_max_candidates == 3
    assert s.connect_timeout_seconds == 5
    assert s.first_byte_timeout_seconds == 60
    assert s.stream_idle_timeout_seconds == 60
    assert s.request_timeout_seconds == 600
    assert s.retry_after_max_seconds == 10
    assert s.max_body_bytes == 20 * 1024 * 1024
    assert (s.cache_enabled, s.cache_ttl_seconds, s.cache_max_size) == (True, 300, 1000)
    assert s.api_key_hash_salt is None
    assert s.encryption_context_salt is None
    assert (s.events_backend, s.pubsub_usage_topic, s.pubsub_audit_topic) == ("local", "usage-events", "audit-events")
    assert (s.analytics_backend, s.bigquery_dataset, s.bigquery_endpoint) == ("duckdb", None, None)


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_blank_values_count_as_unset(blank: str) -> None:
    assert Settings.from_env(dict.fromkeys(ENV_VARS, blank)) == Settings()


# ------------------------------------------------------------------------------------- every variable

FULL_ENV = {
    "PORT": "9000",
    "BREAKER_WINDOW_SECONDS": "30",
    "BREAKER_MIN_REQUESTS": "3",
    "BREAKER_FAILURE_RATIO": "0.25",
    "BREAKER_OPEN_SECONDS": "2",
    "BREAKER_OPEN_MAX_SECONDS": "60",
    "BREAKER_REFRESH_SECONDS": "0.5",
    "STORE_BACKEND": "FIRESTORE",
    "FIRESTORE_DATABASE": "gateway",
    "GOOGLE_CLOUD_PROJECT_ID": "demo-project",
    "KMS_BACKEND": "GCP",
    "GOOGLE_CLOUD_LOCATION_ID": "europe-west1",
    "GOOGLE_CLOUD_KEYRING_ID": "gateway",
    "GOOGLE_CLOUD_KEY_ID": "provider-keys",
    "KMS_ENDPOINT": "127.0.0.1:9999",
    "EVENTS_BACKEND": "PubSub",
    "PUBSUB_USAGE_TOPIC": "gateway-usage",
    "PUBSUB_AUDIT_TOPIC": "gateway-audit",
    "ANALYTICS_BACKEND": "BigQuery",
    "BIGQUERY_DATASET": "gateway_analytics",
    "BIGQUERY_ENDPOINT": "http://127.0.0.1:9050/",
    "GATEWAY_DATA_DIR": "/var/lib/gateway",
    "GATEWAY_DEV_KEY": "dev-secret-1",
    "OPENAI_API_KEY": "sk-one, sk-two",
    "ANTHROPIC_API_KEY": "sk-ant-one",
    "GEMINI_API_KEY": "gem-one,,",
    "OPENAI_BASE_URL": "http://127.0.0.1:8090/v1/",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:8090",
    "GEMINI_BASE_URL": "HTTPS://gemini.example.com:8443/v1beta//",
    "ROUTER_FALLBACK_ENABLED": "off",
    "ROUTER_FALLBACK_ORDER": "google, Anthropic ,OPENAI",
    "ROUTER_COST_OPTIMIZATION": "No",
    "ROUTER_PERFORMANCE_WEIGHTING": "0.75",
    "ROUTER_MAX_RETRIES": "0",
    "ROUTER_MAX_CANDIDATES": "5",
    "CONNECT_TIMEOUT_SECONDS": "2.5",
    "FIRST_BYTE_TIMEOUT_SECONDS": "30",
    "STREAM_IDLE_TIMEOUT_SECONDS": "15",
    "REQUEST_TIMEOUT_SECONDS": "120",
    "RETRY_AFTER_MAX_SECONDS": "0",
    "MAX_BODY_BYTES": "1048576",
    "CACHE_ENABLED": "FALSE",
    "CACHE_TTL_SECONDS": "60",
    "CACHE_MAX_SIZE": "50",
    "CACHE_MAX_TEMPERATURE": "0.2",
    "ANALYTICS_DETAILED_LOGGING": "true",
    "ANALYTICS_LOG_CONTENT": "on",
    "REDIS_URL": "rediss://:secret-pass@10.0.0.3:6378/0",
    "REDIS_CA_CERT": "/etc/memorystore/ca.pem",
    "LIMITS_INSTANCES": "12",
    "API_KEY_HASH_SALT": "hash-salt-value",
    "ENCRYPTION_CONTEXT_SALT": "context-salt-value",
}


def test_every_variable_is_parsed() -> None:
    assert set(FULL_ENV) == set(ENV_VARS)
    s = Settings.from_env(FULL_ENV)
    assert s.port == 9000
    assert s.data_dir == Path("/var/lib/gateway")
    assert s.dev_key == "dev-secret-1"
    assert dict(s.provider_keys) == {
        "openai": ("sk-one", "sk-two"),
        "anthropic": ("sk-ant-one",),
        "gemini": ("gem-one",),
    }
    assert dict(s.base_urls) == {
        "openai": "http://127.0.0.1:8090/v1",
        "anthropic": "http://127.0.0.1:8090",
        "gemini": "HTTPS://gemini.example.com:8443/v1beta",
    }
    assert s.router_fallback_enabled is False
    assert s.router_fallback_order == ("gemini", "anthropic", "openai")
    assert s.router_cost_optimization is False
    assert s.router_performance_weighting == 0.75
    assert s.router_max_retries == 0
    assert s.router_max_candidates == 5
    assert (s.breaker_window_seconds, s.breaker_min_requests, s.breaker_failure_ratio) == (30, 3, 0.25)
    assert (s.breaker_open_seconds, s.breaker_open_max_seconds, s.breaker_refresh_seconds) == (2, 60, 0.5)
    assert (s.store_backend, s.firestore_database, s.google_cloud_project_id) == (
        "firestore",
        "gateway",
        "demo-project",
    )
    assert (s.kms_backend, s.kms_endpoint) == ("gcp", "127.0.0.1:9999")
    assert (s.events_backend, s.pubsub_usage_topic, s.pubsub_audit_topic) == (
        "pubsub",
        "gateway-usage",
        "gateway-audit",
    )
    assert (s.analytics_backend, s.bigquery_dataset, s.bigquery_endpoint) == (
        "bigquery",
        "gateway_analytics",
        "http://127.0.0.1:9050",
    )
    assert (s.google_cloud_location_id, s.google_cloud_keyring_id, s.google_cloud_key_id) == (
        "europe-west1",
        "gateway",
        "provider-keys",
    )
    assert s.connect_timeout_seconds == 2.5
    assert s.first_byte_timeout_seconds == 30
    assert s.stream_idle_timeout_seconds == 15
    assert s.request_timeout_seconds == 120
    assert s.retry_after_max_seconds == 0
    assert s.max_body_bytes == 1048576
    assert (s.cache_enabled, s.cache_ttl_seconds, s.cache_max_size) == (False, 60, 50)
    assert s.cache_max_temperature == 0.2
    assert (s.analytics_detailed_logging, s.analytics_log_content) == (True, True)
    assert (s.redis_url, s.redis_ca_cert) == ("rediss://:secret-pass@10.0.0.3:6378/0", "/etc/memorystore/ca.pem")
    assert s.limits_instances == 12
    assert "secret-pass" not in repr(s)
    assert s.api_key_hash_salt == "hash-salt-value"
    assert s.encryption_context_salt == "context-salt-value"


def test_every_field_comes_from_some_variable() -> None:
    # Each field differs from its default when every variable is set to a non-default value.
    full, default = Settings.from_env(FULL_ENV), Settings()
    unchanged = [f.name for f in dataclasses.fields(Settings) if getattr(full, f.name) == getattr(default, f.name)]
    assert unchanged == []


def test_an_unknown_store_backend_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"STORE_BACKEND.*sqlite or firestore"):
        Settings.from_env({"STORE_BACKEND": "postgres"})


def test_an_unknown_kms_backend_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"KMS_BACKEND.*local or gcp"):
        Settings.from_env({"KMS_BACKEND": "vault"})


def test_an_unknown_events_backend_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"EVENTS_BACKEND.*local or pubsub"):
        Settings.from_env({"EVENTS_BACKEND": "kafka"})


def test_an_unknown_analytics_backend_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"ANALYTICS_BACKEND.*duckdb or bigquery"):
        Settings.from_env({"ANALYTICS_BACKEND": "clickhouse"})


@pytest.mark.parametrize(
    "value", ["gateway_analytics", "Analytics2", "demo-test.gateway", "example.com:my-project.events_v1", "d" * 1024]
)
def test_bigquery_datasets_are_accepted_bare_or_with_their_project(value: str) -> None:
    assert Settings.from_env({"BIGQUERY_DATASET": value}).bigquery_dataset == value


@pytest.mark.parametrize(
    "value", ["gateway-analytics", "analytics; DROP", "Bad_Project.analytics", "p.d.t", "proj.", "d" * 1025]
)
def test_a_bad_bigquery_dataset_is_refused_naming_the_variable(value: str) -> None:
    assert "BigQuery dataset id" in bad("BIGQUERY_DATASET", value).message


@pytest.mark.parametrize("value", ["127.0.0.1:9050", "ftp://127.0.0.1:9050", "http://127.0.0.1:9050?x=1"])
def test_a_bad_bigquery_endpoint_is_refused_naming_the_variable(value: str) -> None:
    assert "http(s) URL" in bad("BIGQUERY_ENDPOINT", value).message


@pytest.mark.parametrize("variable", ["PUBSUB_USAGE_TOPIC", "PUBSUB_AUDIT_TOPIC"])
@pytest.mark.parametrize(
    "value", ["ab", "1usage", "projects/p/topics/usage", "usage events", "goog-usage", "u" * 256, "usage/x"]
)
def test_a_bad_topic_id_is_refused_naming_the_variable(variable: str, value: str) -> None:
    assert "Pub/Sub topic id" in bad(variable, value).message


@pytest.mark.parametrize("value", ["abc", "Usage.events_v2~+%", "u" * 255])
def test_topic_ids_at_the_edges_of_the_rule_are_accepted(value: str) -> None:
    assert Settings.from_env({"PUBSUB_USAGE_TOPIC": value}).pubsub_usage_topic == value


def test_relative_data_dir_is_kept_relative_to_the_current_directory() -> None:
    assert Settings.from_env({"GATEWAY_DATA_DIR": "state/dev"}).data_dir == Path("state/dev")


# -------------------------------------------------------------------------------------------- booleans

BOOL_VARS = ["ROUTER_FALLBACK_ENABLED", "ROUTER_COST_OPTIMIZATION", "CACHE_ENABLED"]
FIELD = {
    "ROUTER_FALLBACK_ENABLED": "router_fallback_enabled",
    "ROUTER_COST_OPTIMIZATION": "router_cost_optimization",
    "CACHE_ENABLED": "cache_enabled",
}


@pytest.mark.parametrize("variable", BOOL_VARS)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("on", True),
        ("ON", True),
        ("yes", True),
        ("Yes", True),
        (" true ", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("off", False),
        ("Off", False),
        ("no", False),
        ("NO", False),
    ],
)
def test_booleans_accept_every_documented_form(variable: str, value: str, expected: bool) -> None:
    assert getattr(Settings.from_env({variable: value}), FIELD[variable]) is expected


@pytest.mark.parametrize("variable", BOOL_VARS)
@pytest.mark.parametrize("value", ["maybe", "2", "enabled", "t", "y", "tru"])
def test_bad_boolean_names_the_variable_and_the_accepted_forms(variable: str, value: str) -> None:
    error = bad(variable, value)
    assert "true/false, 1/0, on/off or yes/no" in error.message
    assert repr(value) in error.message


# --------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("PORT", "0", "port", 0),
        ("PORT", "65535", "port", 65535),
        ("ROUTER_PERFORMANCE_WEIGHTING", "0", "router_performance_weighting", 0.0),
        ("ROUTER_PERFORMANCE_WEIGHTING", "1", "router_performance_weighting", 1.0),
        ("ROUTER_MAX_RETRIES", "10", "router_max_retries", 10),
        ("ROUTER_MAX_CANDIDATES", "1", "router_max_candidates", 1),
        ("REQUEST_TIMEOUT_SECONDS", "0.5", "request_timeout_seconds", 0.5),
        ("RETRY_AFTER_MAX_SECONDS", "2.5", "retry_after_max_seconds", 2.5),
        ("MAX_BODY_BYTES", "1", "max_body_bytes", 1),
        ("CACHE_TTL_SECONDS", " 1 ", "cache_ttl_seconds", 1),
    ],
)
def test_numbers_at_their_bounds(variable: str, value: str, field: str, expected: float) -> None:
    assert getattr(Settings.from_env({variable: value}), field) == expected


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("PORT", "65536", "from 0 to 65535"),
        ("PORT", "-1", "from 0 to 65535"),
        ("PORT", "80.0", "whole number"),
        ("PORT", "http", "whole number"),
        ("ROUTER_PERFORMANCE_WEIGHTING", "1.1", "from 0 to 1"),
        ("ROUTER_PERFORMANCE_WEIGHTING", "-0.1", "from 0 to 1"),
        ("ROUTER_PERFORMANCE_WEIGHTING", "nan", "from 0 to 1"),
        ("ROUTER_PERFORMANCE_WEIGHTING", "heavy", "from 0 to 1"),
        ("ROUTER_MAX_RETRIES", "11", "from 0 to 10"),
        ("ROUTER_MAX_RETRIES", "-1", "from 0 to 10"),
        ("ROUTER_MAX_RETRIES", "3.0", "whole number"),
        ("ROUTER_MAX_CANDIDATES", "0", "from 1 to 20"),
        ("CONNECT_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("FIRST_BYTE_TIMEOUT_SECONDS", "-5", "greater than 0"),
        ("STREAM_IDLE_TIMEOUT_SECONDS", "inf", "greater than 0"),
        ("REQUEST_TIMEOUT_SECONDS", "ten", "greater than 0"),
        ("RETRY_AFTER_MAX_SECONDS", "-1", "at least 0"),
        ("RETRY_AFTER_MAX_SECONDS", "infinity", "at least 0"),
        ("MAX_BODY_BYTES", "0", "at least 1"),
        ("MAX_BODY_BYTES", "20MB", "whole number"),
        ("CACHE_TTL_SECONDS", "0", "at least 1"),
        ("CACHE_MAX_SIZE", "1e3", "whole number"),
        ("LIMITS_INSTANCES", "0", "from 1 to 10000"),
        ("LIMITS_INSTANCES", "10001", "from 1 to 10000"),
    ],
)
def test_bad_numbers_name_the_variable_and_the_range(variable: str, value: str, accepted: str) -> None:
    error = bad(variable, value)
    assert accepted in error.message
    assert repr(value) in error.message


def test_a_huge_bad_value_is_shortened_in_the_message() -> None:
    error = bad("PORT", "9" * 500)
    assert len(error.message) < 300


# ------------------------------------------------------------------------------------------ base URLs


@pytest.mark.parametrize("provider", list(PROVIDER_ENV))
@pytest.mark.parametrize(
    "value",
    [
        "ftp://api.example.com",
        "api.example.com/v1",
        "https://",
        "https://api.example.com/v1?key=x",
        "https://api.example.com/v1#frag",
        "https://user:pass@api.example.com/v1",
        "https://api.example.com:99999/v1",
        "https://api.example.com:port/v1",
        "https://api.example.com/v 1",
    ],
)
def test_bad_base_urls_name_the_variable(provider: str, value: str) -> None:
    variable = PROVIDER_ENV[provider][1]
    error = bad(variable, value)
    assert "http(s) URL" in error.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://proxy.example.com/openai/v1/", "https://proxy.example.com/openai/v1"),
        ("http://localhost:8090///", "http://localhost:8090"),
        ("http://[::1]:8090/v1", "http://[::1]:8090/v1"),
    ],
)
def test_base_url_trailing_slashes_are_removed(value: str, expected: str) -> None:
    assert Settings.from_env({"OPENAI_BASE_URL": value}).base_urls["openai"] == expected


# ---------------------------------------------------------------------------------------- comma lists


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sk-a", ("sk-a",)),
        ("sk-a,sk-b", ("sk-a", "sk-b")),
        (" sk-a , sk-b ,", ("sk-a", "sk-b")),
        (",,sk-a,,", ("sk-a",)),
        ("sk-a,sk-b,sk-a", ("sk-a", "sk-b")),
        (",", ()),
    ],
)
@pytest.mark.parametrize("provider", list(PROVIDER_ENV))
def test_provider_keys_are_comma_separated(provider: str, value: str, expected: tuple[str, ...]) -> None:
    s = Settings.from_env({PROVIDER_ENV[provider][0]: value})
    assert s.provider_keys[provider] == expected
    assert s.provider_key_configured(provider) is bool(expected)
    others = [p for p in PROVIDER_ENV if p != provider]
    assert not any(s.provider_key_configured(p) for p in others)


_KEY = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=","), min_size=1)


@given(keys=st.lists(_KEY, max_size=6), pads=st.lists(st.sampled_from(["", " ", "  ", "\t"]), min_size=2, max_size=2))
def test_provider_key_lists_round_trip(keys: list[str], pads: list[str]) -> None:
    value = ",".join(pads[0] + key + pads[1] for key in keys)
    parsed = Settings.from_env({"OPENAI_API_KEY": value}).provider_keys["openai"]
    assert parsed == tuple(dict.fromkeys(keys))


def test_a_provider_key_with_inner_space_is_refused_without_showing_it() -> None:
    error = bad("ANTHROPIC_API_KEY", "sk-ant-good, sk-ant bad-secret")
    assert "key 2" in error.message
    assert "bad-secret" not in error.message
    assert "sk-ant-good" not in error.message


def test_provider_key_configured_rejects_an_unknown_provider() -> None:
    with pytest.raises(ValueError, match="unknown provider 'google'"):
        Settings().provider_key_configured("google")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("OPENAI,ANTHROPIC,GOOGLE", ("openai", "anthropic", "gemini")),
        ("google", ("gemini",)),
        (" Gemini , openai ", ("gemini", "openai")),
        ("anthropic,,openai,", ("anthropic", "openai")),
    ],
)
def test_fallback_order_maps_seed_names_to_internal_names(value: str, expected: tuple[str, ...]) -> None:
    assert Settings.from_env({"ROUTER_FALLBACK_ORDER": value}).router_fallback_order == expected


@pytest.mark.parametrize("value", ["OPENAI,AZURE", "openai,OpenAI", "google,gemini", ",", "OPENAI;ANTHROPIC"])
def test_bad_fallback_order_names_the_variable(value: str) -> None:
    error = bad("ROUTER_FALLBACK_ORDER", value)
    assert "OPENAI, ANTHROPIC, GOOGLE" in error.message


# --------------------------------------------------------------------------------------------- secrets

SECRET_VALUES = ["dev-secret-1", "sk-one", "sk-two", "sk-ant-one", "gem-one", "hash-salt-value", "context-salt-value"]


def test_repr_and_str_never_show_secrets() -> None:
    s = Settings.from_env(FULL_ENV)
    for text in (repr(s), str(s), f"{s}"):
        for secret in SECRET_VALUES:
            assert secret not in text
        assert "dev_key=<set>" in text
        assert "'openai': <2 set>" in text
        assert "api_key_hash_salt=<set>" in text
        assert "port=9000" in text
    assert "dev_key=None" in repr(Settings())


@pytest.mark.parametrize("variable", ["GATEWAY_DEV_KEY", "API_KEY_HASH_SALT", "ENCRYPTION_CONTEXT_SALT"])
def test_a_bad_secret_is_refused_without_showing_it(variable: str) -> None:
    error = bad(variable, "secret with-space")
    assert "with-space" not in error.message
    assert "value not shown" in error.message


def test_settings_are_frozen_and_hashable() -> None:
    s = Settings.from_env(FULL_ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.provider_keys["openai"] = ()  # type: ignore[index]
    assert hash(s) == hash(Settings.from_env(dict(FULL_ENV)))
    assert s != Settings()


def test_settings_error_is_a_gateway_error() -> None:
    error = bad("PORT", "x")
    assert isinstance(error, GatewayError)
    assert error.status == 500
    assert str(error) == error.message


def test_defaults_are_finite() -> None:
    s = Settings()
    numbers = [s.router_performance_weighting, s.connect_timeout_seconds, s.request_timeout_seconds]
    assert all(math.isfinite(n) for n in numbers)
