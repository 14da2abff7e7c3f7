"""Top products for the dashboard: per currency, the SKUs that sold the most units in a period (net of returned
units), with their revenue net of line discounts. Computed by DuckDB over the operational database like the
other figures (queries.py); it reads the order lines live (a period's lines), not the snapshot copy."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from omnihub.analytics import rules
from omnihub.analytics.engine import Engine, engine_for, in_list
from omnihub.core.db import Database
from omnihub.core.money import format_amount


def top_products(db: Database | Engine | str, *, start: datetime | None = None, end: datetime | None = None,
                 channel: str | None = None, limit: int = 10, now: datetime | None = None) -> dict[str, Any]:
    """`{from, to, items: [{currency, sku, name, units, revenue, orders}]}`, best sellers first per currency.
    Orders count when they are sold (the same statuses as every other figure); revenue is the lines' totals
    (after their discounts) less what returns refunded for them."""
    engine = engine_for(db)
    start, end = rules.period(start, end, now or datetime.now(UTC))
    assert start is not None
    params: dict[str, Any] = {"start": rules.utc(start).replace(tzinfo=None), "end": rules.utc(end).replace(
        tzinfo=None), "limit": max(1, min(limit, 100))}
    where = ""
    if channel:
        where = " AND o.channel_code = $channel"
        params["channel"] = channel
    at = engine.timestamp("o.created_at")
    sql = f"""
    WITH lines AS (
      SELECT o.currency, l.sku, l.name, o.id AS order_id, l.quantity - l.returned AS units,
             {engine.money('l.total')} * (l.quantity - l.returned) / NULLIF(l.quantity, 0) AS revenue
      FROM {{op}}.order_lines l JOIN {{op}}.orders o ON o.id = l.order_id
      WHERE o.status IN {in_list(rules.SOLD_STATUSES)} AND {at} >= $start AND {at} < $end {where}),
    ranked AS (
      SELECT currency, sku, MAX(name) AS name, SUM(units) AS units, SUM(revenue) AS revenue,
             COUNT(DISTINCT order_id) AS orders,
             ROW_NUMBER() OVER (PARTITION BY currency ORDER BY SUM(units) DESC, SUM(revenue) DESC, sku) AS n
      FROM lines GROUP BY currency, sku HAVING SUM(units) > 0)
    SELECT currency, sku, name, units, revenue, orders FROM ranked WHERE n <= $limit ORDER BY currency, n"""
    items = [{"currency": cur, "sku": sku, "name": name, "units": int(units),
              "revenue": format_amount(Decimal(revenue or 0), cur), "orders": int(orders)}
             for cur, sku, name, units, revenue, orders in engine.rows(sql, params)]
    return {"from": start.isoformat().replace("+00:00", "Z"), "to": end.isoformat().replace("+00:00", "Z"),
            "channel": channel, "items": items}
