"""The data path of terraform/: Pub/Sub topics with the generated Avro schemas, BigQuery subscriptions into
tables whose columns match those schemas plus the Pub/Sub metadata columns, dead-lettering, the rollup
tables, the KMS keys (90-day rotation, prevent_destroy) and the Firestore TTL policy.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from shared.analytics.rollup_tables import PARTITION_FIELDS, ROLLUP_TABLES
from shared.analytics.rollup_tables import SCHEMA_DIR as ROLLUP_SCHEMA_DIR
from shared.breakers.board import PROBES
from shared.events.table_schemas import EVENT_TYPES
from shared.events.table_schemas import SCHEMA_DIR as EVENT_SCHEMA_DIR
from shared.store.firestore import FirestoreStore
from tests.terraform.hcl import Body, block, blocks, config, ref, schema_file

# What a BigQuery subscription with write_metadata writes besides the message (Pub/Sub's BigQuery
# subscription documentation): column -> accepted types.
METADATA_COLUMNS = {
    "subscription_name": {"STRING"},
    "message_id": {"STRING"},
    "publish_time": {"TIMESTAMP"},
    "attributes": {"STRING", "JSON"},
}
# Avro type -> BigQuery column types a BigQuery subscription writes it into (use_topic_schema).
AVRO_TO_BIGQUERY = {
    "string": {"STRING"},
    "long": {"INT64", "INTEGER"},
    "int": {"INT64", "INTEGER"},
    "boolean": {"BOOL", "BOOLEAN"},
    "double": {"FLOAT64", "FLOAT"},
    ("long", "timestamp-micros"): {"TIMESTAMP"},
}

SUBSCRIPTION_ARGS = {
    "project",
    "name",
    "topic",
    "bigquery_config",
    "dead_letter_policy",
    "retry_policy",
    "expiration_policy",
    "ack_deadline_seconds",
    "message_retention_duration",
    "retain_acked_messages",
    "depends_on",
}
BIGQUERY_CONFIG_ARGS = {"table", "use_topic_schema", "use_table_schema", "write_metadata", "drop_unknown_fields"}
TOPIC_ARGS = {
    "project",
    "name",
    "kms_key_name",
    "message_retention_duration",
    "schema_settings",
    "message_storage_policy",
}
TABLE_ARGS = {
    "project",
    "dataset_id",
    "table_id",
    "description",
    "deletion_protection",
    "schema",
    "clustering",
    "time_partitioning",
    "encryption_configuration",
}
CRYPTO_KEY_ARGS = {"name", "key_ring", "purpose", "rotation_period", "version_template", "lifecycle"}
REDIS_ARGS = {
    "project",
    "name",
    "region",
    "tier",
    "memory_size_gb",
    "redis_version",
    "authorized_network",
    "connect_mode",
    "auth_enabled",
    "transit_encryption_mode",
    "depends_on",
}
SCHEDULER_ARGS = {
    "project",
    "region",
    "name",
    "description",
    "schedule",
    "time_zone",
    "pubsub_target",
    "retry_config",
    "depends_on",
}


def bigquery_subscriptions() -> dict[str, Body]:
    subs = config().of_type("google_pubsub_subscription")
    return {name: body for name, body in subs.items() if "bigquery_config" in body}


def avro_fields(topic: Body) -> list[dict[str, Any]]:
    schema_name, _ = ref(block(topic, "schema_settings")["schema"], "google_pubsub_schema")
    schema = config().resource("google_pubsub_schema", schema_name)
    assert schema["type"] == "AVRO"
    fields: list[dict[str, Any]] = json.loads(schema_file(schema["definition"]).read_text())["fields"]
    return fields


def table_columns(table: Body) -> dict[str, dict[str, str]]:
    """The columns a table's `schema` expression makes: a schema file, plus local.pubsub_metadata_columns."""
    expression = table["schema"]
    columns: list[dict[str, str]] = json.loads(schema_file(expression).read_text())
    if "local.pubsub_metadata_columns" in expression:
        assert expression.startswith("${jsonencode(concat(jsondecode(file(")
        columns = columns + config().locals["pubsub_metadata_columns"]
    by_name = {c["name"]: c for c in columns}
    assert len(by_name) == len(columns), "a column name repeats"
    return by_name


def _avro_type(field: dict[str, Any]) -> tuple[Any, bool]:
    """(type key of AVRO_TO_BIGQUERY, nullable) of an Avro field."""
    kind = field["type"]
    nullable = False
    if isinstance(kind, list):
        members = [k for k in kind if k != "null"]
        nullable = len(members) < len(kind)
        assert len(members) == 1, field
        kind = members[0]
    if isinstance(kind, dict):
        return (kind["type"], kind["logicalType"]), nullable
    return kind, nullable


@pytest.mark.parametrize("name", ["usage_bigquery", "audit_bigquery"])
def test_bigquery_subscription_table_matches_the_topic_schema(name: str) -> None:
    cfg = config()
    sub = bigquery_subscriptions()[name]
    assert set(sub) <= SUBSCRIPTION_ARGS
    bq = block(sub, "bigquery_config")
    assert set(bq) <= BIGQUERY_CONFIG_ARGS
    assert bq["use_topic_schema"] is True
    assert "use_table_schema" not in bq
    assert bq["write_metadata"] is True
    assert bq["drop_unknown_fields"] is False
    # The table path is project.dataset.table (dots), naming a table of the analytics dataset.
    table_name, _ = ref(bq["table"], "google_bigquery_table")
    assert bq["table"] == (
        "${var.project_id}.${google_bigquery_dataset.analytics.dataset_id}."
        f"${{google_bigquery_table.{table_name}.table_id}}"
    )
    table = cfg.resource("google_bigquery_table", table_name)
    assert table["dataset_id"] == "${google_bigquery_dataset.analytics.dataset_id}"
    topic_name, _ = ref(sub["topic"], "google_pubsub_topic")
    fields = avro_fields(cfg.resource("google_pubsub_topic", topic_name))
    columns = table_columns(table)
    # Every Avro field has a column of a compatible type and mode ...
    for field in fields:
        column = columns.get(field["name"])
        assert column is not None, f"{table_name} has no column {field['name']}"
        kind, nullable = _avro_type(field)
        assert column["type"] in AVRO_TO_BIGQUERY[kind], (field, column)
        assert column["mode"] == ("NULLABLE" if nullable else "REQUIRED"), (field, column)
    # ... and every other column is one of the four metadata columns, NULLABLE.
    others = {n: c for n, c in columns.items() if n not in {f["name"] for f in fields}}
    assert set(others) == set(METADATA_COLUMNS)
    for column_name, column in others.items():
        assert column["type"] in METADATA_COLUMNS[column_name]
        assert column["mode"] == "NULLABLE"


@pytest.mark.parametrize("stem", sorted(EVENT_TYPES))
def test_event_tables_are_day_partitioned_and_clustered(stem: str) -> None:
    cfg = config()
    table = cfg.resource("google_bigquery_table", stem)
    assert set(table) <= TABLE_ARGS
    assert table["table_id"] == stem
    assert schema_file(table["schema"]) == (EVENT_SCHEMA_DIR / f"{stem}.bigquery.json").resolve()
    partition = block(table, "time_partitioning")
    assert partition["type"] == "DAY"
    assert partition["field"] == "ts"
    columns = table_columns(table)
    assert 1 <= len(table["clustering"]) <= 4
    assert set(table["clustering"]) <= set(columns)
    assert table["deletion_protection"] is True
    # Its topic carries the Avro schema generated from the same model.
    schema = cfg.resource("google_pubsub_schema", stem.removesuffix("_events"))
    assert schema_file(schema["definition"]) == (EVENT_SCHEMA_DIR / f"{stem}.avro.json").resolve()


def test_rollup_tables_exist_for_every_committed_schema() -> None:
    cfg = config()
    files = {path.name.removesuffix(".bigquery.json") for path in Path(ROLLUP_SCHEMA_DIR).glob("*.bigquery.json")}
    assert files == set(ROLLUP_TABLES)
    for stem in files:
        table = cfg.resource("google_bigquery_table", stem)
        assert set(table) <= TABLE_ARGS
        assert table["table_id"] == stem
        assert schema_file(table["schema"]) == (Path(ROLLUP_SCHEMA_DIR) / f"{stem}.bigquery.json").resolve()
        partitions = blocks(table, "time_partitioning")
        if stem in PARTITION_FIELDS:
            assert partitions == [{"type": "DAY", "field": PARTITION_FIELDS[stem]}]
            assert table["clustering"] == ["tenant"]
        else:
            assert not partitions


def test_dead_lettering() -> None:
    cfg = config()
    variable = cfg.variables["dead_letter_max_delivery_attempts"]
    assert 5 <= variable["default"] <= 100
    condition = block(variable, "validation")["condition"]
    assert ">= 5" in condition
    assert "<= 100" in condition
    for name, sub in bigquery_subscriptions().items():
        policy = block(sub, "dead_letter_policy")
        assert policy["dead_letter_topic"] == "${google_pubsub_topic.dead_letter.id}", name
        assert policy["max_delivery_attempts"] == "${var.dead_letter_max_delivery_attempts}", name
        # Written only after the agent's grants exist (else the first messages fail over to the DLQ).
        assert "${google_pubsub_topic_iam_member.pubsub_agent_dead_letter_publisher}" in sub["depends_on"]
        assert "${google_bigquery_dataset_iam_member.pubsub_agent_data_editor}" in sub["depends_on"]
    # Something holds the dead letters, and an alert watches them.
    assert cfg.resource("google_pubsub_subscription", "dead_letter")["topic"] == "${google_pubsub_topic.dead_letter.id}"
    alert = block(
        block(cfg.resource("google_monitoring_alert_policy", "dead_letters"), "conditions"), "condition_threshold"
    )
    assert "dead_letter_message_count" in alert["filter"]


def test_topics_are_encrypted_with_the_data_key() -> None:
    for name, topic in config().of_type("google_pubsub_topic").items():
        assert set(topic) <= TOPIC_ARGS | {"depends_on"}, name
        assert topic["kms_key_name"] == "${google_kms_crypto_key.data.id}", name
        assert topic["depends_on"] == ["${google_kms_crypto_key_iam_member.pubsub_agent_data_key}"], name
    for name in ("usage", "audit"):
        settings = block(config().resource("google_pubsub_topic", name), "schema_settings")
        assert settings["encoding"] == "JSON"  # shared.events.pubsub_sink publishes each event's JSON


@pytest.mark.parametrize("name", ["provider_keys", "data"])
def test_kms_keys_rotate_every_90_days_and_cannot_be_destroyed(name: str) -> None:
    key = config().resource("google_kms_crypto_key", name)
    assert set(key) <= CRYPTO_KEY_ARGS
    assert key["rotation_period"] == "7776000s"
    assert block(key, "lifecycle")["prevent_destroy"] is True
    assert key["purpose"] == "ENCRYPT_DECRYPT"
    assert key["key_ring"] == "${google_kms_key_ring.gateway.id}"
    assert block(key, "version_template")["algorithm"] == "GOOGLE_SYMMETRIC_ENCRYPTION"


def test_the_byok_key_is_the_one_the_functions_name() -> None:
    cloud_env = config().locals["cloud_env"]
    assert cloud_env["GOOGLE_CLOUD_KEY_ID"] == "${google_kms_crypto_key.provider_keys.name}"
    assert cloud_env["GOOGLE_CLOUD_KEYRING_ID"] == "${google_kms_key_ring.gateway.name}"
    assert config().of_type("google_kms_crypto_key_iam_member")["chat_decrypter"]["crypto_key_id"] == (
        "${google_kms_crypto_key.provider_keys.id}"
    )


def test_firestore_native_with_ttl_on_probe_leases() -> None:
    cfg = config()
    database = cfg.resource("google_firestore_database", "main")
    assert database["type"] == "FIRESTORE_NATIVE"
    assert database["name"] == "(default)"
    assert database["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    ttl = cfg.resource("google_firestore_field", "probe_lease_ttl")
    prefix = inspect.signature(FirestoreStore).parameters["prefix"].default
    assert ttl["collection"] == prefix + PROBES
    assert ttl["database"] == "${google_firestore_database.main.name}"
    assert ttl["ttl_config"] == [{}]
    assert ttl["index_config"] == [{}]


def test_redis_and_scheduler_arguments() -> None:
    cfg = config()
    assert set(cfg.resource("google_redis_instance", "cache")) <= REDIS_ARGS
    for name, job in cfg.of_type("google_cloud_scheduler_job").items():
        assert set(job) <= SCHEDULER_ARGS, name
        assert "attempt_deadline" not in job  # HTTP targets only; a perpetual diff on Pub/Sub targets
        target = block(job, "pubsub_target")
        assert set(target) == {"topic_name", "data"}
        topic, _ = ref(target["topic_name"], "google_pubsub_topic")
        assert topic in ("rollup_trigger", "rewrap_trigger")
        assert target["data"] == '${base64encode("{}")}'
    schedules = {
        ref(block(j, "pubsub_target")["topic_name"], "google_pubsub_topic")[0]
        for j in cfg.of_type("google_cloud_scheduler_job").values()
    }
    assert schedules == {"rollup_trigger", "rewrap_trigger"}


def test_dataset_and_tables_are_encrypted_and_kept() -> None:
    cfg = config()
    dataset = cfg.resource("google_bigquery_dataset", "analytics")
    assert block(dataset, "default_encryption_configuration")["kms_key_name"] == "${google_kms_crypto_key.data.id}"
    assert dataset["delete_contents_on_destroy"] is False
    for name, table in cfg.of_type("google_bigquery_table").items():
        assert block(table, "encryption_configuration")["kms_key_name"] == "${google_kms_crypto_key.data.id}", name
        assert table["deletion_protection"] is True, name
