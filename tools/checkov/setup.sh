#!/usr/bin/env bash
# checkov (PyPI), pinned, in a virtual environment of its own, `.venv-checkov` (git-ignored).
#
# Its own venv because checkov's `bc-python-hcl2` installs a top-level `hcl2` that clashes with python-hcl2
# (the HCL tests' parser) and it pins packages the gateway must not get (shared/docs/gcp-deploy.md, section 5).
# The whole resolved set is pinned in constraints.txt beside this script, so every machine gets the same
# checkov; to move checkov: change VERSION, empty constraints.txt, run this script, then
# `.venv-checkov/bin/python -m pip freeze --exclude checkov > tools/checkov/constraints.txt`.
#
# Idempotent: a stamp named after this script and the constraints skips everything when already in place.
set -euo pipefail

VERSION=3.3.30
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${CHECKOV_VENV:-$ROOT/.venv-checkov}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
STAMP="$VENV/.installed-$(cat "$HERE/setup.sh" "$HERE/constraints.txt" | sha1sum | cut -c1-12)"

if [[ -f "$STAMP" ]]; then
	exit 0
fi
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$VERSION" -c "$HERE/constraints.txt"
# BC_SKIP_MAPPING: without it checkov asks a guidelines API on the network at start (a traceback offline).
BC_SKIP_MAPPING=TRUE "$VENV/bin/checkov" --version | grep -qx "$VERSION"
rm -f "$VENV"/.installed-* && touch "$STAMP"
echo "checkov $VERSION ready in $VENV"
