"""The pure parts of the comparison bench (bench/stats.py, bench/compare.py): nearest-rank percentiles, the
/proc parsers and the process-tree CPU sum over a fake /proc, wrk's BENCH line, `-X importtime` lines, and
the issue 9 targets as PASS/FAIL/N/A checks. Nothing here is timed and no server is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.compare import cloud_clients, parse_args, parse_importtime
from bench.stats import (
    CLK_TCK,
    Check,
    StreamRun,
    TargetsInput,
    WrkRun,
    cpu_ticks,
    evaluate,
    parse_wrk,
    percentile,
    status_kb,
    tree_cpu_seconds,
    tree_pids,
)

# A real /proc/<pid>/stat line shape, with a command name holding a space and a ')'.
STAT = (
    "4242 (python -m) x) S 1 4242 4242 0 -1 4194560 2975 0 0 0 {utime} {stime} {cutime} {cstime} 20 0 3 0 "
    "123456 98765432 12345 18446744073709551615 1 1 0 0 0 0 0 16781312 16386 0 0 0 17 1 0 0 0 0 0"
)


def stat(utime: int, stime: int, cutime: int = 0, cstime: int = 0) -> str:
    return STAT.format(utime=utime, stime=stime, cutime=cutime, cstime=cstime)


# ------------------------------------------------------------------------------------------------ percentiles


def test_percentile_is_nearest_rank() -> None:
    samples = [float(x) for x in range(100, 0, -1)]  # 100..1, unsorted on purpose
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.9) == 90.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile(samples, 1.0) == 100.0
    assert percentile(samples, 0.0) == 1.0


def test_percentile_of_few_samples_takes_the_sample_at_or_above_the_rank() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.51) == 3.0
    assert percentile([7.0], 0.99) == 7.0


def test_percentile_refuses_no_samples_and_a_q_out_of_range() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        percentile([1.0], 50)


# ------------------------------------------------------------------------------------------------ /proc


def test_cpu_ticks_counts_fields_after_the_last_parenthesis() -> None:
    assert cpu_ticks(stat(1500, 250, 40, 10)) == (1500, 250, 40, 10)


def test_cpu_ticks_refuses_a_truncated_line() -> None:
    with pytest.raises(ValueError, match="not a /proc"):
        cpu_ticks("12 (x) S 1 2 3")


def test_status_kb_reads_the_named_value() -> None:
    status = "Name:\tpython\nVmPeak:\t  300000 kB\nVmHWM:\t   57344 kB\nVmRSS:\t   51200 kB\n"
    assert status_kb(status, "VmHWM") == 57344
    assert status_kb(status, "VmRSS") == 51200
    with pytest.raises(KeyError):
        status_kb(status, "VmSwap")


def fake_proc(root: Path, tree: dict[int, tuple[str, dict[int, list[int]]]]) -> Path:
    """pid -> (stat text, {tid: child pids}) as /proc files."""
    for pid, (text, threads) in tree.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "stat").write_text(text)
        for tid, children in threads.items():
            (root / str(pid) / "task" / str(tid)).mkdir(parents=True)
            (root / str(pid) / "task" / str(tid) / "children").write_text(" ".join(map(str, children)) + " ")
    return root


def test_tree_cpu_sums_descendants_of_every_thread_and_the_roots_waited_children(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        {
            10: (stat(100, 20, cutime=7, cstime=3), {10: [11], 12: [13]}),  # children via two threads
            11: (stat(50, 5, cutime=1000, cstime=1000), {11: [14]}),  # a child's cutime is not counted
            13: (stat(30, 0), {13: []}),
            14: (stat(2, 1), {14: []}),
            99: (stat(5000, 5000), {99: []}),  # not in the tree
        },
    )
    assert sorted(tree_pids(10, proc)) == [10, 11, 13, 14]
    expected_ticks = (100 + 20 + 7 + 3) + (50 + 5) + 30 + (2 + 1)
    assert tree_cpu_seconds(10, proc) == pytest.approx(expected_ticks / CLK_TCK)


def test_tree_cpu_skips_a_child_that_ended_meanwhile(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {20: (stat(10, 10), {20: [21]})})  # 21 is listed but has no /proc entry
    assert tree_cpu_seconds(20, proc) == pytest.approx(20 / CLK_TCK)


# ------------------------------------------------------------------------------------------------ wrk


WRK_OUT = """Running 2s test @ http://127.0.0.1:40000/v1/chat/completions
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.20ms    3.01ms  40.12ms   80.00%
  3200 requests in 2.00s, 1.20MB read
Requests/sec:   1600.00
Transfer/sec:    600.00KB
BENCH 3200 2000000 0 0 9800.0 14000.5 25000.0
"""


def test_parse_wrk_reads_the_bench_line() -> None:
    run = parse_wrk(WRK_OUT)
    assert run == WrkRun(3200, 2.0, 0, 0, 9800.0, 14000.5, 25000.0)
    assert run.rps == pytest.approx(1600.0)


def test_parse_wrk_keeps_error_counts() -> None:
    run = parse_wrk("BENCH 10 1000000 3 2 100.0 200.0 300.0\n")
    assert (run.socket_errors, run.status_errors) == (3, 2)
    assert run.rps == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("text", "error"), [("Requests/sec: 5\n", "no BENCH line"), ("BENCH 1 2 3\n", "malformed BENCH line")]
)
def test_parse_wrk_refuses_output_without_a_whole_bench_line(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_wrk(text)


# ------------------------------------------------------------------------------------------------ importtime


def test_parse_importtime_reads_cumulative_and_depth() -> None:
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   _io\n"
        "import time:        80 |        300 |     shared.api.chat\n"
        "import time:       900 |       5200 | main\n"
        "some other line\n"
    )
    assert parse_importtime(stderr) == [("_io", 120, 1), ("shared.api.chat", 300, 2), ("main", 5200, 0)]


# ------------------------------------------------------------------------------------------------ targets


def wrk(p50_ms: float, p99_ms: float) -> WrkRun:
    return WrkRun(1000, 1.0, 0, 0, p50_ms * 1000, p50_ms * 1000, p99_ms * 1000)


def stream(ttft_ms: float, chunks: int = 20) -> StreamRun:
    return StreamRun(100, ttft_ms, ttft_ms, ttft_ms + 1, ttft_ms + 1, chunks)


def inputs(**changes: object) -> TargetsInput:
    base: dict[str, object] = {
        "wrk": {
            ("direct", 1): wrk(0.30, 0.60),
            ("proxy", 1): wrk(0.70, 1.20),
            ("gateway", 1): wrk(1.20, 2.00),  # added p50 0.90 ms
            ("direct", 16): wrk(4.0, 10.0),
            ("proxy", 16): wrk(8.0, 15.0),  # added p99 5 ms
            ("gateway", 16): wrk(12.0, 20.0),  # added p99 10 ms: exactly 2x
        },
        "cpu_us": {("proxy", 16): 300.0, ("gateway", 16): 600.0},
        "stream": {("direct", 1): stream(1.4), ("gateway", 1): stream(2.3)},
        "cache_hit_p50_ms": 0.4,
        "chat_cold_start_s": 1.2,
        "chat_cold_start_label": "functions-framework",
        "rss_growth": 0.05,
    }
    base.update(changes)
    return TargetsInput(**base)  # type: ignore[arg-type]


def verdicts(checks: list[Check]) -> dict[str, bool | None]:
    return {check.name: check.passed for check in checks}


def test_every_target_passes_at_its_limit() -> None:
    checks = evaluate(inputs())
    assert verdicts(checks) == {
        "gateway CPU per request, c=16": True,
        "gateway added p50, c=1": True,
        "gateway added p99, c=16": True,
        "gateway stream added TTFT p50, c=1": True,
        "gateway stream chunks not batched, c=1": True,
        "cache hit p50 end to end, c=1": True,
        "chat cold start (functions-framework)": True,
        "RSS growth over the soak": True,
    }
    assert (
        checks[0].line() == "PASS: gateway CPU per request, c=16: 600 µs vs proxy 300 µs (2.00x) (target <= 2x proxy)"
    )


def test_each_target_fails_just_past_its_limit() -> None:
    data = inputs(
        wrk={
            ("direct", 1): wrk(0.30, 0.60),
            ("gateway", 1): wrk(1.30, 2.00),  # added p50 1.00 ms: not under 1 ms
            ("direct", 16): wrk(4.0, 10.0),
            ("proxy", 16): wrk(8.0, 15.0),
            ("gateway", 16): wrk(12.0, 20.1),  # added p99 10.1 ms > 2 x 5 ms
        },
        cpu_us={("proxy", 16): 300.0, ("gateway", 16): 601.0},
        stream={("direct", 1): stream(1.4), ("gateway", 1): stream(2.4, chunks=19)},
        cache_hit_p50_ms=1.0,
        chat_cold_start_s=1.5,
        rss_growth=0.101,
    )
    checks = evaluate(data)
    assert [c.passed for c in checks] == [False] * 8
    assert all(c.line().startswith("FAIL: ") for c in checks)


def test_rss_shrinking_passes_and_missing_inputs_are_not_applicable() -> None:
    data = inputs(wrk={}, cpu_us={}, stream={}, cache_hit_p50_ms=None, chat_cold_start_s=None, rss_growth=-0.2)
    result = verdicts(evaluate(data))
    assert result.pop("RSS growth over the soak") is True
    assert set(result.values()) == {None}
    assert evaluate(data)[0].line().startswith("N/A: ")


def test_each_gateway_named_is_checked() -> None:
    data = inputs(gateways=("gateway", "gateway+redis"))
    names = [c.name for c in evaluate(data)]
    assert "gateway+redis CPU per request, c=16" in names
    assert verdicts(evaluate(data))["gateway+redis added p50, c=1"] is None  # not in this run's data


# ------------------------------------------------------------------------------------------------ options


def test_quick_mode_shortens_every_bounded_phase_and_flags_still_win() -> None:
    quick = parse_args(["--quick"])
    assert (quick.seconds, quick.streams, quick.soak_requests, quick.cold_repeats) == (2.0, 40, 5000, 1)
    full = parse_args(["--soak-requests", "1000", "--skip", "pubsub,cold"])
    assert (full.seconds, full.soak_requests, full.skip) == (10.0, 1000, {"pubsub", "cold"})
    with pytest.raises(SystemExit):
        parse_args(["--skip", "everything"])


def test_cloud_clients_leave_out_the_frameworks_own_google_cloud_functions() -> None:
    modules = [
        "google.cloud.functions",
        "google.cloud.functions_v1.context",
        "google.cloud.pubsub_v1",
        "google.cloud.pubsub_v1.publisher.client",
        "google.cloud.firestore_v1",
        "google.cloud",
    ]
    assert cloud_clients(modules) == ["google.cloud.firestore_v1", "google.cloud.pubsub_v1"]
    assert cloud_clients(["google.cloud.functions", "google.cloud.functions.context"]) == []
