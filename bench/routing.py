"""Routing, breaker and failover overhead: microseconds per call of the steps every request now runs.

`AIService._begin -> _plan -> _attempt` adds, per request: `RequestNeeds.of`, `Router.candidate_pairs` and
`LatencyView.refresh` (latency estimates), `BreakerBoard.refresh` (the shared breaker mirror), `Router.plan`
(with the service's `unavailable` check: credentials and open breakers), then `Failover.run` (breaker
admission for the route and the credential) and `Failover.settle` (two breaker records). This times each in
process, on the event loop the gateway serves on (uvloop), with a real `BreakerBoard` on a SQLite file
holding 50 breaker records, so the numbers can be set against the gateway's per-request budget.

Each row: a warm-up, then one `time.perf_counter_ns` pair around every call (the `timer floor` row is that
pair around nothing: every row includes it once). Garbage collection stays on, as in the server.

    .venv/bin/python -m bench.routing [--scale 1.0] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import itertools
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import uvloop

from shared.breakers import BreakerBoard, BreakerPolicy, BreakerRecord, route_scope
from shared.catalog import Catalog, default_catalog
from shared.chat_types import ChatOptions
from shared.clock import Clock, SystemClock
from shared.credentials import Credential
from shared.model_names import resolve_model
from shared.retry import RetryPolicy
from shared.routing import LatencyView, RequestNeeds, RoutePlan, Router, RouterConfig, estimate_for
from shared.service_failover import Attempt, Failover
from shared.store.sqlite import SqliteStore
from shared.unified import ChatRequest, ImagePart, Message, TextPart, Tool

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "routing.md"
VARIANTS = 1024  # distinct requests the plan rows cycle through (more than the router remembers)
STORED_RECORDS = 50  # breaker documents in the store: what a stale mirror reload lists and merges
# Cost optimization on (the default): the model with the most equivalents in the catalog, then the seed's examples.
OPTIMIZED_MODELS = ("gpt-3.5-turbo", "gpt-4", "gpt-4o-mini", "claude-haiku-4-5")
PINNED_MODEL = "gpt-4o-mini"  # the gateway bench's model
TOOLS_IMAGE_MODEL = "gpt-4o"
PINNED = ChatOptions(cost_optimization=False, fallback=False)
# A small PNG as a data URL: the router never decodes images (a fixed token allowance per image).
PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    calls: int
    mean_us: float
    p50_us: float
    p99_us: float

    @property
    def per_second(self) -> float:
        return 1e6 / self.mean_us if self.mean_us > 0 else float("inf")


class FrozenClock:
    """Monotonic time that never advances (a mirror or latency view loaded once stays fresh); wall time real."""

    def __init__(self) -> None:
        self._monotonic = time.monotonic()

    def monotonic(self) -> float:
        return self._monotonic

    def time(self) -> float:
        return time.time()


class FixedTtft:
    """The latency view's source: every pair measured at 400 ms (the view only caches it)."""

    async def ttft_ewma(self, provider: str, model: str) -> float | None:
        return 0.4


def _row(name: str, samples: list[int]) -> Row:
    ordered = sorted(samples)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] / 1000

    return Row(name, len(samples), sum(samples) / len(samples) / 1000, pct(0.5), pct(0.99))


def time_sync(name: str, fn: Callable[[], object], calls: int) -> Row:
    for _ in range(max(100, calls // 10)):
        fn()
    gc.collect()
    samples = [0] * calls
    clock = time.perf_counter_ns
    for i in range(calls):
        t0 = clock()
        fn()
        samples[i] = clock() - t0
    return _row(name, samples)


async def time_async(name: str, fn: Callable[[], Awaitable[object]], calls: int) -> Row:
    for _ in range(max(100, calls // 10)):
        await fn()
    gc.collect()
    samples = [0] * calls
    clock = time.perf_counter_ns
    for i in range(calls):
        t0 = clock()
        await fn()
        samples[i] = clock() - t0
    return _row(name, samples)


def _chat(model: str) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=(
            Message(role="system", content="You are terse."),
            Message(role="user", content="Hello there, how are you?"),
        ),
    )


def _tools_and_image(model: str) -> ChatRequest:
    weather = Tool(
        name="get_weather",
        description="Weather for a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    content = (TextPart("What is the weather where this photo was taken?"), ImagePart(PIXEL))
    return ChatRequest(model=model, messages=(Message(role="user", content=content),), tools=(weather,))


async def _seeded_store(path: Path, clock: Clock, catalog: Catalog) -> SqliteStore:
    """A store holding STORED_RECORDS closed breaker records (breakers that tripped once and recovered)."""
    store = SqliteStore(path)
    now = clock.time()
    for entry in catalog.models[:STORED_RECORDS]:
        scope = route_scope(entry.provider, entry.id)
        record = BreakerRecord(scope, "closed", 2, now - 60.0, 1, "overloaded", now - 30.0)
        await store.put_if_newer("breakers", scope, record.to_doc())
    return store


def _credentials() -> dict[str, tuple[Credential, ...]]:
    return {p: (Credential.platform(p, f"bench-dummy-{p}-key"),) for p in ("openai", "anthropic", "gemini")}


class Bench:
    """Every measured object, built the way `shared.api.deps` builds them."""

    def __init__(self, catalog: Catalog, store: SqliteStore, scale: float) -> None:
        self.catalog = catalog
        self.scale = scale
        self.frozen = FrozenClock()
        self.board = BreakerBoard(store, BreakerPolicy(), self.frozen)  # loaded once, then always fresh
        self.stale_board = BreakerBoard(store, BreakerPolicy(refresh_seconds=1e-9), SystemClock())  # due every call
        self.latency = LatencyView(FixedTtft(), clock=self.frozen)

        self.router = Router(catalog, RouterConfig(), latency=self.latency, today=self.today)
        self.credentials = _credentials()
        self.failover = Failover(
            breakers=self.board,
            retry=RetryPolicy(),
            clock=self.frozen,
            sleep=asyncio.sleep,
            random=lambda: 0.5,
        )

    def today(self) -> date:
        return datetime.fromtimestamp(self.frozen.time(), UTC).date()

    def n(self, calls: int) -> int:
        return max(200, int(calls * self.scale))

    def unavailable(self, provider: str, model: str) -> str | None:
        # What AIService._plan passes: credentials per provider, then the route's breaker.
        if not self.credentials.get(provider):
            return "no_credential"
        return "breaker_open" if self.board.is_open(route_scope(provider, model)) else None

    def plan_row(self, label: str, request: ChatRequest, options: ChatOptions | None, *, pairs: bool = False) -> Row:
        """`RequestNeeds.of` + `Router.plan` (with `candidate_pairs` before it when `pairs`, as `_begin` does).

        The router remembers a request's candidates by its needs, so one request repeated would only ever
        time the remembered path. Real requests differ (prompt size, max_tokens): the calls cycle through
        VARIANTS requests with distinct `max_tokens`, so each call gathers afresh like a new request.
        """
        resolved = resolve_model(request.model, self.catalog)
        variants = itertools.cycle([dataclasses.replace(request, max_tokens=256 + i) for i in range(VARIANTS)])

        def plan() -> RoutePlan:
            one = next(variants)
            needs = RequestNeeds.of(one)
            if pairs:
                self.router.candidate_pairs(one, resolved, needs=needs)
            return self.router.plan(one, resolved, options, unavailable=self.unavailable, needs=needs)

        shown = plan()
        equivalents = 0 if resolved.entry is None else len(self.catalog.equivalents(resolved.entry, today=self.today()))
        first = shown.routes[0]
        steps = "needs+candidate_pairs+plan" if pairs else "needs+plan"
        name = (
            f"{steps} {label} {request.model} ({equivalents} equiv., {len(shown.routes)} routes, "
            f"first {first.model} [{first.reason}])"
        )
        return time_sync(name, plan, self.n(20_000))

    async def rows(self) -> list[Row]:
        rows = [time_sync("timer floor (perf_counter_ns pair, no call)", lambda: None, self.n(50_000))]
        # Load the mirror and the latency estimates once; the frozen clock keeps both fresh from then on.
        await self.board.refresh()
        await self.board.drain()
        every_pair = [(m.provider, m.id) for m in self.catalog.models]
        await self.latency.refresh(every_pair, max_wait=1.0)
        rows += [self.plan_row("(a) cost-opt", _chat(model), None) for model in OPTIMIZED_MODELS]
        rows.append(self.plan_row("(b) pinned", _chat(PINNED_MODEL), PINNED))
        rows.append(self.plan_row("(c) tools+image", _tools_and_image(TOOLS_IMAGE_MODEL), None))
        rows.append(self.plan_row("(a) cost-opt", _chat(PINNED_MODEL), None, pairs=True))
        rows += await self._begin_rows()
        rows += await self._breaker_rows()
        rows += await self._failover_rows()
        return rows

    async def _begin_rows(self) -> list[Row]:
        request = _chat(PINNED_MODEL)
        resolved = resolve_model(request.model, self.catalog)
        needs = RequestNeeds.of(request)
        pairs = self.router.candidate_pairs(request, resolved, needs=needs)
        entry = resolved.entry
        if entry is None:
            raise SystemExit(f"{PINNED_MODEL} is not in the catalog")
        return [
            # Parts of needs+plan, to see where its time goes.
            time_sync(f"part: RequestNeeds.of {PINNED_MODEL}", lambda: RequestNeeds.of(request), self.n(20_000)),
            time_sync(
                "part: estimate_for, one candidate (Decimal)", lambda: estimate_for(entry, needs), self.n(20_000)
            ),
            await time_async(
                f"LatencyView.refresh, fresh ({len(pairs)} pairs, no I/O)",
                lambda: self.latency.refresh(pairs),
                self.n(50_000),
            ),
        ]

    async def _breaker_rows(self) -> list[Row]:
        closed = route_scope("openai", PINNED_MODEL)  # a closed record in the mirror
        untouched = route_scope("openai", "never-tripped-model")  # no record at all
        stale = self.stale_board
        return [
            await time_async("BreakerBoard.refresh, fresh mirror (no I/O)", self.board.refresh, self.n(50_000)),
            await time_async(
                f"BreakerBoard.refresh, stale (SQLite list of {STORED_RECORDS} docs, merged)",
                stale.refresh,
                self.n(5_000),
            ),
            await time_async("BreakerBoard.admit, closed record", lambda: self.board.admit(closed), self.n(50_000)),
            await time_async("BreakerBoard.admit, no record", lambda: self.board.admit(untouched), self.n(50_000)),
            await time_async(
                "BreakerBoard.record(ok=True), closed", lambda: self.board.record(closed, ok=True), self.n(50_000)
            ),
        ]

    async def _failover_rows(self) -> list[Row]:
        request = _chat(PINNED_MODEL)
        resolved = resolve_model(request.model, self.catalog)
        plan = self.router.plan(request, resolved, None, unavailable=self.unavailable)
        reply = object()

        async def done() -> object:
            return reply

        async def once(attempt: Attempt) -> object:
            return reply

        async def run() -> object:
            return await self.failover.run(plan, self.credentials, resolved.model, once)

        async def run_and_settle() -> object:
            served = await self.failover.run(plan, self.credentials, resolved.model, once)
            await self.failover.settle(served.attempt, None)  # what AIService.chat does after a reply
            return served

        first = plan.routes[0]
        return [
            await time_async("await once() alone (the immediately-successful call)", done, self.n(50_000)),
            await time_async(f"Failover.run, once succeeds ({first.provider}/{first.model})", run, self.n(30_000)),
            await time_async("Failover.run + settle (as chat() does)", run_and_settle, self.n(30_000)),
        ]


def _command(cmd: list[str]) -> str:
    exe = shutil.which(cmd[0])
    if exe is None:
        return ""
    return subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, check=False).stdout


def machine() -> str:
    cpus = _command(["nproc"]).strip() or str(os.cpu_count())
    model = next(
        (line.split(":", 1)[1].strip() for line in _command(["lscpu"]).splitlines() if line.startswith("Model name")),
        platform.processor() or "unknown CPU",
    )
    return f"{cpus} vCPU {model} ({platform.machine()}), Linux {platform.release()}, Python {platform.python_version()}"


def table(rows: list[Row]) -> list[str]:
    lines = ["| step | calls | mean (µs) | p50 (µs) | p99 (µs) | calls/s |", "|---|---:|---:|---:|---:|---:|"]
    lines += [
        f"| {r.name} | {r.calls:,} | {r.mean_us:.2f} | {r.p50_us:.2f} | {r.p99_us:.2f} | {r.per_second:,.0f} |"
        for r in rows
    ]
    return lines


def reading(rows: list[Row], candidates: int) -> str:
    """The request path's sum for the gateway bench's request (gpt-4o-mini, cost optimization on)."""
    by_name = {r.name.split(" (")[0]: r for r in rows}
    routing = next(r for r in rows if r.name.startswith(f"needs+candidate_pairs+plan (a) cost-opt {PINNED_MODEL} "))
    parts = [
        routing,
        by_name["LatencyView.refresh, fresh"],
        by_name["BreakerBoard.refresh, fresh mirror"],
        by_name["Failover.run + settle"],
    ]
    total = sum(r.p50_us for r in parts)
    stale = by_name["BreakerBoard.refresh, stale"]
    price = by_name["part: estimate_for, one candidate"].p50_us
    breakers = by_name["Failover.run + settle"].p50_us + by_name["BreakerBoard.refresh, fresh mirror"].p50_us
    return (
        f"Reading: for the gateway bench's request ({PINNED_MODEL}, cost optimization on) the steps routing "
        f"added to every request (needs + candidate_pairs + plan, both refreshes when fresh, Failover.run + "
        f"settle) sum to about {total:.0f} µs at p50, i.e. {total / 1000:.2f} ms of CPU per request "
        f"({total / 10:.0f}% of a 1 ms budget). Nearly all of it is the router ({routing.p50_us:.0f} µs): the plan "
        f"checks each of the {candidates} candidates, prices it in floating point (the Decimal estimate, "
        f"{price:.0f} µs, is kept for analyze_costs and billing) and scores and sorts them; the breakers and "
        f"failover cost about {breakers:.0f} µs. Once per "
        f"{BreakerPolicy().refresh_seconds:g} s per instance a request also reloads the breaker mirror "
        f"({stale.p50_us:.0f} µs p50, {stale.p99_us:.0f} µs p99: the SQLite read on a worker thread and the merge, "
        "waited for at most 5 ms)."
    )


def report(rows: list[Row], candidates: int, args: argparse.Namespace, took: float, load: float) -> str:
    return "\n".join(
        [
            "# Routing overhead: router, breakers and failover per request (in process)",
            "",
            f"Command: `make bench` (`.venv/bin/python -m bench.routing --scale {args.scale:g}`), {took:.0f} s in all.",
            f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Machine: {machine()}; load average "
            f"{load:.2f} at start (other processes share these CPUs: compare rows of one run).",
            "",
            "Setup: the default catalog and `RouterConfig()` (cost optimization and fallback on, 3 candidates), a "
            "`LatencyView` holding a measured TTFT for every pair, a `BreakerBoard` on a SQLite file (WAL) holding "
            f"{STORED_RECORDS} closed breaker records, loaded once; the service's `unavailable` check (credentials, "
            "open breakers) in every plan. Fresh rows use a clock whose monotonic time stands still (no reload is "
            "due); the stale row uses the real clock and a 1 ns refresh period (every call lists and merges the "
            "store). Requests: a system and a short user message; (b) sets costOptimization and fallback off; "
            f"(c) is {TOOLS_IMAGE_MODEL} with one tool and one image part. Plan rows cycle through {VARIANTS} "
            "variants of their request (distinct max_tokens), so the router's memo of a request's candidates "
            "(which serves the plan after candidate_pairs) does not hide what a new request costs; the "
            "needs+candidate_pairs+plan row is the service's sequence. `Failover.run` walks the plan of the "
            f"{PINNED_MODEL} request with cost optimization on around a `once` that returns at once. Async rows "
            "run on uvloop, as the gateway does. Per call: one perf_counter_ns pair (the timer floor row is "
            "included in every row); warm-up of a tenth of the calls; GC on.",
            "",
            *table(rows),
            "",
            reading(rows, candidates),
            "",
        ]
    )


async def _measure(scale: float) -> list[Row]:
    catalog = default_catalog()
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp:
        store = await _seeded_store(Path(tmp) / "store.sqlite3", SystemClock(), catalog)
        try:
            return await Bench(catalog, store, scale).rows()
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every row's call count (default 1)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write the results file")
    args = parser.parse_args()
    load, t0 = os.getloadavg()[0], time.monotonic()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        rows = runner.run(_measure(args.scale))
    catalog = default_catalog()
    entry = catalog.get(PINNED_MODEL)
    today = datetime.now(UTC).date()
    candidates = 1 + (len(catalog.equivalents(entry, today=today)) if entry is not None else 0)
    text = report(rows, candidates, args, time.monotonic() - t0, load)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
        print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
