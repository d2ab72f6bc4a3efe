"""CPU per provider call of the transport seam (shared.transport): httpx2 against aiohttp.

    .venv/bin/python -m bench.transport [--requests 3000] [--write]

The provider simulator runs in its own process (uvicorn, uvloop, httptools) on 127.0.0.1; this process sends
`--requests` sequential chat calls (after a warm-up) through each of: `HttpxUpstream` (an `httpx2.AsyncClient`
on httpx2's own transport, httpcore2 + h11: what the gateway used before), the gateway's `AiohttpUpstream`
(what `make_upstream` builds), and a bare `aiohttp.ClientSession` (the floor for aiohttp). It prints the client
process's CPU time per call (`time.process_time`, so the simulator's share is not counted) and the wall time per call;
`--write` appends the table to bench/results/transport.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx2
import orjson
import uvloop

from shared.aiohttp_transport import AiohttpUpstream
from shared.transport import HttpxUpstream, Upstream, make_client

RESULTS = Path(__file__).parent / "results" / "transport.md"
BODY = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 50})
HEADERS = {"authorization": "Bearer sk-bench", "content-type": "application/json"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_simulator() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "local.simulator.app:create_app", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]
    process = subprocess.Popen(command, cwd=Path(__file__).parents[1], stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx2.get(f"{url}/_sim/stats", timeout=1.0)
            return process, url
        except httpx2.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the simulator did not start")


async def _timed(call: Callable[[], Awaitable[None]], count: int) -> tuple[float, float]:
    for _ in range(min(200, count)):
        await call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        await call()
    return (time.process_time() - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e3


async def _measure(url: str, count: int) -> list[tuple[str, float, float]]:
    target = f"{url}/v1/chat/completions"
    rows: list[tuple[str, float, float]] = []
    upstreams: dict[str, Upstream] = {
        "HttpxUpstream: httpx2.AsyncClient on httpcore2 + h11 (before)": HttpxUpstream(
            make_client(transport=httpx2.AsyncHTTPTransport())
        ),
        "AiohttpUpstream (the gateway's)": AiohttpUpstream(),
    }
    for name, upstream in upstreams.items():

        async def call(upstream: Upstream = upstream) -> None:
            status, _, _ = await upstream.request("POST", target, HEADERS, BODY)
            assert status == 200

        rows.append((name, *await _timed(call, count)))
        await upstream.aclose()
    async with aiohttp.ClientSession() as session:

        async def bare() -> None:
            async with session.post(target, data=BODY, headers=HEADERS) as response:
                await response.read()

        rows.append(("aiohttp.ClientSession alone (the floor)", *await _timed(bare, count)))
    return rows


def _machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} vCPU {model}, Linux {platform.release()}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--write", action="store_true", help="append the table to bench/results/transport.md")
    args = parser.parse_args(argv)
    simulator, url = _start_simulator()
    try:
        uvloop.install()
        rows = asyncio.run(_measure(url, args.requests))
    finally:
        simulator.terminate()
        simulator.wait(10)
    table = ["| client | CPU per call (µs) | wall per call (ms) |", "|---|---|---|"]
    table += [f"| {name} | {cpu:.0f} | {wall:.2f} |" for name, cpu, wall in rows]
    print("\n".join(table))
    if args.write:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = f"`.venv/bin/python -m bench.transport --requests {args.requests} --write`"
        section = f"\n## {stamp}\n\nCommand: {command}. Machine: {_machine()}; aiohttp {aiohttp.__version__}.\n\n"
        if not RESULTS.exists():
            RESULTS.write_text("# Transport: CPU per provider call through the transport seam\n")
        with RESULTS.open("a") as out:
            out.write(section + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
