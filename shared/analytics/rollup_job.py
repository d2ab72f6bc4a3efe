"""Running the daily rollup from an environment: the Cloud Function `analytics_rollup` and the operator command.

    python -m local.admin analytics rollup [--day YYYY-MM-DD | --days N]

Settings are parsed once (`Settings.from_env`), the rollup port is the one of ANALYTICS_BACKEND
(shared.analytics.factory), and "today" is the clock's UTC day.

Pub/Sub delivery (the function): the trigger retries a function that raises, so what to raise is a choice.
A message that cannot be run as it is (not a Pub/Sub envelope, data that is not base64 JSON, unknown
fields, a day not over yet) is logged as an error and acknowledged: redelivering it would fail the same way
forever. A backend failure (`AnalyticsUnavailable`: BigQuery or the local files) and a configuration error
(`SettingsError`) raise, so Pub/Sub redelivers the message with backoff until it succeeds or expires; a
re-run is harmless, every day's rollup being idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from shared.analytics.factory import rollup_port
from shared.analytics.rollup import RolledDay, RollupPort, RollupRequestError, days_from_message, requested_days
from shared.clock import Clock, SystemClock
from shared.settings import Settings

__all__ = ["rollup_event", "rollup_from_env", "run_rollup"]

_log = logging.getLogger(__name__)


def _now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.time(), UTC)


def run_rollup(port: RollupPort, days: Sequence[date], clock: Clock, *, trigger: str = "operator") -> list[RolledDay]:
    """Roll `days` (oldest first) on `port`, logging each day; failures propagate."""
    _log.info("analytics rollup started by %s: %s", trigger, ", ".join(d.isoformat() for d in days))
    rolled = port.roll(sorted(days), _now(clock))
    for day in rolled:
        _log.info("analytics rollup: %s rolled, %d events", day.day.isoformat(), day.events)
    return rolled


def rollup_from_env(
    environ: Mapping[str, str], *, day: str | None = None, days: int | None = None, clock: Clock | None = None
) -> list[RolledDay]:
    """The operator's run: `day`, the last `days` complete days, or the default days (RollupRequestError)."""
    clock = clock or SystemClock()
    settings = Settings.from_env(environ)
    wanted = requested_days(_now(clock).date(), day, days)
    return run_rollup(rollup_port(settings), wanted, clock)


def rollup_event(
    environ: Mapping[str, str], data: object, *, event_id: str, clock: Clock | None = None
) -> list[RolledDay] | None:
    """The function's run for one CloudEvent's `data`; None when the message was refused (logged, acked)."""
    clock = clock or SystemClock()
    try:
        wanted = days_from_message(data, _now(clock).date())
    except RollupRequestError as error:
        _log.error("analytics rollup: event %s ignored (not retried): %s", event_id, error)
        return None
    settings = Settings.from_env(environ)
    return run_rollup(rollup_port(settings), wanted, clock, trigger=f"event {event_id}")
