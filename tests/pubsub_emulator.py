"""Run the Pub/Sub emulator for tests: PyPI `cloudbox` (pinned, patched) from `.venv-pubsub`, on 127.0.0.1.

    with pubsub_host() as host:     # PUBSUB_EMULATOR_HOST if set and answering, else our own emulator
        ...                         # "127.0.0.1:<port>"

    with run_pubsub_emulator() as emulator:   # always our own: the outage tests stop and restart it
        emulator.stop(); ...; emulator.start()

`make tools` builds the venv (tools/pubsub-emulator/setup.sh). A missing venv is an error saying so,
never a skip. cloudbox always starts ten services, with default ports that collide with ours (its
Firestore on 8080, its BigQuery on 9050), so every `CLOUDBOX_*_PORT` its config reads is set to a free
port, and `CLOUDBOX_HOST` to loopback (its default is 0.0.0.0). It keeps topics in memory: after a
restart they must be created again. Only a process started here is stopped here, by its PID.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.child_process import answers, launch, stop

__all__ = ["PUBSUB_VENV", "PubSubEmulator", "answers", "pubsub_host", "run_pubsub_emulator"]

PUBSUB_VENV = Path(__file__).resolve().parent.parent / ".venv-pubsub"
_START_TIMEOUT = 30.0  # a cold start (first import of ten FastAPI apps) took 4.4 s on a 2-core box
_PORT_VARIABLE = re.compile(r"\"(CLOUDBOX_[A-Z_]+_PORT)\"")


def _free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (all sockets are held until every port is chosen)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _port_variables(venv: Path) -> list[str]:
    """Every `CLOUDBOX_*_PORT` the installed cloudbox reads (from its config.py, so a new service is covered)."""
    configs = sorted(venv.glob("lib/python*/site-packages/cloudbox/config.py"))
    if not configs:
        raise RuntimeError(f"the Pub/Sub emulator (cloudbox) is not installed in {venv}: run `make tools`")
    names = sorted(set(_PORT_VARIABLE.findall(configs[0].read_text())))
    if "CLOUDBOX_PUBSUB_PORT" not in names:
        raise RuntimeError(f"{configs[0]} does not read CLOUDBOX_PUBSUB_PORT: is cloudbox 0.2.3 installed?")
    return names


class PubSubEmulator:
    """One cloudbox process on free loopback ports. `stop` ends it by PID; `start` again reuses the ports."""

    def __init__(self, workdir: Path, venv: Path = PUBSUB_VENV) -> None:
        executable = venv / "bin" / "cloudbox"
        if not executable.is_file():
            raise RuntimeError(f"the Pub/Sub emulator (cloudbox) is not installed in {venv}: run `make tools`")
        variables = _port_variables(venv)
        self.executable = executable
        self.ports = dict(zip(variables, _free_ports(len(variables)), strict=True))
        self._log = workdir / f"pubsub-emulator-{self.ports['CLOUDBOX_PUBSUB_PORT']}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """The gRPC endpoint, as PUBSUB_EMULATOR_HOST wants it."""
        return f"127.0.0.1:{self.ports['CLOUDBOX_PUBSUB_PORT']}"

    def start(self) -> None:
        env = {
            **os.environ,
            **{name: str(port) for name, port in self.ports.items()},
            "CLOUDBOX_HOST": "127.0.0.1",
            "CLOUDBOX_LOG_LEVEL": "warning",
        }
        env.pop("CLOUDBOX_DATA_DIR", None)  # in memory: a restart loses topics, as the outage tests expect
        self._process = launch(
            [str(self.executable)],
            name=f"the Pub/Sub emulator on {self.host}",
            log=self._log,
            ready=lambda: answers(self.host),
            start_timeout=_START_TIMEOUT,
            env=env,
        )

    def stop(self) -> None:
        stop(self._process)
        self._process = None


@contextlib.contextmanager
def run_pubsub_emulator(workdir: Path | None = None) -> Iterator[PubSubEmulator]:
    """A fresh emulator of our own, stopped on exit."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pubsub-test-")))
        emulator = PubSubEmulator(workdir)
        stack.callback(emulator.stop)
        emulator.start()
        yield emulator


@contextlib.contextmanager
def pubsub_host() -> Iterator[str]:
    """PUBSUB_EMULATOR_HOST when it names an emulator that answers, else the host of one started here."""
    configured = os.environ.get("PUBSUB_EMULATOR_HOST")
    if configured and answers(configured):
        yield configured
        return
    with run_pubsub_emulator() as emulator:
        yield emulator.host
