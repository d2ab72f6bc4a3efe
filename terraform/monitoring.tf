# Alerting: the share of 5xx replies of the gateway's functions, and events dead-lettered by the
# BigQuery subscriptions. Cloud Functions (2nd gen) report Cloud Run's metrics.

locals {
  run_requests = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = starts_with(\"${local.prefix}-\") AND metric.type = \"run.googleapis.com/request_count\""
}

resource "google_monitoring_alert_policy" "error_rate" {
  project               = var.project_id
  display_name          = "${local.prefix}: 5xx share above ${var.error_rate_threshold * 100}%"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  documentation {
    mime_type = "text/markdown"
    content   = "A gateway function answers more than ${var.error_rate_threshold * 100}% of its requests with 5xx over 5 minutes. 502/503/504 mean providers failed or breakers are open (see the health endpoint); 500 is a gateway fault (see the function's logs)."
  }

  conditions {
    display_name = "5xx / all requests, per function"

    condition_threshold {
      filter             = "${local.run_requests} AND metric.labels.response_code_class = \"5xx\""
      denominator_filter = local.run_requests
      comparison         = "COMPARISON_GT"
      threshold_value    = var.error_rate_threshold
      duration           = "300s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }

      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "${local.prefix}: events dead-lettered"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  documentation {
    mime_type = "text/markdown"
    content   = "Usage or audit events could not be written to BigQuery after ${var.dead_letter_max_delivery_attempts} attempts (schema or permission change?). They wait in subscription ${local.prefix}-dead-letter-hold for 7 days."
  }

  conditions {
    display_name = "dead-lettered messages"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = starts_with(\"${local.prefix}-\") AND metric.type = \"pubsub.googleapis.com/subscription/dead_letter_message_count\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.subscription_id"]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [google_project_service.apis]
}
