"""The gateway the README's examples run against: started as `make run` starts it (tests/conformance's
`launch_gateway`: `python -m local` with the simulator behind it), with the defaults `make run` has.

`launch_gateway` pins the cache, routing and breakers for the conformance tests; an empty value counts as
unset (shared/settings.py), so these overrides give back the defaults a user of `make run` gets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.conftest import Gateway, launch_gateway


@pytest.fixture(scope="session")
def docs_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with launch_gateway(
        tmp_path_factory.mktemp("docs-gateway"),
        CACHE_ENABLED="",
        ROUTER_COST_OPTIMIZATION="",
        ROUTER_FALLBACK_ENABLED="",
        BREAKER_MIN_REQUESTS="",
        MAX_BODY_BYTES="",
    ) as running:
        yield running
