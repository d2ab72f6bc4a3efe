"""Access to the recorded real provider traffic (the kit's `fixtures/providers`).

The recordings are read in place through `PROVIDER_FIXTURES_DIR` (default: the kit beside the
repo) and never copied into the repo. Where they are absent, tests that need them skip saying
so; when `CI` is set they fail instead, so CI can never pass without them.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

__all__ = ["entries", "load_bytes", "load_json", "manifest_entry", "recordings_dir", "require_recordings"]

_DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "providers"


def recordings_dir() -> Path:
    return Path(os.environ.get("PROVIDER_FIXTURES_DIR") or _DEFAULT)


def require_recordings() -> Path:
    """The recordings folder, or skip (fail under CI) with a reason that says what is missing."""
    folder = recordings_dir()
    if not (folder / "MANIFEST.json").is_file():
        reason = (
            f"recorded provider traffic not found at {folder} (set PROVIDER_FIXTURES_DIR to the kit's "
            "fixtures/providers folder)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI is set, so this is a failure, not a skip")
        pytest.skip(reason)
    return folder


@functools.cache
def _manifest(folder: str) -> tuple[dict[str, Any], ...]:
    data = json.loads((Path(folder) / "MANIFEST.json").read_text())
    return tuple(data)


def entries(provider: str | None = None) -> list[dict[str, Any]]:
    """Manifest entries (all, or one provider's); empty when the recordings are absent."""
    folder = recordings_dir()
    if not (folder / "MANIFEST.json").is_file():
        return []
    return [e for e in _manifest(str(folder)) if provider is None or e["provider"] == provider]


def manifest_entry(file: str) -> dict[str, Any]:
    folder = require_recordings()
    for entry in _manifest(str(folder)):
        if entry["file"] == file:
            return entry
    raise KeyError(f"{file} is not in {folder / 'MANIFEST.json'}")


def load_bytes(file: str) -> bytes:
    return (require_recordings() / file).read_bytes()


def load_json(file: str) -> Any:
    return json.loads(load_bytes(file))
