# Firestore (Native mode): the document store of breakers, gateway keys, tenants and BYOK key metadata
# (STORE_BACKEND=firestore; collections are prefixed "gateway_" by shared.store.firestore).

resource "google_firestore_database" "main" {
  project                           = var.project_id
  name                              = "(default)"
  location_id                       = coalesce(var.firestore_location, var.region)
  type                              = "FIRESTORE_NATIVE"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON" # `destroy` forgets the database, never deletes it

  depends_on = [google_project_service.apis]
}

# Breaker probe leases (shared.breakers.board, collection breaker_probes) are single-use documents; a
# lease whose release failed is never read again. Firestore deletes a document once its `expires_at`
# has passed (typically within a day) - only when `expires_at` holds a timestamp: a document without
# one, or with a number there, is kept. The board never relies on the deletion: a lease names its
# breaker version and slot, so a leftover one cannot block a later probe.
resource "google_firestore_field" "probe_lease_ttl" {
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = "gateway_breaker_probes"
  field      = "expires_at"

  ttl_config {}

  # A timestamp written once and never queried needs no single-field index.
  index_config {}
}
