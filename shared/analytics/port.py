"""The analytics query port: run one of the named queries (shared.analytics.queries) for one scope.

Adapters: `DuckDbAnalytics` (embedded, over the local event segments) and, later, BigQuery. Both take
the same query names and the same parameters, and return rows as dicts keyed by the query's column names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["AnalyticsPort", "AnalyticsUnavailable", "QueryParams", "Row"]

Row = dict[str, object]


class AnalyticsUnavailable(Exception):
    """The analytics backend could not answer (unreadable segments, BigQuery down)."""


@dataclass(frozen=True, slots=True)
class QueryParams:
    """Who may be seen and when: the `@tenant`, `@user`, `@key_id`, `@since` and `@until` of every query.

    `user` None: every user of the tenant; `key_id` None: every key. `since`/`until` are timezone-aware
    and half-open ([since, until)).
    """

    tenant: str
    since: datetime
    until: datetime
    user: str | None = None
    key_id: str | None = None

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("since and until must be timezone-aware")
        if self.until <= self.since:
            raise ValueError("until must be after since")


class AnalyticsPort(Protocol):
    async def run(self, query: str, params: QueryParams) -> list[Row]:
        """The rows of the named query (shared.analytics.queries.QUERIES) for `params`."""
        ...
