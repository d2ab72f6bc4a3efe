# Names and facts every other file uses: the name prefix, the project number (service agents), the APIs.

locals {
  # Every resource name starts with this ("gw-dev-chat", "gw-dev-usage-events", ...).
  prefix = "gw-${var.environment}"

  project_number = data.google_project.this.number

  # Google-managed service agents that act on our resources.
  pubsub_agent    = "serviceAccount:service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  scheduler_agent = "serviceAccount:service-${local.project_number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
  bigquery_agent  = "serviceAccount:${data.google_bigquery_default_service_account.this.email}"

  # The event schemas generated from the pydantic models (shared.events.table_schemas) and the rollup tables
  # (shared.analytics.rollup_tables): Terraform reads the committed JSON, never a copy.
  event_schema_dir  = "${path.module}/../shared/events/schemas"
  rollup_schema_dir = "${path.module}/../shared/analytics/schemas"

  apis = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "redis.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
}

data "google_project" "this" {
  project_id = var.project_id
}

data "google_bigquery_default_service_account" "this" {
  project = var.project_id
}

resource "google_project_service" "apis" {
  for_each = local.apis

  project = var.project_id
  service = each.value
  # Turning an API off on destroy would break anything else in the project that uses it.
  disable_on_destroy = false
}
