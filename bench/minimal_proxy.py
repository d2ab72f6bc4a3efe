"""The practical limit (issue 9): one Python hop, a raw ASGI app on uvicorn (uvloop + httptools) forwarding
every request to UPSTREAM with one pooled aiohttp session, streaming the reply back as it arrives.

    .venv/bin/python -m bench.minimal_proxy --port 8099 --upstream http://127.0.0.1:8090
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import uvicorn

_KEEP = (b"authorization", b"content-type", b"x-api-key", b"anthropic-version", b"x-goog-api-key")


def make_app(upstream: str) -> Any:
    session: aiohttp.ClientSession | None = None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal session
        if scope["type"] != "http":
            return
        if session is None:  # one pool per process, built on the server's loop
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in _KEEP}
        url = upstream + scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        async with session.request(scope["method"], url, data=body, headers=headers) as reply:
            out = [(b"content-type", reply.headers.get("content-type", "application/json").encode())]
            await send({"type": "http.response.start", "status": reply.status, "headers": out})
            async for chunk in reply.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.minimal_proxy", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:8090 (loopback only)")
    args = parser.parse_args()
    app = make_app(args.upstream.rstrip("/"))
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )


if __name__ == "__main__":
    main()
