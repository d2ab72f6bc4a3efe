"""Detailed logging: one JSON line per provider attempt through the real service core (simulator upstream),
never a key; message content only when asked for."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from shared.attempt_log import LOGGER_NAME, AttemptLog
from shared.facade import create_ai_service
from shared.identity import Identity
from shared.unified import ChatRequest, Message
from tests.facade.conftest import KEYS, environ_for
from tests.simulator_server import SimulatorAdmin

HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a secret plan"}]}
CONFIG = {"router": {"costOptimizationEnabled": False, "fallbackEnabled": False, "maxRetries": 1}}


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [orjson.loads(r.getMessage()) for r in caplog.records if r.name == LOGGER_NAME]


async def test_each_attempt_is_one_json_line_without_keys_or_content(
    tmp_path: Path, sim_url: str, admin: SimulatorAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    service = create_ai_service(
        {**CONFIG, "analytics": {"detailedLogging": True}}, environ=environ_for(tmp_path, sim_url)
    )
    try:
        admin.add_key_rule(KEYS["OPENAI_API_KEY"], status=500, times=1)
        await service.chat(HELLO, "user-1")
    finally:
        await service.aclose()
    first, second = lines(caplog)
    assert (first["attempt"], first["outcome"], first["kind"], first["status"]) == (1, "error", "api_error", 500)
    assert (second["attempt"], second["outcome"], second["provider"], second["model"]) == (
        2,
        "ok",
        "openai",
        "gpt-4o-mini",
    )
    assert first["request_id"] == second["request_id"]
    assert (second["tenant"], second["user"]) == ("default", "user-1")
    assert str(second["credential"]).startswith("platform:")
    text = caplog.text
    assert KEYS["OPENAI_API_KEY"] not in text
    assert "secret plan" not in text
    assert "messages" not in first


async def test_content_only_when_enabled_and_nothing_when_off(
    tmp_path: Path, sim_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    quiet = create_ai_service(CONFIG, environ=environ_for(tmp_path / "a", sim_url))
    loud = create_ai_service(
        {**CONFIG, "analytics": {"detailedLogging": True, "logContent": True}},
        environ=environ_for(tmp_path / "b", sim_url),
    )
    try:
        await quiet.chat(HELLO, "user-1")
        assert lines(caplog) == []
        await loud.chat(HELLO, "user-1")
    finally:
        await quiet.aclose()
        await loud.aclose()
    (line,) = lines(caplog)
    assert line["messages"] == [{"role": "user", "content": "a secret plan"}]


def test_turned_on_with_no_logging_configured_it_writes_json_lines_to_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # As under `make run` or in a Cloud Function: nothing configured logging, so nothing would print INFO.
    logger = logging.Logger("isolated.attempts")  # no parent handlers, like an unconfigured process
    AttemptLog(logger=logger).attempt(
        identity=Identity(tenant="shop", key_id="gk_1", user=None),
        request_id="req-1",
        request=ChatRequest(model="gpt-4o-mini", messages=(Message(role="user", content="hidden"),)),
        number=1,
        provider="openai",
        model="gpt-4o-mini",
        credential="platform:abc",
        reason="requested",
        latency_s=0.012,
        error=None,
    )
    (line,) = capsys.readouterr().out.splitlines()
    assert orjson.loads(line)["outcome"] == "ok"
    assert "hidden" not in line
