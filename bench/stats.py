"""The pure parts of the comparison bench (`bench.compare`): percentiles, /proc parsing, wrk's report line,
and the issue 9 targets as PASS/FAIL checks. No I/O except the two /proc readers at the end."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Check",
    "StreamRun",
    "TargetsInput",
    "WrkRun",
    "cpu_ticks",
    "evaluate",
    "parse_children",
    "parse_wrk",
    "percentile",
    "status_kb",
    "tree_cpu_seconds",
    "tree_pids",
]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least `q` (0..1) of the samples at or below it."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be within 0..1, not {q}")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def cpu_ticks(stat: str) -> tuple[int, int, int, int]:
    """utime, stime, cutime, cstime (clock ticks) from the text of /proc/<pid>/stat.

    The command name (field 2) is in parentheses and may hold spaces and ')', so fields are counted from the
    last ')': state is then field 3, utime field 14."""
    rest = stat.rsplit(")", 1)[1].split()
    if len(rest) < 15:
        raise ValueError("not a /proc/<pid>/stat line")
    utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
    return utime, stime, cutime, cstime


def status_kb(status: str, name: str) -> int:
    """A `Name:   123 kB` value of /proc/<pid>/status (VmRSS, VmHWM), in kB."""
    for line in status.splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise KeyError(f"{name} not in the status text")


def parse_children(text: str) -> list[int]:
    """The pids of /proc/<pid>/task/<tid>/children (space-separated)."""
    return [int(x) for x in text.split()]


def tree_pids(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """`pid` and its live descendants (through every thread's children file)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in sorted((proc / str(current) / "task").glob("*/children")):
            try:
                todo += parse_children(children.read_text())
            except OSError:  # the thread or process ended meanwhile
                continue
    return found


def tree_cpu_seconds(pid: int, proc: Path = Path("/proc")) -> float:
    """CPU seconds of a process tree: utime+stime of `pid` and its live descendants, plus the cutime+cstime of
    `pid` (its children that ended and were waited for)."""
    total = 0
    for member in tree_pids(pid, proc):
        try:
            utime, stime, cutime, cstime = cpu_ticks((proc / str(member) / "stat").read_text())
        except OSError:
            continue
        total += utime + stime + (cutime + cstime if member == pid else 0)
    return total / CLK_TCK


@dataclass(frozen=True, slots=True)
class WrkRun:
    """One wrk run, from the line our Lua `done` prints (latencies in microseconds)."""

    requests: int
    seconds: float
    socket_errors: int
    status_errors: int
    p50_us: float
    p90_us: float
    p99_us: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


WRK_MARK = "BENCH "


def parse_wrk(stdout: str) -> WrkRun:
    """The `BENCH requests duration_us socket_errors status_errors p50 p90 p99` line of a wrk run's output."""
    line = next((x for x in stdout.splitlines() if x.startswith(WRK_MARK)), None)
    if line is None:
        raise ValueError("no BENCH line in the wrk output (was the Lua script's done() run?)")
    fields = line.split()[1:]
    if len(fields) != 7:
        raise ValueError(f"malformed BENCH line: {line!r}")
    requests, duration_us, sock, status = (int(x) for x in fields[:4])
    p50, p90, p99 = (float(x) for x in fields[4:])
    return WrkRun(requests, duration_us / 1e6, sock, status, p50, p90, p99)


@dataclass(frozen=True, slots=True)
class StreamRun:
    """Streams through one target at one concurrency: time to first content token and to the end (ms)."""

    count: int
    ttft_p50_ms: float
    ttft_p99_ms: float
    total_p50_ms: float
    total_p99_ms: float
    chunks: int  # content deltas per stream (the same for every stream of the run)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    measured: str
    limit: str
    passed: bool | None  # None: not measured in this run

    def line(self) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "N/A"}[self.passed]
        return f"{verdict}: {self.name}: {self.measured} (target {self.limit})"


@dataclass(frozen=True, slots=True)
class TargetsInput:
    """What the issue 9 targets need, all from one run at zero added upstream latency, non-streaming unless
    named. `wrk` and `cpu_us` map (target, concurrency) to the run and its CPU µs per request."""

    wrk: Mapping[tuple[str, int], WrkRun]
    cpu_us: Mapping[tuple[str, int], float]
    stream: Mapping[tuple[str, int], StreamRun]
    cache_hit_p50_ms: float | None
    chat_cold_start_s: float | None
    chat_cold_start_label: str
    rss_growth: float | None  # (end - start) / start
    gateways: Sequence[str] = ("gateway",)


DIRECT, PROXY = "direct", "proxy"


def _ms(value_us: float) -> str:
    return f"{value_us / 1000:.3f} ms"


def evaluate(data: TargetsInput) -> list[Check]:
    """The targets of issue 9 as checks; a target whose inputs are missing is N/A (never a silent PASS)."""
    checks: list[Check] = []
    for gw in data.gateways:
        cpu_gw, cpu_proxy = data.cpu_us.get((gw, 16)), data.cpu_us.get((PROXY, 16))
        if cpu_gw is None or cpu_proxy is None:
            checks.append(Check(f"{gw} CPU per request, c=16", "not measured", "<= 2x proxy", None))
        else:
            ratio = cpu_gw / cpu_proxy if cpu_proxy > 0 else math.inf
            measured = f"{cpu_gw:.0f} µs vs proxy {cpu_proxy:.0f} µs ({ratio:.2f}x)"
            checks.append(Check(f"{gw} CPU per request, c=16", measured, "<= 2x proxy", ratio <= 2.0))
        direct1, gw1 = data.wrk.get((DIRECT, 1)), data.wrk.get((gw, 1))
        if direct1 is None or gw1 is None:
            checks.append(Check(f"{gw} added p50, c=1", "not measured", "< 1 ms", None))
        else:
            added = gw1.p50_us - direct1.p50_us
            checks.append(Check(f"{gw} added p50, c=1", _ms(added), "< 1 ms", added < 1000.0))
        direct16, gw16, proxy16 = (data.wrk.get((t, 16)) for t in (DIRECT, gw, PROXY))
        if direct16 is None or gw16 is None or proxy16 is None:
            checks.append(Check(f"{gw} added p99, c=16", "not measured", "<= 2x proxy's added p99", None))
        else:
            added_gw, added_proxy = gw16.p99_us - direct16.p99_us, proxy16.p99_us - direct16.p99_us
            measured = f"{_ms(added_gw)} vs proxy {_ms(added_proxy)}"
            ok = added_gw <= 2 * max(added_proxy, 0.0)
            checks.append(Check(f"{gw} added p99, c=16", measured, "<= 2x proxy's added p99", ok))
        s_direct, s_gw = data.stream.get((DIRECT, 1)), data.stream.get((gw, 1))
        if s_direct is None or s_gw is None:
            checks.append(Check(f"{gw} stream added TTFT p50, c=1", "not measured", "< 1 ms", None))
        else:
            added_ms = s_gw.ttft_p50_ms - s_direct.ttft_p50_ms
            checks.append(Check(f"{gw} stream added TTFT p50, c=1", f"{added_ms:.3f} ms", "< 1 ms", added_ms < 1.0))
            measured = f"{s_gw.chunks} content deltas per stream vs {s_direct.chunks} direct"
            ok = s_gw.chunks == s_direct.chunks
            checks.append(Check(f"{gw} stream chunks not batched, c=1", measured, "as many as direct", ok))
    hit = data.cache_hit_p50_ms
    checks.append(
        Check("cache hit p50 end to end, c=1", "not measured" if hit is None else f"{hit:.3f} ms", "< 1 ms", None)
        if hit is None
        else Check("cache hit p50 end to end, c=1", f"{hit:.3f} ms", "< 1 ms", hit < 1.0)
    )
    cold = data.chat_cold_start_s
    name = f"chat cold start ({data.chat_cold_start_label})"
    checks.append(
        Check(name, "not measured", "< 1.5 s", None)
        if cold is None
        else Check(name, f"{cold:.3f} s", "< 1.5 s", cold < 1.5)
    )
    growth = data.rss_growth
    checks.append(
        Check("RSS growth over the soak", "not measured", "within 10%", None)
        if growth is None
        else Check("RSS growth over the soak", f"{growth:+.1%}", "within 10%", growth <= 0.10)
    )
    return checks
