"""Circuit breakers shared by two gateway processes: two `python -m local` runs on one SQLite store.

Both gateways point at the session simulator with their own keys (so neither starts a simulator child) and
share `GATEWAY_DATA_DIR`, hence `gateway.sqlite3`, where breaker transitions and probe leases live. The
Anthropic key fails with 529 through a simulator key rule; claude-haiku-4-5 then fails over to its Gemini
equivalent. The simulator's per-key call count is the proof of whether Anthropic was called.

What the mirror guarantees (shared/breakers/board.py): a request starts a reload when the instance's last
load attempt is older than BREAKER_REFRESH_SECONDS and waits for it at most 5 ms; a load that takes longer
finishes in the background. So another instance's transition is honoured by every request that starts after
a load begun after the transition has finished. The first request past the interval starts that load and
may still be served from the stale mirror, so the proofs assert on the requests after it (see
`Pair.b_honours_the_breaker`). Half-open: whichever instance creates the lease document
`{scope}|{version}|{slot}` probes; the others (and the prober's own other requests) skip the route.

Every test starts its own pair on a fresh store, so each one trips the breaker itself. Wall-clock sleeps are
unavoidable here (separate processes, no fake clock): each is bounded and derived from the settings below.
"""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tests.conformance.conftest import DEV_KEY, Gateway, launch_gateway, read_events
from tests.simulator_server import SimulatorAdmin

__all__: list[str] = []

CHAT = "/v1/chat/completions"
MODEL = "claude-haiku-4-5"
ROUTE = "anthropic/claude-haiku-4-5-20251001"
FAILED_OVER = f"fallback after {ROUTE} (overloaded)"
SKIPPED = f"fallback after {ROUTE} (breaker_open)"
KEYS = {
    "OPENAI_API_KEY": "sk-shared-breakers-openai",
    "ANTHROPIC_API_KEY": "sk-shared-breakers-anthropic",
    "GEMINI_API_KEY": "sk-shared-breakers-gemini",
}
ANTHROPIC_KEY = KEYS["ANTHROPIC_API_KEY"]
MAX_RETRIES = 3
OPEN_SECONDS = 3.0
REFRESH_SECONDS = 0.2
# Past a time the test must wait for (the refresh interval, open_until): covers clock granularity only.
MARGIN_SECONDS = 0.15
BURST = 6


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """What a 200 from the gateway says about how it was served."""

    provider: str
    route: str
    attempts: int
    request_id: str


class Pair:
    """Two gateways on one store, a client for each, the simulator's admin and every reply seen so far."""

    def __init__(self, a: httpx2.Client, b: httpx2.Client, admin: SimulatorAdmin) -> None:
        self.a = a
        self.b = b
        self.admin = admin
        self.replies: list[Reply] = []
        self._lock = threading.Lock()

    def ask(self, client: httpx2.Client, model: str = MODEL) -> Reply:
        """One chat request; anything but a 200 fails the test."""
        body = {"model": model, "messages": [{"role": "user", "content": "hello there"}]}
        response = client.post(CHAT, json=body)
        assert response.status_code == 200, response.text[:500]
        h = response.headers
        reply = Reply(h["x-gateway-provider"], h["x-gateway-route"], int(h["x-gateway-attempts"]), h["x-request-id"])
        with self._lock:  # the burst asks from several threads
            self.replies.append(reply)
        return reply

    def anthropic_calls(self) -> int:
        """Calls the simulator saw with the Anthropic key (it counts by the first 12 hex of sha256)."""
        counts: dict[str, int] = self.admin.stats()["calls_by_key"]
        return counts.get(hashlib.sha256(ANTHROPIC_KEY.encode()).hexdigest()[:12], 0)

    def trip_through_a(self) -> float:
        """Fail Anthropic and open its route breaker through A; returns a wall time open_until cannot exceed.

        B is served by Anthropic first, so its mirror has been loaded (closed) before A trips: what B learns
        afterwards comes from a refresh, not from its first-ever load.
        """
        healthy = self.ask(self.b)
        assert (healthy.provider, healthy.attempts, healthy.route) == ("ANTHROPIC", 1, "requested")
        self.admin.add_key_rule(ANTHROPIC_KEY, status=529)
        reply = self.ask(self.a)
        # The first try and MAX_RETRIES retries, all 529: the 4th failure meets BREAKER_MIN_REQUESTS and trips.
        assert (reply.provider, reply.attempts, reply.route) == ("GOOGLE", MAX_RETRIES + 2, FAILED_OVER)
        assert self.anthropic_calls() == 1 + MAX_RETRIES + 1
        # The transition is written before the reply is sent, so it opened for OPEN_SECONDS from before now.
        return time.time() + OPEN_SECONDS

    def b_honours_the_breaker(self) -> None:
        """After the refresh interval B skips Anthropic without calling it.

        B's first request past the interval starts the reload but waits for it at most 5 ms, so it may still
        be served from the stale mirror. It asks for gpt-4o-mini, which no breaker concerns, so staleness
        cannot show (a stale claude request would call Anthropic once or more before failing over, and four
        failures would trip B's own breaker, hiding whether B read A's). The claude requests after it start
        once that load has had a whole request's time to land, and must all skip Anthropic.
        """
        time.sleep(REFRESH_SECONDS + MARGIN_SECONDS)
        warm = self.ask(self.b, "gpt-4o-mini")
        assert (warm.provider, warm.attempts, warm.route) == ("OPENAI", 1, "requested")
        before = self.anthropic_calls()
        for _ in range(3):
            reply = self.ask(self.b)
            assert (reply.provider, reply.attempts, reply.route) == ("GOOGLE", 1, SKIPPED)
        assert self.anthropic_calls() == before


@contextmanager
def two_gateways(tmp: Path, sim_url: str, admin: SimulatorAdmin) -> Iterator[Pair]:
    """Gateways A and B, logs apart, data dir shared; on exit both are stopped and every reply has one event."""
    shared = tmp / "shared-data"
    env = {
        **KEYS,
        "OPENAI_BASE_URL": f"{sim_url}/v1",
        "ANTHROPIC_BASE_URL": sim_url,
        "GEMINI_BASE_URL": f"{sim_url}/v1beta",
        "GATEWAY_DATA_DIR": str(shared),
        "ROUTER_COST_OPTIMIZATION": "false",
        "ROUTER_FALLBACK_ENABLED": "true",
        "ROUTER_MAX_RETRIES": str(MAX_RETRIES),
        "BREAKER_MIN_REQUESTS": "4",
        "BREAKER_OPEN_SECONDS": str(OPEN_SECONDS),
        "BREAKER_REFRESH_SECONDS": str(REFRESH_SECONDS),
    }
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    # `stop` spelled out (it is the default) so that mypy does not match `**env` against it.
    with (
        launch_gateway(tmp / "a", stop=signal.SIGINT, **env) as a,
        launch_gateway(tmp / "b", stop=signal.SIGINT, **env) as b,
        _client(a) as client_a,
        _client(b) as client_b,
    ):
        pair = Pair(client_a, client_b, admin)
        yield pair
    # Stopped (SIGINT flushes the events): one event per request across both processes, matching its reply.
    events = read_events(dataclasses.replace(a, data_dir=shared))
    served = {e["request_id"]: (e["provider"], e["attempts"], e["status"]) for e in events}
    assert len(events) == len(served) == len(pair.replies)
    assert served == {r.request_id: (r.provider, r.attempts, "ok") for r in pair.replies}


def _client(gateway: Gateway) -> httpx2.Client:
    return httpx2.Client(base_url=gateway.url, headers={"authorization": f"Bearer {DEV_KEY}"}, timeout=15.0)


def _sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()) + MARGIN_SECONDS)


def test_a_breaker_opened_by_one_gateway_is_honoured_by_the_other(
    tmp_path: Path, sim_url: str, admin: SimulatorAdmin
) -> None:
    with two_gateways(tmp_path, sim_url, admin) as pair:
        pair.trip_through_a()
        pair.b_honours_the_breaker()
        # A honours its own transition at once.
        before = pair.anthropic_calls()
        assert (pair.ask(pair.a).route, pair.anthropic_calls()) == (SKIPPED, before)


def test_half_open_lets_one_probe_through_across_both_gateways(
    tmp_path: Path, sim_url: str, admin: SimulatorAdmin
) -> None:
    with two_gateways(tmp_path, sim_url, admin) as pair:
        open_until = pair.trip_through_a()
        # Both mirrors must hold the open record before the burst: an instance that never loaded it would see
        # the route closed (the staleness above), which is not what the lease protocol is about.
        pair.b_honours_the_breaker()
        _sleep_until(open_until)
        before = pair.anthropic_calls()
        clients = [pair.a, pair.b] * (BURST // 2)
        start = threading.Barrier(BURST)

        def ask_together(client: httpx2.Client) -> Reply:
            start.wait(timeout=10.0)
            return pair.ask(client)

        with ThreadPoolExecutor(BURST) as pool:
            replies = list(pool.map(ask_together, clients))
        # Exactly one request probed Anthropic (still 529: it re-opened the breaker, for longer) and failed over;
        # the other five skipped the route without calling it. All six were served by Gemini.
        assert pair.anthropic_calls() == before + 1
        assert sorted((r.provider, r.attempts, r.route) for r in replies) == sorted(
            [("GOOGLE", 2, FAILED_OVER)] + [("GOOGLE", 1, SKIPPED)] * (BURST - 1)
        )
        # Re-opened: neither gateway calls Anthropic now.
        assert [pair.ask(client).route for client in (pair.a, pair.b)] == [SKIPPED, SKIPPED]
        assert pair.anthropic_calls() == before + 1


def test_a_successful_probe_closes_the_breaker_for_both_gateways(
    tmp_path: Path, sim_url: str, admin: SimulatorAdmin
) -> None:
    with two_gateways(tmp_path, sim_url, admin) as pair:
        open_until = pair.trip_through_a()
        pair.b_honours_the_breaker()
        _sleep_until(open_until)
        admin.clear_key_rules()  # Anthropic has recovered
        before = pair.anthropic_calls()
        # A takes the lease and probes; the probe succeeds and closes the breaker.
        probe = pair.ask(pair.a)
        assert (probe.provider, probe.attempts, probe.route) == ("ANTHROPIC", 1, "requested")
        # Closed for both: B either has loaded the closed record or, still seeing half-open, takes the next
        # lease (the prober deleted its own once settled) and re-reads the record first. A knows at once.
        later = [pair.ask(client) for client in (pair.b, pair.a, pair.b)]
        assert [(r.provider, r.attempts, r.route) for r in later] == [("ANTHROPIC", 1, "requested")] * 3
        assert pair.anthropic_calls() == before + 4
