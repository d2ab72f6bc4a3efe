"""The emulator launcher: a child that exits before it answers is reported with its log, one that never
answers is stopped at the deadline, and stop ends a running child by PID."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.child_process import launch, stop


def test_a_child_that_exits_before_answering_is_reported_with_its_log(tmp_path: Path) -> None:
    code = "import sys; print('port already in use'); sys.exit(3)"
    with pytest.raises(RuntimeError, match="port already in use"):
        launch([sys.executable, "-c", code], name="x", log=tmp_path / "log", ready=lambda: False, start_timeout=10)


def test_a_child_that_never_answers_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    started: list[int] = []

    def ready() -> bool:
        started.append(1)
        return False

    with pytest.raises(RuntimeError, match="x did not start"):
        launch(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            name="x",
            log=tmp_path / "log",
            ready=ready,
            start_timeout=0.3,
        )
    assert len(started) > 1


def test_stop_ends_a_running_child(tmp_path: Path) -> None:
    process = launch(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        name="x",
        log=tmp_path / "log",
        ready=lambda: True,
        start_timeout=5,
    )
    stop(process)
    assert process.returncode is not None
    stop(process)  # already gone: nothing to do
    stop(None)
