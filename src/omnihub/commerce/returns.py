"""Returns at any location: refund per line, restock or quarantine, credit note, optional exchange order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import service as billing
from omnihub.catalog import queries as catalog
from omnihub.commerce import errors, queries, rules
from omnihub.commerce.lifecycle import CREDIT_NOTE_SERIES, set_status
from omnihub.commerce.models import order_lines, orders, returns
from omnihub.commerce.orders import place_order
from omnihub.commerce.pricing import price_lines
from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.events import emit
from omnihub.customers import activity as customer_activity
from omnihub.inventory import queries as inventory_queries
from omnihub.inventory import stock as inventory_stock

OL = order_lines.c


def create_return(conn: Connection, clock: Clock, data: dict[str, Any], *, actor: str | None = None
                  ) -> dict[str, Any]:
    """Return any order line at any location; refund per line (discounts and tax included); restock or
    quarantine; a credit note; optionally an exchange order paid with the returned value."""
    order = queries.order_row(conn, data["order"])
    if conn.dialect.name == "postgresql":  # concurrent returns of one order take turns (SQLite's writes do)
        conn.execute(sa.select(orders.c.id).where(orders.c.id == order["id"]).with_for_update())
        order = queries.order_row(conn, order["id"])
    location = inventory_queries.get_location(conn, data["location"], field="location")
    rows = queries.order_line_rows(conn, order["id"])
    picks: list[tuple[dict[str, Any], int, Decimal]] = []
    for index, line in enumerate(data["lines"]):
        want = line["quantity"]
        candidates = [r for r in rows if r["sku"] == line["sku"]]
        returnable = sum(r["fulfilled"] - r["returned"] for r in candidates)
        if want > returnable:
            raise errors.invalid_return_line(line["sku"], index, returnable)
        for row in candidates:
            take = min(want, row["fulfilled"] - row["returned"])
            if take:
                amount = rules.refund_for(Decimal(row["total"]), row["quantity"], take, row["returned"],
                                          order["currency"])
                picks.append((row, take, amount))
                row["returned"] += take
                want -= take
    next_status = rules.after_return([(r["quantity"], r["returned"]) for r in rows])
    rules.transition(order["id"], order["status"], next_status)
    return_id = new_id("ret")
    resellable = data["condition"] == "resellable"
    for row, quantity, _ in picks:
        inventory_stock.receive_return(conn, clock, location=location["code"], sku=row["sku"], quantity=quantity,
                                       resellable=resellable, reference=return_id, actor=actor)
        conn.execute(order_lines.update().where(OL.order_id == order["id"], OL.line_no == row["line_no"])
                     .values(returned=OL.returned + quantity))
    amount = sum((a for _, _, a in picks), Decimal(0))
    exchange = data.get("exchange")
    method = "store_credit" if exchange else data.get("refund_method") or "original"
    refund = billing.refund(conn, clock, order_id=order["id"], customer_id=order["customer_id"],
                            currency=order["currency"], amount=amount, method=method,
                            reason=f"return {return_id}", return_id=return_id)
    lines_out = [{"line_no": r["line_no"], "sku": r["sku"], "quantity": q, "amount": str(a)} for r, q, a in picks]
    note = billing.issue_credit_note(conn, clock, order_id=order["id"], return_id=return_id,
                                     series=f"{CREDIT_NOTE_SERIES}-{order['channel_code'].upper()}",
                                     currency=order["currency"], lines=lines_out, totals={"total": str(amount)})
    set_status(conn, clock, order, next_status, actor, f"return {return_id}")
    conn.execute(returns.insert(), dict(
        id=return_id, order_id=order["id"], location_code=location["code"], condition=data["condition"],
        lines=lines_out, refund_amount=amount, refund_method=refund["method"], credit_note_number=note["number"],
        actor=actor, created_at=clock.now()))
    if order["customer_id"]:
        customer_activity.add_timeline_entries(conn, clock, order["customer_id"], [{
            "type": "return_received", "channel": order["channel_code"],
            "properties": {"order_id": order["id"], "return_id": return_id, "amount": str(amount),
                           "location": location["code"]}}], source="commerce")
    emit(conn, clock, "return.received", {"id": return_id, "order_id": order["id"], "location": location["code"],
                                          "condition": data["condition"], "amount": str(amount),
                                          "refund_method": refund["method"], "credit_note": note["number"],
                                          "lines": lines_out})
    if exchange:
        store_channel = exchange.get("channel") or order["channel_code"]
        exchange_channel = catalog.get_channel(conn, store_channel, field="exchange.channel")
        pricing_total = price_lines(conn, clock, channel=exchange_channel,
                                    customer_id=order["customer_id"],
                                    lines=[(x["sku"], x["quantity"]) for x in exchange["lines"]], codes=[],
                                    fulfilment_type="in_store", country=None).total
        credit = min(amount, pricing_total)
        payments = ([{"method": "store_credit", "amount": credit}] if credit > 0 else []) + list(exchange["payments"])
        new_order = place_order(conn, clock, {
            "channel": store_channel, "lines": exchange["lines"], "payments": payments,
            "fulfilment": {"type": "in_store", "location": location["code"]}}, actor=actor,
            customer_id=order["customer_id"])
        conn.execute(returns.update().where(returns.c.id == return_id).values(exchange_order_id=new_order["id"]))
    return queries.get_return(conn, return_id)

