"""The cloud rollup writer: BigQuery runs the rollup statements of shared.analytics.rollup as they are written.

The tables (`usage_events`, `usage_daily`, `usage_rollup_days`) are qualified with the project and dataset as
for the queries (shared.analytics.bigquery_adapter); Terraform creates the rollup tables from
shared/analytics/schemas/. Parameters are typed: `@day` DATE, `@since`, `@until` and `@rolled_at` TIMESTAMP.
Each statement is one job, bounded by `timeout` (a day's MERGE scans one partition of the events); every
failure of the service, the network or the credentials is `AnalyticsUnavailable`, which the Cloud Function
lets through so that Pub/Sub redelivers the message. Two runs at once cannot double a day: each MERGE
replaces the day's rows whole (BigQuery serializes or fails concurrent DML on the same table, and a failed
one is retried). google.cloud.bigquery is imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from shared.analytics.bigquery_adapter import qualify_tables, table_path
from shared.analytics.port import AnalyticsUnavailable
from shared.analytics.rollup import ROLLED_DAY, ROLLUP_MARK, ROLLUP_ROWS, RolledDay, day_window
from shared.analytics.rollup_tables import ROLLUP_TABLES

if TYPE_CHECKING:
    from google.cloud import bigquery

__all__ = ["BigQueryRollups"]


class BigQueryRollups:
    """`RollupPort` over `dataset` (by default in the client's project): events from `table`."""

    def __init__(
        self, client: bigquery.Client, dataset: str, table: str = "usage_events", *, timeout: float = 300.0
    ) -> None:
        self._client = client
        self._timeout = timeout
        paths = {name: table_path(str(client.project), dataset, name) for name in ROLLUP_TABLES}
        paths["usage_events"] = table_path(str(client.project), dataset, table)
        self._statements = tuple(qualify_tables(sql, paths) for sql in (ROLLUP_ROWS, ROLLUP_MARK))
        self._rolled = qualify_tables(ROLLED_DAY, paths)

    def roll(self, days: Sequence[date], rolled_at: datetime) -> list[RolledDay]:
        return [self._roll_day(day, rolled_at) for day in days]

    def _roll_day(self, day: date, rolled_at: datetime) -> RolledDay:
        from google.cloud import bigquery

        since, until = day_window(day)
        parameters = [
            bigquery.ScalarQueryParameter("day", "DATE", day),
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", since),
            bigquery.ScalarQueryParameter("until", "TIMESTAMP", until),
            bigquery.ScalarQueryParameter("rolled_at", "TIMESTAMP", rolled_at),
        ]
        for statement in self._statements:
            self._query(statement, parameters)
        rows = self._query(self._rolled, parameters[:1])
        events = rows[0]["events"] if rows else None
        if not isinstance(events, int):
            raise AnalyticsUnavailable(f"the rollup of {day} left no marker")
        return RolledDay(day=day, events=events, rolled_at=rolled_at)

    def _query(self, sql: str, parameters: list[bigquery.ScalarQueryParameter]) -> list[dict[str, object]]:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError
        from google.cloud import bigquery
        from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY

        try:
            rows = self._client.query_and_wait(
                sql,
                job_config=bigquery.QueryJobConfig(query_parameters=parameters),
                api_timeout=self._timeout,
                wait_timeout=self._timeout,
                retry=bigquery.DEFAULT_RETRY.with_timeout(self._timeout),
                job_retry=DEFAULT_JOB_RETRY.with_timeout(self._timeout),
            )
            return [dict(row.items()) for row in rows]
        except (GoogleAPIError, GoogleAuthError, OSError) as exc:
            raise AnalyticsUnavailable(f"BigQuery rollup failed: {exc}") from exc
