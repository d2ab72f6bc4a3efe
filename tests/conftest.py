"""Session fixtures shared by every test folder: one provider simulator (real uvicorn on loopback), reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from tests.simulator_server import SimulatorAdmin, run_simulator


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    with run_simulator() as url:
        yield url


@pytest.fixture(scope="session")
def admin(sim_url: str) -> Iterator[SimulatorAdmin]:
    client = SimulatorAdmin(sim_url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _fresh_simulator(request: pytest.FixtureRequest) -> None:
    """Tests that talk to the simulator start from a clean state (no defaults, rules or statistics)."""
    if "sim_url" in request.fixturenames:
        admin: SimulatorAdmin = request.getfixturevalue("admin")
        admin.reset()


@pytest.fixture(scope="session")
def http(sim_url: str) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sim_url, timeout=10.0) as client:
        yield client
