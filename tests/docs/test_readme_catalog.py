"""README.md's provider tables are the catalog's (tools/readme_catalog.py renders them from it)."""

from __future__ import annotations

import pytest

from shared.catalog import default_catalog
from tests.docs.readme import README, section
from tools.readme_catalog import BEGIN, END, main, render, replace_tables


def test_the_readme_tables_are_current() -> None:
    text = README.read_text()
    assert replace_tables(text, default_catalog()) == text, (
        "README.md's provider tables are stale: run .venv/bin/python -m tools.readme_catalog"
    )


def test_the_tables_sit_under_provider_support() -> None:
    provider_support = section(README.read_text(), "Provider support")
    assert BEGIN in provider_support
    assert END in provider_support


def test_every_catalog_model_and_alias_is_in_a_row() -> None:
    rendered = render(default_catalog())
    for model in default_catalog().models:
        for name in model.names:
            assert f"`{name}`" in rendered
        assert f"{model.prices.input} / {model.prices.output}" in rendered


def test_check_mode_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    assert capsys.readouterr().err == ""
