"""Where a JSON chat request's CPU goes (issue 9's floor): the same request measured at three depths, in process.

    .venv/bin/python -m bench.profile [--requests 4000] [--top 25] [--write]

The provider simulator runs in its own process (`python -m local.simulator`, 127.0.0.1, zero latency); this
process builds the gateway as `make run` does (embedded backends, the bench's settings: gpt-4o-mini pinned,
cache off) and sends sequential requests at three depths, each after a warm-up, the best of five runs:

1. the upstream call alone (`AiohttpUpstream.request`, the provider body the gateway would send);
2. the service core (`AIService.chat`: resolve, plan, breakers, the call, parse, price, usage event);
3. the whole HTTP app (the dev server's ASGI app: authentication, body, validation, the core, rendering),
   called directly with a minimal ASGI receive/send (no sockets, no uvicorn: their share is the proxy's too);

and, through the same ASGI driver, the minimal proxy's app (`bench/minimal_proxy.py`: the same request
forwarded to the simulator with one pooled aiohttp session): the baseline issue 9 compares with.

It prints the process's CPU per request (`time.process_time`) at each depth, the differences (what each
layer adds), what the core costs with its parts taken out one after the other (the usage event and live
metrics, the breaker outcome, the breaker and latency refreshes at request start: stubbed on this process's
own objects, after everything else is measured), and cProfile's top functions of the core by own time
(per-call overhead inflates small functions: read it for where, not how much). `--write` appends the report
to bench/results/profile.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench.compare import GATEWAY_KEY, JSON_BODY, UPSTREAM_KEY, Processes, code_version, gateway_env, machine
from bench.minimal_proxy import make_app
from local.devserver import app_for
from shared.api.deps import ChatDeps, build_chat_deps
from shared.api.openai_wire import parse_openai_request
from shared.heap import settle_heap
from shared.identity import Identity
from shared.settings import Settings

RESULTS = Path(__file__).parent / "results" / "profile.md"
_BODY = JSON_BODY.encode()
_SCOPE_HEADERS = [
    (b"host", b"gateway"),
    (b"content-type", b"application/json"),
    (b"authorization", f"Bearer {GATEWAY_KEY}".encode()),
    (b"content-length", str(len(_BODY)).encode()),
]


async def _asgi_request(app: Any, key: str = GATEWAY_KEY) -> None:
    """One POST /v1/chat/completions through the ASGI app; fails unless it answers 200."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": _SCOPE_HEADERS if key == GATEWAY_KEY else _headers_for(key),
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8080),
    }
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": _BODY, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    if statuses != [200]:
        raise SystemExit(f"the gateway answered {statuses}")


def _headers_for(key: str) -> list[tuple[bytes, bytes]]:
    return [(k, f"Bearer {key}".encode() if k == b"authorization" else v) for k, v in _SCOPE_HEADERS]


async def _cpu_per_call(once: Callable[[], Awaitable[Any]], requests: int) -> float:
    for _ in range(min(300, requests)):
        await once()
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(requests):
            await once()
        best = min(best, (time.process_time() - start) / requests * 1e6)
    return best


async def _measure(deps: ChatDeps, simulator: str, requests: int, top: int) -> tuple[dict[str, float], str]:
    app = app_for(deps)
    proxy = make_app(simulator)
    request, options = parse_openai_request(_BODY, {})
    identity = Identity(tenant="local", key_id="bench", scopes=frozenset({"chat"}), platform=True)
    url = deps.settings.base_urls["openai"] + "/chat/completions"
    headers = {"authorization": "Bearer bench-dummy-provider-key", "content-type": "application/json"}
    provider_body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]})

    def core() -> Awaitable[Any]:
        return deps.service.chat(request, identity, options, route="openai")

    for _ in range(2000):  # the first thousands of requests run slower (pools, memos, the first event writes)
        await core()
        await _asgi_request(app)
    depths = {
        "upstream call alone": await _cpu_per_call(
            lambda: deps.upstream.request("POST", url, headers, provider_body), requests
        ),
        "service core (AIService.chat)": await _cpu_per_call(core, requests),
        "whole HTTP app (ASGI, no sockets)": await _cpu_per_call(lambda: _asgi_request(app), requests),
        "minimal proxy's app (ASGI, no sockets)": await _cpu_per_call(
            lambda: _asgi_request(proxy, UPSTREAM_KEY), requests
        ),
    }
    service = deps.service
    latency = service._latency
    assert latency is not None

    async def nothing(*args: object, **kwargs: object) -> None:
        return None

    def no_refreshes() -> None:
        # setattr: stubbing a method on an instance, which a plain assignment cannot do under mypy.
        setattr(service.breakers, "start_refresh", lambda: None)  # noqa: B010
        setattr(latency, "start_refresh", lambda pairs: set())  # noqa: B010

    removals: list[tuple[str, Callable[[], None]]] = [
        ("the usage event and live metrics (Recorder.served)", lambda: setattr(service.recorder, "served", nothing)),
        ("the breaker outcome (Failover.settle)", lambda: setattr(service._failover, "settle", nothing)),
        ("the breaker and latency refreshes at request start", no_refreshes),
    ]
    depths["core, measured again before the removals"] = await _cpu_per_call(core, requests)
    for label, remove in removals:
        remove()
        depths[f"core without {label}"] = await _cpu_per_call(core, requests)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        await core()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return depths, out.getvalue()


def _report(depths: dict[str, float], profile: str, requests: int, command: str) -> str:
    upstream, core, app, proxy, again = list(depths.values())[:5]
    removed = list(depths.items())[5:]
    bare = upstream + app - core  # the upstream call and the HTTP layer, without the service core
    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}`",
        f"Machine: {machine()}. Code: {code_version()}. {requests} sequential requests per depth, best of 5.",
        "",
        "| depth | CPU µs per request | added by this layer |",
        "|---|---:|---:|",
        f"| upstream call alone | {upstream:.0f} | |",
        f"| service core (AIService.chat) | {core:.0f} | {core - upstream:+.0f} (routing, breakers, parse, "
        "price, usage event) |",
        f"| whole HTTP app (ASGI, no sockets) | {app:.0f} | {app - core:+.0f} (auth, body, validation, render) |",
        f"| minimal proxy's app (ASGI, no sockets) | {proxy:.0f} | |",
        "",
        f"The gateway's app costs {app / proxy:.2f}x the proxy's here. The upstream call and the HTTP layer alone "
        f"({bare:.0f} µs) already cost {bare / proxy:.2f}x: for 2x, routing, breakers, parsing, pricing and the "
        f"usage event together would have to fit in {max(0.0, 2 * proxy - bare):.0f} µs (they take "
        f"{core - upstream:.0f}).",
        "",
        "The service core with its parts taken out one after the other (what each costs; measured back to back,"
        " and still differences under about 15 µs are within the run-to-run noise):",
        "",
        "| core | CPU µs per request | that part |",
        "|---|---:|---:|",
        *_removal_rows(again, removed),
        "",
        "cProfile of the service core, top functions by own time (profiler overhead inflates small calls):",
        "",
        "```text",
        *[line.rstrip() for line in profile.strip().splitlines() if line.strip()][:60],
        "```",
    ]
    return "\n".join(lines) + "\n"


def _removal_rows(core: float, removed: list[tuple[str, float]]) -> list[str]:
    rows, previous = [f"| as it is | {core:.0f} | |"], core
    for label, value in removed:
        rows.append(f"| {label.replace('core without', 'also without')} | {value:.0f} | {previous - value:.0f} |")
        previous = value
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--write", action="store_true", help="append the report to bench/results/profile.md")
    args = parser.parse_args(argv)
    command = "python -m bench.profile" + (f" --requests {args.requests}" if args.requests != 4000 else "")
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp_name:
        tmp = Path(tmp_name)
        processes = Processes(tmp)
        try:
            simulator = processes.simulator()
            deps = build_chat_deps(Settings.from_env(gateway_env(simulator.url, tmp / "gw", cache=False)))
            settle_heap()

            async def run() -> tuple[dict[str, float], str]:
                try:
                    return await _measure(deps, simulator.url, args.requests, args.top)
                finally:
                    await deps.aclose()

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                depths, profile = runner.run(run())
        finally:
            processes.stop_all()
    text = _report(depths, profile, args.requests, command + (" --write" if args.write else ""))
    print(text)
    if args.write:
        if not RESULTS.exists():
            RESULTS.write_text("# Where a chat request's CPU goes (`python -m bench.profile`), newest last\n\n")
        with RESULTS.open("a") as f:
            f.write("\n" + text)
        print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
