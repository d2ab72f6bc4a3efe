"""Run the Firestore emulator for tests: `tools/firestore-emulator/server.js` on 127.0.0.1 and a free port.

    with firestore_host() as host:     # FIRESTORE_EMULATOR_HOST if set and answering, else our own emulator
        ...                            # "127.0.0.1:<port>"

The emulator (npm `@firestore-emulator/server`, pinned in tools/firestore-emulator) is installed by
`make tools`. A missing `node` or `node_modules` is an error saying so, never a skip: the Firestore
contract tests must not pass quietly where the emulator cannot run. Only a process started here is
stopped here, by its PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.child_process import answers, launch, stop

__all__ = ["EMULATOR_DIR", "FirestoreEmulator", "answers", "firestore_host", "run_firestore_emulator"]

EMULATOR_DIR = Path(__file__).resolve().parent.parent / "tools" / "firestore-emulator"
_START_TIMEOUT = 15.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FirestoreEmulator:
    """One emulator process on a free loopback port; `stop` ends it by PID (SIGTERM, then SIGKILL)."""

    def __init__(self, workdir: Path) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("the Firestore tests need `node` (run `make tools`, or apt-get install nodejs npm)")
        if not (EMULATOR_DIR / "node_modules" / "@firestore-emulator" / "server").is_dir():
            raise RuntimeError(f"the Firestore emulator is not installed in {EMULATOR_DIR}: run `make tools`")
        self.node = node
        self.port = _free_port()
        self._log = workdir / f"firestore-emulator-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "PORT": str(self.port)}
        command = [self.node, str(EMULATOR_DIR / "server.js")]
        self._process = launch(
            command,
            name=f"the Firestore emulator on {self.host}",
            log=self._log,
            ready=lambda: answers(self.host),
            start_timeout=_START_TIMEOUT,
            env=env,
            cwd=EMULATOR_DIR,
            poll=0.02,
        )

    def stop(self) -> None:
        stop(self._process)
        self._process = None


@contextlib.contextmanager
def run_firestore_emulator(workdir: Path | None = None) -> Iterator[FirestoreEmulator]:
    """A fresh emulator of our own, stopped on exit."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="firestore-test-")))
        emulator = FirestoreEmulator(workdir)
        stack.callback(emulator.stop)
        emulator.start()
        yield emulator


@contextlib.contextmanager
def firestore_host() -> Iterator[str]:
    """FIRESTORE_EMULATOR_HOST when it names an emulator that answers, else the host of one started here."""
    configured = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if configured and answers(configured):
        yield configured
        return
    with run_firestore_emulator() as emulator:
        yield emulator.host
