"""Recording imported orders: history from another system, written as the source states it.

An imported order is not a sale happening now: it keeps its own date, totals and line amounts (nothing is
re-priced, no promotion counted, no payment taken, no stock held or moved, no invoice issued, no message sent)
and announces itself as `order.imported`, not `order.created`, so no reaction meant for a new sale fires. It
still counts in the customer's stats and timeline (at its own date) and in analytics (it is an order row).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.commerce.models import order_history, order_lines, orders
from omnihub.commerce.rules import STATUSES
from omnihub.core.bulk import copy_rows
from omnihub.core.clock import Clock
from omnihub.core.db import PerEngine, new_ids
from omnihub.core.events import emit_many
from omnihub.customers import activity as customer_activity

IMPORT_ACTOR = "import"
_FULFILMENT = {"type": "shipping"}
_NO_PROMOTIONS: list[Any] = []
_ORDER_COLUMNS = ("id", "number", "channel_code", "customer_id", "origin_customer_id", "status", "payment_status",
                  "currency", "subtotal", "discount", "shipping", "tax", "total", "prices_include_tax",
                  "shipping_tax", "shipping_tax_rate", "fulfilment", "sourcing", "promotions", "created_at",
                  "updated_at")
_LINE_COLUMNS = ("order_id", "line_no", "sku", "name", "category", "quantity", "unit_price", "discount",
                 "tax_rate", "tax", "total", "location_code", "fulfilled", "returned")
_HISTORY_COLUMNS = ("order_id", "from_status", "to_status", "actor", "note", "at")


def record_imported_orders(conn: Connection, clock: Clock, items: Sequence[dict[str, Any]], *,
                           channel: str, prices_include_tax: bool, source: str) -> list[str]:
    """Write each order `{number, placed_at, customer_id, currency, status, shipping, lines: [{sku, name,
    category, quantity, total, unit_price?, discount?}]}` in the caller's transaction; returns the new ids.

    Amounts are kept exactly as given (money columns hold 4 places). `status` must be a status of the order
    state machine (default `delivered`)."""
    now = clock.now()
    order_rows: list[tuple[Any, ...]] = []
    line_rows: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    events: list[tuple[str, dict[str, Any]]] = []
    purchases: list[dict[str, Any]] = []
    zero, cents = Decimal(0), Decimal("0.0001")
    note = f"imported from {source}"[:300]
    sourcing = {"imported": source}  # one object for the batch: COPY dumps it once
    for item, order_id in zip(items, new_ids("ord", len(items)), strict=True):
        status = item.get("status") or "delivered"
        if status not in STATUSES:
            raise ValueError(f"unknown order status {status!r}")
        placed: datetime = item["placed_at"]
        shipping = Decimal(item.get("shipping") or 0)
        delivered = status in ("delivered", "collected", "shipped")
        subtotal = discount_total = zero
        categories = set()
        for no, line in enumerate(item["lines"], start=1):
            quantity = int(line["quantity"])
            total = Decimal(line["total"])
            discount = Decimal(line.get("discount") or 0)
            unit = line.get("unit_price")
            unit_price = Decimal(unit) if unit is not None else ((total + discount) / quantity if quantity else total)
            category = line.get("category") or ""
            if category:
                categories.add(category)
            subtotal += total + discount
            discount_total += discount
            line_rows.append((order_id, no, line["sku"], line.get("name") or line["sku"], category, quantity,
                              unit_price.quantize(cents), discount, zero, zero, total, None,
                              quantity if delivered else 0, 0))
        total = subtotal - discount_total + shipping
        customer_id = item.get("customer_id")
        order_rows.append((order_id, item["number"], channel, customer_id, customer_id, status, "paid",
                           item["currency"], subtotal, discount_total, shipping, zero, total, prices_include_tax,
                           zero, zero, _FULFILMENT, sourcing, _NO_PROMOTIONS, placed, placed))
        history.append((order_id, None, status, IMPORT_ACTOR, note, now))
        if customer_id:
            purchases.append({"customer_id": customer_id, "channel": channel, "amount": total, "at": placed,
                              "order_id": order_id, "currency": item["currency"], "categories": sorted(categories)})
        events.append(("order.imported", {
            "id": order_id, "number": item["number"], "channel": channel, "customer_id": customer_id,
            "placed_at": placed.isoformat(), "currency": item["currency"], "total": str(total),
            "status": status, "source": source}))
    if order_rows:  # COPY on PostgreSQL: history is appended, never upserted
        copy_rows(conn, orders, _ORDER_COLUMNS, order_rows)
        copy_rows(conn, order_lines, _LINE_COLUMNS, line_rows)
        copy_rows(conn, order_history, _HISTORY_COLUMNS, history)
        customer_activity.record_purchases(conn, clock, purchases)
        emit_many(conn, clock, events)
    return [row[0] for row in order_rows]


def numbers_taken(conn: Connection, numbers: Sequence[str]) -> set[str]:
    """Which of these order numbers some order already has (an imported order keeps its source's number)."""
    if not numbers:
        return set()
    return set(conn.execute(_NUMBERS_TAKEN(conn), {"b_numbers": list(numbers)}).scalars())


_NUMBERS_TAKEN = PerEngine(lambda in_: sa.select(orders.c.number).where(in_(orders.c.number, "b_numbers")))
