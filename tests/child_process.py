"""Starting and stopping the emulators the tests run (Firestore, Pub/Sub, BigQuery): launch with output to a
log file, wait until the server answers (its start failure reported with the log's tail), and stop by PID
(SIGTERM, then SIGKILL if it hangs). Each emulator module says what to run and what "answers" means."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["answers", "launch", "stop"]

_STOP_TIMEOUT = 5.0


def answers(host: str) -> bool:
    """The `host:port` accepts a TCP connection (enough for a gRPC server)."""
    name, _, port = host.rpartition(":")
    try:
        with socket.create_connection((name or "127.0.0.1", int(port)), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def launch(
    command: Sequence[str],
    *,
    name: str,
    log: Path,
    ready: Callable[[], bool],
    start_timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    poll: float = 0.05,
) -> subprocess.Popen[bytes]:
    """Run `command`, wait until `ready()`; a process that exits or is not ready in time is stopped and
    reported (RuntimeError with the log's tail)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env if env is not None else os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + start_timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} did not start:\n{tail}")
        time.sleep(poll)
    return process


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM by PID, SIGKILL if it has not exited within a few seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(_STOP_TIMEOUT)
