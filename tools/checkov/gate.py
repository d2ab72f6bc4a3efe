"""The checkov gate: reads checkov's JSON report (`-o json`) and fails unless the scan is clean.

checkov's own exit code is not enough: it exits 0 when a file does not parse (the file is then just not
scanned; only `summary.parsing_errors` says so) and 0 when it found nothing to scan. So this fails on any
failed check, any parsing error, a scan of zero resources, and a skip without a reason (checkov records
`# checkov:skip=CKV_ID` without `:reason` as "No comment provided"). It prints every failed check and every
skip with its reason, so a reviewer sees the accepted risks in the CI log.

    python tools/checkov/gate.py REPORT.json     # or - for stdin; exit 0 clean, 1 not clean, 2 unreadable

Standard library only; runs under any Python 3.11.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Verdict", "judge", "main"]

NO_REASON = "No comment provided"  # what checkov 3.3.30 records for a skip without `:reason`


@dataclass(frozen=True)
class Verdict:
    ok: bool
    lines: tuple[str, ...]


def _reports(data: Any) -> list[Mapping[str, Any]]:
    """checkov prints one report per framework (a list when several) and a bare summary when nothing was found."""
    reports = data if isinstance(data, list) else [data]
    if not all(isinstance(report, Mapping) for report in reports):
        raise ValueError("not a checkov JSON report")
    return [report if "summary" in report else {"summary": report, "results": {}} for report in reports]


def _where(check: Mapping[str, Any]) -> str:
    lines = check.get("file_line_range") or []
    span = f":{lines[0]}-{lines[1]}" if len(lines) == 2 else ""
    return f"{check.get('file_path', '?')}{span}"


def judge(data: Any) -> Verdict:
    """The gate's decision on a parsed checkov JSON report, with the lines to print."""
    failed: list[str] = []
    skipped: list[str] = []
    unreasoned: list[str] = []
    parse_errors: list[str] = []
    totals = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}
    for report in _reports(data):
        summary = report["summary"]
        for key in totals:
            totals[key] += int(summary.get(key, 0))
        results = report.get("results") or {}
        for check in results.get("failed_checks", []):
            failed.append(f"  {check['check_id']}  {check['resource']}  {_where(check)}  {check.get('check_name', '')}")
        for check in results.get("skipped_checks", []):
            reason = str((check.get("check_result") or {}).get("suppress_comment") or "").strip()
            skipped.append(f"  {check['check_id']}  {check['resource']}: {reason or NO_REASON}")
            if not reason or reason == NO_REASON:
                unreasoned.append(f"  {check['check_id']}  {check['resource']}  {_where(check)}")
        parse_errors.extend(f"  {path}" for path in results.get("parsing_errors", []))

    lines = [
        f"checkov: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped, "
        f"{totals['parsing_errors']} parsing errors, {totals['resource_count']} resources"
    ]
    if failed or totals["failed"]:
        lines += ["FAILED checks:", *failed]
    if parse_errors or totals["parsing_errors"]:
        lines += ["files checkov could not parse (so it did not check them):", *parse_errors]
    if skipped:
        lines += ["skipped (accepted risks, inline):", *skipped]
    if unreasoned:
        lines += ["skips without a reason (write `# checkov:skip=CKV_ID:why`):", *unreasoned]
    if totals["resource_count"] == 0:
        lines.append("no resources scanned: wrong directory, or nothing parsed")
    ok = not failed and not totals["failed"] and not totals["parsing_errors"] and not parse_errors
    ok = ok and not unreasoned and totals["resource_count"] > 0
    lines.append("checkov gate: OK" if ok else "checkov gate: FAILED")
    return Verdict(ok, tuple(lines))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: gate.py REPORT.json (or - for stdin)", file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if args[0] == "-" else Path(args[0]).read_text()
        verdict = judge(json.loads(text))
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"checkov gate: cannot read the report ({type(error).__name__}: {error}); did checkov crash?")
        return 2
    print("\n".join(verdict.lines))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
