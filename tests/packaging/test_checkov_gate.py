"""tools/checkov/gate.py and run.sh: the gate fails on failed checks, on files checkov could not parse (checkov
itself exits 0 then), on a scan of nothing and on skips without a reason; it passes a clean scan and prints
the skips with their reasons. The judge is tested on report shapes checkov 3.3.30 prints; run.sh on small
Terraform directories scanned by the real, pinned checkov (.venv-checkov, built by tools/checkov/setup.sh).
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tools.checkov.gate import NO_REASON, judge, main
from tools.package import ROOT

RUN = ROOT / "tools" / "checkov" / "run.sh"

KEY_RING = """resource "google_kms_key_ring" "ring" {
  name     = "ring"
  location = "us-central1"
}
"""
# CKV_GCP_43: rotation within 90 days; CKV_GCP_82: prevent_destroy.
CRYPTO_KEY = """resource "google_kms_crypto_key" "key" {{
  {skip}
  name            = "key"
  key_ring        = google_kms_key_ring.ring.id
  rotation_period = "{rotation}"
  lifecycle {{
    prevent_destroy = true
  }}
}}
"""


def _check(check_id: str, resource: str, comment: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"result": "SKIPPED" if comment is not None else "FAILED"}
    if comment is not None:
        result["suppress_comment"] = comment
    return {
        "check_id": check_id,
        "check_name": "a check",
        "check_result": result,
        "resource": resource,
        "file_path": "/kms.tf",
        "file_line_range": [6, 13],
    }


def _report(
    failed: list[dict[str, Any]] | None = None,
    skipped: list[dict[str, Any]] | None = None,
    parsing_errors: list[str] | None = None,
    resources: int = 3,
) -> dict[str, Any]:
    failed, skipped, parsing_errors = failed or [], skipped or [], parsing_errors or []
    return {
        "check_type": "terraform",
        "results": {
            "passed_checks": [],
            "failed_checks": failed,
            "skipped_checks": skipped,
            "parsing_errors": parsing_errors,
        },
        "summary": {
            "passed": 5,
            "failed": len(failed),
            "skipped": len(skipped),
            "parsing_errors": len(parsing_errors),
            "resource_count": resources,
            "checkov_version": "3.3.30",
        },
    }


def test_a_clean_scan_passes_and_lists_its_skips_with_reasons() -> None:
    verdict = judge(_report(skipped=[_check("CKV_GCP_124", "google_cloudfunctions2_function.http", "LB off only")]))
    assert verdict.ok
    assert "  CKV_GCP_124  google_cloudfunctions2_function.http: LB off only" in verdict.lines
    assert verdict.lines[-1] == "checkov gate: OK"


def test_a_failed_check_fails_naming_check_resource_and_place() -> None:
    verdict = judge(_report(failed=[_check("CKV_GCP_43", "google_kms_crypto_key.key")]))
    assert not verdict.ok
    assert "  CKV_GCP_43  google_kms_crypto_key.key  /kms.tf:6-13  a check" in verdict.lines


def test_a_parse_error_fails_even_with_no_failed_check() -> None:
    verdict = judge(_report(parsing_errors=["/repo/terraform/broken.tf"]))
    assert not verdict.ok
    assert "  /repo/terraform/broken.tf" in verdict.lines


@pytest.mark.parametrize("comment", [NO_REASON, "", "   "])
def test_a_skip_without_reason_fails(comment: str) -> None:
    verdict = judge(_report(skipped=[_check("CKV_GCP_78", "google_storage_bucket.b", comment)]))
    assert not verdict.ok
    assert "  CKV_GCP_78  google_storage_bucket.b  /kms.tf:6-13" in verdict.lines


def test_nothing_scanned_fails() -> None:
    # What checkov prints for a directory without Terraform: a bare summary.
    bare = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}
    assert not judge(bare).ok
    assert not judge(_report(resources=0)).ok


def test_several_frameworks_are_added_up() -> None:
    verdict = judge([_report(), _report(failed=[_check("CKV_GCP_43", "google_kms_crypto_key.key")])])
    assert not verdict.ok
    assert verdict.lines[0].startswith("checkov: 10 passed, 1 failed")


def test_main_reads_a_file_or_stdin_and_exits_by_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean, failing = tmp_path / "clean.json", tmp_path / "failing.json"
    clean.write_text(json.dumps(_report()))
    failing.write_text(json.dumps(_report(parsing_errors=["/x.tf"])))
    assert main([str(clean)]) == 0
    assert main([str(failing)]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(_report())))
    assert main(["-"]) == 0
    (tmp_path / "crash.json").write_text("Traceback (most recent call last):")
    assert main([str(tmp_path / "crash.json")]) == 2
    assert main([str(tmp_path / "absent.json")]) == 2
    (tmp_path / "numbers.json").write_text("[1, 2]")
    assert main([str(tmp_path / "numbers.json")]) == 2
    assert main([]) == 2
    assert "did checkov crash?" in capsys.readouterr().out


def _scan(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RUN), str(directory)], cwd=directory.parent, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def _checkov() -> None:
    """The pinned checkov venv (a no-op when its stamp is in place, as after `make iac`)."""
    subprocess.run([str(ROOT / "tools" / "checkov" / "setup.sh")], check=True, capture_output=True)


@pytest.mark.usefixtures("_checkov")
def test_real_checkov_passes_a_clean_directory(tmp_path: Path) -> None:
    (tmp_path / "tf").mkdir()
    skip = "# checkov:skip=CKV_GCP_82:prevent_destroy is set; a reviewer reads this reason"
    (tmp_path / "tf" / "kms.tf").write_text(KEY_RING + CRYPTO_KEY.format(skip=skip, rotation="7776000s"))
    result = _scan(tmp_path / "tf")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checkov gate: OK" in result.stdout
    assert (
        "CKV_GCP_82  google_kms_crypto_key.key: prevent_destroy is set; a reviewer reads this reason" in result.stdout
    )


@pytest.mark.usefixtures("_checkov")
def test_real_checkov_fails_a_failing_resource_and_a_parse_error(tmp_path: Path) -> None:
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "kms.tf").write_text(KEY_RING + CRYPTO_KEY.format(skip="", rotation="7776001s"))
    result = _scan(tmp_path / "tf")
    assert result.returncode == 1
    assert "CKV_GCP_43  google_kms_crypto_key.key" in result.stdout

    # The failing key fixed, plus a file that does not parse: checkov alone would exit 0 here.
    (tmp_path / "tf" / "kms.tf").write_text(KEY_RING + CRYPTO_KEY.format(skip="", rotation="7776000s"))
    (tmp_path / "tf" / "broken.tf").write_text('resource "google_kms_key_ring" "other" {\n  location = \n}\n')
    result = _scan(tmp_path / "tf")
    assert result.returncode == 1
    assert "0 failed" in result.stdout
    assert "broken.tf" in result.stdout
    assert result.stdout.rstrip().endswith("checkov gate: FAILED")


@pytest.mark.usefixtures("_checkov")
def test_run_refuses_skips_in_a_config_file_and_a_missing_directory(tmp_path: Path) -> None:
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "kms.tf").write_text(KEY_RING)
    (tmp_path / "tf" / ".checkov.yaml").write_text("skip-check: [CKV_GCP_43]\n")
    result = _scan(tmp_path / "tf")
    assert result.returncode == 1
    assert "skips belong inline" in result.stderr
    result = _scan(tmp_path / "absent")
    assert result.returncode == 1
    assert "no directory" in result.stderr
