# Pub/Sub: the usage and audit event topics (Avro schemas generated from the event models), their
# BigQuery subscriptions into the analytics tables, a dead-letter topic, and the two job trigger topics
# Cloud Scheduler publishes to. Every topic is encrypted with the data key and stored in the region.

resource "google_pubsub_schema" "usage" {
  project    = var.project_id
  name       = "${local.prefix}-usage-event"
  type       = "AVRO"
  definition = file("${local.event_schema_dir}/usage_events.avro.json")

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_schema" "audit" {
  project    = var.project_id
  name       = "${local.prefix}-audit-event"
  type       = "AVRO"
  definition = file("${local.event_schema_dir}/audit_events.avro.json")

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_schema" "limits_audit" {
  project    = var.project_id
  name       = "${local.prefix}-limits-audit-event"
  type       = "AVRO"
  definition = file("${local.event_schema_dir}/limits_audit_events.avro.json")

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "usage" {
  project                    = var.project_id
  name                       = "${local.prefix}-usage-events"
  kms_key_name               = google_kms_crypto_key.data.id
  message_retention_duration = "86400s"

  # The publisher sends each event as its JSON (shared.events.pubsub_sink).
  schema_settings {
    schema   = google_pubsub_schema.usage.id
    encoding = "JSON"
  }

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_kms_crypto_key_iam_member.pubsub_agent_data_key]
}

resource "google_pubsub_topic" "audit" {
  project                    = var.project_id
  name                       = "${local.prefix}-audit-events"
  kms_key_name               = google_kms_crypto_key.data.id
  message_retention_duration = "86400s"

  schema_settings {
    schema   = google_pubsub_schema.audit.id
    encoding = "JSON"
  }

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_kms_crypto_key_iam_member.pubsub_agent_data_key]
}

# Changes to usage limits (shared.limits.audit: PUT /api/ai/limits); the code names it <audit topic>-limits.
resource "google_pubsub_topic" "limits_audit" {
  project                    = var.project_id
  name                       = "${google_pubsub_topic.audit.name}-limits"
  kms_key_name               = google_kms_crypto_key.data.id
  message_retention_duration = "86400s"

  schema_settings {
    schema   = google_pubsub_schema.limits_audit.id
    encoding = "JSON"
  }

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_kms_crypto_key_iam_member.pubsub_agent_data_key]
}

# Messages the BigQuery subscriptions could not write after max_delivery_attempts (monitoring.tf alerts).
resource "google_pubsub_topic" "dead_letter" {
  project      = var.project_id
  name         = "${local.prefix}-dead-letter"
  kms_key_name = google_kms_crypto_key.data.id

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_kms_crypto_key_iam_member.pubsub_agent_data_key]
}

# Kept for inspection and replay; nothing consumes it automatically.
resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "${local.prefix}-dead-letter-hold"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s" # 7 days, the maximum
  retain_acked_messages      = false
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = "" # never expires
  }
}

resource "google_pubsub_topic" "rollup_trigger" {
  project      = var.project_id
  name         = "${local.prefix}-analytics-rollup"
  kms_key_name = google_kms_crypto_key.data.id

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_kms_crypto_key_iam_member.pubsub_agent_data_key]
}

resource "google_pubsub_topic" "rewrap_trigger" {
  project      = var.project_id
  name         = "${local.prefix}-keys-rewrap"
  kms_key_name = google_kms_crypto_key.data.id

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_kms_crypto_key_iam_member.pubsub_agent_data_key]
}

# The BigQuery subscriptions write each message's fields (the topic schema) plus the four metadata
# columns (write_metadata: subscription_name, message_id, publish_time, attributes; bigquery.tf).
resource "google_pubsub_subscription" "usage_bigquery" {
  project = var.project_id
  name    = "${local.prefix}-usage-events-bigquery"
  topic   = google_pubsub_topic.usage.id

  bigquery_config {
    table               = "${var.project_id}.${google_bigquery_dataset.analytics.dataset_id}.${google_bigquery_table.usage_events.table_id}"
    use_topic_schema    = true
    write_metadata      = true
    drop_unknown_fields = false
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.dead_letter_max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = "" # never expires
  }

  depends_on = [
    google_bigquery_dataset_iam_member.pubsub_agent_data_editor,
    google_bigquery_dataset_iam_member.pubsub_agent_metadata_viewer,
    google_pubsub_topic_iam_member.pubsub_agent_dead_letter_publisher,
  ]
}

resource "google_pubsub_subscription" "audit_bigquery" {
  project = var.project_id
  name    = "${local.prefix}-audit-events-bigquery"
  topic   = google_pubsub_topic.audit.id

  bigquery_config {
    table               = "${var.project_id}.${google_bigquery_dataset.analytics.dataset_id}.${google_bigquery_table.audit_events.table_id}"
    use_topic_schema    = true
    write_metadata      = true
    drop_unknown_fields = false
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.dead_letter_max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = "" # never expires
  }

  depends_on = [
    google_bigquery_dataset_iam_member.pubsub_agent_data_editor,
    google_bigquery_dataset_iam_member.pubsub_agent_metadata_viewer,
    google_pubsub_topic_iam_member.pubsub_agent_dead_letter_publisher,
  ]
}

resource "google_pubsub_subscription" "limits_audit_bigquery" {
  project = var.project_id
  name    = "${google_pubsub_topic.limits_audit.name}-bigquery"
  topic   = google_pubsub_topic.limits_audit.id

  bigquery_config {
    table               = "${var.project_id}.${google_bigquery_dataset.analytics.dataset_id}.${google_bigquery_table.limits_audit_events.table_id}"
    use_topic_schema    = true
    write_metadata      = true
    drop_unknown_fields = false
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.dead_letter_max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = "" # never expires
  }

  depends_on = [
    google_bigquery_dataset_iam_member.pubsub_agent_data_editor,
    google_bigquery_dataset_iam_member.pubsub_agent_metadata_viewer,
    google_pubsub_topic_iam_member.pubsub_agent_dead_letter_publisher,
  ]
}
