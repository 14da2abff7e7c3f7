"""After the order: cancellation, click & collect (ready, collect, expiry, slots) and shipments."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import flow as billing_flow
from omnihub.billing import service as billing
from omnihub.commerce import errors, queries, rules
from omnihub.commerce.lifecycle import CREDIT_NOTE_SERIES, hand_over, order_event, set_status
from omnihub.commerce.models import order_lines, orders, pickup_slots, shipments
from omnihub.commerce.orders import issue_invoice_of
from omnihub.commerce.planning import give_capacity_back
from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.events import emit
from omnihub.core.jsonable import jsonable
from omnihub.customers import queries as customers_queries
from omnihub.inventory import allocations as inventory_allocations
from omnihub.inventory import queries as inventory_queries
from omnihub.inventory import reservations as inventory_reservations
from omnihub.messaging import service as messaging
from omnihub.promotions import service as promotions

PICKUP_KEEP_DAYS = 7  # uncollected click & collect orders expire after this many days
ORD = orders.c
OL = order_lines.c


def cancel_order(conn: Connection, clock: Clock, order_id: str, *, actor: str | None = None,
                 reason: str = "cancelled") -> dict[str, Any]:
    """Release exactly what was held, give promotion uses and capacity back, refund what was paid, and
    cancel the invoice with a credit note.

    A paid order whose invoice is still queued (numbered later by a worker job) gets it now, then the credit
    note: the documents never depend on whether the job ran before the cancellation. The queue row is taken
    first, before the order row is locked, in the job's own order (queue, then order): no deadlock with it."""
    queued = billing.dequeue_invoice(conn, order_id)
    order = queries.order_row(conn, order_id)
    rules.transition(order_id, order["status"], "cancelled")
    if queued and not order["invoice_number"] and order["status"] not in ("awaiting_payment", "draft"):
        issue_invoice_of(conn, clock, order)
        order = queries.order_row(conn, order_id)
    rows = queries.order_line_rows(conn, order_id)
    if any(r["fulfilled"] for r in rows):
        raise errors.illegal_transition(order_id, order["status"], "cancelled")
    if order["status"] != "draft":
        give_capacity_back(conn, sorted({r["location_code"] for r in rows if r["location_code"]}),
                           order["created_at"])
    set_status(conn, clock, order, "cancelled", actor, reason,
               pickup_status="expired" if reason == "expired" and order["pickup_location"] else
               order["pickup_status"])
    if order["reservation_id"]:
        inventory_reservations.release_reservation(conn, clock, order["reservation_id"], actor=actor,
                                                   reason=f"order {reason}")
    promotions.release_redemptions(conn, clock, order_id)
    if order["pickup_slot_id"]:
        conn.execute(pickup_slots.update().where(pickup_slots.c.id == order["pickup_slot_id"],
                                                 pickup_slots.c.booked > 0)
                     .values(booked=pickup_slots.c.booked - 1))
    billing_flow.cancel_open(conn, clock, order_id, reason)  # what it still waited for at providers
    money = billing.payments_of(conn, order_id)
    refundable = Decimal(money["paid"]) - Decimal(money["refunded"])
    if refundable > 0:
        billing.refund(conn, clock, order_id=order_id, customer_id=order["customer_id"], currency=order["currency"],
                       amount=refundable, method="original", reason=f"order {reason}")
        conn.execute(orders.update().where(ORD.id == order_id).values(payment_status="refunded"))
    if order["invoice_number"]:
        billing.issue_credit_note(
            conn, clock, order_id=order_id, return_id=f"cancel-{order_id}",
            series=f"{CREDIT_NOTE_SERIES}-{order['channel_code'].upper()}",
            currency=order["currency"],
            lines=[{"line_no": r["line_no"], "sku": r["sku"], "quantity": r["quantity"],
                    "amount": str(rules.quantize(r["total"], order["currency"]))} for r in rows],
            totals={"total": str(rules.quantize(order["total"], order["currency"])), "reason": reason})
    emit(conn, clock, "order.cancelled", {**order_event(conn, order_id), "reason": reason})
    return queries.get_order(conn, order_id)


# ---- click & collect -------------------------------------------------------------------------------------------


def mark_ready(conn: Connection, clock: Clock, order_id: str, *, actor: str | None = None) -> dict[str, Any]:
    """The store has the order bagged: bring travelling units in, make a pickup code, tell the customer."""
    order = queries.order_row(conn, order_id)
    if not order["pickup_location"]:
        raise errors.not_a_pickup_order(order_id)
    rules.transition(order_id, order["status"], "ready_for_pickup")
    store = order["pickup_location"]
    for row in queries.order_line_rows(conn, order_id):
        if row["location_code"] != store:
            inventory_allocations.move_reservation(conn, clock, order["reservation_id"], sku=row["sku"],
                                                   from_location=row["location_code"], to_location=store,
                                                   quantity=row["quantity"], actor=actor)
            conn.execute(order_lines.update().where(OL.order_id == order_id, OL.line_no == row["line_no"])
                         .values(location_code=store))
    code = f"{secrets.randbelow(10**6):06d}"
    expires = clock.now() + timedelta(days=PICKUP_KEEP_DAYS)
    set_status(conn, clock, order, "ready_for_pickup", actor, pickup_code=code, pickup_status="ready",
               pickup_expires_at=expires)
    location = inventory_queries.get_location(conn, store)
    if order["customer_id"]:
        contacts = customers_queries.contacts(conn, order["customer_id"])
        text = (f"Your order {order['number']} is ready at {location['name']}. Pickup code: {code}. "
                f"We keep it until {expires:%d %b %Y}.")
        for kind in ("email", "sms"):
            if contacts.get(kind):
                messaging.queue_message(conn, clock, customer_id=order["customer_id"], kind=kind,
                                        to=contacts[kind], subject=f"Order {order['number']} is ready",
                                        body=text, template="pickup_ready", reference=order_id, secrets=[code])
    emit(conn, clock, "order.ready_for_pickup", {"id": order_id, "number": order["number"], "location": store,
                                                 "customer_id": order["customer_id"],
                                                 "expires_at": expires.isoformat()})
    return queries.get_order(conn, order_id)


def collect(conn: Connection, clock: Clock, order_id: str, code: str, *, actor: str | None = None) -> dict[str, Any]:
    """Hand over at the counter against the pickup code. A wrong code changes nothing."""
    order = queries.order_row(conn, order_id)
    if not order["pickup_location"]:
        raise errors.not_a_pickup_order(order_id)
    rules.transition(order_id, order["status"], "collected")
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a 500, before)
    if not hmac.compare_digest(str(order["pickup_code"] or "").encode(), code.strip().encode()):
        raise errors.wrong_pickup_code(order_id)
    hand_over(conn, clock, order, actor, note="collected with pickup code")
    return queries.get_order(conn, order_id)


def expire_uncollected(conn: Connection, clock: Clock, limit: int = 200) -> int:
    """Worker job: click & collect orders nobody picked up release their stock and are refunded."""
    query = (sa.select(ORD.id).where(ORD.status == "ready_for_pickup", ORD.pickup_expires_at <= clock.now())
             .order_by(ORD.pickup_expires_at).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    expired = 0
    for order_id in conn.execute(query).scalars().all():
        cancel_order(conn, clock, order_id, actor="worker", reason="expired")
        expired += 1
    return expired


def create_slot(conn: Connection, clock: Clock, data: dict[str, Any]) -> dict[str, Any]:
    location = inventory_queries.get_location(conn, data["location"], field="location")
    if not location["pickup"]:
        raise errors.pickup_not_allowed(location["code"])
    if data["ends_at"] <= data["starts_at"]:
        raise errors.invalid_slot()
    slot_id = new_id("slot")
    conn.execute(pickup_slots.insert(), dict(id=slot_id, location_code=data["location"], starts_at=data["starts_at"],
                                             ends_at=data["ends_at"], capacity=data["capacity"], booked=0))
    return queries.get_slot(conn, slot_id)


# ---- shipments -------------------------------------------------------------------------------------------------


def ship(conn: Connection, clock: Clock, order_id: str, data: dict[str, Any], *, actor: str | None = None
         ) -> dict[str, Any]:
    """Send (part of) an order from one location, with carrier and tracking number."""
    order = queries.order_row(conn, order_id)
    if order["fulfilment"]["type"] != "ship":
        raise errors.illegal_transition(order_id, order["status"], "shipped")
    rows = [r for r in queries.order_line_rows(conn, order_id) if r["quantity"] > r["fulfilled"]]
    location = data.get("location") or (rows[0]["location_code"] if rows else None)
    rows = [r for r in rows if r["location_code"] == location]
    if not rows:
        raise errors.nothing_to_ship(order_id, location)
    wanted = None
    if data.get("lines"):
        wanted = {}
        for index, line in enumerate(data["lines"]):
            if line["sku"] in wanted:  # one line per SKU: a repeat is a mistake, not a sum
                raise errors.invalid_shipment_line(line["sku"], index)
            wanted[line["sku"]] = line["quantity"]
    picks: list[tuple[dict[str, Any], int]] = []
    if wanted is None:
        picks = [(r, r["quantity"] - r["fulfilled"]) for r in rows]
    else:
        for index, (sku, quantity) in enumerate(wanted.items()):
            row = next((r for r in rows if r["sku"] == sku), None)
            if row is None or quantity > row["quantity"] - row["fulfilled"]:
                raise errors.invalid_shipment_line(sku, index)
            picks.append((row, quantity))
    after = [(r["quantity"], r["fulfilled"] + dict((p["line_no"], q) for p, q in picks).get(r["line_no"], 0))
             for r in queries.order_line_rows(conn, order_id)]
    next_status = rules.after_fulfilment(after)
    rules.transition(order_id, order["status"], next_status)
    inventory_allocations.fulfil_reservation(conn, clock, order["reservation_id"],
                                             [(r["sku"], location, q) for r, q in picks], actor=actor,
                                             reason="shipped")
    for row, quantity in picks:
        conn.execute(order_lines.update().where(OL.order_id == order_id, OL.line_no == row["line_no"])
                     .values(fulfilled=OL.fulfilled + quantity))
    shipment_id = new_id("shp")
    conn.execute(shipments.insert(), dict(
        id=shipment_id, order_id=order_id, location_code=location, carrier=data["carrier"],
        tracking_number=data["tracking_number"], status="shipped", shipped_at=clock.now(),
        lines=[{"line_no": r["line_no"], "sku": r["sku"], "quantity": q} for r, q in picks]))
    set_status(conn, clock, order, next_status, actor, f"shipment {shipment_id}")
    billing_flow.request_capture(conn, clock, order_id)  # authorised at a provider: captured as the goods leave
    shipment = queries.get_shipment(conn, shipment_id)
    emit(conn, clock, "order.shipped", {"id": order_id, "number": order["number"], "status": next_status,
                                        "shipment": jsonable(shipment)})
    return shipment


def mark_delivered(conn: Connection, clock: Clock, order_id: str, shipment_id: str, *, actor: str | None = None
                   ) -> dict[str, Any]:
    shipment = queries.get_shipment(conn, shipment_id, order_id=order_id)
    if shipment["status"] != "delivered":
        conn.execute(shipments.update().where(shipments.c.id == shipment_id)
                     .values(status="delivered", delivered_at=clock.now()))
    order = queries.order_row(conn, order_id)
    pending = conn.execute(sa.select(sa.func.count()).select_from(shipments)
                           .where(shipments.c.order_id == order_id, shipments.c.status != "delivered")).scalar()
    if order["status"] == "shipped" and pending == 0:
        set_status(conn, clock, order, "delivered", actor)
        emit(conn, clock, "order.delivered", {"id": order_id, "number": order["number"]})
    return queries.get_shipment(conn, shipment_id)

