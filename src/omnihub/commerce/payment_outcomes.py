"""What a provider's verdict does to the order (billing.flow calls this in the transaction that records it):
all the money is in → the order is paid and invoiced; the payment failed or expired → the order is cancelled,
its stock released, and its history says why."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from omnihub.commerce import queries
from omnihub.commerce.fulfilment import cancel_order
from omnihub.commerce.models import orders
from omnihub.commerce.orders import on_paid
from omnihub.core.clock import Clock


def on_payment_outcome(conn: Connection, clock: Clock, payment: dict[str, Any], outcome: str, reason: str | None
                       ) -> None:
    order = queries.order_row(conn, payment["order_id"])
    if order["status"] != "awaiting_payment":
        return  # cancelled by hand meanwhile, or already moved by an earlier verdict
    actor = payment["provider"]
    if outcome == "paid":
        conn.execute(orders.update().where(orders.c.id == order["id"]).values(payment_status="paid"))
        order["payment_status"] = "paid"
        on_paid(conn, clock, order, actor)
    elif outcome in ("failed", "expired"):
        cancel_order(conn, clock, order["id"], actor=actor,
                     reason=f"payment {outcome}: {reason}"[:300] if reason else f"payment {outcome}")
