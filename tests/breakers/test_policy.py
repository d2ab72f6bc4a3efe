from __future__ import annotations

import pytest

from shared.breakers.policy import BreakerPolicy
from shared.settings import Settings


def test_from_settings_maps_every_breaker_setting() -> None:
    settings = Settings.from_env(
        {
            "BREAKER_WINDOW_SECONDS": "20",
            "BREAKER_MIN_REQUESTS": "7",
            "BREAKER_FAILURE_RATIO": "0.25",
            "BREAKER_OPEN_SECONDS": "5",
            "BREAKER_OPEN_MAX_SECONDS": "50",
            "BREAKER_REFRESH_SECONDS": "1.5",
        }
    )
    policy = BreakerPolicy.from_settings(settings)
    assert (policy.window_seconds, policy.min_requests, policy.failure_ratio) == (20.0, 7, 0.25)
    assert (policy.open_seconds, policy.open_max_seconds, policy.refresh_seconds) == (5.0, 50.0, 1.5)
    # Not settings (yet): the architecture's numbers.
    assert (policy.growth, policy.max_wait_seconds) == (2.0, 0.005)


def test_default_settings_give_the_default_policy() -> None:
    assert BreakerPolicy.from_settings(Settings()) == BreakerPolicy()


@pytest.mark.parametrize(
    ("trips", "seconds"),
    [(1, 30.0), (2, 60.0), (3, 120.0), (5, 480.0), (6, 600.0), (40, 600.0), (100_000, 600.0)],
)
def test_open_period_grows_and_is_capped(trips: int, seconds: float) -> None:
    assert BreakerPolicy().open_period(trips) == seconds


def test_open_period_without_growth_stays_flat() -> None:
    assert BreakerPolicy(growth=1.0).open_period(50) == 30.0


@pytest.mark.parametrize(
    "changes",
    [
        {"window_seconds": 0.0},
        {"min_requests": 0},
        {"failure_ratio": 1.5},
        {"open_seconds": -1.0},
        {"growth": 0.5},
        {"probe_timeout_seconds": 0.0},
        {"max_wait_seconds": -0.1},
    ],
)
def test_invalid_policies_are_refused(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="BreakerPolicy"):
        BreakerPolicy(**changes)  # type: ignore[arg-type]
