# What a deployment hands back: where to call the gateway, and the names an operator needs for the
# out-of-band steps (secret versions, DNS) and for debugging.

output "function_urls" {
  description = "Each HTTP function's own URL (behind the load balancer these accept only its traffic)."
  value       = { for name, f in google_cloudfunctions2_function.http : name => f.url }
}

output "load_balancer_ip" {
  description = "The load balancer's address: point lb_domains at it. null when load_balancer_enabled is false."
  value       = var.load_balancer_enabled ? google_compute_global_address.lb[0].address : null
}

output "gateway_base_urls" {
  description = "Base URLs marketplace apps call (https://<domain>/api/ai/..., /v1/...)."
  value       = [for d in var.lb_domains : "https://${d}"]
}

output "topics" {
  description = "Pub/Sub topic ids: usage and audit events, the job triggers, and the dead-letter topic."
  value = {
    usage          = google_pubsub_topic.usage.id
    audit          = google_pubsub_topic.audit.id
    rollup_trigger = google_pubsub_topic.rollup_trigger.id
    rewrap_trigger = google_pubsub_topic.rewrap_trigger.id
    dead_letter    = google_pubsub_topic.dead_letter.id
  }
}

output "bigquery_dataset" {
  description = "The analytics dataset (project.dataset) with usage_events, audit_events, usage_daily and usage_rollup_days."
  value       = "${var.project_id}.${google_bigquery_dataset.analytics.dataset_id}"
}

output "kms_key_ring" {
  description = "The KMS key ring id."
  value       = google_kms_key_ring.gateway.id
}

output "kms_byok_key" {
  description = "The BYOK key-encryption key id (GOOGLE_CLOUD_KEY_ID on the functions)."
  value       = google_kms_crypto_key.provider_keys.id
}

output "secrets_to_fill" {
  description = "Environment variable -> Secret Manager secret id; add a version to each out of band (docs/deploy.md)."
  value       = { for env, s in google_secret_manager_secret.env : env => s.secret_id }
}

output "redis_host" {
  description = "Memorystore's private address and TLS port (for the REDIS_URL secret: rediss://:<AUTH>@host:port/0)."
  value       = "${google_redis_instance.cache.host}:${google_redis_instance.cache.port}"
}

output "service_accounts" {
  description = "Runtime service account email per function."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}
