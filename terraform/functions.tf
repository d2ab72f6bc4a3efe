# The six Cloud Functions (2nd gen): four public HTTP entry points and two event-driven jobs.
#
# Each function runs as its own service account (iam.tf) from the zip of its source directory
# (storage.tf). The HTTP functions are async (functions_framework.aio): their server ignores THREADS, so
# per-instance concurrency comes only from max_instance_request_concurrency (with at least one vCPU).

locals {
  # Entry point -> the zip it ships in (build/<source>.zip), whether it is an HTTP function and whether
  # it reaches Memorystore (then it egresses through the VPC, redis_network.tf, and reads the Redis secrets).
  functions = {
    chat             = { source = "chat", http = true, redis = true }
    analytics        = { source = "analytics", http = true, redis = true }
    analytics_rollup = { source = "analytics", http = false, redis = false }
    health           = { source = "health", http = true, redis = true }
    keys             = { source = "keys", http = true, redis = false }
    keys_rewrap      = { source = "keys", http = false, redis = false }
  }

  http_functions = { for name, f in local.functions : name => f if f.http }

  # Event function -> the Pub/Sub topic whose messages trigger it (fed by Cloud Scheduler, scheduler.tf).
  event_functions = {
    analytics_rollup = google_pubsub_topic.rollup_trigger.id
    keys_rewrap      = google_pubsub_topic.rewrap_trigger.id
  }

  # With the load balancer the HTTP functions accept only its traffic (and internal callers); without
  # it they are reached directly on their run.app URLs.
  http_ingress = var.load_balancer_enabled ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL"

  # Every function reads its settings from these (shared.settings.ENV_VARS; the rest have defaults in code
  # or are secrets, secrets.tf). GATEWAY_DEV_KEY is never set in the cloud.
  cloud_env = {
    GATEWAY_DATA_DIR         = "/tmp/gateway" # the only writable place (event spill files); in memory on Cloud Run
    GOOGLE_CLOUD_PROJECT_ID  = var.project_id
    STORE_BACKEND            = "firestore"
    FIRESTORE_DATABASE       = google_firestore_database.main.name
    EVENTS_BACKEND           = "pubsub"
    PUBSUB_USAGE_TOPIC       = google_pubsub_topic.usage.name
    PUBSUB_AUDIT_TOPIC       = google_pubsub_topic.audit.name
    KMS_BACKEND              = "gcp"
    GOOGLE_CLOUD_LOCATION_ID = google_kms_key_ring.gateway.location
    GOOGLE_CLOUD_KEYRING_ID  = google_kms_key_ring.gateway.name
    GOOGLE_CLOUD_KEY_ID      = google_kms_crypto_key.provider_keys.name
    ANALYTICS_BACKEND        = "bigquery"
    BIGQUERY_DATASET         = google_bigquery_dataset.analytics.dataset_id
    LOG_EXECUTION_ID         = "true" # functions-framework: execution ids in the log lines
  }
  function_env = merge(var.extra_environment, local.cloud_env)

  # Functions that reach Redis also get the path of Memorystore's server CA, mounted from Secret Manager, and
  # the usage limits' fail-open share: while Redis is away each chat instance enforces 1/N of every limit,
  # N the chat function's maximum instance count (health reports the same bound).
  redis_env = {
    REDIS_CA_CERT    = "${local.redis_ca_mount}/${local.redis_ca_file}"
    LIMITS_INSTANCES = tostring(var.function_sizing["chat"].max_instance_count)
  }
}

resource "google_cloudfunctions2_function" "http" {
  for_each = local.http_functions
  # checkov:skip=CKV_GCP_124:Ingress is ALLOW_INTERNAL_AND_GCLB while load_balancer_enabled (the default); ALLOW_ALL only when the operator turns the load balancer off, and every route still authenticates its gateway key in the function.

  name        = "${local.prefix}-${replace(each.key, "_", "-")}"
  location    = var.region
  description = "AI gateway: ${each.key} (HTTP)"
  labels      = { function = each.key }

  build_config {
    runtime         = "python311"
    entry_point     = each.key
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source[each.value.source].name
      }
    }
  }

  service_config {
    available_memory                 = var.function_sizing[each.key].available_memory
    available_cpu                    = var.function_sizing[each.key].available_cpu
    timeout_seconds                  = var.function_sizing[each.key].timeout_seconds
    max_instance_request_concurrency = var.function_sizing[each.key].max_instance_request_concurrency
    min_instance_count               = var.function_sizing[each.key].min_instance_count
    max_instance_count               = var.function_sizing[each.key].max_instance_count
    service_account_email            = google_service_account.function[each.key].email
    ingress_settings                 = local.http_ingress
    all_traffic_on_latest_revision   = true

    environment_variables = merge(local.function_env, each.value.redis ? local.redis_env : {})

    dynamic "secret_environment_variables" {
      for_each = [for env in local.function_secret_env[each.key] : env if contains(keys(local.secret_env), env)]
      content {
        key        = secret_environment_variables.value
        project_id = var.project_id
        secret     = google_secret_manager_secret.env[secret_environment_variables.value].secret_id
        version    = local.secret_versions[secret_environment_variables.value]
      }
    }

    dynamic "secret_volumes" {
      for_each = each.value.redis ? [google_secret_manager_secret_version.redis_ca] : []
      content {
        mount_path = local.redis_ca_mount
        project_id = var.project_id
        secret     = google_secret_manager_secret.redis_ca.secret_id
        versions {
          version = secret_volumes.value.version
          path    = local.redis_ca_file
        }
      }
    }

    # One way to reach Memorystore: Direct VPC egress (no connector). Only private ranges go through the
    # VPC; provider APIs are reached directly.
    dynamic "direct_vpc_network_interface" {
      for_each = each.value.redis ? [google_compute_subnetwork.functions] : []
      content {
        network    = google_compute_network.vpc.id
        subnetwork = direct_vpc_network_interface.value.id
      }
    }
    direct_vpc_egress = each.value.redis ? "VPC_EGRESS_PRIVATE_RANGES_ONLY" : null
  }

  # The runtime reads its secrets at start and the build runs as its own account: grants first.
  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.function,
    google_secret_manager_secret_iam_member.redis_ca,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_artifact_writer,
    google_storage_bucket_iam_member.build_source_reader,
  ]
}

resource "google_cloudfunctions2_function" "event" {
  for_each = local.event_functions

  name        = "${local.prefix}-${replace(each.key, "_", "-")}"
  location    = var.region
  description = "AI gateway: ${each.key} (Pub/Sub via Eventarc)"
  labels      = { function = each.key }

  build_config {
    runtime         = "python311"
    entry_point     = each.key
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source[local.functions[each.key].source].name
      }
    }
  }

  service_config {
    available_memory                 = var.function_sizing[each.key].available_memory
    available_cpu                    = var.function_sizing[each.key].available_cpu
    timeout_seconds                  = var.function_sizing[each.key].timeout_seconds
    max_instance_request_concurrency = var.function_sizing[each.key].max_instance_request_concurrency
    min_instance_count               = var.function_sizing[each.key].min_instance_count
    max_instance_count               = var.function_sizing[each.key].max_instance_count
    service_account_email            = google_service_account.function[each.key].email
    # Eventarc's Pub/Sub push counts as internal traffic: nothing outside the project can call a job.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true

    environment_variables = local.function_env

    dynamic "secret_environment_variables" {
      for_each = [for env in local.function_secret_env[each.key] : env if contains(keys(local.secret_env), env)]
      content {
        key        = secret_environment_variables.value
        project_id = var.project_id
        secret     = google_secret_manager_secret.env[secret_environment_variables.value].secret_id
        version    = local.secret_versions[secret_environment_variables.value]
      }
    }
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = each.value
    retry_policy          = "RETRY_POLICY_RETRY" # both jobs are idempotent (rollup per day; re-wrap per key)
    service_account_email = google_service_account.trigger.email
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.function,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_artifact_writer,
    google_storage_bucket_iam_member.build_source_reader,
  ]
}
