# Identities and every role grant of the gateway (least privilege; tests/terraform/test_iam.py holds the
# expected set). Grants are on the resource wherever the resource takes IAM; Firestore and BigQuery jobs
# only take project-level roles. Logs and metrics are written by the platform from the runtime's output,
# so no runtime account holds a logging or monitoring role.

# One runtime service account per function.
resource "google_service_account" "function" {
  for_each = local.functions

  project      = var.project_id
  account_id   = "${local.prefix}-${replace(each.key, "_", "-")}"
  display_name = "AI gateway ${each.key} function"
}

# The identity Eventarc pushes with; it may invoke the event functions and nothing else.
resource "google_service_account" "trigger" {
  project      = var.project_id
  account_id   = "${local.prefix}-trigger"
  display_name = "AI gateway Eventarc triggers"
}

# The identity Cloud Build runs the functions' builds as (instead of the Compute Engine default account).
resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${local.prefix}-build"
  display_name = "AI gateway function builds"
}

locals {
  # Project-level roles of the runtime accounts (Firestore access and BigQuery job creation have no
  # narrower scope).
  function_project_roles = {
    chat             = ["roles/datastore.user"]
    analytics        = ["roles/bigquery.jobUser", "roles/datastore.user"]
    analytics_rollup = ["roles/bigquery.jobUser"]
    health           = ["roles/datastore.viewer"]
    keys             = ["roles/datastore.user"]
    keys_rewrap      = ["roles/datastore.user"]
  }

  function_project_grants = {
    for pair in flatten([
      for name, roles in local.function_project_roles : [for role in roles : { function = name, role = role }]
    ]) : "${pair.function}/${pair.role}" => pair
  }

  # The HTTP functions marketplace apps call with gateway keys (Authorization: Bearer), which Cloud Run's
  # IAM check cannot read: they are public at the IAM layer and authenticate in the gateway. Nothing else
  # may be listed here (tests/terraform/test_iam.py).
  public_invokers = ["chat", "analytics", "health", "keys"]
}

resource "google_project_iam_member" "function" {
  for_each = local.function_project_grants

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.function[each.value.function].member
}

# --- Pub/Sub topics ----------------------------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "chat_usage_publisher" {
  topic  = google_pubsub_topic.usage.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.function["chat"].member
}

resource "google_pubsub_topic_iam_member" "chat_audit_publisher" {
  topic  = google_pubsub_topic.audit.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.function["chat"].member
}

resource "google_pubsub_topic_iam_member" "keys_audit_publisher" {
  topic  = google_pubsub_topic.audit.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.function["keys"].member
}

# Changes to usage limits are audited (PUT /api/ai/limits in the keys function, shared.limits.audit).
resource "google_pubsub_topic_iam_member" "keys_limits_audit_publisher" {
  topic  = google_pubsub_topic.limits_audit.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.function["keys"].member
}

# The re-wrap job audits each key it re-wraps (shared.vault.rewrap_job: the audit topic on Pub/Sub).
resource "google_pubsub_topic_iam_member" "rewrap_audit_publisher" {
  topic  = google_pubsub_topic.audit.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.function["keys_rewrap"].member
}

# Cloud Scheduler publishes with its service agent (pubsub targets take no service account).
resource "google_pubsub_topic_iam_member" "scheduler_rollup_publisher" {
  topic  = google_pubsub_topic.rollup_trigger.id
  role   = "roles/pubsub.publisher"
  member = local.scheduler_agent
}

resource "google_pubsub_topic_iam_member" "scheduler_rewrap_publisher" {
  topic  = google_pubsub_topic.rewrap_trigger.id
  role   = "roles/pubsub.publisher"
  member = local.scheduler_agent
}

# Dead-lettering: the Pub/Sub service agent forwards to the dead-letter topic and acks on the source.
resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_usage_subscriber" {
  subscription = google_pubsub_subscription.usage_bigquery.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_audit_subscriber" {
  subscription = google_pubsub_subscription.audit_bigquery.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_limits_audit_subscriber" {
  subscription = google_pubsub_subscription.limits_audit_bigquery.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# --- BigQuery dataset ----------------------------------------------------------------------------------

resource "google_bigquery_dataset_iam_member" "analytics_data_viewer" {
  dataset_id = google_bigquery_dataset.analytics.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.function["analytics"].member
}

resource "google_bigquery_dataset_iam_member" "rollup_data_editor" {
  dataset_id = google_bigquery_dataset.analytics.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.function["analytics_rollup"].member
}

# The BigQuery subscriptions write as the Pub/Sub service agent.
resource "google_bigquery_dataset_iam_member" "pubsub_agent_data_editor" {
  dataset_id = google_bigquery_dataset.analytics.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_agent
}

resource "google_bigquery_dataset_iam_member" "pubsub_agent_metadata_viewer" {
  dataset_id = google_bigquery_dataset.analytics.dataset_id
  role       = "roles/bigquery.metadataViewer"
  member     = local.pubsub_agent
}

# --- Cloud KMS: the BYOK key -----------------------------------------------------------------------------

# chat only opens BYOK keys.
resource "google_kms_crypto_key_iam_member" "chat_decrypter" {
  crypto_key_id = google_kms_crypto_key.provider_keys.id
  role          = "roles/cloudkms.cryptoKeyDecrypter"
  member        = google_service_account.function["chat"].member
}

resource "google_kms_crypto_key_iam_member" "keys_encrypter_decrypter" {
  crypto_key_id = google_kms_crypto_key.provider_keys.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = google_service_account.function["keys"].member
}

resource "google_kms_crypto_key_iam_member" "rewrap_encrypter_decrypter" {
  crypto_key_id = google_kms_crypto_key.provider_keys.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = google_service_account.function["keys_rewrap"].member
}

# Reading the key's primary version (GetCryptoKey, cloudkms.cryptoKeys.get) is not part of the
# encrypt/decrypt roles: keys records it with each new secret, keys_rewrap compares against it, and
# health pings KMS with it (shared.crypto.kms.KmsEnvelopeBox.primary_version).
resource "google_kms_crypto_key_iam_member" "keys_viewer" {
  crypto_key_id = google_kms_crypto_key.provider_keys.id
  role          = "roles/cloudkms.viewer"
  member        = google_service_account.function["keys"].member
}

resource "google_kms_crypto_key_iam_member" "rewrap_viewer" {
  crypto_key_id = google_kms_crypto_key.provider_keys.id
  role          = "roles/cloudkms.viewer"
  member        = google_service_account.function["keys_rewrap"].member
}

resource "google_kms_crypto_key_iam_member" "health_viewer" {
  crypto_key_id = google_kms_crypto_key.provider_keys.id
  role          = "roles/cloudkms.viewer"
  member        = google_service_account.function["health"].member
}

# --- Cloud KMS: the data key (CMEK of the Pub/Sub topics and the BigQuery dataset) ------------------

resource "google_kms_crypto_key_iam_member" "pubsub_agent_data_key" {
  crypto_key_id = google_kms_crypto_key.data.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.pubsub_agent
}

resource "google_kms_crypto_key_iam_member" "bigquery_agent_data_key" {
  crypto_key_id = google_kms_crypto_key.data.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.bigquery_agent
}

# --- Secret Manager ----------------------------------------------------------------------------------

resource "google_secret_manager_secret_iam_member" "function" {
  for_each = local.secret_grants

  secret_id = google_secret_manager_secret.env[each.value.env].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.function].member
}

resource "google_secret_manager_secret_iam_member" "redis_ca" {
  for_each = local.redis_ca_grants

  secret_id = google_secret_manager_secret.redis_ca.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.key].member
}

# --- Cloud Run invokers ------------------------------------------------------------------------------

resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  for_each = toset(local.public_invokers)
  # checkov:skip=CKV_GCP_102:Public on purpose: marketplace apps send gateway keys (Authorization: Bearer) that Cloud Run IAM cannot verify; the function authenticates every non-public route itself. Limited to the allow-list local.public_invokers.

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.http[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "trigger_invoker" {
  for_each = local.event_functions

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.event[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.trigger.member
}

# --- Builds ------------------------------------------------------------------------------------------

resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

# The builds push the function images to the gcf-artifacts repository that Cloud Functions creates.
resource "google_project_iam_member" "build_artifact_writer" {
  project = var.project_id
  role    = "roles/artifactregistry.writer"
  member  = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}
