"""The cloud analytics adapter: BigQuery runs the queries of shared.analytics.queries as they are written.

The text is BigQuery's own dialect, so nothing is translated: only the table names (`usage_events` and
the rollup tables `usage_daily` and `usage_rollup_days`, all in one dataset) are qualified with the project
and dataset (a job's default dataset would do the same, but the emulator the tests use ignores it and
answers from no table). Parameters are typed query parameters: `@tenant`,
`@user` and `@key_id` STRING (a NULL STRING for "every user / key", which the queries test with
`IS NULL`), `@since` and `@until` TIMESTAMP.

The client is synchronous, so each query runs in a worker thread, bounded by `timeout` (API calls, their
retries, the job's retries and the wait for it) so that an unreachable BigQuery fails the request instead of
holding it for the client's defaults (ten minutes per call, forty for the job). Every failure of the service,
the network or the credentials is `AnalyticsUnavailable`. google.cloud.bigquery is imported lazily: the
embedded gateway never loads it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.analytics.port import AnalyticsUnavailable, QueryParams, Row
from shared.analytics.queries import QUERIES
from shared.analytics.rollup_tables import ROLLUP_TABLES

if TYPE_CHECKING:
    from google.cloud import bigquery

__all__ = ["BigQueryAnalytics", "bigquery_client", "qualify", "qualify_tables", "table_path"]

_PROJECT = re.compile(r"[a-z][a-z0-9.:-]*[a-z0-9]")
_NAME = re.compile(r"\w+")
_SOURCE = re.compile(r"\b(FROM|JOIN|MERGE|INTO)\s+(\w+)\b")


def bigquery_client(project: str, endpoint: str | None = None) -> bigquery.Client:
    """A client for `project`: Application Default Credentials, or anonymous at `endpoint` (the emulator)."""
    from google.cloud import bigquery

    if endpoint is None:
        return bigquery.Client(project=project)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]  # google-auth leaves it unannotated
    return bigquery.Client(project=project, credentials=anonymous, client_options=ClientOptions(api_endpoint=endpoint))


def qualify_tables(sql: str, paths: Mapping[str, str]) -> str:
    """`sql` with each table named in `paths` (after FROM, JOIN, MERGE or INTO) replaced by its full
    `project.dataset.table` path; raises ValueError when it names none of them."""
    found = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        path = paths.get(match.group(2))
        if path is None:
            return match.group(0)
        found += 1
        return f"{match.group(1)} `{path}`"

    qualified = _SOURCE.sub(replace, sql)
    if not found:
        raise ValueError(f"the query does not read {' or '.join(sorted(paths))}")
    return qualified


def qualify(sql: str, table: str) -> str:
    """`sql` reading `table` (a full `project.dataset.table` path) where it reads `usage_events`."""
    return qualify_tables(sql, {"usage_events": table})


def table_path(project: str, dataset: str, table: str) -> str:
    """`project.dataset.table`; `dataset` may name its own project (`other-project.dataset`)."""
    owner, _, name = dataset.rpartition(".")
    owner = owner or project
    if not (_PROJECT.fullmatch(owner) and _NAME.fullmatch(name) and _NAME.fullmatch(table)):
        raise ValueError(f"not a BigQuery table path: {owner!r}.{name!r}.{table!r}")
    return f"{owner}.{name}.{table}"


class BigQueryAnalytics:
    """`AnalyticsPort` over the usage events table `table` of `dataset` (by default in the client's project)
    and the rollup tables of the same dataset."""

    def __init__(
        self, client: bigquery.Client, dataset: str, table: str = "usage_events", *, timeout: float = 30.0
    ) -> None:
        self._client = client
        self._timeout = timeout
        paths = {name: table_path(str(client.project), dataset, name) for name in ROLLUP_TABLES}
        paths["usage_events"] = table_path(str(client.project), dataset, table)
        self._queries = {name: qualify_tables(sql, paths) for name, sql in QUERIES.items()}

    async def run(self, query: str, params: QueryParams) -> list[Row]:
        sql = self._queries.get(query)
        if sql is None:
            raise KeyError(f"unknown analytics query {query!r}: expected one of {sorted(self._queries)}")
        return await asyncio.to_thread(self._run, sql, params)

    def _run(self, sql: str, params: QueryParams) -> list[Row]:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError
        from google.cloud import bigquery
        from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY

        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("tenant", "STRING", params.tenant),
                bigquery.ScalarQueryParameter("user", "STRING", params.user),
                bigquery.ScalarQueryParameter("key_id", "STRING", params.key_id),
                bigquery.ScalarQueryParameter("since", "TIMESTAMP", params.since),
                bigquery.ScalarQueryParameter("until", "TIMESTAMP", params.until),
            ]
        )
        try:
            rows = self._client.query_and_wait(
                sql,
                job_config=config,
                api_timeout=self._timeout,
                wait_timeout=self._timeout,
                retry=bigquery.DEFAULT_RETRY.with_timeout(self._timeout),
                job_retry=DEFAULT_JOB_RETRY.with_timeout(self._timeout),
            )
            return [dict(row.items()) for row in rows]
        except (GoogleAPIError, GoogleAuthError, OSError) as exc:  # OSError: requests' and the wait's timeouts
            raise AnalyticsUnavailable(f"BigQuery analytics query failed: {exc}") from exc
