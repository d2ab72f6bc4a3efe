"""RetryPolicy.delay: full jitter under the capped exponential step, a provider's retry-after honoured up to
the policy's limit (and "do not retry" beyond it), and no delay once the retries are used up."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.retry import RetryPolicy


def scripted(*values: float) -> Callable[[], float]:
    """A `random()` that returns `values` in order (and fails the test if asked for more)."""
    it: Iterator[float] = iter(values)
    return lambda: next(it)


def never() -> float:
    raise AssertionError("random() must not be drawn here")


def test_defaults_follow_the_architecture() -> None:
    policy = RetryPolicy()
    assert (policy.max_retries, policy.base_seconds, policy.cap_seconds) == (3, 0.25, 8.0)
    assert (policy.max_retry_after_seconds, policy.max_total_wait_seconds) == (10.0, 10.0)


@pytest.mark.parametrize(("retry", "step"), [(1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0), (5, 4.0), (6, 8.0), (7, 8.0)])
def test_full_jitter_spans_zero_to_the_capped_step(retry: int, step: float) -> None:
    policy = RetryPolicy(max_retries=10)
    assert policy.delay(retry, None, scripted(0.0)) == 0.0
    assert policy.delay(retry, None, scripted(0.5)) == pytest.approx(step / 2)
    assert policy.delay(retry, None, scripted(0.999)) == pytest.approx(step * 0.999)


def test_jitter_draws_once_per_delay() -> None:
    random = scripted(0.25, 0.75)
    policy = RetryPolicy()
    assert policy.delay(1, None, random) == pytest.approx(0.0625)
    assert policy.delay(2, None, random) == pytest.approx(0.375)


def test_cap_and_base_are_the_policys_own() -> None:
    policy = RetryPolicy(max_retries=5, base_seconds=1.0, cap_seconds=3.0)
    assert [policy.delay(n, None, scripted(0.5)) for n in range(1, 6)] == [0.5, 1.0, 1.5, 1.5, 1.5]


@given(retry=st.integers(min_value=1, max_value=10), draw=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_jitter_stays_within_bounds(retry: int, draw: float) -> None:
    policy = RetryPolicy(max_retries=10)
    delay = policy.delay(retry, None, lambda: draw)
    assert delay is not None
    # The steps are powers of two, so draw * step is exact and stays below the step for every draw < 1.
    assert 0.0 <= delay < min(policy.cap_seconds, policy.base_seconds * 2 ** (retry - 1))


@pytest.mark.parametrize("retry_after", [0.0, 0.5, 3.0, 10.0])
def test_retry_after_is_obeyed_up_to_the_limit_without_jitter(retry_after: float) -> None:
    assert RetryPolicy().delay(1, retry_after, never) == retry_after


@pytest.mark.parametrize("retry_after", [10.001, 30.0, 86400.0])
def test_retry_after_beyond_the_limit_means_do_not_retry(retry_after: float) -> None:
    assert RetryPolicy().delay(1, retry_after, never) is None


def test_retry_after_limit_is_configurable() -> None:
    policy = RetryPolicy(max_retry_after_seconds=2.0)
    assert policy.delay(1, 2.0, never) == 2.0
    assert policy.delay(1, 2.5, never) is None


@pytest.mark.parametrize("retry_after", [None, 0.0, 1.0])
def test_no_delay_after_max_retries(retry_after: float | None) -> None:
    policy = RetryPolicy(max_retries=3)
    assert policy.delay(3, retry_after, scripted(0.5)) is not None
    assert policy.delay(4, retry_after, never) is None
    assert policy.delay(100, retry_after, never) is None


def test_zero_retries_never_retries() -> None:
    assert RetryPolicy(max_retries=0).delay(1, 0.0, never) is None
    assert RetryPolicy(max_retries=0).delay(1, None, never) is None


def test_policy_is_frozen() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_retries = 5  # type: ignore[misc]
