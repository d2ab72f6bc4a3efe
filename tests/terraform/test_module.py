"""The shape of terraform/ as a module: pinned Terraform and provider, a GCS backend configured at init,
variables that are all described, validated and used, and the outputs the issue asks for. (`terraform fmt`
and checkov run as their own steps of `make test`.)
"""

from __future__ import annotations

import re

import pytest

from tests.terraform.hcl import TERRAFORM_DIR, block, config

REQUIRED_OUTPUTS = {"function_urls", "topics", "bigquery_dataset", "kms_key_ring", "load_balancer_ip"}
# Booleans need no validation: their type already allows only two values.
UNVALIDATED_TYPES = {"bool"}


def test_terraform_and_provider_are_pinned() -> None:
    cfg = config()
    assert len(cfg.terraform) == 1
    terraform = cfg.terraform[0]
    assert re.fullmatch(r">= 1\.11\.\d+, < 2\.0\.0", terraform["required_version"])
    providers = block(terraform, "required_providers")
    assert set(providers) == {"google"}
    google = providers["google"]
    assert google["source"] == "hashicorp/google"
    assert re.fullmatch(r"7\.\d+\.\d+", google["version"]), "pin the provider to one 7.x release"
    major, minor, _ = (int(part) for part in google["version"].split("."))
    assert (major, minor) >= (7, 26)  # Direct VPC egress on functions, and its one-of check with connectors
    # The state backend is GCS, configured by -backend-config at init (a backend block cannot read variables).
    assert block(terraform, "backend") == {"gcs": {}}
    assert [list(p) for p in cfg.providers] == [["google"]]


@pytest.mark.parametrize("name", sorted(config().variables))
def test_every_variable_is_described_validated_and_used(name: str) -> None:
    cfg = config()
    variable = cfg.variables[name]
    assert len(variable.get("description", "")) > 20, f"{name} needs a description"
    assert "type" in variable, f"{name} needs a type"
    if variable["type"] not in UNVALIDATED_TYPES:
        assert variable.get("validation"), f"{name} needs a validation"
    uses = re.findall(rf"\bvar\.{name}\b", cfg.text(skip="variables.tf"))
    assert uses, f"var.{name} is declared but never used"


def test_outputs() -> None:
    outputs = config().outputs
    assert set(outputs) >= REQUIRED_OUTPUTS
    for name, output in outputs.items():
        assert len(output.get("description", "")) > 10, name
        assert "sensitive" not in output, f"{name}: outputs carry no secrets"


def test_only_project_id_is_required() -> None:
    required = {name for name, v in config().variables.items() if "default" not in v}
    assert required == {"project_id"}


def test_files_are_split_by_concern() -> None:
    names = {path.name for path in TERRAFORM_DIR.glob("*.tf")}
    assert {
        "versions.tf",
        "variables.tf",
        "outputs.tf",
        "functions.tf",
        "iam.tf",
        "pubsub.tf",
        "bigquery.tf",
        "kms.tf",
        "firestore.tf",
        "redis_network.tf",
        "scheduler.tf",
        "secrets.tf",
        "monitoring.tf",
        "lb.tf",
        "storage.tf",
    } <= names
    for path in TERRAFORM_DIR.glob("*.tf"):
        assert len(path.read_text().splitlines()) <= 400, f"{path.name} is too long to review"
