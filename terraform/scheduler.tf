# Cloud Scheduler: the daily analytics rollup and the periodic BYOK re-wrap, each by publishing to the
# topic that triggers its function (Scheduler publishes as its service agent, iam.tf). No
# attempt_deadline: it applies only to HTTP targets (set on a Pub/Sub target it causes a permanent diff).

resource "google_cloud_scheduler_job" "analytics_rollup" {
  project     = var.project_id
  region      = var.region
  name        = "${local.prefix}-analytics-rollup"
  description = "Rolls up the last complete days of usage events (an empty object: the default days)."
  schedule    = var.rollup_schedule
  time_zone   = var.scheduler_time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.rollup_trigger.id
    data       = base64encode("{}")
  }

  retry_config {
    retry_count = 3
  }

  depends_on = [google_pubsub_topic_iam_member.scheduler_rollup_publisher]
}

resource "google_cloud_scheduler_job" "keys_rewrap" {
  project     = var.project_id
  region      = var.region
  name        = "${local.prefix}-keys-rewrap"
  description = "Re-encrypts BYOK secrets under the BYOK key's current primary version."
  schedule    = var.rewrap_schedule
  time_zone   = var.scheduler_time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.rewrap_trigger.id
    data       = base64encode("{}")
  }

  retry_config {
    retry_count = 3
  }

  depends_on = [google_pubsub_topic_iam_member.scheduler_rewrap_publisher]
}
