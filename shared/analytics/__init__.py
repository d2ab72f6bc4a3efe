"""Cost and usage analytics over the usage events (architecture, Usage events and analytics).

One set of queries in BigQuery's dialect (`queries`), translated for DuckDB (`translate`), run through
the `AnalyticsPort` (`port`; the embedded `DuckDbAnalytics` reads the local event segments), assembled
into the analytics report by `AnalyticsService` (`service`), with a cost projection (`predict`).
"""
