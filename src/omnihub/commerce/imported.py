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

from sqlalchemy.engine import Connection

from omnihub.commerce.lifecycle import INSERT_HISTORY
from omnihub.commerce.models import order_lines, orders
from omnihub.commerce.rules import STATUSES
from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.events import emit_many
from omnihub.customers import activity as customer_activity

IMPORT_ACTOR = "import"
_INSERT_ORDER = orders.insert()
_INSERT_LINES = order_lines.insert()


def record_imported_orders(conn: Connection, clock: Clock, items: Sequence[dict[str, Any]], *,
                           channel: str, prices_include_tax: bool, source: str) -> list[str]:
    """Write each order `{number, placed_at, customer_id, currency, status, shipping, lines: [{sku, name,
    category, quantity, total, unit_price?, discount?}]}` in the caller's transaction; returns the new ids.

    Amounts are kept exactly as given (money columns hold 4 places). `status` must be a status of the order
    state machine (default `delivered`)."""
    now = clock.now()
    order_rows, line_rows, history, events = [], [], [], []
    purchases: list[dict[str, Any]] = []
    for item in items:
        status = item.get("status") or "delivered"
        if status not in STATUSES:
            raise ValueError(f"unknown order status {status!r}")
        order_id = new_id("ord")
        placed: datetime = item["placed_at"]
        shipping = Decimal(item.get("shipping") or 0)
        lines = []
        for no, line in enumerate(item["lines"], start=1):
            quantity = int(line["quantity"])
            total = Decimal(line["total"])
            discount = Decimal(line.get("discount") or 0)
            unit = line.get("unit_price")
            unit_price = Decimal(unit) if unit is not None else ((total + discount) / quantity if quantity else total)
            lines.append(dict(order_id=order_id, line_no=no, sku=line["sku"], name=line.get("name") or line["sku"],
                              category=line.get("category") or "", quantity=quantity,
                              unit_price=unit_price.quantize(Decimal("0.0001")), discount=discount,
                              tax_rate=Decimal(0), tax=Decimal(0), total=total, location_code=None,
                              fulfilled=quantity if status in ("delivered", "collected", "shipped") else 0,
                              returned=0))
        subtotal = sum((ln["total"] + ln["discount"] for ln in lines), Decimal(0))
        discount_total = sum((ln["discount"] for ln in lines), Decimal(0))
        total = subtotal - discount_total + shipping
        order_rows.append(dict(
            id=order_id, number=item["number"], channel_code=channel, customer_id=item.get("customer_id"),
            origin_customer_id=item.get("customer_id"), status=status, payment_status="paid",
            currency=item["currency"], subtotal=subtotal, discount=discount_total, shipping=shipping,
            tax=Decimal(0), total=total, prices_include_tax=prices_include_tax, shipping_tax=Decimal(0),
            shipping_tax_rate=Decimal(0), fulfilment={"type": "shipping"},
            sourcing={"imported": source}, promotions=[], created_at=placed, updated_at=placed))
        line_rows.extend(lines)
        history.append(dict(order_id=order_id, from_status=None, to_status=status, actor=IMPORT_ACTOR,
                            note=f"imported from {source}"[:300], at=now))
        if item.get("customer_id"):
            purchases.append({"customer_id": item["customer_id"], "channel": channel, "amount": total, "at": placed,
                              "order_id": order_id, "currency": item["currency"],
                              "categories": sorted({ln["category"] for ln in lines if ln["category"]})})
        events.append(("order.imported", {
            "id": order_id, "number": item["number"], "channel": channel, "customer_id": item.get("customer_id"),
            "placed_at": placed.isoformat(), "currency": item["currency"], "total": str(total),
            "status": status, "source": source}))
    if order_rows:
        conn.execute(_INSERT_ORDER, order_rows)
        conn.execute(_INSERT_LINES, line_rows)
        conn.execute(INSERT_HISTORY, history)
        customer_activity.record_purchases(conn, clock, purchases)
        emit_many(conn, clock, events)
    return [row["id"] for row in order_rows]


def numbers_taken(conn: Connection, numbers: Sequence[str]) -> set[str]:
    """Which of these order numbers some order already has (an imported order keeps its source's number)."""
    import sqlalchemy as sa

    if not numbers:
        return set()
    return set(conn.execute(sa.select(orders.c.number).where(orders.c.number.in_(list(numbers)))).scalars())
