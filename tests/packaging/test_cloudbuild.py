"""cloudbuild.yaml: the steps run in order (tests, package, terraform init, plan, apply), every substitution
used is declared and every declared one used (Cloud Build rejects either mismatch), what the steps call
exists, and the steps' shell scripts, run here with Cloud Build's substitutions applied and a fake
`terraform`, init the right state, plan into one file and apply it only when allowed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.package import ROOT

CONFIG = ROOT / "cloudbuild.yaml"
STEP_IDS = ["terraform-cli", "tests", "package", "tf-init", "tf-plan", "tf-apply"]
BUILT_INS = {"PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION", "COMMIT_SHA", "SHORT_SHA", "BRANCH_NAME"}
# `$$` (a literal dollar), `${NAME}` or `$NAME`; anything else after a `$` is an error in Cloud Build.
_TOKEN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$")
FAKE_TERRAFORM = """#!/bin/sh
for arg in "$@"; do printf '%s\\037' "$arg"; done >> "$TERRAFORM_LOG"
echo >> "$TERRAFORM_LOG"
"""


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded = yaml.safe_load(CONFIG.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _step(config: dict[str, Any], step_id: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [step for step in config["steps"] if step["id"] == step_id]
    assert len(steps) == 1, step_id
    return steps[0]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _used_names(text: str) -> set[str]:
    names = set()
    for match in _TOKEN.finditer(text):
        if match.group(0) == "$":
            raise AssertionError(f"a bare $ in {text!r}: write $$ for the shell")
        names.add(match.group(1) or match.group(2) or "$$")
    return names - {"$$"}


def _substitute(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return values[match.group(1) or match.group(2)]

    return _TOKEN.sub(one, text)


def test_steps_run_in_order(config: dict[str, Any]) -> None:
    assert [step["id"] for step in config["steps"]] == STEP_IDS
    # No step starts early: waitFor would let terraform run before the tests pass.
    assert all("waitFor" not in step for step in config["steps"])


def test_builds_log_to_cloud_logging_as_a_user_service_account(config: dict[str, Any]) -> None:
    assert config["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    account = r"projects/\$PROJECT_ID/serviceAccounts/[a-z][-a-z0-9]+@\$PROJECT_ID\.iam\.gserviceaccount\.com"
    assert re.fullmatch(account, config["serviceAccount"])


def test_substitutions_used_are_declared_and_declared_are_used(config: dict[str, Any]) -> None:
    declared = set(config["substitutions"])
    assert declared == {"_PROJECT", "_REGION", "_ENV", "_TF_STATE_BUCKET", "_APPLY", "_APPROVED"}
    used = set().union(*(_used_names(text) for text in [*_strings(config["steps"]), config["serviceAccount"]]))
    assert {name for name in used if name.startswith("_")} == declared
    assert {name for name in used if not name.startswith("_")} <= BUILT_INS
    assert config["substitutions"]["_APPLY"] == "false"  # a build without substitutions only plans
    assert config["substitutions"]["_APPROVED"] == "false"


def _make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))


def test_everything_the_steps_call_exists(config: dict[str, Any]) -> None:
    targets = _make_targets()
    called: list[str] = []
    for step in config["steps"]:
        if step.get("entrypoint") == "make":
            called += step["args"]
        for text in _strings(step.get("args", [])):
            for command in re.findall(r"\bmake((?:\s+[a-z][-a-z0-9]*)+)", text):
                called += command.split()
        for path in re.findall(r"(?<![\w/])tools/[-\w/.]+", " ".join(_strings(step.get("args", [])))):
            assert (ROOT / path).exists(), path
        if "dir" in step:
            assert (ROOT / step["dir"]).is_dir(), step["dir"]
    assert sorted(called) == ["package", "test"]
    assert set(called) <= targets
    # make test runs the offline IaC checks, and the terraform the tests step finds is the one copied for it.
    assert re.search(r"^test:.*\biac\b", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert "build/tools/terraform" in _step(config, "terraform-cli")["args"][-1]
    assert "$$PWD/build/tools:" in _step(config, "tests")["args"][-1]
    terraform_images = {step["name"] for step in config["steps"] if step["name"].startswith("hashicorp/terraform")}
    assert terraform_images == {"hashicorp/terraform:1.11.4"}


def _run_step(
    config: dict[str, Any], step_id: str, tmp_path: Path, **overrides: str
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Runs the step's `sh -c` script as Cloud Build would (substitutions applied, step env set, in its dir)
    with a fake terraform that records its arguments; returns the result and one argument list per call."""
    step = _step(config, step_id)
    values = {**config["substitutions"], "PROJECT_ID": "build-project", **overrides}
    assert step["entrypoint"] == "sh"
    assert step["args"][0] == "-c"
    script = _substitute(step["args"][1], values)
    bin_dir, log = tmp_path / "bin", tmp_path / "terraform.log"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "terraform").write_text(FAKE_TERRAFORM)
    (bin_dir / "terraform").chmod(0o755)
    log.unlink(missing_ok=True)
    workdir = tmp_path / step.get("dir", ".")
    workdir.mkdir(parents=True, exist_ok=True)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "TERRAFORM_LOG": str(log)}
    for item in step.get("env", []):
        name, value = _substitute(item, values).split("=", 1)
        env[name] = value
    result = subprocess.run(["sh", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, check=False)
    calls = [line.split("\x1f")[:-1] for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


def test_init_uses_the_state_bucket_and_the_environment_prefix(config: dict[str, Any], tmp_path: Path) -> None:
    result, calls = _run_step(config, "tf-init", tmp_path, _TF_STATE_BUCKET="acme-tf-state", _ENV="staging")
    assert result.returncode == 0, result.stderr
    assert calls == [
        [
            "init",
            "-input=false",
            "-no-color",
            "-backend-config=bucket=acme-tf-state",
            "-backend-config=prefix=env/staging",
        ]
    ]


def test_init_refuses_without_a_state_bucket(config: dict[str, Any], tmp_path: Path) -> None:
    result, calls = _run_step(config, "tf-init", tmp_path)
    assert result.returncode == 1
    assert "_TF_STATE_BUCKET" in result.stdout
    assert calls == []


def test_plan_validates_then_saves_one_plan(config: dict[str, Any], tmp_path: Path) -> None:
    result, calls = _run_step(config, "tf-plan", tmp_path, _REGION="europe-west1", _ENV="dev")
    assert result.returncode == 0, result.stderr
    assert calls[0] == ["validate", "-no-color"]
    assert calls[1][:5] == ["plan", "-input=false", "-no-color", "-lock-timeout=300s", "-out=tfplan"]
    # Without _PROJECT the build's own project is deployed.
    assert calls[1][5:] == ["-var=project_id=build-project", "-var=region=europe-west1", "-var=environment=dev"]

    (tmp_path / "terraform" / "envs").mkdir(parents=True)
    (tmp_path / "terraform" / "envs" / "prod.tfvars").write_text("")
    result, calls = _run_step(config, "tf-plan", tmp_path, _PROJECT="acme-prod", _ENV="prod")
    assert result.returncode == 0, result.stderr
    assert calls[1][5:] == [
        "-var=project_id=acme-prod",
        "-var=region=us-central1",
        "-var=environment=prod",
        "-var-file=envs/prod.tfvars",
    ]


@pytest.mark.parametrize(
    ("env", "apply", "approved", "applies", "status"),
    [
        ("dev", "false", "false", False, 0),
        ("dev", "true", "false", True, 0),
        ("prod", "false", "true", False, 0),
        ("prod", "true", "false", False, 1),
        ("prod", "true", "true", True, 0),
        ("dev", "TRUE", "false", False, 0),  # only the exact word applies
    ],
)
def test_apply_is_gated(
    config: dict[str, Any], tmp_path: Path, env: str, apply: str, approved: str, applies: bool, status: int
) -> None:
    result, calls = _run_step(config, "tf-apply", tmp_path, _ENV=env, _APPLY=apply, _APPROVED=approved)
    assert result.returncode == status, result.stdout + result.stderr
    assert calls == ([["apply", "-input=false", "-no-color", "-lock-timeout=300s", "tfplan"]] if applies else [])


def test_the_tests_step_runs_make_test(config: dict[str, Any]) -> None:
    step = _step(config, "tests")
    assert step["name"] == "python:3.11-bookworm"  # the functions' runtime is python311
    assert shlex.split(step["args"][-1])[-2:] == ["make", "test"]
    assert _step(config, "package")["args"] == ["package"]
