"""Model-name resolution (shared/model_names.py): catalog first, then provider prefixes, else a 400."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.catalog import Catalog, Provider, default_catalog, load_catalog
from shared.errors import RequestError, UnknownModelError
from shared.model_names import ResolvedModel, resolve_model


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


@pytest.mark.parametrize(
    ("name", "provider", "upstream"),
    [
        ("gpt-4o", "openai", "gpt-4o"),
        ("o3-mini", "openai", "o3-mini"),
        ("claude-3-haiku-20240307", "anthropic", "claude-3-haiku-20240307"),
        ("gemini-2.5-flash", "gemini", "gemini-2.5-flash"),
        # Aliases go upstream as the catalog id.
        ("claude-3-haiku", "anthropic", "claude-3-haiku-20240307"),
        ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5-20250929"),
        ("gpt-3.5-turbo-0125", "openai", "gpt-3.5-turbo"),
        # Case and surrounding whitespace do not matter for catalog names.
        ("GPT-4o", "openai", "gpt-4o"),
        ("  Claude-3-5-Sonnet\t", "anthropic", "claude-3-5-sonnet-20241022"),
    ],
)
def test_catalog_names(catalog: Catalog, name: str, provider: str, upstream: str) -> None:
    resolved = resolve_model(name, catalog)
    assert resolved.provider == provider
    assert resolved.model == upstream
    assert resolved.entry is catalog[upstream]
    assert resolved.priced is True


def test_retired_models_still_resolve(catalog: Catalog) -> None:
    # A model the caller names is always tried, retired or not (architecture.md, Routing).
    resolved = resolve_model("claude-3-sonnet", catalog)
    assert resolved.model == "claude-3-sonnet-20240229"
    assert resolved.entry is not None
    assert resolved.entry.retired is not None
    assert resolved.priced


def test_responses_only_models_resolve_but_do_not_substitute(catalog: Catalog) -> None:
    resolved = resolve_model("gpt-5-pro", catalog)
    assert (resolved.provider, resolved.model, resolved.priced) == ("openai", "gpt-5-pro", True)
    assert resolved.substitutable is False


def test_substitutable_follows_the_class(catalog: Catalog) -> None:
    assert resolve_model("gpt-4o", catalog).substitutable is True
    assert resolve_model("gpt-5.4", catalog).substitutable is False  # outside the Equivalence table


@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("gpt-7-ultra", "openai"),
        ("gpt-4o-2024-05-13", "openai"),  # a real snapshot at another price: not an alias, so unpriced
        ("chatgpt-4o-latest", "openai"),
        ("o1-preview", "openai"),
        ("o9", "openai"),
        ("O5-mini", "openai"),
        ("claude-haiku-5-5", "anthropic"),  # unverified in pricing.md: passes through unpriced
        ("claude-next", "anthropic"),
        ("gemini-3-pro-preview", "gemini"),  # the model of gemini/reasoning.json, not in pricing.md
        ("gemini-flash-latest", "gemini"),
        ("gemini-2.0-flash-001", "gemini"),
    ],
)
def test_provider_prefixes_pass_through_unpriced(catalog: Catalog, name: str, provider: Provider) -> None:
    resolved = resolve_model(name, catalog)
    assert resolved == ResolvedModel(provider=provider, model=name, entry=None)
    assert resolved.priced is False
    assert resolved.substitutable is False


def test_pass_through_names_are_stripped_but_not_rewritten(catalog: Catalog) -> None:
    assert resolve_model("  gpt-9 ", catalog).model == "gpt-9"


@pytest.mark.parametrize(
    "name",
    [
        "llama-3.1-70b",
        "mistral-large",
        "omni-1",  # "o" not followed by a digit
        "gpt4",  # no dash
        "claude",
        "ft:gpt-4o-mini:org::abc123",  # fine-tunes are not served
        "models/gemini-2.5-flash",
        "gemini-x/../../v1/models",  # must never reach a URL path
        "gpt-4o mini",
        "claude-3\nhaiku",
        "gpt-" + "x" * 200,
    ],
)
def test_unknown_names_are_a_400_pointing_at_the_model_list(catalog: Catalog, name: str) -> None:
    with pytest.raises(UnknownModelError) as raised:
        resolve_model(name, catalog)
    error = raised.value
    assert error.status == 400
    assert error.field == "model"
    assert "GET /v1/models" in error.message
    assert len(error.message) < 300  # long names are not echoed whole


@pytest.mark.parametrize("name", ["", "   ", "\t\n", None])
def test_an_empty_name_is_a_request_error(catalog: Catalog, name: str | None) -> None:
    with pytest.raises(RequestError) as raised:
        resolve_model(name, catalog)
    assert not isinstance(raised.value, UnknownModelError)
    assert raised.value.field == "model"
    assert raised.value.status == 400


def test_catalog_rows_win_over_the_prefix_rules(tmp_path: Path) -> None:
    # Order: catalog ids and aliases first, prefixes second. A catalog whose rows contradict the prefix
    # rules shows which one wins.
    row = json.loads(json.dumps(default_catalog()["gpt-4o-mini"].model_dump(mode="json", by_alias=True)))
    rows = [
        {**row, "id": "gpt-local", "provider": "gemini", "aliases": ["house-model"]},
        {**row, "id": "mistral-small", "provider": "anthropic", "aliases": []},
    ]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"schema_version": 1, "models": rows}), encoding="utf-8")
    custom = load_catalog(path)
    assert resolve_model("gpt-local", custom).provider == "gemini"
    assert resolve_model("house-model", custom).model == "gpt-local"
    assert resolve_model("mistral-small", custom).provider == "anthropic"
    # Not in this catalog: the prefix rule applies, unpriced.
    assert resolve_model("gpt-4o-mini", custom) == ResolvedModel(provider="openai", model="gpt-4o-mini", entry=None)
    with pytest.raises(UnknownModelError):
        resolve_model("mistral-large", custom)
