"""Run a real `redis-server` for tests: on 127.0.0.1 and a free port, no persistence, stopped by PID.

    with redis_url() as url:                 # REDIS_URL if set, else a fresh server: "redis://127.0.0.1:<port>/0"
        ...

    with run_redis_server(tmp_path) as server:   # always its own process: tests that kill or pause Redis
        server.kill()                             # SIGKILL, as a crash would
        server.start()                            # again, on the same port
        server.pause(); server.resume()           # SIGSTOP / SIGCONT: alive but silent, the timeout case

`password=` starts it with `requirepass`; `tls=make_tls_files(dir)` serves TLS only (a throwaway CA,
made with the `openssl` command line). A missing `redis-server` is an error naming the package to
install, never a skip: the cache tests must not pass quietly on a machine (or CI) without Redis.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

__all__ = [
    "RedisServer",
    "TlsFiles",
    "delete_prefix",
    "make_tls_files",
    "redis_url",
    "run_redis_server",
]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_MISSING = (
    "redis-server is not installed (the cache tests run against a real Redis): "
    "install it with `apt-get install redis-server`, or point REDIS_URL at a Redis you can use"
)


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost signed by it (P-256, one day)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the TLS tests need the `openssl` command: apt-get install openssl")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for command in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca_cert, "-days", "1", "-subj", "/CN=gateway test CA"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "1",
         "-extfile", extensions],
    ):  # fmt: skip
        subprocess.run([openssl, *map(str, command)], check=True, capture_output=True)
    return TlsFiles(ca_cert=ca_cert, cert=cert, key=key)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One `redis-server` process; `start` may be called again after `kill`/`stop` (same port)."""

    def __init__(self, workdir: Path, *, password: str | None = None, tls: TlsFiles | None = None) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError(_MISSING)
        self.workdir = workdir
        self.password = password
        self.tls = tls
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / f"redis-{self.port}.log"

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        auth = f":{self.password}@" if self.password else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _command(self) -> list[str]:
        assert self.binary is not None
        command = [self.binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        if self.tls:
            command += ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            command += ["--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key)]
            command += ["--tls-ca-cert-file", str(self.tls.ca_cert)]
        else:
            command += ["--port", str(self.port)]
        if self.password:
            command += ["--requirepass", self.password]
        return command

    def start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._answers_ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self._log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{tail}")
            time.sleep(0.02)

    def _answers_ping(self) -> bool:
        """Any reply to PING (`+PONG`, or `-NOAUTH` with a password) means the server is serving."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
                if self.tls:
                    context = ssl.create_default_context(cafile=str(self.tls.ca_cert))
                    with context.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped:
                        wrapped.sendall(b"PING\r\n")
                        return bool(wrapped.recv(64))
                raw.sendall(b"PING\r\n")
                return bool(raw.recv(64))
        except OSError:
            return False

    def _signal(self, signum: int) -> None:
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signum)

    def pause(self) -> None:
        """SIGSTOP: the port stays open and connections are accepted, but nothing is answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, as a crash or an instance being taken away would do; waits until it is gone."""
        if self._process is None:
            return
        self.resume()
        self._signal(signal.SIGKILL)
        self._process.wait(_STOP_TIMEOUT)
        self._process = None

    def stop(self) -> None:
        if self._process is None:
            return
        self.resume()  # a stopped process would not act on SIGTERM
        self._signal(signal.SIGTERM)
        try:
            self._process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(_STOP_TIMEOUT)
        self._process = None


@contextlib.contextmanager
def run_redis_server(
    workdir: Path | None = None, *, password: str | None = None, tls: TlsFiles | None = None
) -> Iterator[RedisServer]:
    """A fresh server of our own (whatever REDIS_URL says), stopped on exit."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="redis-test-")))
        server = RedisServer(workdir, password=password, tls=tls)
        stack.callback(server.stop)
        server.start()
        yield server


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """REDIS_URL when the environment names a Redis, else the URL of a server started for the duration."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with run_redis_server() as server:
        yield server.url


async def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key under `prefix` (never FLUSHALL: the server may be shared)."""
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
