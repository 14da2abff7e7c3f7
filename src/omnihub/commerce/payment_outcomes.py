"""What a provider's verdict does to the order (billing.flow calls this in the transaction that records it):
all the money is in → the order is paid, its invoice queued (numbered by a worker job in batches); the payment
failed or expired → the order is cancelled, its stock released, and its history says why."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from omnihub.billing import service as billing
from omnihub.commerce import queries
from omnihub.commerce.fulfilment import cancel_order
from omnihub.commerce.lifecycle import set_status
from omnihub.commerce.orders import issue_invoice_of
from omnihub.core.clock import Clock


def on_payment_outcome(conn: Connection, clock: Clock, payment: dict[str, Any], outcome: str, reason: str | None
                       ) -> None:
    order = queries.order_row(conn, payment["order_id"])
    if order["status"] != "awaiting_payment":
        return  # cancelled by hand meanwhile, or already moved by an earlier verdict
    actor = payment["provider"]
    if outcome == "paid":
        set_status(conn, clock, order, "paid", actor, payment_status="paid")  # one guarded update for both
        billing.queue_invoice(conn, clock, order["id"])  # numbered by `issue_due_invoices`, in batches
    elif outcome in ("failed", "expired"):
        cancel_order(conn, clock, order["id"], actor=actor,
                     reason=f"payment {outcome}: {reason}"[:300] if reason else f"payment {outcome}")


def issue_due_invoices(conn: Connection, clock: Clock, limit: int = 200) -> int:
    """The worker job: invoices of orders paid at a provider, numbered in one transaction — the series row is
    locked once for the whole batch. An order cancelled (refunded) before its turn gets none."""
    issued = 0
    for order_id in billing.take_due_invoices(conn, limit):
        order = queries.order_row(conn, order_id)
        if order["invoice_number"] or order["status"] in ("cancelled", "awaiting_payment", "draft"):
            continue
        issue_invoice_of(conn, clock, order)
        issued += 1
    return issued
