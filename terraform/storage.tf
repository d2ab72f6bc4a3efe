# The functions' source: one zip per source directory (build/<source>.zip, made by the packaging step),
# uploaded under a name that carries its content hash, so a changed zip is a new object and redeploys the
# functions built from it, and an unchanged one redeploys nothing.

locals {
  sources = toset([for f in local.functions : f.source])
}

resource "google_storage_bucket" "source" {
  project                     = var.project_id
  name                        = "${var.project_id}-${local.prefix}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }

  # Old zips are only needed to roll back by hand; a deployed function keeps its built image.
  lifecycle_rule {
    condition {
      age = 180
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "access_logs" {
  # checkov:skip=CKV_GCP_62:This bucket is the access-log sink of the source bucket; logging it into yet another bucket would only move the question.
  project                     = var.project_id
  name                        = "${var.project_id}-${local.prefix}-access-logs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 365
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  for_each = local.sources

  name   = "${each.key}-${filemd5("${var.build_dir}/${each.key}.zip")}.zip"
  bucket = google_storage_bucket.source.name
  source = "${var.build_dir}/${each.key}.zip"
}
