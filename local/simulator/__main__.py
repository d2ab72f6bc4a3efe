"""`python -m local.simulator [--host 127.0.0.1] [--port 8090]`: serve the provider simulator."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from local.simulator.app import create_app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="port (default 8090)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
