"""Adapter overhead: microseconds per build_request, parse_response and whole-stream parse.

The provider layer sits on every request's hot path; this prints what it costs per call on this
machine, over the recorded real traffic (PROVIDER_FIXTURES_DIR, default the kit beside the repo).

    .venv/bin/python -m bench.adapters [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from shared.providers import PROVIDERS
from shared.providers.assembly import assemble
from shared.providers.spec import ProviderSpec
from shared.unified import ChatRequest, Message, Tool

DEFAULT_FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "providers"
FIXTURES = Path(os.environ.get("PROVIDER_FIXTURES_DIR") or DEFAULT_FIXTURES)
# One representative reply and stream per provider.
REPLIES = {
    "openai": "openai/tool_call.json",
    "anthropic": "anthropic/tool_call.json",
    "gemini": "gemini/tool_call_2.json",
}
STREAMS = {
    "openai": "openai/stream_tool_call.sse",
    "anthropic": "anthropic/stream_tool_call.sse",
    "gemini": "gemini/stream_usage.sse",
}
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}


def per_call_us(fn: Callable[[], object], seconds: float) -> float:
    for _ in range(50):
        fn()
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            fn()
        calls += 100
        now = time.perf_counter()
        if now >= deadline:
            return (now - start) / calls * 1e6


def request_for(provider: str) -> ChatRequest:
    weather = Tool(
        name="get_weather",
        description="Weather for a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    return ChatRequest(
        model=MODELS[provider],
        messages=(
            Message(role="system", content="You are terse."),
            Message(role="user", content="What is the weather in Paris and in Lyon today? " * 20),
        ),
        tools=(weather,),
        max_tokens=512,
        temperature=0.3,
    )


def measure(name: str, spec: ProviderSpec, seconds: float) -> dict[str, float]:
    request = request_for(name)
    reply = (FIXTURES / REPLIES[name]).read_bytes()
    stream = (FIXTURES / STREAMS[name]).read_bytes()
    pieces = [stream[i : i + 256] for i in range(0, len(stream), 256)]

    def build() -> object:
        return spec.build_request(request, api_key="k", base_url="http://127.0.0.1")

    def parse() -> object:
        return spec.parse_response(reply)

    def parse_stream() -> object:
        parser = spec.stream_parser(request)
        chunks = [chunk for piece in pieces for chunk in parser.feed(piece)]
        chunks.extend(parser.close())
        return assemble(chunks)

    return {
        "build_us": round(per_call_us(build, seconds), 1),
        "parse_us": round(per_call_us(parse, seconds), 1),
        "stream_us": round(per_call_us(parse_stream, seconds), 1),
        "stream_bytes": len(stream),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(
        f"{'provider':<10} {'build_request':>14} {'parse_response':>15} {'whole stream':>13}  (microseconds per call)"
    )
    for name, spec in PROVIDERS.items():
        result = measure(name, spec, args.seconds)
        print(f"{name:<10} {result['build_us']:>14} {result['parse_us']:>15} {result['stream_us']:>13}")
        print(json.dumps({"provider": name, **result}))


if __name__ == "__main__":
    main()
