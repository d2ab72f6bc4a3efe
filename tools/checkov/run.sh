#!/usr/bin/env bash
# The checkov half of `make iac`: scans a Terraform directory offline and passes its JSON report to gate.py,
# which fails on failed checks, parse errors (checkov itself exits 0 on those), zero resources and reasonless
# skips. Skips live inline in the resources (`# checkov:skip=CKV_ID:reason`), never in a config file.
#
#   tools/checkov/run.sh [DIR]     # default: terraform
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${CHECKOV_VENV:-$ROOT/.venv-checkov}"
DIR="${1:-terraform}"

if [[ ! -d "$DIR" ]]; then
	echo "checkov: no directory $DIR to scan" >&2
	exit 1
fi
for config in .checkov.yaml .checkov.yml "$DIR/.checkov.yaml" "$DIR/.checkov.yml"; do
	if [[ -e "$config" ]]; then
		echo "checkov: $config found; skips belong inline in the resource, with their reason" >&2
		exit 1
	fi
done
"$HERE/setup.sh"

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
# BC_SKIP_MAPPING and --skip-download: nothing is fetched from the network (gcp-deploy.md, section 5).
# Exit 1 means failed checks, which the gate reports; anything else above 1 is a crash.
status=0
BC_SKIP_MAPPING=TRUE "$VENV/bin/checkov" -d "$DIR" --framework terraform -o json --skip-download >"$report" || status=$?
if ((status > 1)); then
	echo "checkov crashed (exit $status)" >&2
	exit "$status"
fi
"$VENV/bin/python" "$HERE/gate.py" "$report"
