"""The bucket fields and the percentile estimate (pure functions, no backend)."""

from __future__ import annotations

import math

import pytest

from shared.metrics.buckets import (
    BOUNDS_MS,
    Bucket,
    bucket_field,
    bucket_key,
    estimate_quantile,
    minute_of,
    summarize,
)


@pytest.mark.parametrize(
    ("seconds", "field"),
    [
        (0.0, "lat:50"),
        (0.05, "lat:50"),
        (0.0501, "lat:100"),
        (0.3, "lat:500"),
        (2.5, "lat:2500"),
        (9.99, "lat:10000"),
        (10.01, "lat:inf"),
        (1e9, "lat:inf"),
    ],
)
def test_a_latency_lands_in_the_bucket_whose_bound_holds_it(seconds: float, field: str) -> None:
    assert bucket_field("lat", seconds) == field


def test_minutes_and_keys() -> None:
    assert minute_of(120.0) == 120
    assert minute_of(179.999) == 120
    assert bucket_key("v1:m:", "openai", "gpt-4o", 120) == "v1:m:openai:gpt-4o:120"


@pytest.mark.parametrize(
    ("counts", "q", "expected"),
    [
        ({}, 0.5, None),
        ({50: 10}, 0.5, 0.025),  # uniform inside [0, 50] ms: the middle is 25 ms
        ({100: 4}, 1.0, 0.1),
        ({50: 1, 100: 1}, 0.5, 0.05),
        ({50: 1, 100: 1}, 0.75, 0.075),
        ({50: 18, 1000: 2}, 0.95, 0.75),  # rank 19: halfway through the (500, 1000] bucket
        ({math.inf: 3}, 0.5, 10.0),  # the open bucket: "at least 10 s"
    ],
)
def test_quantiles_interpolate_inside_the_bucket(counts: dict[float, float], q: float, expected: float | None) -> None:
    got = estimate_quantile(counts, q)
    assert got == (None if expected is None else pytest.approx(expected))


def test_summarize_adds_buckets_field_by_field() -> None:
    first, second = Bucket(), Bucket()
    first.add("n", 3)
    first.add("err:timeout")
    first.add("lat:100", 2)
    second.add("n")
    second.add("err:rate_limit")
    second.add("err:timeout")
    snapshot = summarize("openai", "m", 2, [first.fields(), second.fields(), {}])
    assert snapshot.requests == 4
    assert snapshot.errors_by_kind == {"rate_limit": 1, "timeout": 2}
    assert snapshot.error_rate == 0.75
    assert snapshot.latency_p50 == pytest.approx(0.075)
    assert snapshot.ttft_p50 is None


def test_an_empty_snapshot_has_no_rates() -> None:
    snapshot = summarize("openai", "m", 5, [])
    assert (snapshot.requests, snapshot.errors, snapshot.error_rate, snapshot.latency_p95) == (0, 0, None, None)
    assert len(BOUNDS_MS) == 9
