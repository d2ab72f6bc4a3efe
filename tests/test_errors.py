"""The error tree carries data; the seed's coarse type is a table lookup on the kind."""

from __future__ import annotations

import typing

from shared.errors import SEED_TYPE, ErrorKind, ProviderError, RequestError, UnknownModelError


def test_every_kind_has_a_seed_type() -> None:
    assert set(SEED_TYPE) == set(typing.get_args(ErrorKind))


def test_provider_error_carries_its_data() -> None:
    error = ProviderError(
        "slow down", kind="rate_limit", provider="openai", status=429, retryable=True, retry_after=2.0, code="x"
    )
    assert (error.kind, error.provider, error.upstream_status, error.retryable, error.retry_after) == (
        "rate_limit",
        "openai",
        429,
        True,
        2.0,
    )
    assert error.seed_type == "rate_limit"
    assert "rate_limit" in repr(error)


def test_unknown_model_names_the_models_endpoint_and_field() -> None:
    error = UnknownModelError("llama-9")
    assert isinstance(error, RequestError)
    assert error.status == 400
    assert error.field == "model"
    assert "GET /v1/models" in error.message
