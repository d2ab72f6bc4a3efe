"""The local dev server behind `make run`: every route on one port, production server stack.

It builds the chat API from the environment (embedded defaults: SQLite-free for now, events in
segment files under GATEWAY_DATA_DIR), serves it with uvicorn on uvloop + httptools (not a debug
server), and mounts the apps by path (they route on full paths). With no provider key set at all it
also starts the provider simulator, as a child process on a free loopback port, and points every
provider at it; with any key set it talks to the real providers (or wherever a *_BASE_URL says).
Its first lines say which, print the development key when it was just made, and a ready-to-paste
curl and Python example. Ctrl-C stops the server and the simulator it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from types import MappingProxyType

import httpx2
import uvicorn
import uvloop
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.analytics.factory import analytics_port
from shared.analytics.service import AnalyticsService
from shared.api.analytics import ANALYTICS_PATH, AnalyticsApi
from shared.api.analytics_deps import AnalyticsDeps
from shared.api.chat import ChatApi
from shared.api.deps import ChatDeps, build_chat_deps
from shared.api.health import HEALTH_PATH, HealthApi
from shared.api.health_deps import HealthDeps, build_health_deps
from shared.api.keys import KEYS_PATH, KeysApi
from shared.api.keys_deps import KeysDeps
from shared.api.limits import LIMITS_PATH
from shared.api.limits_deps import build_limits_deps
from shared.clock import SystemClock
from shared.dashboard import DASHBOARD_PATH
from shared.events.port import EventSinkError
from shared.heap import settle_heap
from shared.providers import PROVIDERS
from shared.settings import Settings

__all__ = ["main", "simulator_base_urls"]

_log = logging.getLogger(__name__)

# Any non-empty key works with the simulator; this one says what it is.
SIMULATOR_KEY = "simulator-key"
_SIMULATOR_PATHS = {"openai": "/v1", "anthropic": "", "gemini": "/v1beta"}


def simulator_base_urls(url: str) -> dict[str, str]:
    return {provider: url + path for provider, path in _SIMULATOR_PATHS.items()}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_simulator(port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m local.simulator` on 127.0.0.1 and wait until it answers."""
    port = port or _free_port()
    child = subprocess.Popen([sys.executable, "-m", "local.simulator", "--port", str(port), "--log-level", "warning"])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the provider simulator exited with status {child.returncode}")
        try:
            if httpx2.get(f"{url}/_sim/health", timeout=1.0).status_code == 200:
                return child, url
        except httpx2.HTTPError:
            time.sleep(0.05)
    child.terminate()
    raise RuntimeError("the provider simulator did not start within 20 s")


def settings_for_run(settings: Settings, simulator_url: str | None) -> Settings:
    if simulator_url is None:
        return settings
    keys = MappingProxyType(dict.fromkeys(PROVIDERS, (SIMULATOR_KEY,)))
    return replace(settings, provider_keys=keys, base_urls=MappingProxyType(simulator_base_urls(simulator_url)))


def banner(deps: ChatDeps, host: str, port: int, simulator_url: str | None) -> str:
    base = f"http://{host}:{port}"
    lines = [f"AI gateway on {base}"]
    if simulator_url is not None:
        lines.append(f"providers: the built-in simulator at {simulator_url} (no OPENAI/ANTHROPIC/GEMINI_API_KEY set)")
    else:
        configured = [p for p in PROVIDERS if deps.settings.provider_key_configured(p)]
        lines.append(f"providers: real APIs with keys for {', '.join(configured)} (base URLs from the environment)")
    lines.append(f"usage events: {deps.settings.data_dir / 'events'}")
    dev = deps.dev_key
    if dev is None:
        key = "<a gateway key>"
        lines.append(
            "development key: none on a shared store; set GATEWAY_DEV_KEY, or make keys with python -m local.admin"
        )
    elif dev.fresh and dev.plaintext:
        key = dev.plaintext
        lines.append(f"development key (shown once, stored only as its hash): {key}")
    elif dev.source == "env":
        key = "$GATEWAY_DEV_KEY"
        lines.append("development key: GATEWAY_DEV_KEY from the environment")
    else:
        key = "$GATEWAY_DEV_KEY"
        lines.append(
            f"development key: {dev.key_id}, made earlier, stored only as its hash; set GATEWAY_DEV_KEY to yours, "
            f"or run python -m local.admin keys revoke {dev.key_id} and restart for a new one"
        )
    lines += [
        "",
        "try it:",
        f"  curl -s {base}/v1/chat/completions -H 'Authorization: Bearer {key}' -H 'content-type: application/json' \\",
        '    -d \'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}\'',
        "",
        "  from openai import OpenAI",
        f"  client = OpenAI(base_url='{base}/v1', api_key='{key}')",
        "  print(client.chat.completions.create(model='claude-haiku-4-5',",
        "        messages=[{'role': 'user', 'content': 'Hello!'}]).choices[0].message.content)",
        "",
    ]
    return "\n".join(lines)


def build_app(api: ChatApi, keys: KeysApi, health: HealthApi, analytics: AnalyticsApi) -> ASGIApp:
    """One port for every function's app. Each routes on full paths, so requests go by path prefix to
    the keys (/api/ai/keys), health (/api/ai/health) and analytics (/api/ai/analytics, and the dashboard
    it serves at /api/ai/dashboard) apps and to the chat app otherwise, with the scope untouched."""
    analytics_app = analytics.asgi()
    keys_app = keys.asgi()
    apps = (
        (KEYS_PATH, keys_app),
        (LIMITS_PATH, keys_app),
        (HEALTH_PATH, health.asgi()),
        (ANALYTICS_PATH, analytics_app),
        (DASHBOARD_PATH, analytics_app),
    )
    chat_app = api.asgi()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        target = next((a for prefix, a in apps if path == prefix or path.startswith(prefix + "/")), chat_app)
        await target(scope, receive, send)

    return app


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal that stopped it once it has shut down. The dev server still has work
    then (flush the usage events, close the client, stop the simulator): re-raised, SIGTERM's default
    action ends the process first, and SIGINT makes asyncio cancel that cleanup. So: handle both, re-raise
    neither."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def health_deps_for(deps: ChatDeps) -> HealthDeps:
    """Health over the chat deps' own store, cache, live metrics, breaker board and key ring, so it shows
    the live state of this very process (closed with the chat deps, not on its own)."""
    return build_health_deps(
        deps.settings,
        store=deps.store,
        cache=deps.cache,
        metrics=deps.metrics,
        breakers=deps.service.breakers,
        keys=deps.keys,
        catalog=deps.catalog,
    )


def app_for(deps: ChatDeps) -> ASGIApp:
    """Every function's app over one process's chat deps (one store, one vault, one metrics)."""

    async def get() -> ChatDeps:
        return deps

    # The keys API shares the chat deps' store, vault and audit sink (one process, one SQLite file), so
    # a key stored here is used by the next chat call at once.
    limits = build_limits_deps(deps.settings, deps.store, SystemClock())
    keys_deps = KeysDeps(deps.settings, deps.vault, deps.keys, deps.store, deps.audit, limits)

    async def get_keys() -> KeysDeps:
        return keys_deps

    health_deps = health_deps_for(deps)

    async def get_health() -> HealthDeps:
        return health_deps

    # Analytics reads the sealed event segments with DuckDB; cost analysis uses this chat core. Each
    # analytics request first seals this process's own events, so a report includes every request
    # answered before it (the cloud's freshness is the BigQuery subscription's, seconds).
    analytics_deps = AnalyticsDeps(
        settings=deps.settings,
        keys=deps.keys,
        store=deps.store,
        # The chat deps' own limits store: the report's limits section reads what chat enforces.
        analytics=AnalyticsService(analytics_port(deps.settings), SystemClock(), deps.limiter.limits.store),
        chat=lambda: deps,
    )

    async def get_analytics() -> AnalyticsDeps:
        try:
            await deps.events.flush()
        except EventSinkError as error:  # the report is then as fresh as the last sealed segment
            _log.warning("dev server: sealing usage events before analytics failed: %s", error)
        return analytics_deps

    return build_app(ChatApi(get), KeysApi(get_keys), HealthApi(get_health), AnalyticsApi(get_analytics))


async def serve(deps: ChatDeps, host: str, port: int) -> None:
    config = uvicorn.Config(
        app_for(deps),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    try:
        await _Server(config).serve()
    finally:
        await deps.aclose()


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local", description="Run the AI gateway locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: $PORT or 8080")
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ if environ is None else environ)
    port = args.port if args.port is not None else settings.port
    use_simulator = not any(settings.provider_key_configured(p) for p in PROVIDERS)
    child: subprocess.Popen[bytes] | None = None
    simulator_url = None
    if use_simulator:
        child, simulator_url = start_simulator()
    try:
        deps = build_chat_deps(settings_for_run(settings, simulator_url))
        settle_heap()  # full collections stay short under load (shared.heap)
        print(banner(deps, args.host, port, simulator_url), flush=True)
        # Config(loop="uvloop") only applies through Server.run(); serve() runs on the caller's loop.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(deps, args.host, port))
    except KeyboardInterrupt:
        pass
    finally:
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
