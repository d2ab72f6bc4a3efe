# The one public entry point: a global external HTTPS load balancer with a serverless NEG per HTTP
# function (on by default; load_balancer_enabled = false leaves the functions on their own URLs).
# Paths are kept as they are: every function routes on the full path (/api/ai/chat, /v1/models, ...).

locals {
  lb_enabled = var.load_balancer_enabled ? 1 : 0

  # HTTP function -> the path patterns it serves ("/*" matches everything below a prefix).
  lb_routes = {
    chat      = ["/api/ai/chat", "/api/ai/chat/*", "/v1/*"]
    analytics = ["/api/ai/analytics", "/api/ai/analytics/*", "/api/ai/dashboard", "/api/ai/dashboard/*"]
    health    = ["/api/ai/health", "/api/ai/health/*"]
    keys      = ["/api/ai/keys", "/api/ai/keys/*", "/api/ai/limits", "/api/ai/limits/*"]
  }
  # Any other path goes to health, whose router answers 404 in the gateway's error envelope.
  lb_default_function = "health"

  lb_functions = var.load_balancer_enabled ? local.http_functions : {}
}

resource "google_compute_global_address" "lb" {
  count = local.lb_enabled

  project = var.project_id
  name    = "${local.prefix}-lb"

  depends_on = [google_project_service.apis]
}

resource "google_compute_region_network_endpoint_group" "function" {
  for_each = local.lb_functions

  project               = var.project_id
  name                  = "${local.prefix}-${each.key}-neg"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloudfunctions2_function.http[each.key].name
  }
}

resource "google_compute_backend_service" "function" {
  for_each = local.lb_functions

  project               = var.project_id
  name                  = "${local.prefix}-${each.key}"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_url_map" "lb" {
  count = local.lb_enabled

  project         = var.project_id
  name            = "${local.prefix}-lb"
  default_service = google_compute_backend_service.function[local.lb_default_function].id

  host_rule {
    hosts        = ["*"]
    path_matcher = "gateway"
  }

  path_matcher {
    name            = "gateway"
    default_service = google_compute_backend_service.function[local.lb_default_function].id

    dynamic "path_rule" {
      for_each = local.lb_routes
      content {
        paths   = path_rule.value
        service = google_compute_backend_service.function[path_rule.key].id
      }
    }
  }
}

resource "google_compute_managed_ssl_certificate" "lb" {
  count = local.lb_enabled

  project = var.project_id
  name    = "${local.prefix}-lb-cert"

  managed {
    domains = var.lb_domains
  }

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = length(var.lb_domains) > 0
      error_message = "load_balancer_enabled needs lb_domains: the DNS names (pointing at the load balancer's IP) its certificate covers."
    }
  }
}

resource "google_compute_ssl_policy" "lb" {
  count = local.lb_enabled

  project         = var.project_id
  name            = "${local.prefix}-tls"
  profile         = "RESTRICTED"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "lb" {
  count = local.lb_enabled

  project          = var.project_id
  name             = "${local.prefix}-https"
  url_map          = google_compute_url_map.lb[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.lb[0].id]
  ssl_policy       = google_compute_ssl_policy.lb[0].id
}

resource "google_compute_global_forwarding_rule" "https" {
  count = local.lb_enabled

  project               = var.project_id
  name                  = "${local.prefix}-https"
  target                = google_compute_target_https_proxy.lb[0].id
  ip_address            = google_compute_global_address.lb[0].id
  ip_protocol           = "TCP"
  port_range            = "443"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}
