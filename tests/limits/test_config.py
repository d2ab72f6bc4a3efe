"""The limits' configuration models: scopes (one of user or key, valid ids, camelCase or snake_case),
the four limits (bounds, USD to micro-USD exactly, merge with explicit nulls), stored records (round trip,
damage refused), and which scopes bind an identity."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from shared.identity import Identity
from shared.limits.config import MAX_RATE, LimitRecord, Limits, LimitScope, applicable_scopes, scopes_for


def error_loc(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[int | str, ...]:
    return tuple(exc.value.errors()[0]["loc"])


# --- scopes ----------------------------------------------------------------------------------------


def test_scope_kinds_and_document_ids() -> None:
    assert LimitScope.model_validate({"tenantId": "acme"}).kind == "tenant"
    user = LimitScope.model_validate({"tenantId": "acme", "userId": "u-1"})
    key = LimitScope.model_validate({"tenant_id": "acme", "key_id": "gk_abc"})
    assert (user.kind, user.doc_id) == ("user", "user|acme|u-1")
    assert (key.kind, key.doc_id) == ("key", "key|acme|gk_abc")
    assert LimitScope(tenant_id="acme").doc_id == "tenant|acme"
    assert key.wire() == {"tenantId": "acme", "userId": None, "keyId": "gk_abc"}


def test_scope_needs_a_tenant_and_takes_at_most_one_of_user_and_key() -> None:
    with pytest.raises(ValidationError) as missing:
        LimitScope.model_validate({"userId": "u"})
    assert error_loc(missing) == ("tenantId",)
    with pytest.raises(ValidationError) as both:
        LimitScope.model_validate({"tenantId": "t", "userId": "u", "keyId": "gk_1"})
    assert error_loc(both) == ("keyId",)
    assert "userId" in both.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"tenantId": "a|b"}, ("tenantId",)),
        ({"tenantId": ""}, ("tenantId",)),
        ({"tenantId": "t", "userId": "x" * 129}, ("userId",)),
        ({"tenantId": "t", "keyId": "__x__"}, ("keyId",)),
        ({"tenantId": 7}, ("tenantId",)),
        ({"tenantId": "t", "extra": 1}, ("extra",)),
    ],
)
def test_scope_ids_are_checked(body: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as error:
        LimitScope.model_validate(body)
    assert error_loc(error) == loc


def test_scopes_for_an_identity_are_tenant_user_key() -> None:
    tenant_key = Identity(tenant="acme", key_id="gk_1", scopes=frozenset({"admin"}), platform=True)
    assert [s.doc_id for s in scopes_for(tenant_key)] == ["tenant|acme", "key|acme|gk_1"]
    user_key = tenant_key.as_user("bob")
    assert [s.doc_id for s in scopes_for(user_key)] == ["tenant|acme", "user|acme|bob", "key|acme|gk_1"]
    assert [s.kind for s in applicable_scopes("acme", user="bob")] == ["tenant", "user"]


# --- limits ----------------------------------------------------------------------------------------


def test_limits_take_any_subset_in_either_spelling() -> None:
    limits = Limits.model_validate({"requestsPerMinute": 60, "daily_budget_usd": 12.5})
    assert limits.requests_per_minute == 60
    assert limits.tokens_per_minute is None
    assert limits.daily_budget_usd == Decimal("12.5")
    assert limits.daily_budget_micros == 12_500_000
    assert limits.monthly_budget_micros is None
    assert limits.model_fields_set == {"requests_per_minute", "daily_budget_usd"}
    assert Limits().empty
    assert not limits.empty


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        (0, 0),
        (0.1, 100_000),
        ("0.000001", 1),
        (1e-6, 1),
        (Decimal("19.990000000"), 19_990_000),
        (1_000_000_000, 10**15),
        ("999999999.999999", 10**15 - 1),
    ],
)
def test_budgets_are_exact_micro_usd(value: object, micros: int) -> None:
    assert Limits.model_validate({"monthlyBudgetUsd": value}).monthly_budget_micros == micros


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"dailyBudgetUsd": -1}, "dailyBudgetUsd", "between 0"),
        ({"dailyBudgetUsd": "0.0000001"}, "dailyBudgetUsd", "6 decimal places"),
        ({"dailyBudgetUsd": 1e-7}, "dailyBudgetUsd", "6 decimal places"),
        ({"monthlyBudgetUsd": 1_000_000_001}, "monthlyBudgetUsd", "between 0"),
        ({"monthlyBudgetUsd": "lots"}, "monthlyBudgetUsd", "number of USD"),
        ({"monthlyBudgetUsd": "NaN"}, "monthlyBudgetUsd", "finite"),
        ({"monthlyBudgetUsd": float("inf")}, "monthlyBudgetUsd", "finite"),
        ({"monthlyBudgetUsd": True}, "monthlyBudgetUsd", "number of USD"),
        ({"requestsPerMinute": 0}, "requestsPerMinute", "greater than 0"),
        ({"requestsPerMinute": 1.5}, "requestsPerMinute", "integer"),
        ({"tokensPerMinute": "100"}, "tokensPerMinute", "integer"),
        ({"tokensPerMinute": True}, "tokensPerMinute", "integer"),
        ({"tokensPerMinute": MAX_RATE + 1}, "tokensPerMinute", "less than or equal"),
        ({"tokens": 5}, "tokens", "Extra inputs"),
    ],
)
def test_bad_limits_name_their_field(body: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as error:
        Limits.model_validate(body)
    assert error_loc(error) == (field,)
    assert words in error.value.errors()[0]["msg"]


def test_merge_sets_sent_fields_removes_nulls_keeps_the_rest() -> None:
    current = Limits.model_validate({"requestsPerMinute": 60, "tokensPerMinute": 1000, "dailyBudgetUsd": 5})
    merged = current.merged(Limits.model_validate({"tokensPerMinute": None, "monthlyBudgetUsd": "100.25"}))
    assert merged.requests_per_minute == 60
    assert merged.tokens_per_minute is None
    assert merged.daily_budget_micros == 5_000_000
    assert merged.monthly_budget_micros == 100_250_000
    assert current.merged(Limits()) == current


# --- stored records --------------------------------------------------------------------------------


def record() -> LimitRecord:
    return LimitRecord(
        scope=LimitScope(tenant_id="acme", user_id="bob"),
        limits=Limits.model_validate({"requestsPerMinute": 10, "monthlyBudgetUsd": "0.000123"}),
        version=3,
        updated_at="2026-11-26T16:00:00+00:00",
        updated_by="gk_admin",
    )


def test_record_round_trips_through_its_document() -> None:
    doc = record().document()
    assert doc["limits"] == {
        "requests_per_minute": 10,
        "tokens_per_minute": None,
        "daily_budget_micros": None,
        "monthly_budget_micros": 123,
    }
    assert doc["scope"] == {"tenant_id": "acme", "user_id": "bob", "key_id": None}
    assert LimitRecord.from_document(doc) == record()


@pytest.mark.parametrize(
    "damage",
    [
        {"version": "3"},
        {"version": 0},
        {"updated_at": 5},
        {"scope": {"tenant_id": "a|b"}},
        {"limits": {"daily_budget_micros": 1.5}},
        {"limits": {"requests_per_minute": -1}},
    ],
)
def test_damaged_documents_are_refused(damage: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="damaged"):
        LimitRecord.from_document({**record().document(), **damage})
