# Inputs. Only project_id must be set (and lb_domains while the load balancer is on); the rest have
# defaults for a small production deployment.

variable "project_id" {
  description = "Google Cloud project that holds the whole gateway."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id: 6 to 30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the functions, Redis, the KMS key ring, the dataset, topics' storage and Scheduler jobs."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1."
  }
}

variable "environment" {
  description = "Short environment name (dev, staging, prod); every resource name starts with gw-<environment>-."
  type        = string
  default     = "dev"

  validation {
    # Service account ids are at most 30 characters: "gw-" + environment + "-analytics-rollup" must fit.
    condition     = can(regex("^[a-z][a-z0-9]{0,7}$", var.environment))
    error_message = "environment must be 1 to 8 lowercase letters or digits, starting with a letter."
  }
}

variable "labels" {
  description = "Extra labels on every resource that takes labels (app and environment are always set)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "labels keys must be 1-63 lowercase letters, digits, _ or - starting with a letter; values up to 63 of the same."
  }
}

variable "build_dir" {
  description = "Directory holding the packaged functions (chat.zip, analytics.zip, health.zip, keys.zip), relative to Terraform's working directory."
  type        = string
  default     = "../build"

  validation {
    condition     = length(trimspace(var.build_dir)) > 0
    error_message = "build_dir must name the directory the packaging step writes the zips to."
  }
}

variable "function_sizing" {
  description = <<-EOT
    Per function: memory (available_memory, e.g. 512Mi, 1Gi), vCPU (available_cpu), request timeout in
    seconds, requests per instance (max_instance_request_concurrency; above 1 needs at least 1 vCPU, and
    is the only concurrency setting: the async server ignores THREADS), and min/max instances. The two
    jobs default to one request per instance and one instance, so runs never overlap.
  EOT
  type = map(object({
    available_memory                 = string
    available_cpu                    = string
    timeout_seconds                  = number
    max_instance_request_concurrency = number
    min_instance_count               = number
    max_instance_count               = number
  }))
  default = {
    chat             = { available_memory = "1Gi", available_cpu = "1", timeout_seconds = 900, max_instance_request_concurrency = 40, min_instance_count = 0, max_instance_count = 20 }
    analytics        = { available_memory = "1Gi", available_cpu = "1", timeout_seconds = 120, max_instance_request_concurrency = 20, min_instance_count = 0, max_instance_count = 10 }
    analytics_rollup = { available_memory = "512Mi", available_cpu = "1", timeout_seconds = 540, max_instance_request_concurrency = 1, min_instance_count = 0, max_instance_count = 1 }
    health           = { available_memory = "512Mi", available_cpu = "1", timeout_seconds = 30, max_instance_request_concurrency = 40, min_instance_count = 0, max_instance_count = 5 }
    keys             = { available_memory = "512Mi", available_cpu = "1", timeout_seconds = 60, max_instance_request_concurrency = 20, min_instance_count = 0, max_instance_count = 10 }
    keys_rewrap      = { available_memory = "512Mi", available_cpu = "1", timeout_seconds = 540, max_instance_request_concurrency = 1, min_instance_count = 0, max_instance_count = 1 }
  }

  validation {
    condition     = length(var.function_sizing) == 6 && alltrue([for name in ["chat", "analytics", "analytics_rollup", "health", "keys", "keys_rewrap"] : contains(keys(var.function_sizing), name)])
    error_message = "function_sizing must have exactly the entries chat, analytics, analytics_rollup, health, keys and keys_rewrap."
  }

  validation {
    condition     = alltrue([for f in values(var.function_sizing) : can(regex("^[0-9]+(Mi|Gi|M|G)$", f.available_memory))])
    error_message = "available_memory must be a size such as 512Mi or 1Gi."
  }

  validation {
    condition     = alltrue([for f in values(var.function_sizing) : f.max_instance_request_concurrency >= 1 && f.max_instance_request_concurrency <= 1000 && (f.max_instance_request_concurrency == 1 || can(tonumber(f.available_cpu)) && try(tonumber(f.available_cpu), 0) >= 1)])
    error_message = "max_instance_request_concurrency must be 1 to 1000, and above 1 only with available_cpu of at least 1."
  }

  validation {
    condition     = alltrue([for name, f in var.function_sizing : f.timeout_seconds >= 1 && f.timeout_seconds <= (contains(["analytics_rollup", "keys_rewrap"], name) ? 540 : 3600)])
    error_message = "timeout_seconds must be 1 to 3600 for HTTP functions and 1 to 540 for the event-driven jobs."
  }

  validation {
    condition     = alltrue([for f in values(var.function_sizing) : f.min_instance_count >= 0 && f.max_instance_count >= 1 && f.min_instance_count <= f.max_instance_count])
    error_message = "min_instance_count must be 0 or more and at most max_instance_count, which must be at least 1."
  }
}

variable "load_balancer_enabled" {
  description = "Serve the HTTP functions through one HTTPS load balancer (ingress ALLOW_INTERNAL_AND_GCLB). false: each function is reached on its own URL (ingress ALLOW_ALL)."
  type        = bool
  default     = true
}

variable "lb_domains" {
  description = "DNS names of the load balancer's Google-managed certificate; point them at the load_balancer_ip output. Required while load_balancer_enabled."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for d in var.lb_domains : can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", d))])
    error_message = "lb_domains must be fully qualified lowercase DNS names such as ai.example.com."
  }
}

variable "platform_key_providers" {
  description = "Providers with platform keys (a Secret Manager secret <prefix>-<provider>-api-key each, mounted on chat as <PROVIDER>_API_KEY). Leave one out to run it on BYOK keys only."
  type        = set(string)
  default     = ["openai", "anthropic", "gemini"]

  validation {
    condition     = alltrue([for p in var.platform_key_providers : contains(["openai", "anthropic", "gemini"], p)])
    error_message = "platform_key_providers may contain only openai, anthropic and gemini."
  }
}

variable "secret_versions" {
  description = "Secret version per environment variable (API_KEY_HASH_SALT, ENCRYPTION_CONTEXT_SALT, REDIS_URL, <PROVIDER>_API_KEY). Defaults: salts pinned to 1 (a new salt orphans existing keys), the rest latest."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.secret_versions) : can(regex("^([1-9][0-9]*|latest)$", v))])
    error_message = "secret_versions values must be a version number or latest."
  }

  validation {
    condition     = alltrue([for k in keys(var.secret_versions) : contains(["API_KEY_HASH_SALT", "ENCRYPTION_CONTEXT_SALT", "REDIS_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"], k)])
    error_message = "secret_versions keys must be API_KEY_HASH_SALT, ENCRYPTION_CONTEXT_SALT, REDIS_URL or <PROVIDER>_API_KEY."
  }
}

variable "extra_environment" {
  description = "Further gateway settings for every function (ROUTER_*, BREAKER_*, CACHE_*, *_TIMEOUT_SECONDS, *_BASE_URL, ...; architecture, Configuration). Settings Terraform sets itself win over these."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_environment) : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "extra_environment keys must be environment variable names (A-Z, 0-9, _)."
  }

  validation {
    # Secrets come from Secret Manager only; the development key never exists in the cloud; THREADS is
    # ignored by the async server; PORT belongs to the platform; the endpoint overrides are for tests.
    condition     = length(setintersection(keys(var.extra_environment), ["GATEWAY_DEV_KEY", "API_KEY_HASH_SALT", "ENCRYPTION_CONTEXT_SALT", "REDIS_URL", "REDIS_CA_CERT", "LIMITS_INSTANCES", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "THREADS", "PORT", "KMS_ENDPOINT", "BIGQUERY_ENDPOINT"])) == 0
    error_message = "extra_environment must not set GATEWAY_DEV_KEY, secrets (salts, REDIS_URL, provider keys), REDIS_CA_CERT, LIMITS_INSTANCES (derived from the chat sizing), THREADS, PORT, KMS_ENDPOINT or BIGQUERY_ENDPOINT."
  }
}

variable "kms_protection_level" {
  description = "Protection level of new KMS key versions: SOFTWARE or HSM."
  type        = string
  default     = "SOFTWARE"

  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.kms_protection_level)
    error_message = "kms_protection_level must be SOFTWARE or HSM."
  }
}

variable "firestore_location" {
  description = "Firestore location (a region, or a multi-region such as nam5); null: the region. Immutable once created."
  type        = string
  default     = null

  validation {
    condition     = var.firestore_location == null || can(regex("^[a-z]+[0-9]*(-[a-z]+[0-9]+)?$", coalesce(var.firestore_location, "x")))
    error_message = "firestore_location must be a Firestore location id such as nam5, eur3 or us-central1."
  }
}

variable "functions_subnet_cidr" {
  description = "Private range of the subnet the Redis-using functions egress from (Direct VPC; at least /26, plan two addresses per instance)."
  type        = string
  default     = "10.8.0.0/24"

  validation {
    condition     = can(cidrhost(var.functions_subnet_cidr, 0)) && try(tonumber(split("/", var.functions_subnet_cidr)[1]) <= 26, false)
    error_message = "functions_subnet_cidr must be an IPv4 CIDR range of /26 or larger."
  }
}

variable "redis_tier" {
  description = "Memorystore tier: STANDARD_HA (replicated, failover) or BASIC."
  type        = string
  default     = "STANDARD_HA"

  validation {
    condition     = contains(["BASIC", "STANDARD_HA"], var.redis_tier)
    error_message = "redis_tier must be BASIC or STANDARD_HA."
  }
}

variable "redis_memory_size_gb" {
  description = "Memorystore capacity in GiB."
  type        = number
  default     = 1

  validation {
    condition     = var.redis_memory_size_gb >= 1 && var.redis_memory_size_gb <= 300 && floor(var.redis_memory_size_gb) == var.redis_memory_size_gb
    error_message = "redis_memory_size_gb must be a whole number from 1 to 300."
  }
}

variable "redis_version" {
  description = "Memorystore Redis version."
  type        = string
  default     = "REDIS_7_2"

  validation {
    condition     = can(regex("^REDIS_[0-9]+(_[0-9]+)?$", var.redis_version))
    error_message = "redis_version must look like REDIS_7_2."
  }
}

variable "dead_letter_max_delivery_attempts" {
  description = "Delivery attempts of an event to BigQuery before it is dead-lettered."
  type        = number
  default     = 10

  validation {
    condition     = var.dead_letter_max_delivery_attempts >= 5 && var.dead_letter_max_delivery_attempts <= 100
    error_message = "dead_letter_max_delivery_attempts must be 5 to 100 (Pub/Sub's limits)."
  }
}

variable "event_retention_days" {
  description = "Days a partition of the usage and audit event tables is kept; 0 keeps them forever. The daily rollups are kept regardless."
  type        = number
  default     = 0

  validation {
    condition     = var.event_retention_days >= 0 && floor(var.event_retention_days) == var.event_retention_days
    error_message = "event_retention_days must be a whole number, 0 or more."
  }
}

variable "rollup_schedule" {
  description = "Cron schedule of the analytics rollup (in scheduler_time_zone); daily, after the UTC day has closed."
  type        = string
  default     = "15 1 * * *"

  validation {
    condition     = length(split(" ", var.rollup_schedule)) == 5
    error_message = "rollup_schedule must be a five-field cron expression."
  }
}

variable "rewrap_schedule" {
  description = "Cron schedule of the BYOK re-wrap job (in scheduler_time_zone); the key rotates every 90 days."
  type        = string
  default     = "30 3 * * 0"

  validation {
    condition     = length(split(" ", var.rewrap_schedule)) == 5
    error_message = "rewrap_schedule must be a five-field cron expression."
  }
}

variable "scheduler_time_zone" {
  description = "Time zone (tz database name) of the Scheduler jobs."
  type        = string
  default     = "Etc/UTC"

  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.scheduler_time_zone))
    error_message = "scheduler_time_zone must be a tz database name such as Etc/UTC or Europe/Berlin."
  }
}

variable "alert_notification_channels" {
  description = "Monitoring notification channel ids (projects/P/notificationChannels/N) the alert policies notify."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "alert_notification_channels must be notification channel ids: projects/P/notificationChannels/N."
  }
}

variable "error_rate_threshold" {
  description = "Share of 5xx replies (0-1) over 5 minutes above which a function raises the error-rate alert."
  type        = number
  default     = 0.05

  validation {
    condition     = var.error_rate_threshold > 0 && var.error_rate_threshold < 1
    error_message = "error_rate_threshold must be between 0 and 1."
  }
}
