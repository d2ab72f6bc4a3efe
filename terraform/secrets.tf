# Secret Manager: the platform provider keys, the two salts and the Redis URL (it carries the AUTH string).
#
# Terraform creates the secrets and the access grants but never their values, so no secret lands in the
# state: an operator adds each version out of band (docs/deploy.md, Deploy steps, 5). Functions read
# a version at instance start. The one version Terraform writes is Memorystore's server CA certificate,
# which is public (it is how clients verify the server).

locals {
  platform_key_env = { for provider in var.platform_key_providers : "${upper(provider)}_API_KEY" => "${local.prefix}-${provider}-api-key" }

  # Environment variable -> secret id.
  secret_env = merge(local.platform_key_env, {
    API_KEY_HASH_SALT       = "${local.prefix}-api-key-hash-salt"
    ENCRYPTION_CONTEXT_SALT = "${local.prefix}-encryption-context-salt"
    REDIS_URL               = "${local.prefix}-redis-url"
  })

  # The secrets each function reads as environment variables (only those of secret_env are mounted, so a
  # provider left out of platform_key_providers is simply absent). Gateway keys are HMACs under
  # API_KEY_HASH_SALT: every function that authenticates a caller needs it, or it would make up its own.
  function_secret_env = {
    chat             = ["API_KEY_HASH_SALT", "ENCRYPTION_CONTEXT_SALT", "REDIS_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"]
    analytics        = ["API_KEY_HASH_SALT", "REDIS_URL"]
    analytics_rollup = []
    health           = ["API_KEY_HASH_SALT", "REDIS_URL"]
    keys             = ["API_KEY_HASH_SALT", "ENCRYPTION_CONTEXT_SALT"]
    keys_rewrap      = ["ENCRYPTION_CONTEXT_SALT"]
  }

  # A salt is pinned to its first version: a new salt version would orphan every gateway key (HMAC) or
  # every BYOK ciphertext (associated data). The others follow the latest version at instance start.
  default_secret_versions = {
    API_KEY_HASH_SALT       = "1"
    ENCRYPTION_CONTEXT_SALT = "1"
  }
  secret_versions = { for env in keys(local.secret_env) : env => lookup(var.secret_versions, env, lookup(local.default_secret_versions, env, "latest")) }

  # (function, variable) pairs for the secretAccessor grants, plus the Redis CA for the Redis functions.
  secret_grants = {
    for pair in flatten([
      for name, envs in local.function_secret_env : [
        for env in envs : { function = name, env = env } if contains(keys(local.secret_env), env)
      ]
    ]) : "${pair.function}/${pair.env}" => pair
  }
  redis_ca_grants = toset([for name, f in local.functions : name if f.redis])

  redis_ca_mount = "/etc/gateway/redis-ca"
  redis_ca_file  = "server-ca.pem"
}

resource "google_secret_manager_secret" "env" {
  for_each = local.secret_env

  project   = var.project_id
  secret_id = each.value
  labels    = { env_var = lower(each.key) }

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret" "redis_ca" {
  project   = var.project_id
  secret_id = "${local.prefix}-redis-server-ca"

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.apis]
}

# Memorystore's server CA certificates (all of them, so a CA rotation keeps working); not secret.
resource "google_secret_manager_secret_version" "redis_ca" {
  secret      = google_secret_manager_secret.redis_ca.id
  secret_data = join("\n", google_redis_instance.cache.server_ca_certs[*].cert)
}
