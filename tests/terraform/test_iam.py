"""The IAM wiring of terraform/: every function runs as its own service account, and the role grants are
exactly the expected set below: issue 8's list, plus the grants beyond it, each with the reason the code
needs it. A change to either table is a change to the design, made on purpose.

Grants are read from every `*_iam_member` resource: the principal from `member`, the scope from the
resource type and its scope argument, `for_each` expanded from the literal tables in `locals`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.terraform.hcl import Body, block, config, ref

Grant = tuple[str, str, str]  # (principal, role, scope)

FUNCTIONS = ("chat", "analytics", "analytics_rollup", "health", "keys", "keys_rewrap")
PROVIDER_KEY_SECRETS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")
PUBLIC = ("chat", "analytics", "health", "keys")

# Issue 8, "Service accounts and roles". Scopes: project, topic:<resource>, subscription:<resource>,
# dataset:<resource>, key:<resource>, secret:<env var>, service:<function>, bucket:<resource>.
ISSUE_GRANTS: frozenset[Grant] = frozenset(
    {
        ("chat", "roles/datastore.user", "project"),
        ("chat", "roles/pubsub.publisher", "topic:usage"),
        ("chat", "roles/pubsub.publisher", "topic:audit"),
        ("chat", "roles/cloudkms.cryptoKeyDecrypter", "key:provider_keys"),
        *(("chat", "roles/secretmanager.secretAccessor", f"secret:{env}") for env in PROVIDER_KEY_SECRETS),
        ("analytics", "roles/bigquery.jobUser", "project"),
        ("analytics", "roles/bigquery.dataViewer", "dataset:analytics"),
        ("analytics", "roles/datastore.user", "project"),
        ("analytics_rollup", "roles/bigquery.jobUser", "project"),
        ("analytics_rollup", "roles/bigquery.dataEditor", "dataset:analytics"),
        ("health", "roles/datastore.viewer", "project"),
        ("keys", "roles/datastore.user", "project"),
        ("keys", "roles/cloudkms.cryptoKeyEncrypterDecrypter", "key:provider_keys"),
        ("keys", "roles/pubsub.publisher", "topic:audit"),
        ("keys_rewrap", "roles/datastore.user", "project"),
        ("keys_rewrap", "roles/cloudkms.cryptoKeyEncrypterDecrypter", "key:provider_keys"),
        ("pubsub_agent", "roles/bigquery.dataEditor", "dataset:analytics"),
        ("pubsub_agent", "roles/bigquery.metadataViewer", "dataset:analytics"),
        ("pubsub_agent", "roles/pubsub.publisher", "topic:dead_letter"),
        ("pubsub_agent", "roles/pubsub.subscriber", "subscription:usage_bigquery"),
        ("pubsub_agent", "roles/pubsub.subscriber", "subscription:audit_bigquery"),
        ("scheduler_agent", "roles/pubsub.publisher", "topic:rollup_trigger"),
        ("scheduler_agent", "roles/pubsub.publisher", "topic:rewrap_trigger"),
        ("trigger", "roles/run.invoker", "service:analytics_rollup"),
        ("trigger", "roles/run.invoker", "service:keys_rewrap"),
        *(("allUsers", "roles/run.invoker", f"service:{name}") for name in PUBLIC),
    }
)

_SALT_HASH = (
    "gateway keys are HMACs under API_KEY_HASH_SALT; without it the function makes up its own and no key matches"
)
_SALT_CONTEXT = "BYOK ciphertexts are bound to ENCRYPTION_CONTEXT_SALT; without it nothing opens"
_REDIS = "REDIS_URL carries the AUTH string; the server CA file verifies Memorystore's TLS certificate"
_KEY_GET = "GetCryptoKey (cloudkms.cryptoKeys.get, the primary version) is not in the encrypt/decrypt roles"
_CMEK = "the service agent encrypts with the data key (CMEK) of the topics / the dataset"
_BUILD = "the functions build as their own account, not the Compute Engine default one"

# Grants beyond the issue's list, each with its reason (the code paths are named in iam.tf and secrets.tf).
BEYOND_ISSUE: dict[Grant, str] = {
    ("chat", "roles/secretmanager.secretAccessor", "secret:API_KEY_HASH_SALT"): _SALT_HASH,
    ("chat", "roles/secretmanager.secretAccessor", "secret:ENCRYPTION_CONTEXT_SALT"): _SALT_CONTEXT,
    ("chat", "roles/secretmanager.secretAccessor", "secret:REDIS_URL"): _REDIS,
    ("chat", "roles/secretmanager.secretAccessor", "secret:redis_ca"): _REDIS,
    ("analytics", "roles/secretmanager.secretAccessor", "secret:API_KEY_HASH_SALT"): _SALT_HASH,
    ("analytics", "roles/secretmanager.secretAccessor", "secret:REDIS_URL"): _REDIS
    + " (cost analysis routes on live latency)",
    ("analytics", "roles/secretmanager.secretAccessor", "secret:redis_ca"): _REDIS,
    ("health", "roles/secretmanager.secretAccessor", "secret:API_KEY_HASH_SALT"): _SALT_HASH + " (the full report)",
    ("health", "roles/secretmanager.secretAccessor", "secret:REDIS_URL"): _REDIS + " (live metrics, cache ping)",
    ("health", "roles/secretmanager.secretAccessor", "secret:redis_ca"): _REDIS,
    ("health", "roles/cloudkms.viewer", "key:provider_keys"): _KEY_GET + " (the KMS ping)",
    ("keys", "roles/secretmanager.secretAccessor", "secret:API_KEY_HASH_SALT"): _SALT_HASH,
    ("keys", "roles/secretmanager.secretAccessor", "secret:ENCRYPTION_CONTEXT_SALT"): _SALT_CONTEXT,
    ("keys", "roles/cloudkms.viewer", "key:provider_keys"): _KEY_GET + " (recorded with each new secret)",
    ("keys_rewrap", "roles/secretmanager.secretAccessor", "secret:ENCRYPTION_CONTEXT_SALT"): _SALT_CONTEXT,
    ("keys_rewrap", "roles/cloudkms.viewer", "key:provider_keys"): _KEY_GET + " (what to re-wrap)",
    ("keys_rewrap", "roles/pubsub.publisher", "topic:audit"): "the job's audit events (one per key re-wrapped) go to "
    "the audit topic: a function's local files vanish with its instance",
    ("keys", "roles/pubsub.publisher", "topic:limits_audit"): "issue 11: changes to usage limits are audited "
    "(PUT /api/ai/limits is served by the keys function)",
    ("pubsub_agent", "roles/pubsub.subscriber", "subscription:limits_audit_bigquery"): "issue 11: the limits audit "
    "events land in BigQuery like the other events",
    ("pubsub_agent", "roles/cloudkms.cryptoKeyEncrypterDecrypter", "key:data"): _CMEK,
    ("bigquery_agent", "roles/cloudkms.cryptoKeyEncrypterDecrypter", "key:data"): _CMEK,
    ("build", "roles/logging.logWriter", "project"): _BUILD + " (build logs)",
    ("build", "roles/artifactregistry.writer", "project"): _BUILD + " (the gcf-artifacts images)",
    ("build", "roles/storage.objectViewer", "bucket:source"): _BUILD + " (reads the source zips)",
}

# Resource type -> the argument naming what the grant is on, and the scope prefix.
SCOPES = {
    "google_pubsub_topic_iam_member": ("topic", "topic", "google_pubsub_topic"),
    "google_pubsub_subscription_iam_member": ("subscription", "subscription", "google_pubsub_subscription"),
    "google_bigquery_dataset_iam_member": ("dataset_id", "dataset", "google_bigquery_dataset"),
    "google_kms_crypto_key_iam_member": ("crypto_key_id", "key", "google_kms_crypto_key"),
    "google_storage_bucket_iam_member": ("bucket", "bucket", "google_storage_bucket"),
}

_LOCAL_PRINCIPALS = {
    "${local.pubsub_agent}": "pubsub_agent",
    "${local.scheduler_agent}": "scheduler_agent",
    "${local.bigquery_agent}": "bigquery_agent",
}


def _for_each(body: Body) -> list[tuple[str, Any]]:
    """(each.key, each.value) pairs of a resource's for_each, from the literal tables it is built from."""
    cfg = config()
    expression = body.get("for_each")
    if expression is None:
        return [("", None)]
    loc = cfg.locals
    if expression == "${local.function_project_grants}":
        return [
            (f"{name}/{role}", {"function": name, "role": role})
            for name, roles in loc["function_project_roles"].items()
            for role in roles
        ]
    if expression == "${local.secret_grants}":
        mounted = _secret_envs()
        return [
            (f"{name}/{env}", {"function": name, "env": env})
            for name, envs in loc["function_secret_env"].items()
            for env in envs
            if env in mounted
        ]
    if expression == "${local.redis_ca_grants}":
        return [(name, name) for name, f in loc["functions"].items() if f["redis"]]
    if expression == "${toset(local.public_invokers)}":
        return [(name, name) for name in loc["public_invokers"]]
    if expression == "${local.event_functions}":
        return [(name, value) for name, value in loc["event_functions"].items()]
    raise AssertionError(f"the IAM test cannot expand for_each = {expression!r}: add it to _for_each")


def _secret_envs() -> set[str]:
    """The environment variables with a secret, for the default platform_key_providers (all three)."""
    cfg = config()
    providers = cfg.variables["platform_key_providers"]["default"]
    # secret_env = merge(local.platform_key_env, {...}): hcl2 keeps the merge as one expression string.
    static = set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", cfg.locals["secret_env"]))
    assert static == {"API_KEY_HASH_SALT", "ENCRYPTION_CONTEXT_SALT", "REDIS_URL"}, static
    return static | {f"{p.upper()}_API_KEY" for p in providers}


def _substitute(expression: str, key: str, value: Any) -> str:
    expression = expression.replace("each.key", f'"{key}"')
    if isinstance(value, dict):
        for field, item in value.items():
            expression = expression.replace(f"each.value.{field}", f'"{item}"')
    return expression


def _principal(member: str) -> str:
    if member in _LOCAL_PRINCIPALS:
        return _LOCAL_PRINCIPALS[member]
    if member == "allUsers":
        return "allUsers"
    name, index = ref(member, "google_service_account")
    if not member.endswith(".member}"):
        raise AssertionError(f"use the service account's .member attribute: {member!r}")
    if name == "function":
        assert index in FUNCTIONS, f"unknown function account {index!r}"
        return str(index)
    assert index is None, member
    return name


def _scope(rtype: str, body: Body, expression_of: Any) -> str:
    if rtype == "google_project_iam_member":
        assert body["project"] == "${var.project_id}"
        return "project"
    if rtype == "google_cloud_run_v2_service_iam_member":
        name, index = ref(expression_of(body["name"]), "google_cloudfunctions2_function")
        assert name in ("http", "event")
        return f"service:{index}"
    if rtype == "google_secret_manager_secret_iam_member":
        name, index = ref(expression_of(body["secret_id"]), "google_secret_manager_secret")
        return f"secret:{index}" if name == "env" else f"secret:{name}"
    argument, prefix, target = SCOPES[rtype]
    name, _ = ref(body[argument], target)
    assert (target, name) in config().resources, f"{rtype} grants on a missing {target}.{name}"
    return f"{prefix}:{name}"


def granted() -> list[Grant]:
    """Every grant terraform/ makes (duplicates kept, so a test can refuse them)."""
    grants: list[Grant] = []
    for (rtype, _name), body in config().resources.items():
        if not re.search(r"_iam_(member|binding|policy)$", rtype):
            continue
        assert rtype.endswith("_iam_member"), f"{rtype} is authoritative: use *_iam_member (additive) grants"
        for key, value in _for_each(body):

            def expression_of(text: str, key: str = key, value: Any = value) -> str:
                return _substitute(text, key, value)

            member = expression_of(body["member"])
            role = expression_of(body["role"])
            if role.startswith("${"):
                assert body["role"] == "${each.value.role}", body["role"]
                role = value["role"]
            grants.append((_principal(member), role, _scope(rtype, body, expression_of)))
    return grants


def test_roles_granted_are_exactly_the_expected_set() -> None:
    grants = granted()
    assert len(grants) == len(set(grants)), "a grant is declared twice"
    expected = ISSUE_GRANTS | set(BEYOND_ISSUE)
    assert not ISSUE_GRANTS & set(BEYOND_ISSUE)
    missing = sorted(expected - set(grants))
    extra = sorted(set(grants) - expected)
    assert not missing, f"missing: {missing}"
    assert not extra, f"not expected: {extra}"


def test_every_function_runs_as_its_own_service_account() -> None:
    cfg = config()
    accounts = cfg.resource("google_service_account", "function")
    assert accounts["for_each"] == "${local.functions}"
    assert set(cfg.locals["functions"]) == set(FUNCTIONS)
    seen = []
    for kind in ("http", "event"):
        body = cfg.resource("google_cloudfunctions2_function", kind)
        email = block(body, "service_config")["service_account_email"]
        assert email == "${google_service_account.function[each.key].email}"
        seen.append(kind)
    assert seen == ["http", "event"]
    # The trigger and build identities are separate accounts, and no account id repeats.
    ids = [body["account_id"] for body in cfg.of_type("google_service_account").values()]
    assert len(ids) == len(set(ids)) == 3
    assert all(account_id.startswith("${local.prefix}-") for account_id in ids)


def test_all_users_only_on_the_public_allow_list() -> None:
    cfg = config()
    assert cfg.locals["public_invokers"] == list(PUBLIC)
    public = [g for g in granted() if g[0] == "allUsers"]
    assert sorted(public) == sorted(("allUsers", "roles/run.invoker", f"service:{name}") for name in PUBLIC)
    # The one resource that grants it, with its reason for checkov; nothing anywhere else names a public member.
    text = cfg.text()
    assert text.count('"allUsers"') == 1
    assert "allAuthenticatedUsers" not in text
    assert "checkov:skip=CKV_GCP_102:Public on purpose" in cfg.files["iam.tf"]
    # Every public function is an HTTP function, and every HTTP function is public (the jobs never are).
    http = {name for name, f in cfg.locals["functions"].items() if f["http"]}
    assert set(PUBLIC) == http


def test_event_functions_are_invoked_only_by_the_trigger_account() -> None:
    cfg = config()
    invokers = {g for g in granted() if g[1] == "roles/run.invoker"}
    events = set(cfg.locals["event_functions"])
    assert {g for g in invokers if g[2].removeprefix("service:") in events} == {
        ("trigger", "roles/run.invoker", f"service:{name}") for name in events
    }
    trigger = block(cfg.resource("google_cloudfunctions2_function", "event"), "event_trigger")
    assert trigger["service_account_email"] == "${google_service_account.trigger.email}"


def test_no_basic_or_admin_roles() -> None:
    for principal, role, scope in granted():
        assert role not in ("roles/owner", "roles/editor", "roles/viewer"), (principal, role, scope)
        assert not role.endswith(".admin"), (principal, role, scope)


@pytest.mark.parametrize("reason", sorted(set(BEYOND_ISSUE.values())))
def test_every_extra_grant_has_a_reason(reason: str) -> None:
    assert len(reason) > 20
