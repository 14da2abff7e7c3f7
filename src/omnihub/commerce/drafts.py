"""Wholesale drafts: lines edited before anything is held, then completed in any channel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.commerce import errors, queries
from omnihub.commerce.models import order_lines, orders
from omnihub.commerce.orders import complete_draft, priced_line_rows, totals_columns
from omnihub.commerce.pricing import price_lines
from omnihub.core.clock import Clock

ORD = orders.c
OL = order_lines.c


def replace_draft_lines(conn: Connection, clock: Clock, order_id: str, lines: Sequence[tuple[str, int]], *,
                        actor: str | None = None) -> dict[str, Any]:
    order = queries.order_row(conn, order_id)
    if order["status"] != "draft":
        raise errors.not_a_draft(order_id)
    channel = catalog.get_channel(conn, order["channel_code"])
    pricing = price_lines(conn, clock, channel=channel, customer_id=order["customer_id"], lines=list(lines), codes=[],
                          fulfilment_type="ship", country=None)
    conn.execute(order_lines.delete().where(OL.order_id == order_id))
    conn.execute(order_lines.insert(), priced_line_rows(order_id, pricing, [(s, None, q) for s, q in lines]))
    conn.execute(orders.update().where(ORD.id == order_id).values(**totals_columns(pricing),
                                                                  updated_at=clock.now()))
    return queries.get_order(conn, order_id)





def submit_draft(conn: Connection, clock: Clock, order_id: str, data: dict[str, Any], *, actor: str | None = None
                 ) -> dict[str, Any]:
    """Finish a draft in any channel (started in the app, completed on the web portal): priced again for that
    channel and customer, sourced, held and paid like any order — written by the order path itself."""
    return complete_draft(conn, clock, order_id, data, actor=actor)
