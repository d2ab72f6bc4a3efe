"""Tests of shared.api, and `dev`: the development key of a chat deps built on the embedded store."""

from __future__ import annotations

from shared.api.deps import ChatDeps
from shared.keys_dev import DevKey


def dev(deps: ChatDeps) -> DevKey:
    """`deps.dev_key`, which the embedded (SQLite) store these tests use always has."""
    assert deps.dev_key is not None
    return deps.dev_key
