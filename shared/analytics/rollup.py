"""Daily rollups of the usage events: what a run rolls, the SQL that rolls one day, and the port that runs it.

A run rolls whole UTC days that are over (never today): by default the last `DEFAULT_DAYS` complete days
(yesterday and the two before), so that events landing late (Pub/Sub redelivery, a spill re-sent after an
outage) are picked up by the next runs; or one named day; or the last N days.

Rolling one day is two statements, written once in BigQuery's dialect (DuckDB runs their sqlglot
translation), each one atomic on its own; BigQuery multi-statement transactions are not used because the
emulator the tests run against drops the parameters of a script (it runs and changes nothing):

1. `ROLLUP_ROWS`: a MERGE that replaces the day's `usage_daily` rows with the day's deduplicated events
   grouped by (tenant, user, key_id, provider, model), measured as the usage queries measure them
   (shared.analytics.queries.ROLLUP_MEASURES). `ON FALSE` matches nothing: the day's old rows are deleted
   (`NOT MATCHED BY SOURCE`) and the new ones inserted in the same statement, so a re-run gives the same
   rows, never doubles, and no reader sees the day half-replaced.
2. `ROLLUP_MARK`: upserts the day into `usage_rollup_days` (`rolled_at`, `events` counted from the rows
   just written).

Readers use `usage_daily` only for days in `usage_rollup_days` (shared.analytics.queries). The order keeps
them right at every moment: a day rolled for the first time has its rows written before it is marked (until
then readers count its raw events); a re-rolled day swaps its rows in one statement. A day's rollup is a
snapshot: an event that lands for a rolled day after the run is counted from the next run of that day on.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

import orjson

from shared.analytics.queries import ROLLUP_KEYS, ROLLUP_MEASURES

__all__ = [
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "ROLLED_DAY",
    "ROLLUP_MARK",
    "ROLLUP_PARAMETERS",
    "ROLLUP_ROWS",
    "RolledDay",
    "RollupPort",
    "RollupRequestError",
    "complete_days",
    "day_window",
    "days_from_message",
    "requested_days",
]

DEFAULT_DAYS = 3
MAX_DAYS = 366
ROLLUP_PARAMETERS = ("day", "since", "until", "rolled_at")

_COLUMNS = ("day", *ROLLUP_KEYS, *ROLLUP_MEASURES)
_MEASURED = ",\n    ".join(f"{sql} AS {name}" for name, sql in ROLLUP_MEASURES.items())

ROLLUP_ROWS = f"""MERGE usage_daily AS t
USING (
  SELECT
    @day AS day,
    {", ".join(ROLLUP_KEYS)},
    {_MEASURED}
  FROM (
    SELECT *
    FROM usage_events
    WHERE ts >= @since
      AND ts < @until
    QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts) = 1
  ) AS day_events
  GROUP BY {", ".join(ROLLUP_KEYS)}
) AS s
ON FALSE
WHEN NOT MATCHED BY SOURCE AND t.day = @day THEN DELETE
WHEN NOT MATCHED THEN INSERT ({", ".join(_COLUMNS)})
VALUES ({", ".join(f"s.{c}" for c in _COLUMNS)})"""

ROLLUP_MARK = """MERGE usage_rollup_days AS t
USING (
  SELECT @day AS day, @rolled_at AS rolled_at, COALESCE(SUM(requests), 0) AS events
  FROM usage_daily
  WHERE day = @day
) AS s
ON t.day = s.day
WHEN MATCHED THEN UPDATE SET rolled_at = s.rolled_at, events = s.events
WHEN NOT MATCHED THEN INSERT (day, rolled_at, events) VALUES (s.day, s.rolled_at, s.events)"""

# The marker of one day, read back after rolling it.
ROLLED_DAY = "SELECT day, rolled_at, events FROM usage_rollup_days WHERE day = @day"


class RollupRequestError(ValueError):
    """A rollup request (a Pub/Sub message, command arguments) that cannot be run as it is: never retried."""


@dataclass(frozen=True, slots=True)
class RolledDay:
    day: date
    events: int  # the deduplicated events the day's rollup counted
    rolled_at: datetime


class RollupPort(Protocol):
    def roll(self, days: Sequence[date], rolled_at: datetime) -> list[RolledDay]:
        """Roll each day in turn (ROLLUP_ROWS, then ROLLUP_MARK); raises AnalyticsUnavailable on a failure."""
        ...


def day_window(day: date) -> tuple[datetime, datetime]:
    """[midnight, next midnight) of `day`, UTC."""
    since = datetime.combine(day, time(), UTC)
    return since, since + timedelta(days=1)


def complete_days(today: date, count: int) -> list[date]:
    """The `count` days before `today`, oldest first."""
    return [today - timedelta(days=n) for n in range(count, 0, -1)]


def requested_days(today: date, day: str | None = None, days: int | None = None) -> list[date]:
    """The days a request names: one `day` (YYYY-MM-DD, before today), the last `days` complete days, or
    by default the last DEFAULT_DAYS. Raises RollupRequestError saying what is accepted."""
    if day is not None and days is not None:
        raise RollupRequestError("give either day or days, not both")
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise RollupRequestError(f"days must be a whole number from 1 to {MAX_DAYS}, not {days!r}")
        return complete_days(today, days)
    if day is None:
        return complete_days(today, DEFAULT_DAYS)
    try:
        if not isinstance(day, str) or len(day) != 10:
            raise ValueError
        named = date.fromisoformat(day)
    except ValueError:
        raise RollupRequestError(f"day must be a date written YYYY-MM-DD, not {str(day)[:40]!r}") from None
    if named >= today:
        raise RollupRequestError(f"day {named.isoformat()} is not over yet (UTC): only days before today roll")
    return [named]


def days_from_message(envelope: object, today: date) -> list[date]:
    """The days a Pub/Sub message (as a CloudEvent's data: {"message": {"data": base64}}) asks for.

    The message data is empty (the defaults) or a JSON object with `day` or `days`
    (`{"day": "2026-03-01"}`, `{"days": 7}`); anything else raises RollupRequestError.
    """
    message = envelope.get("message") if isinstance(envelope, Mapping) else None
    if not isinstance(message, Mapping):
        raise RollupRequestError("the event is not a Pub/Sub message (no message object in its data)")
    encoded = message.get("data") or ""
    if not isinstance(encoded, str):
        raise RollupRequestError("the message data is not a base64 string")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise RollupRequestError("the message data is not valid base64") from None
    if not raw.strip():
        return requested_days(today)
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RollupRequestError("the message data is not JSON") from None
    if not isinstance(payload, dict):
        raise RollupRequestError('the message data must be a JSON object such as {"day": "YYYY-MM-DD"} or {"days": N}')
    unknown = sorted(set(payload) - {"day", "days"})
    if unknown:
        raise RollupRequestError(f"unknown field(s) {', '.join(map(repr, unknown))[:120]}: expected day or days")
    return requested_days(today, payload.get("day"), payload.get("days"))
