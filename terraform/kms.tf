# Cloud KMS: one key ring with two keys, both rotated every 90 days and protected from `destroy`.
# - provider_keys: the KEK of the BYOK envelope encryption (shared.crypto.kms; GOOGLE_CLOUD_KEY_ID).
# - data: CMEK of the event topics and the analytics dataset, so event data is not under the BYOK key.
# Key rings and keys can never be deleted in Google Cloud; rotation makes a new primary version and old
# versions stay enabled so existing ciphertexts still open (keys_rewrap moves BYOK secrets forward).

resource "google_kms_key_ring" "gateway" {
  project  = var.project_id
  name     = "${local.prefix}-keyring"
  location = var.region

  depends_on = [google_project_service.apis]
}

resource "google_kms_crypto_key" "provider_keys" {
  name            = "provider-keys"
  key_ring        = google_kms_key_ring.gateway.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = "7776000s" # 90 days

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = var.kms_protection_level
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key" "data" {
  name            = "event-data"
  key_ring        = google_kms_key_ring.gateway.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = "7776000s" # 90 days

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = var.kms_protection_level
  }

  lifecycle {
    prevent_destroy = true
  }
}
