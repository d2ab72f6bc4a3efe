#!/usr/bin/env bash
# The Pub/Sub emulator for the events tests: PyPI `cloudbox`, pinned, in a virtualenv of its own (it pins
# packages the gateway must not get). See /docs emulators.md, Pub/Sub.
#
#   tools/pubsub-emulator/setup.sh [VENV]     # default: .venv-pubsub (git-ignored)
#
# cloudbox 0.2.3 declares Requires-Python >=3.14 and relies on PEP 649 lazy annotations; on 3.11 it crashes
# in cloudbox/core/store.py ("'function' object is not subscriptable"). Prepending
# `from __future__ import annotations` to each of its modules fixes that. Idempotent: the venv, the install
# and the patch are each skipped when already done.
set -euo pipefail

VERSION=0.2.3
VENV=${1:-.venv-pubsub}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
if ! "$VENV/bin/python" -m pip show cloudbox 2>/dev/null | grep -qx "Version: $VERSION"; then
	"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --ignore-requires-python "cloudbox==$VERSION"
fi

package=$("$VENV/bin/python" - <<'PY'
import importlib.util, os
print(os.path.dirname(importlib.util.find_spec("cloudbox").origin))
PY
)
# Only the non-empty modules still lacking the future import (none on a second run).
find "$package" -name '*.py' -size +0 -exec grep -L 'from __future__ import annotations' {} + | while read -r module; do
	sed -i '1i from __future__ import annotations' "$module"
done
# Importing the services' apps is where the unpatched package fails.
"$VENV/bin/python" -c 'import cloudbox.main, cloudbox.services.pubsub.app, cloudbox.services.pubsub.grpc_server'
echo "cloudbox $VERSION ready in $VENV"
