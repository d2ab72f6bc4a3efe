"""The Cloud Functions of terraform/functions.tf: one per entry point in functions/*/main.py, built from
the zip of its own source directory under a content-hashed name, sized by variables with concurrency that
does not rely on THREADS, one way to reach Redis (Direct VPC egress), the ingress the issue asks for,
and an environment in which every setting the code reads is either defaulted in code or set here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from shared.settings import ENV_VARS, PROVIDER_ENV, Settings
from tests.terraform.hcl import ROOT, Body, block, blocks, config, nested_names, ref

KINDS = ("http", "event")

# Argument allow-lists (typo guard: checkov never validates argument names). Names from the provider's
# google_cloudfunctions2_function documentation, 7.x.
FUNCTION_ARGS = {
    "for_each",
    "name",
    "location",
    "description",
    "labels",
    "build_config",
    "service_config",
    "event_trigger",
    "depends_on",
}
BUILD_CONFIG_ARGS = {
    "runtime",
    "entry_point",
    "service_account",
    "source",
    "environment_variables",
    "docker_repository",
}
SERVICE_CONFIG_ARGS = {
    "available_memory",
    "available_cpu",
    "timeout_seconds",
    "max_instance_request_concurrency",
    "min_instance_count",
    "max_instance_count",
    "service_account_email",
    "ingress_settings",
    "all_traffic_on_latest_revision",
    "environment_variables",
    "secret_environment_variables",
    "secret_volumes",
    "direct_vpc_network_interface",
    "direct_vpc_egress",
    "vpc_connector",
    "vpc_connector_egress_settings",
}
EVENT_TRIGGER_ARGS = {"trigger_region", "event_type", "pubsub_topic", "retry_policy", "service_account_email"}
SECRET_ENV_ARGS = {"key", "project_id", "secret", "version"}
SECRET_VOLUME_ARGS = {"mount_path", "project_id", "secret", "versions"}

# Settings whose code default is missing or wrong for the cloud: which functions need them, and the value
# (None: any reference to the resource that provides it). "*" is every function.
CLOUD_SETTINGS: dict[str, tuple[str, str | None]] = {
    "GATEWAY_DATA_DIR": ("*", "/tmp/gateway"),  # the deployed source directory is read-only
    "STORE_BACKEND": ("*", "firestore"),
    "FIRESTORE_DATABASE": ("*", "${google_firestore_database.main.name}"),
    "GOOGLE_CLOUD_PROJECT_ID": ("*", "${var.project_id}"),
    "EVENTS_BACKEND": ("*", "pubsub"),
    "PUBSUB_USAGE_TOPIC": ("*", "${google_pubsub_topic.usage.name}"),
    "PUBSUB_AUDIT_TOPIC": ("*", "${google_pubsub_topic.audit.name}"),
    "KMS_BACKEND": ("*", "gcp"),
    "GOOGLE_CLOUD_LOCATION_ID": ("*", "${google_kms_key_ring.gateway.location}"),
    "GOOGLE_CLOUD_KEYRING_ID": ("*", "${google_kms_key_ring.gateway.name}"),
    "GOOGLE_CLOUD_KEY_ID": ("*", "${google_kms_crypto_key.provider_keys.name}"),
    "ANALYTICS_BACKEND": ("*", "bigquery"),
    "BIGQUERY_DATASET": ("*", "${google_bigquery_dataset.analytics.dataset_id}"),
    "REDIS_URL": ("chat analytics health", None),
    "REDIS_CA_CERT": ("chat analytics health", None),
    # The usage limits' fail-open share while Redis is away: 1/N per chat instance (health shows N).
    "LIMITS_INSTANCES": ("chat analytics health", '${tostring(var.function_sizing["chat"].max_instance_count)}'),
    "API_KEY_HASH_SALT": ("chat analytics health keys", None),
    "ENCRYPTION_CONTEXT_SALT": ("chat keys keys_rewrap", None),
    "OPENAI_API_KEY": ("chat", None),
    "ANTHROPIC_API_KEY": ("chat", None),
    "GEMINI_API_KEY": ("chat", None),
}
# Settings that must never be set in the cloud, and why.
NEVER_IN_CLOUD = {
    "GATEWAY_DEV_KEY": "a platform key with every scope for local runs; cloud keys come from local.admin",
    "KMS_ENDPOINT": "a test KMS server's address",
    "BIGQUERY_ENDPOINT": "the BigQuery emulator's URL",
    "PORT": "Cloud Run sets it",
}
# Secrets travel only through Secret Manager, never as plain environment values.
SECRETS = {"API_KEY_HASH_SALT", "ENCRYPTION_CONTEXT_SALT", "REDIS_URL", *(k for k, _ in PROVIDER_ENV.values())}
# Variables Terraform sets that are not gateway settings (functions-framework's own).
PLATFORM_VARS = {"LOG_EXECUTION_ID"}


def entry_points() -> dict[str, str]:
    """Entry point -> source directory, from the decorated functions of functions/*/main.py."""
    found: dict[str, str] = {}
    for main in sorted((ROOT / "functions").glob("*/main.py")):
        for node in ast.parse(main.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.decorator_list:
                assert node.name not in found, f"entry point {node.name} defined twice"
                found[node.name] = main.parent.name
    return found


def functions() -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = config().locals["functions"]
    return table


def resource_for(name: str) -> Body:
    kind = "http" if functions()[name]["http"] else "event"
    return config().resource("google_cloudfunctions2_function", kind)


def sizing() -> dict[str, dict[str, Any]]:
    default: dict[str, dict[str, Any]] = config().variables["function_sizing"]["default"]
    return default


def test_one_function_per_entry_point_from_its_own_zip() -> None:
    points = entry_points()
    assert set(points) == {"chat", "analytics", "analytics_rollup", "health", "keys", "keys_rewrap"}
    assert {name: f["source"] for name, f in functions().items()} == points
    cfg = config()
    http = cfg.resource("google_cloudfunctions2_function", "http")
    event = cfg.resource("google_cloudfunctions2_function", "event")
    assert http["for_each"] == "${local.http_functions}"
    assert event["for_each"] == "${local.event_functions}"
    assert set(cfg.locals["event_functions"]) == {n for n, f in functions().items() if not f["http"]}
    assert set(cfg.of_type("google_cloudfunctions2_function")) == set(KINDS)
    for body in (http, event):
        build = block(body, "build_config")
        assert build["runtime"] == "python311"
        assert build["entry_point"] == "${each.key}"
        storage = block(block(build, "source"), "storage_source")
        assert storage["bucket"] == "${google_storage_bucket.source.name}"
        assert storage["object"] in (
            "${google_storage_bucket_object.source[each.value.source].name}",
            "${google_storage_bucket_object.source[local.functions[each.key].source].name}",
        )


def test_source_objects_are_named_by_content_hash() -> None:
    cfg = config()
    obj = cfg.resource("google_storage_bucket_object", "source")
    assert obj["for_each"] == "${local.sources}"
    assert obj["source"] == "${var.build_dir}/${each.key}.zip"
    # The name carries the md5 of exactly the file uploaded: a changed zip is a new object (a redeploy).
    assert obj["name"] == '${each.key}-${filemd5("${var.build_dir}/${each.key}.zip")}.zip'
    assert obj["bucket"] == "${google_storage_bucket.source.name}"


@pytest.mark.parametrize("kind", KINDS)
def test_argument_allow_lists(kind: str) -> None:
    body = config().resource("google_cloudfunctions2_function", kind)
    assert set(body) <= FUNCTION_ARGS
    assert set(block(body, "build_config")) <= BUILD_CONFIG_ARGS
    service = block(body, "service_config")
    assert nested_names(service) <= SERVICE_CONFIG_ARGS
    for secret in blocks(service, "secret_environment_variables"):
        assert set(secret) == SECRET_ENV_ARGS
    for volume in blocks(service, "secret_volumes"):
        assert set(volume) == SECRET_VOLUME_ARGS
        assert set(block(volume, "versions")) == {"version", "path"}
    for trigger in blocks(body, "event_trigger"):
        assert set(trigger) == EVENT_TRIGGER_ARGS


def test_sizing_is_variable_and_concurrency_does_not_rely_on_threads() -> None:
    table = sizing()
    assert set(table) == set(functions())
    fields = {
        "available_memory",
        "available_cpu",
        "timeout_seconds",
        "max_instance_request_concurrency",
        "min_instance_count",
        "max_instance_count",
    }
    for kind in KINDS:
        service = block(config().resource("google_cloudfunctions2_function", kind), "service_config")
        for field in fields:
            assert service[field] == f"${{var.function_sizing[each.key].{field}}}"
    for name, size in table.items():
        assert set(size) == fields
        if functions()[name]["http"]:
            # The async HTTP server serves many requests per instance; >1 needs at least one vCPU.
            assert size["max_instance_request_concurrency"] > 1, name
            assert float(size["available_cpu"]) >= 1, name
            assert size["timeout_seconds"] <= 3600
        else:
            # A job runs alone: one request per instance and one instance, so runs never overlap.
            assert size["max_instance_request_concurrency"] == 1, name
            assert size["max_instance_count"] == 1, name
            assert size["timeout_seconds"] <= 540
        assert 0 <= size["min_instance_count"] <= size["max_instance_count"]
    # The chat function outlives the gateway's own whole-request timeout, so the gateway answers first.
    assert table["chat"]["timeout_seconds"] > Settings().request_timeout_seconds
    # THREADS is not set anywhere, and cannot be passed in through extra_environment.
    assert not re.search(r"\bTHREADS\s*=", config().text())
    assert "THREADS" not in {**config().locals["cloud_env"], **config().locals["redis_env"]}
    assert '"THREADS"' in config().files["variables.tf"]


def test_exactly_one_way_to_reach_redis() -> None:
    cfg = config()
    assert not cfg.of_type("google_vpc_access_connector")
    for kind in KINDS:
        service = block(cfg.resource("google_cloudfunctions2_function", kind), "service_config")
        assert "vpc_connector" not in service
        assert "vpc_connector_egress_settings" not in service
    http = block(cfg.resource("google_cloudfunctions2_function", "http"), "service_config")
    interface = block(http, "direct_vpc_network_interface")
    assert interface["network"] == "${google_compute_network.vpc.id}"
    assert http["direct_vpc_egress"] == '${each.value.redis ? "VPC_EGRESS_PRIVATE_RANGES_ONLY" : null}'
    dynamic = next(d for d in http["dynamic"] if "direct_vpc_network_interface" in d)
    assert dynamic["direct_vpc_network_interface"]["for_each"].startswith("${each.value.redis ?")
    # Only HTTP functions use Redis; the event resource has no VPC at all.
    assert all(f["http"] for f in functions().values() if f["redis"])
    event = block(cfg.resource("google_cloudfunctions2_function", "event"), "service_config")
    assert "direct_vpc_network_interface" not in nested_names(event)
    redis = cfg.resource("google_redis_instance", "cache")
    assert redis["auth_enabled"] is True
    assert redis["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
    assert redis["authorized_network"] == "${google_compute_network.vpc.id}"


def test_ingress() -> None:
    cfg = config()
    assert cfg.locals["http_ingress"] == '${var.load_balancer_enabled ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL"}'
    http = cfg.resource("google_cloudfunctions2_function", "http")
    assert block(http, "service_config")["ingress_settings"] == "${local.http_ingress}"
    assert "checkov:skip=CKV_GCP_124:" in cfg.files["functions.tf"]
    event = cfg.resource("google_cloudfunctions2_function", "event")
    assert block(event, "service_config")["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    trigger = block(event, "event_trigger")
    assert trigger["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert trigger["pubsub_topic"] == "${each.value}"
    topics = {ref(t, "google_pubsub_topic")[0] for t in cfg.locals["event_functions"].values()}
    assert topics == {"rollup_trigger", "rewrap_trigger"}


def function_environment() -> dict[str, dict[str, tuple[str, object]]]:
    """Function -> variable -> ("plain" | "secret", value or secret reference) as Terraform sets them."""
    cfg = config()
    loc = cfg.locals
    assert loc["function_env"] == "${merge(var.extra_environment, local.cloud_env)}"  # ours win
    http = block(cfg.resource("google_cloudfunctions2_function", "http"), "service_config")
    assert http["environment_variables"] == "${merge(local.function_env, each.value.redis ? local.redis_env : {})}"
    event = block(cfg.resource("google_cloudfunctions2_function", "event"), "service_config")
    assert event["environment_variables"] == "${local.function_env}"
    providers = cfg.variables["platform_key_providers"]["default"]
    secret_names = {"API_KEY_HASH_SALT", "ENCRYPTION_CONTEXT_SALT", "REDIS_URL"} | {
        f"{p.upper()}_API_KEY" for p in providers
    }
    for kind in KINDS:
        service = block(cfg.resource("google_cloudfunctions2_function", kind), "service_config")
        secret = block(service, "secret_environment_variables")
        assert secret["key"] == "${secret_environment_variables.value}"
        dynamic = next(d for d in service["dynamic"] if "secret_environment_variables" in d)
        assert dynamic["secret_environment_variables"]["for_each"] == (
            "${[for env in local.function_secret_env[each.key] : env if contains(keys(local.secret_env), env)]}"
        )
    env: dict[str, dict[str, tuple[str, object]]] = {}
    for name, f in functions().items():
        values: dict[str, tuple[str, object]] = {k: ("plain", v) for k, v in loc["cloud_env"].items()}
        if f["redis"]:
            values.update({k: ("plain", v) for k, v in loc["redis_env"].items()})
        for key in loc["function_secret_env"][name]:
            if key in secret_names:
                assert key not in values, f"{key} set twice on {name}"
                values[key] = ("secret", key)
        env[name] = values
    return env


def _defaulted(name: str) -> bool:
    """Whether Settings() has a value for `name` without it being set."""
    defaults = Settings()
    special = {"PORT": defaults.port, "GATEWAY_DATA_DIR": defaults.data_dir, "GATEWAY_DEV_KEY": defaults.dev_key}
    for provider, (key_var, url_var) in PROVIDER_ENV.items():
        special[key_var] = defaults.provider_keys[provider] or None
        special[url_var] = defaults.base_urls[provider]
    value = special[name] if name in special else getattr(defaults, name.lower())
    return value is not None


def test_every_setting_is_defaulted_in_code_or_set_by_terraform() -> None:
    env = function_environment()
    everyone = set(functions())
    for name in ENV_VARS:
        setters = {fn for fn, values in env.items() if name in values}
        if name in NEVER_IN_CLOUD:
            assert not setters, f"{name} must not be set in the cloud: {NEVER_IN_CLOUD[name]}"
            continue
        if name in CLOUD_SETTINGS:
            who, value = CLOUD_SETTINGS[name]
            needed = everyone if who == "*" else set(who.split())
            assert needed <= setters, f"{name} is missing on {sorted(needed - setters)}"
            for fn in setters:
                how, actual = env[fn][name]
                assert how == ("secret" if name in SECRETS else "plain"), (fn, name, how)
                if value is not None:
                    assert actual == value, (fn, name, actual)
            continue
        # Anything else must work from its default: a new setting without one fails here until it is placed.
        assert _defaulted(name), f"{name} has no default in Settings and Terraform does not set it"
        assert not setters, f"{name} is set by Terraform: list it in CLOUD_SETTINGS"
    # And Terraform sets nothing the code does not read (typo guard), apart from the platform's own.
    for fn, values in env.items():
        unknown = set(values) - set(ENV_VARS) - PLATFORM_VARS
        assert not unknown, f"{fn}: {sorted(unknown)} are not settings (shared.settings.ENV_VARS)"


def test_secret_values_never_pass_through_terraform() -> None:
    cfg = config()
    versions = cfg.of_type("google_secret_manager_secret_version")
    # The one version Terraform writes is Memorystore's public server CA certificate.
    assert set(versions) == {"redis_ca"}
    assert versions["redis_ca"]["secret_data"] == '${join("\\n", google_redis_instance.cache.server_ca_certs[*].cert)}'
    assert "random_password" not in cfg.text()
    assert "auth_string" not in cfg.text()
    # The secret a path points at is mounted where the path says.
    env = cfg.locals["redis_env"]["REDIS_CA_CERT"]
    assert env == "${local.redis_ca_mount}/${local.redis_ca_file}"
    volume = block(block(cfg.resource("google_cloudfunctions2_function", "http"), "service_config"), "secret_volumes")
    assert volume["mount_path"] == "${local.redis_ca_mount}"
    assert block(volume, "versions")["path"] == "${local.redis_ca_file}"
    # Salts stay on the version they started with; the others follow the latest.
    assert cfg.locals["default_secret_versions"] == {"API_KEY_HASH_SALT": "1", "ENCRYPTION_CONTEXT_SALT": "1"}


def test_extra_environment_cannot_override_what_terraform_owns() -> None:
    text = config().files["variables.tf"]
    forbidden = re.search(r"setintersection\(keys\(var\.extra_environment\), \[([^\]]+)\]\)", text)
    assert forbidden is not None
    names = set(re.findall(r'"([A-Z_]+)"', forbidden.group(1)))
    assert set(NEVER_IN_CLOUD) | SECRETS | {"THREADS", "REDIS_CA_CERT", "LIMITS_INSTANCES"} <= names


def test_entry_points_are_real_modules() -> None:
    for name, source in entry_points().items():
        main = Path(ROOT / "functions" / source / "main.py")
        assert f"def {name}(" in main.read_text()
