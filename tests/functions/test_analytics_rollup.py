"""The Cloud Function `analytics_rollup` (functions/analytics/main.py), configured only by environment
variables, on the embedded backend end to end: events in real segment files under GATEWAY_DATA_DIR, a
CloudEvent built as Pub/Sub's (the message data base64 JSON), the rollup database written, the report
reading it. Bad payloads are logged and acknowledged (nothing rolled, no exception: no redelivery loop);
a backend failure or a configuration error raises, so that Pub/Sub redelivers. The operator command
`python -m local.admin analytics rollup` runs the same job."""

from __future__ import annotations

import base64
import io
import logging
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import flask
import orjson
import pytest
from cloudevents.http import CloudEvent
from functions_framework import create_app

from local import admin
from shared.analytics.duckdb_adapter import DuckDbAnalytics
from shared.analytics.duckdb_rollup import rollups_path
from shared.analytics.port import AnalyticsUnavailable, QueryParams
from shared.settings import ENV_VARS, SettingsError
from tests.analytics.events import DAY0, event, write_segment

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "analytics" / "main.py"
PUBSUB = {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//pubsub.googleapis.com/t"}


def today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def function_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[flask.Flask, ModuleType]]:
    """The function's app, loaded as the framework loads it (module `main`), and that module."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    previous = sys.modules.get("main")
    app = create_app(target="analytics_rollup", source=str(SOURCE), signature_type="cloudevent")  # type: ignore[no-untyped-call]
    yield app, sys.modules["main"]
    if previous is None:
        sys.modules.pop("main", None)
    else:
        sys.modules["main"] = previous


def message(payload: bytes | str | None, event_id: str = "ev-1") -> CloudEvent:
    """A CloudEvent as Pub/Sub delivers it: the message data base64 encoded (None: no data at all)."""
    msg: dict[str, Any] = {"messageId": event_id, "publishTime": "2026-03-10T02:00:00Z"}
    if payload is not None:
        raw = payload.encode() if isinstance(payload, str) else payload
        msg["data"] = base64.b64encode(raw).decode()
    return CloudEvent({**PUBSUB, "id": event_id}, {"message": msg, "subscription": "projects/p/subscriptions/s"})


def marks(data_dir: Path) -> dict[date, int]:
    with duckdb.connect(str(rollups_path(data_dir)), read_only=True) as connection:
        return dict(connection.execute("SELECT day, events FROM usage_rollup_days").fetchall())


def seed_recent(data_dir: Path) -> dict[date, int]:
    """Events on each of the last five days and today; the events per day."""
    now = datetime.now(UTC).replace(hour=0, minute=30, second=0, microsecond=0)
    events = [event(ts=now - timedelta(days=n), cost_micros=10 + n) for n in range(6) for _ in range(n + 1)]
    write_segment(data_dir / "events", events)
    return {(now - timedelta(days=n)).date(): n + 1 for n in range(6)}


@pytest.mark.parametrize("payload", [b"", b"{}", b" \n"])  # Terraform's Scheduler job sends {}
def test_an_empty_message_rolls_the_last_three_complete_days(
    function_module: tuple[flask.Flask, ModuleType], data_dir: Path, caplog: pytest.LogCaptureFixture, payload: bytes
) -> None:
    per_day = seed_recent(data_dir)
    with caplog.at_level(logging.INFO):
        function_module[1].analytics_rollup(message(payload))

    yesterday = today() - timedelta(days=1)
    expected = {yesterday - timedelta(days=n): per_day[yesterday - timedelta(days=n)] for n in range(3)}
    assert marks(data_dir) == expected  # never today: it is not over
    assert "started by event ev-1" in caplog.text


async def test_a_named_day_is_rolled_and_the_report_reads_it(
    function_module: tuple[flask.Flask, ModuleType], data_dir: Path
) -> None:
    events = [event(ts=DAY0 + timedelta(hours=h), cost_micros=1_000 + h) for h in range(24)]
    write_segment(data_dir / "events", [*events, events[0]])  # a duplicate delivery
    function_module[1].analytics_rollup(message(orjson.dumps({"day": DAY0.date().isoformat()})))
    function_module[1].analytics_rollup(message(orjson.dumps({"day": DAY0.date().isoformat()}), "ev-2"))  # again

    assert marks(data_dir) == {DAY0.date(): 24}
    port = DuckDbAnalytics(data_dir / "events", rollups_path(data_dir))
    (totals,) = await port.run("totals", QueryParams("acme", DAY0, DAY0 + timedelta(days=1)))
    assert (totals["requests"], totals["cost_micros"]) == (24, sum(1_000 + h for h in range(24)))


def test_a_number_of_days_rolls_that_many(function_module: tuple[flask.Flask, ModuleType], data_dir: Path) -> None:
    seed_recent(data_dir)
    function_module[1].analytics_rollup(message(b'{"days": 5}'))
    assert sorted(marks(data_dir)) == [today() - timedelta(days=n) for n in range(5, 0, -1)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"day": "2026-3-1"}', "YYYY-MM-DD"),
        (b'{"day": 20260301}', "YYYY-MM-DD"),
        (b'{"days": 0}', "days must be a whole number"),
        (b'{"days": "3"}', "days must be a whole number"),
        (b'{"days": true}', "days must be a whole number"),
        (b'{"days": 400}', "days must be a whole number"),
        (b'{"day": "2026-03-01", "days": 2}', "either day or days"),
        (b'{"month": "2026-03"}', "unknown field"),
    ],
)
def test_a_bad_payload_is_logged_and_acknowledged(
    function_module: tuple[flask.Flask, ModuleType],
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
    payload: bytes,
    reason: str,
) -> None:
    seed_recent(data_dir)
    with caplog.at_level(logging.ERROR):
        function_module[1].analytics_rollup(message(payload, "ev-bad"))  # returns: Pub/Sub acks, no redelivery
    assert "event ev-bad ignored" in caplog.text
    assert reason in caplog.text
    assert not rollups_path(data_dir).exists()


@pytest.mark.parametrize("day", [0, 1])
def test_today_and_later_days_are_refused(
    function_module: tuple[flask.Flask, ModuleType], data_dir: Path, caplog: pytest.LogCaptureFixture, day: int
) -> None:
    named = (today() + timedelta(days=day)).isoformat()
    with caplog.at_level(logging.ERROR):
        function_module[1].analytics_rollup(message(orjson.dumps({"day": named})))
    assert "is not over yet" in caplog.text
    assert not rollups_path(data_dir).exists()


@pytest.mark.parametrize(
    "data",
    [{"subscription": "s"}, {"message": "text"}, {"message": {"data": 5}}, {"message": {"data": "@@not-base64@@"}}],
)
def test_an_event_that_is_not_a_pubsub_message_is_refused(
    function_module: tuple[flask.Flask, ModuleType], data_dir: Path, caplog: pytest.LogCaptureFixture, data: Any
) -> None:
    with caplog.at_level(logging.ERROR):
        function_module[1].analytics_rollup(CloudEvent({**PUBSUB, "id": "ev-odd"}, data))
    assert "event ev-odd ignored" in caplog.text
    assert not rollups_path(data_dir).exists()


def test_a_message_without_data_takes_the_defaults(
    function_module: tuple[flask.Flask, ModuleType], data_dir: Path
) -> None:
    seed_recent(data_dir)
    function_module[1].analytics_rollup(message(None))
    assert len(marks(data_dir)) == 3


def test_the_framework_serves_the_cloud_event(function_module: tuple[flask.Flask, ModuleType], data_dir: Path) -> None:
    seed_recent(data_dir)
    day = (today() - timedelta(days=4)).isoformat()
    headers = {
        "ce-id": "ev-43",
        "ce-source": "//pubsub.googleapis.com/projects/demo-test/topics/analytics-rollup",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "content-type": "application/json",
    }
    body = {"message": {"data": base64.b64encode(orjson.dumps({"day": day})).decode()}}

    response = function_module[0].test_client().post("/", json=body, headers=headers)

    assert response.status_code == 200, response.text
    assert marks(data_dir) == {date.fromisoformat(day): 5}
    bad = {"message": {"data": base64.b64encode(b"{").decode()}}
    assert function_module[0].test_client().post("/", json=bad, headers=headers).status_code == 200  # acked


class _Refusing(BaseHTTPRequestHandler):
    """BigQuery answering every call with 403 (not retried by the client)."""

    def do_POST(self) -> None:
        body = b'{"error": {"code": 403, "message": "Access Denied: Table usage_daily", "errors": []}}'
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_backend_failure_raises_so_pubsub_redelivers(
    function_module: tuple[flask.Flask, ModuleType],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    refusing_endpoint: str,
) -> None:
    for name, value in {
        "ANALYTICS_BACKEND": "bigquery",
        "BIGQUERY_DATASET": "analytics",
        "BIGQUERY_ENDPOINT": refusing_endpoint,
        "GOOGLE_CLOUD_PROJECT_ID": "demo-test",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(AnalyticsUnavailable, match="Access Denied"):
        function_module[1].analytics_rollup(message(b""))
    response = (
        function_module[0]
        .test_client()
        .post(
            "/",
            json={"message": {"data": ""}},
            headers={"ce-id": "e", "ce-source": "s", "ce-type": PUBSUB["type"], "ce-specversion": "1.0"},
        )
    )
    assert response.status_code == 500  # the trigger's retry policy redelivers


def test_a_missing_dataset_is_a_configuration_error(
    function_module: tuple[flask.Flask, ModuleType], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANALYTICS_BACKEND", "bigquery")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT_ID", "demo-test")
    with pytest.raises(SettingsError, match="BIGQUERY_DATASET: must be set when ANALYTICS_BACKEND=bigquery"):
        function_module[1].analytics_rollup(message(b""))


def test_the_operator_command_rolls_the_same_way(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    per_day = seed_recent(data_dir)
    out = io.StringIO()
    day = today() - timedelta(days=2)

    assert admin.main(["analytics", "rollup", "--day", day.isoformat()], out=out) == 0
    assert out.getvalue() == f"rolled {day.isoformat()}: {per_day[day]} events\n"
    assert admin.main(["analytics", "rollup"], out=out) == 0
    assert len(marks(data_dir)) == 3
    assert admin.main(["analytics", "rollup", "--days", "5"], out=out) == 0
    assert len(marks(data_dir)) == 5

    assert admin.main(["analytics", "rollup", "--day", today().isoformat()]) == 1
    assert "is not over yet" in capsys.readouterr().err
    assert admin.main(["analytics", "rollup", "--days", "0"]) == 1
    assert "days must be a whole number from 1 to 366" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        admin.main(["analytics", "rollup", "--day", "2026-03-01", "--days", "2"])  # argparse: not both
