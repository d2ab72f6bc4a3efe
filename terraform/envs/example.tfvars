# An example of the variables a deployment sets (copy to envs/<environment>.tfvars and edit).
# Only project_id is required; lb_domains is required while load_balancer_enabled is true (the default).

project_id  = "my-gateway-project"
region      = "us-central1"
environment = "dev"

lb_domains = ["ai.example.com"]

# Providers with platform keys in Secret Manager (leave one out to serve it with BYOK keys only).
platform_key_providers = ["openai", "anthropic", "gemini"]

# Gateway settings beyond what Terraform sets (architecture, Configuration).
extra_environment = {
  ROUTER_MAX_CANDIDATES = "3"
  CACHE_TTL_SECONDS     = "300"
}

alert_notification_channels = []
