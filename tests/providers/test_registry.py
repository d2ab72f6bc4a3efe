"""The registry, and that every recorded file is accounted for by the manifest the tests walk."""

from __future__ import annotations

import pytest

from shared.providers import PROVIDERS, SEED_NAMES
from shared.unified import ChatRequest, Message
from tests.recordings import entries, require_recordings


def test_registry_key_module_and_spec_name_are_the_same_word() -> None:
    assert set(PROVIDERS) == {"openai", "anthropic", "gemini"} == set(SEED_NAMES)
    for name, spec in PROVIDERS.items():
        assert spec.name == name
        assert spec.build_request.__module__.startswith(f"shared.providers.{name}")


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_adapter_builds_a_request_to_its_own_base_url(name: str) -> None:
    spec = PROVIDERS[name]
    request = ChatRequest(model="m-1", messages=(Message(role="user", content="hi"),), max_tokens=5)
    built = spec.build_request(request, api_key="k-secret", base_url="http://127.0.0.1:9")
    assert built.method == "POST"
    assert built.url.startswith("http://127.0.0.1:9/")
    assert b"hi" in built.body
    # The key travels in a header, never in the URL or the body.
    assert "k-secret" not in built.url
    assert b"k-secret" not in built.body
    assert any("k-secret" in value for value in built.headers.values())


def test_every_recorded_file_is_in_the_manifest() -> None:
    folder = require_recordings()
    on_disk = {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and path.name not in {"MANIFEST.json", "README.md"}
    }
    listed = {e["file"] for e in entries()} | {e["request_file"] for e in entries() if e["request_file"]}
    assert on_disk == listed
