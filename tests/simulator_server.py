"""Run the provider simulator for tests: real uvicorn on 127.0.0.1 and a free port, in a background thread.

    with run_simulator() as url:            # "http://127.0.0.1:<port>"
        admin = SimulatorAdmin(url)
        admin.reset()
        admin.add_key_rule("sk-bad", status=401)
        ...

Any test folder can use it (session-scoped fixtures are the cheap way); `SimulatorAdmin` drives the
simulator's `/_sim` admin API (see `local/simulator/__init__.py`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import uvicorn

from local.simulator.app import create_app

__all__ = ["SimulatorAdmin", "run_simulator"]

_START_TIMEOUT = 10.0


@contextlib.contextmanager
def run_simulator(*, log_level: str = "warning") -> Iterator[str]:
    """Start a fresh simulator, yield its base URL, stop it on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(), log_level=log_level, lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="simulator", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(_START_TIMEOUT)
        sock.close()


class SimulatorAdmin:
    """A small client for the `/_sim` admin API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx2.Client(base_url=self.base_url, timeout=10.0)

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, f"/_sim{path}", json=body)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._call("POST", "/reset")

    def set_defaults(self, **directives: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", "/defaults", directives)
        return result

    def add_key_rule(self, key: str, *, times: int | None = None, **directives: Any) -> str:
        """Register a rule for `key` (for its next `times` requests only, when given); returns the fingerprint."""
        body = {"key": key, **directives} | ({"times": times} if times is not None else {})
        fingerprint: str = self._call("POST", "/keys", body)["fingerprint"]
        return fingerprint

    def clear_key_rules(self) -> None:
        self._call("DELETE", "/keys")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/stats")
        return result
