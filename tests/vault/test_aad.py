"""The associated data: its exact documented form, and that every part of the context changes it."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from shared.vault.aad import associated_data

BASE: dict[str, Any] = {"tenant": "app1", "user": "alice", "key_id": "pk_abc", "provider": "openai"}


def test_exact_form() -> None:
    context = "v1|app1|alice|pk_abc|openai"
    digest = hmac.new(b"salt", context.encode(), hashlib.sha256).hexdigest()
    assert associated_data("salt", **BASE) == f"{context}|{digest}".encode()


def test_tenant_level_key_has_an_empty_user() -> None:
    assert associated_data("salt", **{**BASE, "user": None}).startswith(b"v1|app1||pk_abc|openai|")


@pytest.mark.parametrize(
    "change", [{"tenant": "app2"}, {"user": "bob"}, {"user": None}, {"key_id": "pk_abd"}, {"provider": "gemini"}]
)
def test_every_part_changes_it(change: dict[str, str | None]) -> None:
    changed: dict[str, Any] = {**BASE, **change}
    assert associated_data("salt", **BASE) != associated_data("salt", **changed)


def test_the_salt_changes_it() -> None:
    assert associated_data("salt", **BASE) != associated_data("other", **BASE)


@pytest.mark.parametrize("field", ["tenant", "user", "key_id", "provider"])
def test_separator_in_a_part_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match=r"'\|'"):
        associated_data("salt", **{**BASE, field: "a|b"})


def test_empty_salt_is_refused() -> None:
    with pytest.raises(ValueError, match="ENCRYPTION_CONTEXT_SALT"):
        associated_data("", **BASE)
