"""Recording imported orders: history from another system, written as the source states it.

An imported order is not a sale happening now: it keeps its own date, totals and line amounts (nothing is
re-priced, no promotion counted, no payment taken, no stock held or moved, no invoice issued, no message sent)
and announces itself as `order.imported`, not `order.created`, so no reaction meant for a new sale fires. It
still counts in the customer's stats and timeline (at its own date) and in analytics (it is an order row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass(slots=True)
class PreparedOrder:
    """One imported order made ready off the database (a bulk import prepares the next batch while the last is
    written): its rows, with the customer left as the caller's reference — only the writer knows its id."""

    id: str
    number: str
    customer: Any  # resolved by `write_imported_orders`'s `customer_of`
    order: tuple[Any, ...]  # _ORDER_COLUMNS; customer_id and origin_customer_id filled when written
    lines: list[tuple[Any, ...]]
    history: tuple[Any, ...]
    purchase: dict[str, Any]  # record_purchases' shape; customer_id filled when written
    event: dict[str, Any]  # the order.imported payload; customer_id filled when written


def prepare_imported_orders(clock: Clock, items: Sequence[dict[str, Any]], *, channel: str,
                            prices_include_tax: bool, source: str) -> list[PreparedOrder]:
    """Each order `{number, placed_at, customer, currency, status, shipping, lines: [{sku, name, category,
    quantity, total, unit_price?, discount?}]}` as rows. Touches no database.

    Amounts are kept exactly as given (money columns hold 4 places). `status` must be a status of the order
    state machine (default `delivered`)."""
    now = clock.now()
    zero, cents = Decimal(0), Decimal("0.0001")
    note = f"imported from {source}"[:300]
    sourcing = {"imported": source}  # one object for the batch: COPY dumps it once
    prepared = []
    for item, order_id in zip(items, new_ids("ord", len(items)), strict=True):
        status = item.get("status") or "delivered"
        if status not in STATUSES:
            raise ValueError(f"unknown order status {status!r}")
        placed: datetime = item["placed_at"]
        shipping = Decimal(item.get("shipping") or 0)
        delivered = status in ("delivered", "collected", "shipped")
        subtotal = discount_total = zero
        categories = set()
        lines = []
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
            lines.append((order_id, no, line["sku"], line.get("name") or line["sku"], category, quantity,
                          unit_price.quantize(cents), discount, zero, zero, total, None,
                          quantity if delivered else 0, 0))
        total = subtotal - discount_total + shipping
        number, currency = item["number"], item["currency"]
        prepared.append(PreparedOrder(
            order_id, number, item.get("customer"),
            (order_id, number, channel, None, None, status, "paid", currency, subtotal, discount_total, shipping,
             zero, total, prices_include_tax, zero, zero, _FULFILMENT, sourcing, _NO_PROMOTIONS, placed, placed),
            lines, (order_id, None, status, IMPORT_ACTOR, note, now),
            {"customer_id": None, "channel": channel, "amount": total, "at": placed, "order_id": order_id,
             "currency": currency, "categories": sorted(categories)},
            {"id": order_id, "number": number, "channel": channel, "customer_id": None,
             "placed_at": placed.isoformat(), "currency": currency, "total": str(total), "status": status,
             "source": source}))
    return prepared


def write_imported_orders(conn: Connection, clock: Clock, prepared: Sequence[PreparedOrder],
                          customer_of: Callable[[Any], str | None]) -> list[str]:
    """Write prepared orders in the caller's transaction (COPY on PostgreSQL: history is appended, never
    upserted); `customer_of(order.customer)` is the customer's id or None. Returns the ids written."""
    if not prepared:
        return []
    order_rows, line_rows, history, purchases, events = [], [], [], [], []
    for order in prepared:
        customer_id = customer_of(order.customer)
        row = order.order
        order_rows.append((*row[:3], customer_id, customer_id, *row[5:]))
        line_rows.extend(order.lines)
        history.append(order.history)
        order.event["customer_id"] = customer_id
        events.append(("order.imported", order.event))
        if customer_id:
            order.purchase["customer_id"] = customer_id
            purchases.append(order.purchase)
    copy_rows(conn, orders, _ORDER_COLUMNS, order_rows)
    copy_rows(conn, order_lines, _LINE_COLUMNS, line_rows)
    copy_rows(conn, order_history, _HISTORY_COLUMNS, history)
    customer_activity.record_purchases(conn, clock, purchases)
    emit_many(conn, clock, events)
    return [order.id for order in prepared]


def record_imported_orders(conn: Connection, clock: Clock, items: Sequence[dict[str, Any]], *,
                           channel: str, prices_include_tax: bool, source: str) -> list[str]:
    """Write each order (as `prepare_imported_orders` takes it, with `customer_id` for `customer`) in the caller's
    transaction; returns the new ids."""
    prepared = prepare_imported_orders(clock, [{**item, "customer": item.get("customer_id")} for item in items],
                                       channel=channel, prices_include_tax=prices_include_tax, source=source)
    return write_imported_orders(conn, clock, prepared, lambda customer: customer)


def numbers_taken(conn: Connection, numbers: Sequence[str]) -> set[str]:
    """Which of these order numbers some order already has (an imported order keeps its source's number)."""
    if not numbers:
        return set()
    return set(conn.execute(_NUMBERS_TAKEN(conn), {"b_numbers": list(numbers)}).scalars())


_NUMBERS_TAKEN = PerEngine(lambda in_: sa.select(orders.c.number).where(in_(orders.c.number, "b_numbers")))
