"""Fixtures of the conformance suite: the gateway process, started exactly as `make run` starts it.

`make run` is `.venv/bin/python -m local`: the dev server on the production server stack and, with no
provider key in the environment, the provider simulator as its child process. `launch_gateway` runs that
same command on a free loopback port with a test key, a temporary data dir and the embedded defaults (every
variable the settings read is dropped from the inherited environment, then the test's own are set), and
waits until `GET /v1/models` answers 200 with the key. Stopping is the Ctrl-C path: SIGINT to the gateway
by PID (it flushes the usage events and stops the simulator it started), SIGKILL only if it hangs; the
simulator child must be gone afterwards. A stop that needed SIGKILL, a non-zero exit or a surviving child
fails the test that owns the gateway.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from shared.settings import ENV_VARS

__all__ = ["DEV_KEY", "MAX_BODY_BYTES", "Gateway", "launch_gateway", "read_events", "sse_data"]

DEV_KEY = "gw-conformance-key-5b0e2c7d9a41"
# Small, so one test exceeds it cheaply; far above every other body the suite sends (the PNG included).
MAX_BODY_BYTES = 200_000
REPO = Path(__file__).resolve().parents[2]
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_POLL = 0.05


@dataclass(frozen=True, slots=True)
class Gateway:
    url: str
    key: str
    data_dir: Path
    pid: int
    log: Path

    @property
    def events_dir(self) -> Path:
        return self.data_dir / "events"

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat fields from `state` on (the command name may hold spaces and parentheses)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw.rsplit(")", 1)[1].split()


def _children(pid: int) -> dict[int, str]:
    """The live children of `pid`, each with its start time (so a reused PID is not mistaken for it)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is not None and fields[1] == str(pid):
            found[int(entry.name)] = fields[19]
    return found


def _running(pid: int, started: str) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[19] == started and fields[0] != "Z"


def _wait_ready(process: subprocess.Popen[bytes], gateway: Gateway) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    headers = {"authorization": f"Bearer {gateway.key}"}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with status {process.returncode}:\n{gateway.log_tail()}")
        try:
            if httpx2.get(f"{gateway.url}/v1/models", headers=headers, timeout=1.0).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(_POLL)
    raise RuntimeError(f"the gateway did not answer GET /v1/models within {_START_TIMEOUT:g} s:\n{gateway.log_tail()}")


def _stop(process: subprocess.Popen[bytes], how: signal.Signals) -> list[str]:
    """`how` (SIGINT: Ctrl-C), then SIGKILL if it hangs. Returns what went wrong."""
    problems: list[str] = []
    if process.poll() is None:
        os.kill(process.pid, how)
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            problems.append(f"the gateway ignored {how.name} for {_STOP_TIMEOUT:g} s and was killed")
    if process.returncode != 0 and not problems:
        problems.append(f"the gateway exited with status {process.returncode} after {how.name}")
    return problems


@contextmanager
def launch_gateway(tmp: Path, *, stop: signal.Signals = signal.SIGINT, **env: str) -> Iterator[Gateway]:
    """Run `python -m local` (what `make run` runs) with the simulator behind it; stop it with `stop` on exit."""
    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    environ.update(
        GATEWAY_DEV_KEY=DEV_KEY,
        GATEWAY_DATA_DIR=str(tmp / "data"),
        PORT=str(port),
        MAX_BODY_BYTES=str(MAX_BODY_BYTES),
        # Each test expects the provider to be called; the cache has its own conformance test (env override).
        CACHE_ENABLED="false",
        # ... and the named model's provider to answer, its faults coming back as they are (env override):
        # routing is proven in tests/api/test_routing.py and tests/conformance/test_breakers_shared.py.
        ROUTER_COST_OPTIMIZATION="false",
        ROUTER_FALLBACK_ENABLED="false",
        # A session's gateway sees many deliberate faults on one key: no breaker may trip on them.
        BREAKER_MIN_REQUESTS="1000000",
    )
    environ.update(env)
    log = tmp / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", str(port)],
            cwd=REPO,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    gateway = Gateway(f"http://127.0.0.1:{port}", DEV_KEY, tmp / "data", process.pid, log)
    children: dict[int, str] = {}
    try:
        _wait_ready(process, gateway)
        children = _children(process.pid)
        yield gateway
    finally:
        children.update(_children(process.pid) if process.poll() is None else {})
        problems = _stop(process, stop)
        # The simulator child: the gateway stops it on the way out. One still running is ours to end.
        for pid, started in children.items():
            if _running(pid, started):
                os.kill(pid, signal.SIGKILL)
                problems.append(f"child process {pid} (the simulator) outlived the gateway and was killed")
    if "Traceback (most recent call last)" in gateway.log_tail(10_000):
        problems.append("the gateway logged a traceback")
    if problems:
        raise AssertionError("; ".join(problems) + f"\n{gateway.log_tail()}")


def read_events(gateway: Gateway, *, open_segments: bool = False) -> list[dict[str, Any]]:
    """Every usage event in the sealed segments, in file order; with `open_segments`, also those a running
    writer has appended to its hidden `.partial` segment (whole lines: only safe once the requests are done)."""
    events: list[dict[str, Any]] = []
    pattern = "events-*.jsonl*" if open_segments else "events-*.jsonl"
    for path in sorted(gateway.events_dir.glob(pattern)):
        events.extend(json.loads(line) for line in path.read_text().splitlines() if line)
    return events


def sse_data(body: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    return [line.removeprefix("data:").strip() for line in body.splitlines() if line.startswith("data:")]


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with launch_gateway(tmp_path_factory.mktemp("gateway")) as running:
        yield running


@pytest.fixture(scope="session")
def api(gateway: Gateway) -> Iterator[httpx2.Client]:
    """Plain HTTP to the gateway with the development key."""
    headers = {"authorization": f"Bearer {gateway.key}"}
    with httpx2.Client(base_url=gateway.url, headers=headers, timeout=15.0) as client:
        yield client


@pytest.fixture(scope="session")
def client(gateway: Gateway) -> Iterator[openai.OpenAI]:
    """The official SDK, as an app would point it at the gateway (no SDK retries: the gateway retries)."""
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0, timeout=15.0) as sdk:
        yield sdk
