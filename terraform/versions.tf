# Terraform and provider pins, the state backend and the provider defaults.
#
# The backend is configured at init time (a backend block cannot read variables):
#   terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=env/<environment>"
# `terraform validate` and `plan` need the provider from registry.terraform.io: they run in Cloud Build,
# not on the offline development machine (docs/deploy.md).

terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # Direct VPC egress on functions needs >= 7.10, the one-of connector/Direct VPC check >= 7.26.
      version = "7.45.0"
    }
  }

  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = merge(var.labels, {
    app         = "ai-gateway"
    environment = var.environment
  })
}
