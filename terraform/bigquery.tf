# BigQuery: the analytics dataset, the event tables the Pub/Sub subscriptions write, and the daily rollup
# tables analytics_rollup maintains (shared.analytics.rollup_tables). Schemas are the committed JSON the
# code generates from the event models; the event tables add the four Pub/Sub metadata columns.

locals {
  dataset_id = "${replace(local.prefix, "-", "_")}_analytics"

  # What a BigQuery subscription with write_metadata = true writes besides the message's own fields.
  pubsub_metadata_columns = [
    { name = "subscription_name", type = "STRING", mode = "NULLABLE", description = "Pub/Sub subscription that wrote the row" },
    { name = "message_id", type = "STRING", mode = "NULLABLE", description = "Pub/Sub message id" },
    { name = "publish_time", type = "TIMESTAMP", mode = "NULLABLE", description = "when Pub/Sub received the message" },
    { name = "attributes", type = "STRING", mode = "NULLABLE", description = "the message attributes as JSON text" },
  ]

  # 0 keeps partitions forever.
  event_partition_expiration_ms = var.event_retention_days > 0 ? var.event_retention_days * 86400000 : null
}

resource "google_bigquery_dataset" "analytics" {
  project                    = var.project_id
  dataset_id                 = local.dataset_id
  friendly_name              = "AI gateway analytics (${var.environment})"
  description                = "Usage and audit events from Pub/Sub, and their daily rollups."
  location                   = var.region
  delete_contents_on_destroy = false

  default_encryption_configuration {
    kms_key_name = google_kms_crypto_key.data.id
  }

  depends_on = [
    google_project_service.apis,
    google_kms_crypto_key_iam_member.bigquery_agent_data_key,
  ]
}

# One row per usage event (possibly more than one per event_id: Pub/Sub delivers at least once; the
# queries deduplicate on event_id).
resource "google_bigquery_table" "usage_events" {
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = "usage_events"
  description         = "Usage events (shared.events.schema.UsageEvent), written by ${local.prefix}-usage-events-bigquery."
  deletion_protection = true
  schema              = jsonencode(concat(jsondecode(file("${local.event_schema_dir}/usage_events.bigquery.json")), local.pubsub_metadata_columns))
  clustering          = ["tenant", "provider", "model"]

  time_partitioning {
    type          = "DAY"
    field         = "ts"
    expiration_ms = local.event_partition_expiration_ms
  }

  encryption_configuration {
    kms_key_name = google_kms_crypto_key.data.id
  }
}

resource "google_bigquery_table" "audit_events" {
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = "audit_events"
  description         = "BYOK key audit events (shared.vault.audit.AuditEvent), written by ${local.prefix}-audit-events-bigquery."
  deletion_protection = true
  schema              = jsonencode(concat(jsondecode(file("${local.event_schema_dir}/audit_events.bigquery.json")), local.pubsub_metadata_columns))
  clustering          = ["tenant", "action"]

  time_partitioning {
    type          = "DAY"
    field         = "ts"
    expiration_ms = local.event_partition_expiration_ms
  }

  encryption_configuration {
    kms_key_name = google_kms_crypto_key.data.id
  }
}

resource "google_bigquery_table" "limits_audit_events" {
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = "limits_audit_events"
  description         = "Usage-limit changes (shared.limits.audit.LimitsAuditEvent), written by ${local.prefix}-audit-events-limits-bigquery."
  deletion_protection = true
  schema              = jsonencode(concat(jsondecode(file("${local.event_schema_dir}/limits_audit_events.bigquery.json")), local.pubsub_metadata_columns))
  clustering          = ["tenant", "scope_kind"]

  time_partitioning {
    type          = "DAY"
    field         = "ts"
    expiration_ms = local.event_partition_expiration_ms
  }

  encryption_configuration {
    kms_key_name = google_kms_crypto_key.data.id
  }
}

# The daily rollup: one row per (day, tenant, user, key_id, provider, model).
resource "google_bigquery_table" "usage_daily" {
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = "usage_daily"
  description         = "Daily usage rollup, maintained by ${local.prefix}-analytics-rollup."
  deletion_protection = true
  schema              = file("${local.rollup_schema_dir}/usage_daily.bigquery.json")
  clustering          = ["tenant"]

  time_partitioning {
    type  = "DAY"
    field = "day"
  }

  encryption_configuration {
    kms_key_name = google_kms_crypto_key.data.id
  }
}

# One row per rolled day: readers trust usage_daily only for the days listed here.
resource "google_bigquery_table" "usage_rollup_days" {
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = "usage_rollup_days"
  description         = "The days whose usage_daily rows are complete."
  deletion_protection = true
  schema              = file("${local.rollup_schema_dir}/usage_rollup_days.bigquery.json")

  encryption_configuration {
    kms_key_name = google_kms_crypto_key.data.id
  }
}
