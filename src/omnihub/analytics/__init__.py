"""Analytics: KPIs and reports read from the operational database through DuckDB (see docs/analytics.md)."""
