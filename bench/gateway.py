"""Gateway overhead on this machine: the provider simulator called directly vs through the gateway.

One simulator is started; the gateway (`python -m local`: the `make run` server stack, embedded defaults)
points every provider at it through the `*_BASE_URL` variables and a dummy key, so both paths hit the same
simulator. Loopback only; every process it starts is stopped by PID at the end. Measured:

- latency p50/p99 and throughput of one JSON chat request with `wrk`, at concurrency 1 and 16;
- time to first content token of a stream (an asyncio httpx2 client), direct vs through the gateway;
- the gateway's CPU time per request (/proc/<pid>/stat utime+stime around a fixed number of requests,
  the simulator's alongside) and its peak RSS (/proc/<pid>/status VmHWM);
- cache hits: a second gateway with the response cache on (in-process, no Redis), one warm-up request,
  then the same wrk runs on that one body (every request a HIT: the simulator's call count must not move),
  against the direct simulator rows of the same run. The gateway of the overhead rows runs with the
  cache off, so those rows measure the provider path (the same body would otherwise be a hit every time).

    .venv/bin/python -m bench.gateway [--seconds 6] [--requests 1000] [--ttft-requests 200] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2
import orjson

from local.devserver import simulator_base_urls
from shared.settings import ENV_VARS, PROVIDER_ENV

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "gateway.md"
GATEWAY_KEY = "bench-gateway-key-0f3a9c"
UPSTREAM_KEY = "bench-dummy-provider-key"  # the simulator takes any non-empty key
CHAT = "/v1/chat/completions"
JSON_BODY = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there, how are you?"}]}'
STREAM_BODY = (
    '{"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true}, '
    '"messages": [{"role": "user", "content": "Tell me a short story [sim chunks=8]"}]}'
)
SERVED_MODEL = "gpt-4o-mini"  # JSON_BODY's model, pinned with ROUTER_COST_OPTIMIZATION=false (see main)
CONCURRENCY = (1, 16)
HIT_TARGET_MS = 1.0  # issue 4: a cache hit under 1 ms p50 end to end at concurrency 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
# wrk prints its own report; `done` adds one line this script parses (latencies in microseconds).
WRK_SCRIPT = """wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %.1f %.1f\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    url: str
    key: str
    pid: int


@dataclass(frozen=True, slots=True)
class WrkResult:
    rps: float
    p50_us: float
    p99_us: float


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(cmd: list[str], env: dict[str, str], log: Path, ready: str, key: str | None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{' '.join(cmd[1:3])} exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        try:
            if httpx2.get(ready, headers=headers, timeout=1.0).status_code == 200:
                return process
        except httpx2.HTTPError:
            time.sleep(0.05)
    _stop(process)
    raise SystemExit(f"{' '.join(cmd[1:3])} did not answer {ready} within 30 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    # SIGINT is the stop `make run` documents (Ctrl-C); SIGKILL only if it hangs.
    if process.poll() is None:
        os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads


def _vm_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{name} not in /proc/{pid}/status")


def _wrk(wrk: str, script: Path, target: Target, connections: int, seconds: int) -> WrkResult:
    script.write_text(WRK_SCRIPT.format(body=JSON_BODY, key=target.key))
    # One wrk thread: the machine has 2 cores shared by wrk, the gateway and the simulator.
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), target.url + CHAT]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    requests, duration_us, socket_errors, status_errors, p50, p99 = line.split()[1:]
    if int(socket_errors) or int(status_errors):
        raise SystemExit(f"wrk against {target.name}: {socket_errors} socket errors, {status_errors} non-2xx\n{out}")
    return WrkResult(int(requests) / (int(duration_us) / 1e6), float(p50), float(p99))


def _has_content(line: str) -> bool:
    if not line.startswith("data: {"):
        return False
    choices = orjson.loads(line[6:]).get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


async def _ttft(target: Target, count: int, concurrency: int) -> list[float]:
    """Seconds from sending a stream request to its first non-empty content delta."""
    samples: list[float] = []
    headers = {"authorization": f"Bearer {target.key}", "content-type": "application/json"}
    async with httpx2.AsyncClient(base_url=target.url, headers=headers, timeout=30.0) as client:

        async def one() -> None:
            t0 = time.perf_counter()
            async with client.stream("POST", CHAT, content=STREAM_BODY) as reply:
                first = None
                async for line in reply.aiter_lines():
                    if first is None and _has_content(line):
                        first = time.perf_counter() - t0
                if reply.status_code != 200 or first is None:
                    raise SystemExit(f"TTFT against {target.name}: HTTP {reply.status_code}, no content delta")
                samples.append(first)

        async def worker(share: int) -> None:
            for _ in range(share):
                await one()

        await one()  # warm the connection
        samples.clear()
        await asyncio.gather(*(worker(count // concurrency) for _ in range(concurrency)))
    return samples


async def _load(target: Target, body: str, count: int, concurrency: int) -> None:
    headers = {"authorization": f"Bearer {target.key}", "content-type": "application/json"}
    async with httpx2.AsyncClient(base_url=target.url, headers=headers, timeout=30.0) as client:

        async def worker(share: int) -> None:
            for _ in range(share):
                reply = await client.post(CHAT, content=body)
                await reply.aread()
                if reply.status_code != 200:
                    raise SystemExit(f"{target.name}: HTTP {reply.status_code}: {reply.text[:300]}")

        await asyncio.gather(*(worker(count // concurrency) for _ in range(concurrency)))


def _cpu_per_request(target: Target, body: str, count: int) -> float:
    """Milliseconds of the target's CPU per request (4 at a time; the client's own CPU is not counted)."""
    before = _cpu_seconds(target.pid)
    asyncio.run(_load(target, body, count, 4))
    return (_cpu_seconds(target.pid) - before) / count * 1000


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _machine() -> str:
    info = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((x.split(":", 1)[1].strip() for x in info if x.startswith("model name")), platform.processor())
    mem = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
    return (
        f"{os.cpu_count()} vCPU {cpu} ({platform.machine()}), {mem / 1024**2:.0f} GiB, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


def measure(
    wrk: str, tmp: Path, direct: Target, gateway: Target, cached: Target, args: argparse.Namespace
) -> list[str]:
    """Every measurement; returns the report's table lines."""
    lines = ["| measurement | direct (simulator) | through the gateway | added by the gateway |", "|---|---|---|---|"]
    direct_runs: dict[int, WrkResult] = {}
    asyncio.run(_load(gateway, JSON_BODY, 200, 4))  # warm-up: imports, pools, the first segment file
    asyncio.run(_load(direct, JSON_BODY, 200, 4))
    for connections in CONCURRENCY:
        d = direct_runs[connections] = _wrk(wrk, tmp / "post.lua", direct, connections, args.seconds)
        g = _wrk(wrk, tmp / "post.lua", gateway, connections, args.seconds)
        lines += [
            f"| JSON p50 latency, c={connections} (ms) | {d.p50_us / 1000:.2f} | {g.p50_us / 1000:.2f} "
            f"| {(g.p50_us - d.p50_us) / 1000:+.2f} |",
            f"| JSON p99 latency, c={connections} (ms) | {d.p99_us / 1000:.2f} | {g.p99_us / 1000:.2f} "
            f"| {(g.p99_us - d.p99_us) / 1000:+.2f} |",
            f"| JSON throughput, c={connections} (req/s) | {d.rps:.0f} | {g.rps:.0f} | {g.rps / d.rps - 1:+.0%} |",
        ]
    for concurrency in CONCURRENCY:
        d_t = asyncio.run(_ttft(direct, args.ttft_requests, concurrency))
        g_t = asyncio.run(_ttft(gateway, args.ttft_requests, concurrency))
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            dv, gv = _pct(d_t, q) * 1000, _pct(g_t, q) * 1000
            lines.append(f"| stream TTFT {name}, c={concurrency} (ms) | {dv:.2f} | {gv:.2f} | {gv - dv:+.2f} |")
    for label, body, count in (("JSON", JSON_BODY, args.requests), ("stream", STREAM_BODY, args.requests // 2)):
        d_cpu, g_cpu = _cpu_per_request(direct, body, count), _cpu_per_request(gateway, body, count)
        lines.append(f"| CPU per {label} request (ms) | {d_cpu:.2f} | {g_cpu:.2f} | {g_cpu:.2f} (gateway process) |")
    d_rss, g_rss = _vm_kb(direct.pid, "VmHWM"), _vm_kb(gateway.pid, "VmHWM")
    lines.append(f"| peak RSS, VmHWM (MiB) | {d_rss / 1024:.1f} | {g_rss / 1024:.1f} | {g_rss / 1024:.1f} (gateway) |")
    return lines + _measure_hits(wrk, tmp, direct, cached, direct_runs, args)


def _check_served(target: Target) -> None:
    """The bench's model must be the one that serves (what the direct column calls), not a substitute."""
    headers = {"authorization": f"Bearer {target.key}", "content-type": "application/json"}
    reply = httpx2.post(target.url + CHAT, content=JSON_BODY, headers=headers, timeout=30.0)
    served = reply.headers.get("x-gateway-model")
    if reply.status_code != 200 or served != SERVED_MODEL:
        raise SystemExit(f"{target.name}: HTTP {reply.status_code}, served by {served}, not {SERVED_MODEL}")


def _sim_calls(simulator: Target) -> int:
    return int(httpx2.get(f"{simulator.url}/_sim/stats", timeout=5.0).json()["total"])


def _cache_status(target: Target) -> str:
    headers = {"authorization": f"Bearer {target.key}", "content-type": "application/json"}
    reply = httpx2.post(target.url + CHAT, content=JSON_BODY, headers=headers, timeout=30.0)
    if reply.status_code != 200:
        raise SystemExit(f"{target.name}: HTTP {reply.status_code}: {reply.text[:300]}")
    return reply.headers.get("x-gateway-cache", "(no x-gateway-cache header)")


def _measure_hits(
    wrk: str, tmp: Path, direct: Target, cached: Target, direct_runs: dict[int, WrkResult], args: argparse.Namespace
) -> list[str]:
    """The cache-hit rows: the cached gateway on the one body it has stored, vs the same run's direct rows."""
    _cache_status(cached)  # the warm-up request: a MISS that stores the reply
    status = _cache_status(cached)
    if status != "HIT":
        raise SystemExit(f"the cached gateway answered the repeated request with x-gateway-cache {status}, not HIT")
    calls = _sim_calls(direct)
    lines: list[str] = []
    for connections in CONCURRENCY:
        d, h = direct_runs[connections], _wrk(wrk, tmp / "post.lua", cached, connections, args.seconds)
        lines += [
            f"| cache-hit JSON p50 latency, c={connections} (ms) | {d.p50_us / 1000:.2f} | {h.p50_us / 1000:.2f} "
            f"| {(h.p50_us - d.p50_us) / 1000:+.2f} |",
            f"| cache-hit JSON p99 latency, c={connections} (ms) | {d.p99_us / 1000:.2f} | {h.p99_us / 1000:.2f} "
            f"| {(h.p99_us - d.p99_us) / 1000:+.2f} |",
            f"| cache-hit JSON throughput, c={connections} (req/s) | {d.rps:.0f} | {h.rps:.0f} "
            f"| {h.rps / d.rps - 1:+.0%} |",
        ]
    h_cpu = _cpu_per_request(cached, JSON_BODY, args.requests)
    lines.append(f"| CPU per cache-hit JSON request (ms) | | {h_cpu:.2f} | {h_cpu:.2f} (gateway process) |")
    if (after := _sim_calls(direct)) != calls:
        raise SystemExit(f"the cache-hit runs reached the simulator {after - calls} times: not every request hit")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=6, help="duration of each wrk run (default 6)")
    parser.add_argument("--requests", type=int, default=1000, help="JSON requests for the CPU measurement")
    parser.add_argument("--ttft-requests", type=int, default=200, help="streams per TTFT measurement")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write the results file")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu), then run this again")
    banner = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False).stdout.split()
    version = " ".join(banner[:2])  # "wrk 4.1.0..." without the copyright line
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp_name:
        tmp = Path(tmp_name)
        env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}  # embedded defaults, no real keys
        sim_url, gw_url = f"http://127.0.0.1:{_free_port()}", f"http://127.0.0.1:{_free_port()}"
        sim_port = sim_url.rsplit(":", 1)[1]
        sim_cmd = [sys.executable, "-m", "local.simulator", "--port", sim_port, "--log-level", "warning"]
        simulator = _start(sim_cmd, env, tmp / "simulator.log", f"{sim_url}/_sim/health", None)
        gateway: subprocess.Popen[bytes] | None = None
        cached: subprocess.Popen[bytes] | None = None
        try:
            gw_env = dict(env, GATEWAY_DEV_KEY=GATEWAY_KEY, GATEWAY_DATA_DIR=str(tmp / "data"), CACHE_ENABLED="false")
            # Cost optimization would serve gpt-4o-mini's request on a cheaper equivalent (another provider's
            # wire format), which the direct column does not call. Off, the router still plans, the breakers
            # and failover still run, and the requested model serves: the columns stay comparable.
            gw_env["ROUTER_COST_OPTIMIZATION"] = "false"
            for provider, url in simulator_base_urls(sim_url).items():
                key_var, url_var = PROVIDER_ENV[provider]
                gw_env[key_var], gw_env[url_var] = UPSTREAM_KEY, url
            gw_cmd = [sys.executable, "-m", "local", "--port", gw_url.rsplit(":", 1)[1]]
            gateway = _start(gw_cmd, gw_env, tmp / "gateway.log", f"{gw_url}/v1/models", GATEWAY_KEY)
            hit_url = f"http://127.0.0.1:{_free_port()}"
            hit_env = dict(gw_env, GATEWAY_DATA_DIR=str(tmp / "data-cached"), CACHE_ENABLED="true")
            hit_cmd = [sys.executable, "-m", "local", "--port", hit_url.rsplit(":", 1)[1]]
            cached = _start(hit_cmd, hit_env, tmp / "gateway-cached.log", f"{hit_url}/v1/models", GATEWAY_KEY)
            rss_idle = _vm_kb(gateway.pid, "VmRSS")
            # What the process really runs on: uvicorn.Config(loop="uvloop") only applies through Server.run().
            loop = "uvloop" if "uvloop" in Path(f"/proc/{gateway.pid}/maps").read_text() else "asyncio's default loop"
            direct = Target("direct", sim_url, UPSTREAM_KEY, simulator.pid)
            through = Target("gateway", gw_url, GATEWAY_KEY, gateway.pid)
            hits = Target("cached gateway", hit_url, GATEWAY_KEY, cached.pid)
            _check_served(through)
            table = measure(wrk, tmp, direct, through, hits, args)
        finally:
            for process in (gateway, cached):
                if process is not None:
                    _stop(process)
            _stop(simulator)
    table.append(f"| gateway RSS when idle after start (MiB) | | {rss_idle / 1024:.1f} | |")
    report = _report(table, args, date, version, time.monotonic() - t0, loop)
    print(report)
    if not args.no_write:
        RESULTS.write_text(report)
        print(f"written to {RESULTS.relative_to(REPO)}")


def _reading(table: list[str]) -> str:
    """Computed sentences: the added p50 at c=1, what the CPU per request means for throughput, the hit target."""
    rows = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in table[2:]]
    cells = {row[0]: row[1:] for row in rows}
    added = cells["JSON p50 latency, c=1 (ms)"][2].lstrip("+")
    cpu = float(cells["CPU per JSON request (ms)"][1])
    hit = float(cells["cache-hit JSON p50 latency, c=1 (ms)"][1])
    hit_cpu = float(cells["CPU per cache-hit JSON request (ms)"][1])
    verdict = "meets" if hit < HIT_TARGET_MS else "misses"
    return (
        f"Reading: the gateway adds {added} ms to a JSON request at p50 (c=1) and uses {cpu:.2f} ms of CPU per "
        f"request, so one core serves at most ~{1000 / cpu:.0f} JSON requests/s before queueing (c=16 rows). "
        f"A cache hit answers in {hit:.2f} ms at p50 (c=1) end to end, which {verdict} the issue's target of "
        f"under {HIT_TARGET_MS:g} ms, and costs {hit_cpu:.2f} ms of gateway CPU."
    )


def _report(table: list[str], args: argparse.Namespace, date: str, wrk_version: str, took: float, loop: str) -> str:
    flags = f" --seconds {args.seconds} --requests {args.requests} --ttft-requests {args.ttft_requests}"
    return "\n".join(
        [
            "# Gateway overhead: the simulator directly vs through the gateway (provider path and cache hits)",
            "",
            f"Command: `make bench` (`.venv/bin/python -m bench.gateway{flags}`), {took:.0f} s in all.",
            f"Date: {date}. Machine: {_machine()}; {wrk_version}.",
            "",
            f"Setup: one provider simulator (`python -m local.simulator`) and the gateway (`python -m local`: uvicorn "
            f"with httptools on {loop}, access log off, embedded defaults, usage events to segment files) pointed at "
            "it with `OPENAI_BASE_URL` etc. and a dummy key, `ROUTER_COST_OPTIMIZATION=false` so the requested model "
            "serves (checked; the router, breakers and failover still run). The gateway of the overhead rows runs with "
            "`CACHE_ENABLED=false` (every request reaches the simulator); the `cache-hit` rows come from a second "
            "gateway with `CACHE_ENABLED=true` (in-process cache, no Redis): one warm-up request stores the reply, "
            "then the same wrk runs on that body, each request a HIT (checked: the simulator's call count does not "
            "move). Their `direct` column repeats the same run's direct rows.",
            "",
            "Request: `gpt-4o-mini`, one short user message (JSON); for TTFT the same with `stream: true` and 8 "
            f"chunks. wrk: one thread, keep-alive, {args.seconds} s per run. TTFT: {args.ttft_requests} streams per "
            "row (asyncio httpx2 client), time to the first non-empty content delta. CPU: utime+stime of the process "
            f"over {args.requests} JSON / {args.requests // 2} stream requests (4 at a time), divided by the count.",
            "",
            "Everything shares 2 cores: wrk (or the client), the gateway and the simulator, so c=16 is CPU-bound and "
            "its added latency includes queueing behind the gateway's own CPU time. Repeated runs on this VM differ "
            "by up to ~25%: compare the columns of one run, not runs with each other.",
            "",
            *table,
            "",
            _reading(table),
            "",
        ]
    )


if __name__ == "__main__":
    main()
