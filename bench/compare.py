"""Issue 9's benchmark: the gateway side by side with the floor and the practical limit, in one run.

    .venv/bin/python -m bench.compare [--quick] [--seconds 10] [--streams 200] [--soak-requests 200000]
                                      [--cold-repeats 3] [--pubsub-events 20000] [--out bench/results/compare.md]
                                      [--no-write] [--skip cold,importtime,cache,soak,pubsub]

Everything runs on 127.0.0.1 in processes started here and stopped by PID at the end:

- upstream: one provider simulator (`python -m local.simulator`), first at zero added latency, then with
  `latency_ms=50` as its admin default (`PUT /_sim/defaults`), so one request body serves both phases;
- targets: `direct` (the simulator itself, the floor), `proxy` (`bench/minimal_proxy.py`: one Python hop,
  the practical limit), `gateway` (`python -m local`, the `make run` stack, embedded backends, provider keys
  and base URLs pointing at the simulator, pinned to gpt-4o-mini with ROUTER_COST_OPTIMIZATION=false and
  CACHE_ENABLED=false) and `gateway+redis` (the same with REDIS_URL on a redis-server started here);
- load: wrk (one thread, a Lua script posting the JSON body) at concurrency 1, 16, 64 for a fixed duration
  each; an aiohttp client timing 20-chunk streams (first content token and end) at concurrency 1 and 16;
- per run: RPS, p50/p90/p99, added latency over direct, the target's CPU µs per request (utime+stime of its
  process tree from /proc before and after, divided by wrk's request count) and its peak RSS (VmHWM);
- also: cache-hit latency (a gateway with the cache on, one body repeated, every request a HIT: checked on the
  simulator's call count), cold start (process start to the first served request: the gateway and each
  function under functions-framework), `python -X importtime` of every functions/*/main.py, the CPU and rate of
  publishing usage events to Pub/Sub (the cloudbox emulator, in this process) against the embedded sink, and
  RSS over a soak of N requests.

It prints the report and appends it as a new section to the results file; the issue's targets come last as
PASS/FAIL lines computed from this run. Runs end by themselves: every phase is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Protocol

import aiohttp
import httpx2
import orjson

from bench.stats import (
    CLK_TCK,
    DIRECT,
    PROXY,
    Check,
    StreamRun,
    TargetsInput,
    WrkRun,
    evaluate,
    parse_wrk,
    percentile,
    status_kb,
    tree_cpu_seconds,
)
from local.devserver import simulator_base_urls
from shared.events.schema import UsageEvent
from shared.settings import ENV_VARS, PROVIDER_ENV

__all__ = ["main", "parse_args"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "compare.md"
GATEWAY_KEY = "bench-gateway-key-7c21d0"
UPSTREAM_KEY = "bench-dummy-provider-key"  # the simulator takes any non-empty key
CHAT = "/v1/chat/completions"
MODEL = "gpt-4o-mini"
JSON_BODY = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there, how are you?"}]}'
STREAM_CHUNKS = 20
STREAM_BODY = (
    '{"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true}, '
    f'"messages": [{{"role": "user", "content": "Tell me a short story [sim chunks={STREAM_CHUNKS}]"}}]}}'
)
LATENCIES_MS = (0, 50)
WRK_CONCURRENCY = (1, 16, 64)
STREAM_CONCURRENCY = (1, 16)
GATEWAY, GATEWAY_REDIS, GATEWAY_CACHE = "gateway", "gateway+redis", "gateway (cache on)"
GATEWAY_LIMITS, GATEWAY_REDIS_LIMITS = "gateway+limits", "gateway+redis+limits"
TARGETS = (DIRECT, PROXY, GATEWAY, GATEWAY_REDIS)
FUNCTIONS = ("chat", "health", "keys", "analytics")
PHASES = ("cold", "importtime", "cache", "limits", "soak", "pubsub")
# Issue 11's configured limits: every kind, on two scopes that bind the development key (its tenant and the key
# itself), generous enough that none refuses: the figure is what enforcing them costs.
GENEROUS_LIMITS = {
    "requestsPerMinute": 10**9,
    "tokensPerMinute": 10**12,
    "dailyBudgetUsd": 10**6,
    "monthlyBudgetUsd": 10**6,
}
LIMITS_CONCURRENCY = (1, 16)

# Our `done` prints one line bench.stats.parse_wrk reads (latencies in µs). With a limit, `response` stops the
# (single) thread after that many replies: the soak's bounded request count.
WRK_LUA = """wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
{limit}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %.1f %.1f %.1f\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""
WRK_LIMIT = """local seen = 0
response = function(status, headers, body)
  seen = seen + 1
  if seen == {limit} then
    local f = io.open("{marker}", "w")
    if f then f:close() end
    wrk.thread:stop()
  end
end"""


# ------------------------------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A process started here: its name, base URL, the key its clients send and the process."""

    name: str
    url: str
    key: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid


def stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGINT) -> None:
    """Stop one process started here, by its PID: `sig` (Ctrl-C for the servers), then SIGKILL if it hangs."""
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def launch(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)


def wait_ready(process: subprocess.Popen[bytes], ready: Callable[[], bool], log: Path, timeout: float = 30.0) -> float:
    """Poll `ready` every 5 ms until true; returns the seconds waited. A process that exits or never answers
    is stopped and ends the bench with its log's tail."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if process.poll() is not None:
            raise SystemExit(f"{log.stem} exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        if ready():
            return time.monotonic() - t0
        time.sleep(0.005)
    stop(process)
    raise SystemExit(f"{log.stem} did not become ready within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def answers(method: str, url: str, body: str | None = None, key: str | None = None, want: int | None = 200) -> bool:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    try:
        reply = httpx2.request(method, url, content=body, headers=headers, timeout=5.0)
    except httpx2.HTTPError:
        return False
    return want is None or reply.status_code == want


def base_env() -> dict[str, str]:
    """This environment without any gateway variable (embedded defaults, no real provider keys)."""
    return {k: v for k, v in os.environ.items() if k not in ENV_VARS}


def gateway_env(sim_url: str, data_dir: Path, *, cache: bool, redis_url: str | None = None) -> dict[str, str]:
    env = dict(base_env(), GATEWAY_DEV_KEY=GATEWAY_KEY, GATEWAY_DATA_DIR=str(data_dir))
    env["CACHE_ENABLED"] = "true" if cache else "false"
    # Cost optimization would serve gpt-4o-mini on a cheaper equivalent (another wire format) than the direct
    # and proxy rows call; off, the router still plans, breakers and failover still run.
    env["ROUTER_COST_OPTIMIZATION"] = "false"
    for provider, url in simulator_base_urls(sim_url).items():
        key_var, url_var = PROVIDER_ENV[provider]
        env[key_var], env[url_var] = UPSTREAM_KEY, url
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return env


class Processes:
    """Every process of a run, stopped by PID (in reverse start order) when the run ends."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._started: list[tuple[subprocess.Popen[bytes], int]] = []

    def track(self, process: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
        self._started.append((process, sig))

    def stop_all(self) -> None:
        for process, sig in reversed(self._started):
            stop(process, sig)
        self._started.clear()

    def simulator(self) -> Server:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = self.tmp / "simulator.log"
        cmd = [sys.executable, "-m", "local.simulator", "--port", str(port), "--log-level", "warning"]
        process = launch(cmd, base_env(), log)
        self.track(process)
        wait_ready(process, lambda: answers("GET", f"{url}/_sim/health"), log)
        return Server(DIRECT, url, UPSTREAM_KEY, process)

    def proxy(self, upstream: str) -> Server:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = self.tmp / "proxy.log"
        cmd = [sys.executable, "-m", "bench.minimal_proxy", "--port", str(port), "--upstream", upstream]
        process = launch(cmd, base_env(), log)
        self.track(process)
        wait_ready(process, lambda: answers("POST", url + CHAT, JSON_BODY, UPSTREAM_KEY), log)
        return Server(PROXY, url, UPSTREAM_KEY, process)

    def gateway(self, name: str, env: dict[str, str]) -> Server:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = self.tmp / f"{name.replace(' ', '-').replace('+', '-')}.log"
        process = launch([sys.executable, "-m", "local", "--port", str(port)], env, log)
        self.track(process)
        wait_ready(process, lambda: answers("GET", f"{url}/v1/models", key=GATEWAY_KEY), log)
        return Server(name, url, GATEWAY_KEY, process)

    def redis(self) -> str:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise SystemExit("redis-server is not installed: apt-get install -y redis-server")
        port = free_port()
        log = self.tmp / "redis.log"
        cmd = [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = launch(cmd, base_env(), log)
        self.track(process, signal.SIGTERM)

        def pong() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_ready(process, pong, log)
        return f"redis://127.0.0.1:{port}/0"


# ------------------------------------------------------------------------------------------------ load


def peak_rss_kb(pid: int) -> int:
    return status_kb(Path(f"/proc/{pid}/status").read_text(), "VmHWM")


def rss_kb(pid: int) -> int:
    return status_kb(Path(f"/proc/{pid}/status").read_text(), "VmRSS")


@dataclass
class Wrk:
    binary: str
    tmp: Path

    def run(
        self, target: Server, connections: int, seconds: float, body: str = JSON_BODY, limit: int | None = None
    ) -> tuple[WrkRun, float]:
        """One wrk run (one thread, keep-alive); returns it and the target's CPU µs per request over it."""
        script = self.tmp / f"wrk-{target.pid}-{connections}.lua"
        marker = self.tmp / f"wrk-{target.pid}-{connections}.done"
        marker.unlink(missing_ok=True)
        lua_limit = WRK_LIMIT.format(limit=limit, marker=marker) if limit else ""
        script.write_text(WRK_LUA.format(body=body, key=target.key, limit=lua_limit))
        duration = max(1, round(seconds))
        cmd = [self.binary, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(script)]
        cpu0 = tree_cpu_seconds(target.pid)
        with subprocess.Popen(
            [*cmd, target.url + CHAT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process:
            # wrk's main thread sleeps the whole duration even when the Lua script stops its thread; our script
            # leaves a marker at the limit, and SIGINT makes wrk print its summary at once.
            deadline = time.monotonic() + duration + 60
            while process.poll() is None and limit and not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            if process.poll() is None and limit:
                process.send_signal(signal.SIGINT)
            try:
                stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                stdout, stderr = process.communicate()
        done = subprocess.CompletedProcess(cmd, process.returncode, stdout, stderr)
        cpu1 = tree_cpu_seconds(target.pid)
        if done.returncode != 0:
            raise SystemExit(f"wrk against {target.name} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        run = parse_wrk(done.stdout)
        if run.socket_errors or run.status_errors:
            raise SystemExit(
                f"wrk against {target.name}, c={connections}: {run.socket_errors} socket errors, "
                f"{run.status_errors} non-2xx replies\n{done.stdout}"
            )
        return run, (cpu1 - cpu0) / max(run.requests, 1) * 1e6


def _content(line: bytes) -> bool:
    if not line.startswith(b"data: {"):
        return False
    choices = orjson.loads(line[6:]).get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


async def _streams(target: Server, count: int, concurrency: int) -> tuple[StreamRun, float]:
    """`count` streams, `concurrency` at a time: TTFT (first non-empty content delta) and total, in ms."""
    ttft: list[float] = []
    total: list[float] = []
    chunks: set[int] = set()
    headers = {"authorization": f"Bearer {target.key}", "content-type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

        async def one(record: bool) -> None:
            t0 = time.perf_counter()
            first: float | None = None
            seen = 0
            async with session.post(target.url + CHAT, data=STREAM_BODY) as reply:
                if reply.status != 200:
                    raise SystemExit(f"stream via {target.name}: HTTP {reply.status}: {(await reply.text())[:300]}")
                async for line in reply.content:
                    if _content(line):
                        seen += 1
                        if first is None:
                            first = time.perf_counter() - t0
            end = time.perf_counter() - t0
            if first is None:
                raise SystemExit(f"stream via {target.name}: no content delta")
            if record:
                ttft.append(first * 1000)
                total.append(end * 1000)
                chunks.add(seen)

        async def worker(share: int) -> None:
            for _ in range(share):
                await one(True)

        await asyncio.gather(*(one(False) for _ in range(concurrency)))  # warm the connections
        cpu0 = tree_cpu_seconds(target.pid)
        share = max(1, count // concurrency)
        await asyncio.gather(*(worker(share) for _ in range(concurrency)))
        cpu_us = (tree_cpu_seconds(target.pid) - cpu0) / (share * concurrency) * 1e6
    if len(chunks) != 1:
        raise SystemExit(f"streams via {target.name} carried different numbers of content deltas: {sorted(chunks)}")
    run = StreamRun(
        count=len(ttft),
        ttft_p50_ms=percentile(ttft, 0.5),
        ttft_p99_ms=percentile(ttft, 0.99),
        total_p50_ms=percentile(total, 0.5),
        total_p99_ms=percentile(total, 0.99),
        chunks=chunks.pop(),
    )
    return run, cpu_us


def set_latency(simulator: Server, latency_ms: int) -> None:
    if latency_ms:
        reply = httpx2.put(f"{simulator.url}/_sim/defaults", json={"latency_ms": latency_ms}, timeout=5.0)
    else:
        reply = httpx2.delete(f"{simulator.url}/_sim/defaults", timeout=5.0)
    reply.raise_for_status()


def sim_calls(simulator: Server) -> int:
    return int(httpx2.get(f"{simulator.url}/_sim/stats", timeout=5.0).json()["total"])


def post_chat(target: Server) -> httpx2.Response:
    headers = {"authorization": f"Bearer {target.key}", "content-type": "application/json"}
    reply = httpx2.post(target.url + CHAT, content=JSON_BODY, headers=headers, timeout=30.0)
    if reply.status_code != 200:
        raise SystemExit(f"{target.name}: HTTP {reply.status_code}: {reply.text[:300]}")
    return reply


# ------------------------------------------------------------------------------------------------ results


@dataclass
class Results:
    wrk: dict[tuple[int, str, int], WrkRun] = field(default_factory=dict)  # (latency, target, c)
    cpu_us: dict[tuple[int, str, int], float] = field(default_factory=dict)
    stream: dict[tuple[int, str, int], StreamRun] = field(default_factory=dict)
    stream_cpu_us: dict[tuple[int, str, int], float] = field(default_factory=dict)
    peak_rss_kb: dict[str, int] = field(default_factory=dict)
    idle_cpu_ms_per_s: dict[str, float] = field(default_factory=dict)
    limits: dict[tuple[str, int], tuple[WrkRun, float]] = field(default_factory=dict)  # (target, c) -> run, CPU
    cache_hit: WrkRun | None = None
    cache_hit_cpu_us: float | None = None
    cold: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # what -> [(seconds, status)]
    importtime: dict[str, tuple[float, list[tuple[str, int]], list[str]]] = field(default_factory=dict)
    pubsub: list[tuple[str, int, float, float]] = field(default_factory=list)  # sink, events, cpu s, wall s
    soak: tuple[int, list[tuple[float, int]]] | None = None  # requests, [(seconds, rss kB)]
    notes: list[str] = field(default_factory=list)

    def targets_input(self) -> TargetsInput:
        cold = self.cold.get("function chat") or self.cold.get("gateway (python -m local)")
        label = "functions-framework" if "function chat" in self.cold else "python -m local"
        growth = None
        if self.soak is not None and self.soak[1]:
            start, end = self.soak[1][0][1], self.soak[1][-1][1]
            growth = (end - start) / start
        return TargetsInput(
            wrk={(t, c): run for (lat, t, c), run in self.wrk.items() if lat == 0},
            cpu_us={(t, c): v for (lat, t, c), v in self.cpu_us.items() if lat == 0},
            stream={(t, c): run for (lat, t, c), run in self.stream.items() if lat == 0},
            cache_hit_p50_ms=None if self.cache_hit is None else self.cache_hit.p50_us / 1000,
            chat_cold_start_s=None if not cold else percentile([s for s, _ in cold], 0.5),
            chat_cold_start_label=label,
            rss_growth=growth,
            gateways=(GATEWAY, GATEWAY_REDIS),
        )


# ------------------------------------------------------------------------------------------------ phases


def idle_cpu(targets: Sequence[Server], res: Results, seconds: float) -> None:
    """CPU ms per second each target spends with no request at all (timers, background tasks): at low request
    rates (the +50 ms, c=1 rows) it is a visible part of the CPU per request."""
    before = {t.name: tree_cpu_seconds(t.pid) for t in targets}
    t0 = time.monotonic()
    time.sleep(seconds)
    took = time.monotonic() - t0
    for t in targets:
        res.idle_cpu_ms_per_s[t.name] = (tree_cpu_seconds(t.pid) - before[t.name]) / took * 1000


def load_phase(wrk: Wrk, simulator: Server, targets: Sequence[Server], res: Results, args: argparse.Namespace) -> None:
    idle_cpu(targets, res, args.seconds)
    for latency in LATENCIES_MS:
        set_latency(simulator, latency)
        print(f"-- upstream +{latency} ms: wrk", flush=True)
        for target in targets:  # warm-up: imports, pools, first segment files
            wrk.run(target, 4, 1)
        for connections in WRK_CONCURRENCY:
            for target in targets:  # interleaved, so drift of the machine hits every target alike
                run, cpu = wrk.run(target, connections, args.seconds)
                res.wrk[latency, target.name, connections], res.cpu_us[latency, target.name, connections] = run, cpu
                print(
                    f"   {target.name:14} c={connections:<3} {run.rps:8.0f} req/s  p50 {run.p50_us / 1000:7.2f} ms  "
                    f"p99 {run.p99_us / 1000:7.2f} ms  cpu {cpu:7.0f} µs/req",
                    flush=True,
                )
        print(f"-- upstream +{latency} ms: streams of {STREAM_CHUNKS} chunks", flush=True)
        for concurrency in STREAM_CONCURRENCY:
            for target in targets:
                count = args.streams if concurrency == 1 else args.streams * 2
                stream, cpu = asyncio.run(_streams(target, count, concurrency))
                res.stream[latency, target.name, concurrency] = stream
                res.stream_cpu_us[latency, target.name, concurrency] = cpu
                print(
                    f"   {target.name:14} c={concurrency:<3} TTFT p50 {stream.ttft_p50_ms:7.2f} ms  "
                    f"total p50 {stream.total_p50_ms:7.2f} ms  chunks {stream.chunks}",
                    flush=True,
                )
    set_latency(simulator, 0)
    for target in targets:
        res.peak_rss_kb[target.name] = peak_rss_kb(target.pid)


def cache_phase(wrk: Wrk, simulator: Server, cached: Server, res: Results, args: argparse.Namespace) -> None:
    print("-- cache hits", flush=True)
    post_chat(cached)  # a MISS that stores the reply
    status = post_chat(cached).headers.get("x-gateway-cache")
    if status != "HIT":
        raise SystemExit(f"the cached gateway answered the repeated request with x-gateway-cache {status}, not HIT")
    calls = sim_calls(simulator)
    res.cache_hit, res.cache_hit_cpu_us = wrk.run(cached, 1, args.seconds)
    if (after := sim_calls(simulator)) != calls:
        raise SystemExit(f"the cache-hit run reached the simulator {after - calls} times: not every request hit")
    print(f"   p50 {res.cache_hit.p50_us / 1000:.3f} ms, {res.cache_hit_cpu_us:.0f} µs CPU per hit", flush=True)


# What each function's first served request is (method, path, body, auth); chat must answer 200, the others
# count any HTTP reply (their status is reported).
FIRST_REQUEST: dict[str, tuple[str, str, str | None, bool]] = {
    "chat": ("POST", CHAT, JSON_BODY, True),
    "health": ("GET", "/api/ai/health", None, False),
    "keys": ("GET", "/api/ai/keys", None, True),
    "analytics": ("GET", "/api/ai/analytics", None, True),
}


def _first_status(method: str, url: str, body: str | None, key: str | None) -> int | None:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    try:
        return httpx2.request(method, url, content=body, headers=headers, timeout=10.0).status_code
    except httpx2.HTTPError:
        return None


def _cold_once(tmp: Path, name: str, cmd: list[str], env: dict[str, str], request: str) -> tuple[float, int]:
    method, path, body, auth = FIRST_REQUEST[request]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / f"cold-{name.replace(' ', '-')}.log"
    status: list[int] = []

    def served() -> bool:
        code = _first_status(method, url + path, body, GATEWAY_KEY if auth else None)
        if code is None:
            return False
        status.append(code)
        return True

    t0 = time.monotonic()
    process = launch([*cmd, "--port", str(port)], env, log)
    try:
        wait_ready(process, served, log, timeout=60.0)
        took = time.monotonic() - t0
    finally:
        stop(process, signal.SIGTERM)
    if request == "chat" and status[-1] != 200:
        raise SystemExit(f"cold start of {name}: the first chat request answered {status[-1]}, not 200")
    return took, status[-1]


def configure_limits(target: Server) -> None:
    """GENEROUS_LIMITS on the development key's tenant and on the key itself, through the limits API."""
    headers = {"authorization": f"Bearer {target.key}"}
    mine = httpx2.get(target.url + "/api/ai/limits", headers=headers, timeout=10.0)
    scopes = [entry["scope"] for entry in mine.json()["limits"]]
    for scope in scopes:
        body = {"scope": {k: v for k, v in scope.items() if v is not None}, **GENEROUS_LIMITS}
        reply = httpx2.put(target.url + "/api/ai/limits", json=body, headers=headers, timeout=10.0)
        if reply.status_code != 200:
            raise SystemExit(f"{target.name}: PUT /api/ai/limits: HTTP {reply.status_code}: {reply.text[:300]}")
    checked = post_chat(target).headers
    if "x-gateway-budget-remaining" not in checked or "x-ratelimit-remaining-requests" not in checked:
        raise SystemExit(f"{target.name}: limits configured on {len(scopes)} scopes but not enforced")


def limits_phase(wrk: Wrk, simulator: Server, processes: Processes, res: Results, args: argparse.Namespace) -> None:
    """Issue 11: the same gateway with and without usage limits configured, embedded and on Redis, interleaved."""
    print("-- usage limits (issue 11)", flush=True)
    redis_url = processes.redis()
    tmp = processes.tmp
    plain = processes.gateway(GATEWAY, gateway_env(simulator.url, tmp / "lim-gw", cache=False))
    limited = processes.gateway(GATEWAY_LIMITS, gateway_env(simulator.url, tmp / "lim-gw-l", cache=False))
    redis_plain = processes.gateway(
        GATEWAY_REDIS, gateway_env(simulator.url, tmp / "lim-gw-r", cache=False, redis_url=redis_url)
    )
    redis_limited = processes.gateway(
        GATEWAY_REDIS_LIMITS, gateway_env(simulator.url, tmp / "lim-gw-rl", cache=False, redis_url=redis_url)
    )
    targets = (plain, limited, redis_plain, redis_limited)
    for target in (limited, redis_limited):
        configure_limits(target)
    for target in targets:
        wrk.run(target, 4, 1)  # warm-up
    for connections in LIMITS_CONCURRENCY:
        for target in targets:
            run, cpu = wrk.run(target, connections, args.seconds)
            res.limits[target.name, connections] = run, cpu
            print(
                f"   {target.name:22} c={connections:<3} {run.rps:8.0f} req/s  p50 {run.p50_us / 1000:7.2f} ms  "
                f"cpu {cpu:7.0f} µs/req",
                flush=True,
            )
    for target in targets:
        stop(target.process)


def cold_phase(tmp: Path, simulator: Server, res: Results, args: argparse.Namespace) -> None:
    print("-- cold starts", flush=True)
    ff = shutil.which("functions-framework", path=str(Path(sys.executable).parent)) or shutil.which(
        "functions-framework"
    )
    for i in range(args.cold_repeats):
        env = gateway_env(simulator.url, tmp / f"cold-gw-{i}", cache=False)
        sample = _cold_once(tmp, "gateway", [sys.executable, "-m", "local"], env, "chat")
        res.cold.setdefault("gateway (python -m local)", []).append(sample)
        if ff is None:
            continue
        for function in FUNCTIONS:
            env = gateway_env(simulator.url, tmp / f"cold-{function}-{i}", cache=False)
            env["PYTHONPATH"] = str(REPO)
            source = str(REPO / "functions" / function / "main.py")
            cmd = [ff, "--asgi", "--target", function, "--source", source, "--host", "127.0.0.1"]
            sample = _cold_once(tmp, f"function {function}", cmd, env, function)
            res.cold.setdefault(f"function {function}", []).append(sample)
    if ff is None:
        res.notes.append("functions-framework not found: cold start measured on the dev server only")
    for what, samples in res.cold.items():
        print(f"   {what:28} {', '.join(f'{s:.3f} s ({code})' for s, code in samples)}", flush=True)


def importtime(function: str) -> tuple[float, list[tuple[str, int]], list[str]]:
    """`python -X importtime` of functions/<function>/main.py imported as the framework does (module `main`,
    its folder on sys.path): total ms, the top cumulative imports (µs) and every google.cloud module."""
    code = f"import sys; sys.path.insert(0, {str(REPO / 'functions' / function)!r}); import main"
    env = dict(base_env(), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise SystemExit(f"importing functions/{function}/main.py failed:\n{done.stderr[-3000:]}")
    rows = parse_importtime(done.stderr)
    total = next((cum for name, cum, _ in rows if name == "main" and _ == 0), 0)
    top = sorted(((name, cum) for name, cum, _ in rows if name != "main"), key=lambda x: -x[1])[:10]
    google_cloud = sorted({name for name, _, _ in rows if name == "google.cloud" or name.startswith("google.cloud.")})
    return total / 1000, top, google_cloud


def cloud_clients(modules: Sequence[str]) -> list[str]:
    """The Google Cloud client packages among google.cloud modules: functions-framework's own
    `google.cloud.functions*` (its request context types) is the framework, not a client."""
    clients = set()
    for name in modules:
        parts = name.split(".")
        if len(parts) >= 3 and not parts[2].startswith("functions"):
            clients.add(".".join(parts[:3]))
    return sorted(clients)


def parse_importtime(stderr: str) -> list[tuple[str, int, int]]:
    """(module, cumulative µs, nesting depth) of each `import time:` line (the header line is skipped)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((name.strip(), int(cumulative), depth))
    return rows


def importtime_phase(res: Results) -> None:
    print("-- python -X importtime of functions/*/main.py", flush=True)
    for function in FUNCTIONS:
        res.importtime[function] = importtime(function)
        total, _, google_cloud = res.importtime[function]
        print(f"   {function:10} {total:7.1f} ms, google.cloud modules: {len(google_cloud)}", flush=True)


def soak_phase(wrk: Wrk, simulator: Server, processes: Processes, res: Results, args: argparse.Namespace) -> None:
    print(f"-- soak: {args.soak_requests} requests through a fresh gateway", flush=True)
    gateway = processes.gateway("gateway (soak)", gateway_env(simulator.url, processes.tmp / "soak", cache=False))
    wrk.run(gateway, 16, 2)  # warm-up: the first sample is taken after it
    samples: list[tuple[float, int]] = []
    finished = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not finished.wait(0.5):
            samples.append((time.monotonic() - t0, rss_kb(gateway.pid)))

    samples.append((0.0, rss_kb(gateway.pid)))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # Bounded both ways: wrk stops at the request count, or after a duration that allows 50 req/s.
    run, _ = wrk.run(gateway, 16, args.soak_requests / 50 + 30, limit=args.soak_requests)
    finished.set()
    sampler.join()
    t_end = samples[-1][0] + 0.1 if samples else 0.0
    samples.append((t_end, rss_kb(gateway.pid)))
    res.soak = (run.requests, samples)
    stop(gateway.process)
    start, end = samples[0][1], samples[-1][1]
    print(f"   {run.requests} requests: RSS {start / 1024:.1f} -> {end / 1024:.1f} MiB", flush=True)


def pubsub_phase(tmp: Path, res: Results, args: argparse.Namespace) -> None:
    """CPU per event and events/s through the Pub/Sub sink (to the emulator) and the embedded sink, in this
    process (nothing else runs in it meanwhile; process_time counts every thread, the client's included)."""
    print(f"-- usage events: {args.pubsub_events} through each sink", flush=True)
    from shared.events.local_sink import LocalSegmentSink
    from shared.events.pubsub_sink import USAGE, PubSubSink
    from tests.pubsub_emulator import run_pubsub_emulator

    with run_pubsub_emulator(tmp) as emulator, _env("PUBSUB_EMULATOR_HOST", emulator.host):
        from google.cloud import pubsub_v1  # type: ignore[attr-defined, import-untyped, unused-ignore]

        topic = "projects/bench-gateway/topics/usage"
        publisher = pubsub_v1.PublisherClient()
        publisher.create_topic(name=topic)
        publisher.stop()
        for label, make in (
            ("embedded (LocalSegmentSink)", lambda: LocalSegmentSink(tmp / "events-local")),
            ("Pub/Sub emulator (PubSubSink)", lambda: PubSubSink(topic, tmp / "spill", USAGE)),
        ):
            cpu, wall = asyncio.run(_sink_cost(make, args.pubsub_events))
            res.pubsub.append((label, args.pubsub_events, cpu, wall))
            print(
                f"   {label:30} {cpu / args.pubsub_events * 1e6:7.1f} µs CPU/event, "
                f"{args.pubsub_events / wall:8.0f} events/s"
            )


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


class _Sink(Protocol):
    @property
    def backlog(self) -> int: ...
    async def publish(self, event: UsageEvent) -> None: ...
    async def flush(self) -> None: ...
    async def close(self) -> None: ...


MAX_BACKLOG = 1_000


async def _sink_cost(make: Callable[[], _Sink], count: int) -> tuple[float, float]:
    """CPU seconds and wall seconds to publish `count` events (one per simulated request, yielding to the loop
    in between, waiting while more than MAX_BACKLOG are unacknowledged) and flush them, after a warm-up of 200
    events."""

    def event(i: int) -> UsageEvent:
        return UsageEvent(
            ts=datetime.now(UTC),
            request_id=f"req_{i}",
            tenant="bench",
            key_id="key-bench",
            route="openai",
            provider="OPENAI",
            model_requested=MODEL,
            model=MODEL,
            status="ok",
            http_status=200,
            attempts=1,
            input_tokens=12,
            output_tokens=20,
            cost_micros=15,
            unpriced=False,
            latency_ms=3,
        )

    sink = make()
    warm = [event(i) for i in range(200)]
    events = [event(i) for i in range(count)]
    for e in warm:
        await sink.publish(e)
    await sink.flush()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for e in events:
        await sink.publish(e)
        # A sustained rate, not a burst into the spill files: past MAX_BACKLOG unacknowledged events, each
        # publish waits 1 ms per MAX_BACKLOG in the backlog (the sink exposes no event to wait on).
        await asyncio.sleep(0.001 * (sink.backlog // MAX_BACKLOG))
    await sink.flush()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await sink.close()
    return cpu, wall


# ------------------------------------------------------------------------------------------------ report


def machine() -> str:
    info = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((x.split(":", 1)[1].strip() for x in info if x.startswith("model name")), platform.processor())
    mem = status_kb(Path("/proc/meminfo").read_text(), "MemTotal")
    return f"{cpu}, {os.cpu_count()} cores, {mem / 1024**2:.1f} GiB, Linux {platform.release()} ({platform.machine()})"


def versions(wrk_binary: str) -> str:
    found = [f"Python {platform.python_version()}"]
    for package in ("uvicorn", "uvloop", "httptools", "httpx2", "aiohttp", "orjson", "functions-framework"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} (not installed)")
    banner = subprocess.run([wrk_binary, "-v"], capture_output=True, text=True, check=False)
    found.append(" ".join((banner.stdout or banner.stderr).split()[:2]))
    return ", ".join(found)


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it (read-only git commands)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True)
    except OSError:
        return "not a git checkout"
    changed = [line[3:] for line in dirty.stdout.splitlines() if line.strip()]
    shown = ", ".join(changed[:12]) + (", ..." if len(changed) > 12 else "")
    return f"commit {head.stdout.strip()}" + (f" with uncommitted changes ({shown})" if changed else " (clean)")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _f(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def _signed(value: float, digits: int = 2) -> str:
    return f"{value:+.{digits}f}"


def tables(res: Results) -> list[str]:
    out: list[str] = []
    for latency in LATENCIES_MS:
        if not any(k[0] == latency for k in res.wrk):
            continue
        out += [
            f"### Non-streaming JSON (wrk, 1 thread), upstream +{latency} ms",
            "",
            "| target | c | req/s | p50 ms | p90 ms | p99 ms | added p50 ms | added p99 ms | CPU µs/req |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for connections in WRK_CONCURRENCY:
            direct = res.wrk.get((latency, DIRECT, connections))
            for target in TARGETS:
                run = res.wrk.get((latency, target, connections))
                if run is None:
                    continue
                added50 = "" if direct is None or target == DIRECT else _signed((run.p50_us - direct.p50_us) / 1000)
                added99 = "" if direct is None or target == DIRECT else _signed((run.p99_us - direct.p99_us) / 1000)
                out.append(
                    f"| {target} | {connections} | {run.rps:.0f} | {_f(run.p50_us / 1000)} | {_f(run.p90_us / 1000)} "
                    f"| {_f(run.p99_us / 1000)} | {added50} | {added99} "
                    f"| {res.cpu_us[latency, target, connections]:.0f} |"
                )
        out.append("")
    if res.stream:
        out += [
            f"### Streams of {STREAM_CHUNKS} chunks (aiohttp client)",
            "",
            "| upstream | target | c | streams | TTFT p50 ms | TTFT p99 ms | added TTFT p50 ms | total p50 ms "
            "| total p99 ms | content deltas | CPU µs/stream |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for (latency, target, c), s in sorted(res.stream.items(), key=lambda kv: (kv[0][0], kv[0][2])):
            direct_s = res.stream.get((latency, DIRECT, c))
            added = "" if direct_s is None or target == DIRECT else _signed(s.ttft_p50_ms - direct_s.ttft_p50_ms)
            out.append(
                f"| +{latency} ms | {target} | {c} | {s.count} | {_f(s.ttft_p50_ms)} | {_f(s.ttft_p99_ms)} | {added} "
                f"| {_f(s.total_p50_ms)} | {_f(s.total_p99_ms)} | {s.chunks} "
                f"| {res.stream_cpu_us[latency, target, c]:.0f} |"
            )
        out.append("")
    if res.peak_rss_kb:
        out += [
            "### Peak RSS (VmHWM after the load runs) and idle CPU (before any load, same process tree accounting)",
            "",
            "| target | peak RSS MiB | idle CPU ms/s |",
            "|---|---:|---:|",
        ]
        out += [
            f"| {t} | {kb / 1024:.1f} | {res.idle_cpu_ms_per_s.get(t, float('nan')):.2f} |"
            for t, kb in res.peak_rss_kb.items()
        ]
        out.append("")
    if res.cache_hit is not None:
        hit = res.cache_hit
        out += [
            "### Cache hit (gateway with CACHE_ENABLED=true, embedded cache, the same body repeated, c=1)",
            "",
            "| req/s | p50 ms | p90 ms | p99 ms | CPU µs/req |",
            "|---:|---:|---:|---:|---:|",
            f"| {hit.rps:.0f} | {_f(hit.p50_us / 1000, 3)} | {_f(hit.p90_us / 1000, 3)} | {_f(hit.p99_us / 1000, 3)} "
            f"| {res.cache_hit_cpu_us or 0:.0f} |",
            "",
        ]
    if res.limits:
        out += [
            "### Usage limits (issue 11): the same gateway with and without limits, upstream +0 ms",
            "",
            "Limits: requests and tokens per minute and daily and monthly budgets on the tenant and on the key "
            "(8 checks, none refusing); each request reserves before the call and settles after it.",
            "",
            "| target | c | req/s | p50 ms | p99 ms | CPU µs/req | added CPU µs/req | added p50 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        baseline = {GATEWAY_LIMITS: GATEWAY, GATEWAY_REDIS_LIMITS: GATEWAY_REDIS}
        for (target, c), (run, cpu) in res.limits.items():
            base = res.limits.get((baseline.get(target, ""), c))
            added_cpu = "" if base is None else _signed(cpu - base[1], 0)
            added_p50 = "" if base is None else _signed((run.p50_us - base[0].p50_us) / 1000)
            out.append(
                f"| {target} | {c} | {run.rps:.0f} | {_f(run.p50_us / 1000)} | {_f(run.p99_us / 1000)} | {cpu:.0f} "
                f"| {added_cpu} | {added_p50} |"
            )
        out.append("")
    if res.cold:
        out += [
            "### Cold start (process start to the first served request; fresh data dir each time)",
            "",
            "| what | first request | median s | samples s (HTTP status) |",
            "|---|---|---:|---|",
        ]
        for what, samples in res.cold.items():
            method, path, _, _ = FIRST_REQUEST[what.split()[-1] if what.startswith("function") else "chat"]
            median = percentile([s for s, _ in samples], 0.5)
            shown = ", ".join(f"{s:.3f} ({code})" for s, code in samples)
            out.append(f"| {what} | {method} {path} | {median:.3f} | {shown} |")
        out.append("")
    if res.importtime:
        out += [
            "### `python -X importtime` of functions/*/main.py (imported as module `main`, as the framework does)",
            "",
            "| function | total ms | google.cloud modules | Google Cloud clients | top cumulative imports (ms) |",
            "|---|---:|---:|---|---|",
        ]
        for function, (total, top, google_cloud) in res.importtime.items():
            clients = ", ".join(cloud_clients(google_cloud)) or "none"
            tops = ", ".join(f"{name} {us / 1000:.0f}" for name, us in top[:8])
            out.append(f"| {function} | {total:.0f} | {len(google_cloud)} | {clients} | {tops} |")
        chat = res.importtime.get("chat")
        if chat is not None:
            found = cloud_clients(chat[2])
            framework = [m for m in chat[2] if not any(m.startswith(c) for c in found)]
            verdict = (
                f"imports Google Cloud client packages: {', '.join(found)}"
                if found
                else "imports no Google Cloud client package"
            )
            extra = f"; the google.cloud modules it does import are functions-framework's: {', '.join(framework)}"
            out += ["", f"Chat function import: {verdict}{extra if framework else ''} (reported, not asserted)."]
        out.append("")
    if res.pubsub:
        out += [
            "### Usage events: publishing cost per sink (in one process, emulator for Pub/Sub)",
            "",
            "| sink | events | CPU µs/event | events/s (publish + flush) |",
            "|---|---:|---:|---:|",
        ]
        out += [f"| {label} | {n} | {cpu / n * 1e6:.1f} | {n / wall:.0f} |" for label, n, cpu, wall in res.pubsub]
        out.append("")
    if res.soak is not None:
        requests, samples = res.soak
        values = [kb for _, kb in samples]
        start, end, peak = values[0], values[-1], max(values)
        quarter = [values[min(len(values) - 1, round(q * (len(values) - 1)))] for q in (0.25, 0.5, 0.75)]
        out += [
            "### Memory over the soak (fresh gateway, wrk c=16, RSS every 0.5 s)",
            "",
            "| requests | start MiB | 25% | 50% | 75% | end MiB | max MiB | growth |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {requests} | {start / 1024:.1f} | {quarter[0] / 1024:.1f} | {quarter[1] / 1024:.1f} "
            f"| {quarter[2] / 1024:.1f} | {end / 1024:.1f} | {peak / 1024:.1f} | {(end - start) / start:+.1%} |",
            "",
        ]
    return out


def report(res: Results, checks: list[Check], header: list[str]) -> str:
    lines = [*header, "", *tables(res), "### Targets of issue 9 (upstream +0 ms, computed from this run)", ""]
    lines += [f"- {check.line()}" for check in checks]
    if res.notes:
        lines += ["", *(f"Note: {note}" for note in res.notes)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ main


def optional_phase(name: str, run: Callable[[], None], res: Results, args: argparse.Namespace) -> None:
    """Run a phase after the load runs unless skipped; its failure is reported in the results (and its targets
    are N/A) instead of losing the whole run."""
    if name in args.skip:
        return
    try:
        run()
    except (Exception, SystemExit) as error:
        res.notes.append(f"the {name} phase failed: {type(error).__name__}: {str(error)[:500]}")
        print(f"   the {name} phase failed: {error}", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs for development (2 s, small soak)")
    parser.add_argument("--seconds", type=float, default=None, help="each wrk run (default 10; quick 2)")
    parser.add_argument("--streams", type=int, default=None, help="streams at c=1, twice that at c=16 (200; 40)")
    parser.add_argument("--soak-requests", type=int, default=None, help="soak length (default 200000; quick 5000)")
    parser.add_argument("--cold-repeats", type=int, default=None, help="cold starts per process (default 3; 1)")
    parser.add_argument("--pubsub-events", type=int, default=None, help="events per sink (default 20000; 2000)")
    parser.add_argument("--skip", default="", help=f"comma-separated phases to leave out: {','.join(PHASES)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results file a section is appended to")
    parser.add_argument("--note", default="", help="a sentence for the results section (e.g. the machine's load)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {"seconds": (10.0, 2.0), "streams": (200, 40), "soak_requests": (200_000, 5_000)}
    defaults |= {"cold_repeats": (3, 1), "pubsub_events": (20_000, 2_000)}
    for name, (full, short) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    args.skip = {p.strip() for p in args.skip.split(",") if p.strip()}
    if unknown := args.skip - set(PHASES):
        parser.error(f"unknown phases to skip: {', '.join(sorted(unknown))}")
    if args.seconds < 1 or args.streams < 16 or args.soak_requests < 100 or args.cold_repeats < 1:
        parser.error("--seconds >= 1, --streams >= 16, --soak-requests >= 100, --cold-repeats >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    wrk_binary = shutil.which("wrk")
    if wrk_binary is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu), then run this again")
    command = shlex.join([".venv/bin/python", "-m", "bench.compare", *(sys.argv[1:] if argv is None else argv)])
    started = datetime.now(UTC)
    load_start = loadavg()
    code = code_version()  # at the start: the servers run the tree as it is now
    t0 = time.monotonic()
    res = Results()
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp_name:
        tmp = Path(tmp_name)
        processes = Processes(tmp)
        wrk = Wrk(wrk_binary, tmp)
        try:
            simulator = processes.simulator()
            proxy = processes.proxy(simulator.url)
            gateway = processes.gateway(GATEWAY, gateway_env(simulator.url, tmp / "gw", cache=False))
            redis_url = processes.redis()
            redis_gw = processes.gateway(
                GATEWAY_REDIS, gateway_env(simulator.url, tmp / "gw-redis", cache=False, redis_url=redis_url)
            )
            for target in (gateway, redis_gw):
                served = post_chat(target).headers.get("x-gateway-model")
                if served != MODEL:
                    raise SystemExit(f"{target.name} served {served}, not {MODEL}: the columns would not compare")
            load_phase(wrk, simulator, [simulator, proxy, gateway, redis_gw], res, args)
            for server in (redis_gw, gateway, proxy):
                stop(server.process)

            def cache() -> None:
                cached = processes.gateway(GATEWAY_CACHE, gateway_env(simulator.url, tmp / "gw-cache", cache=True))
                cache_phase(wrk, simulator, cached, res, args)
                stop(cached.process)

            optional_phase("cache", cache, res, args)
            optional_phase("limits", lambda: limits_phase(wrk, simulator, processes, res, args), res, args)
            optional_phase("soak", lambda: soak_phase(wrk, simulator, processes, res, args), res, args)
            optional_phase("cold", lambda: cold_phase(tmp, simulator, res, args), res, args)
            optional_phase("importtime", lambda: importtime_phase(res), res, args)
        finally:
            processes.stop_all()
        optional_phase("pubsub", lambda: pubsub_phase(tmp, res, args), res, args)
    took = time.monotonic() - t0
    checks = evaluate(res.targets_input())
    mode = "quick" if args.quick else "full"
    header = [
        f"## {started:%Y-%m-%d %H:%M} UTC ({mode} run, {took:.0f} s)",
        "",
        f"Command: `{command}`",
        f"Machine: {machine()}. Load average (1/5/15 min) at the start {load_start}, at the end {loadavg()}.",
        f"Versions: {versions(wrk_binary)}.",
        f"Code: {code}.",
        f"Per wrk run: {args.seconds:g} s, one thread; streams: {args.streams} at c=1, {args.streams * 2} at c=16; "
        f"soak: {args.soak_requests} requests; cold starts: {args.cold_repeats} each; "
        f"Pub/Sub: {args.pubsub_events} events per sink.",
        "Everything (wrk, the client, the simulator, the target) shares this machine's cores: compare the rows of "
        "one run, not runs with each other. At c=16 the stream client (one Python process) is itself CPU-bound, "
        "so those TTFTs include its queueing. CPU comes from /proc/<pid>/stat in clock ticks "
        f"(1/{CLK_TCK} s): a figure over N requests resolves to {1000 // CLK_TCK} ms / N.",
    ]
    if args.note:
        header.append(f"Note: {args.note}")
    text = report(res, checks, header)
    print()
    print(text)
    if not args.no_write:
        out: Path = args.out
        if not out.exists():
            out.write_text(
                "# Issue 9 comparison: simulator direct, minimal proxy, gateway (embedded, Redis)\n\n"
                "Written by `make bench` (`python -m bench.compare`); a new section per run, newest last.\n\n"
            )
        with out.open("a") as f:
            f.write("\n" + text)
        print(f"appended to {out}")


if __name__ == "__main__":
    main()
