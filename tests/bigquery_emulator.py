"""Run the BigQuery emulator for tests: `bqemulator start` from `.venv-bq` on 127.0.0.1 and free ports.

    with run_bigquery_emulator() as emulator:
        client = bigquery_client(emulator.project, emulator.endpoint)   # "http://127.0.0.1:<port>"

The emulator (PyPI bqemulator, in its own venv because it pins protobuf 6) is installed by
tools/bigquery-emulator/setup.sh, which `make tools` runs. A missing venv is an error saying so, never a
skip: the BigQuery parity tests must not pass quietly where the emulator cannot run. HOME is the venv's
`home`, where the setup script installed DuckDB's spatial extension from its wheel, so the emulator's own
`INSTALL spatial` finds it instead of downloading. Ephemeral (in-memory) storage; the process is stopped by
its PID.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.child_process import launch, stop

__all__ = ["BQ_VENV", "BigQueryEmulator", "run_bigquery_emulator"]

BQ_VENV = Path(__file__).resolve().parent.parent / ".venv-bq"
_START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BigQueryEmulator:
    """One emulator process (REST and gRPC on free loopback ports); `stop` ends it by PID."""

    def __init__(self, workdir: Path, project: str = "demo-test") -> None:
        self.executable = BQ_VENV / "bin" / "bqemulator"
        self.home = BQ_VENV / "home"
        if not (self.executable.is_file() and (self.home / ".duckdb").is_dir()):
            raise RuntimeError(f"the BigQuery emulator is not installed in {BQ_VENV}: run `make tools`")
        self.project = project
        self.rest_port = _free_port()
        self.grpc_port = _free_port()
        self._log = workdir / f"bigquery-emulator-{self.rest_port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/readyz", timeout=0.5) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def start(self) -> None:
        command = [
            str(self.executable),
            "start",
            *("--rest-host", "127.0.0.1", "--rest-port", str(self.rest_port)),
            *("--grpc-host", "127.0.0.1", "--grpc-port", str(self.grpc_port)),
            *("--project", self.project, "--ephemeral", "--log-level", "warning"),
        ]
        env = {**os.environ, "HOME": str(self.home)}
        self._process = launch(
            command,
            name=f"the BigQuery emulator on {self.endpoint}",
            log=self._log,
            ready=self.ready,
            start_timeout=_START_TIMEOUT,
            env=env,
        )

    def stop(self) -> None:
        stop(self._process)
        self._process = None


@contextlib.contextmanager
def run_bigquery_emulator(workdir: Path | None = None) -> Iterator[BigQueryEmulator]:
    """A fresh emulator of our own, stopped on exit."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bigquery-test-")))
        emulator = BigQueryEmulator(workdir)
        stack.callback(emulator.stop)
        emulator.start()
        yield emulator
