"""`python -m local`: the local dev server (see local/devserver.py)."""

from __future__ import annotations

from local.devserver import main

main()
