"""Wholesale drafts: lines edited before anything is held, then completed in any channel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.commerce import errors, queries, rules
from omnihub.commerce.lifecycle import jsonable, set_status
from omnihub.commerce.models import order_lines, orders
from omnihub.commerce.orders import TRANSFER_DAYS, Hold, complete_order, priced_line_rows
from omnihub.commerce.planning import plan_order, validate_fulfilment
from omnihub.commerce.pricing import Pricing, price_lines
from omnihub.core.clock import Clock
from omnihub.core.db import new_id

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
    _store_totals(conn, clock, order_id, pricing)
    return queries.get_order(conn, order_id)


def _store_totals(conn: Connection, clock: Clock, order_id: str, pricing: Pricing) -> None:
    conn.execute(orders.update().where(ORD.id == order_id).values(
        subtotal=pricing.subtotal, discount=pricing.discount, shipping=pricing.shipping, tax=pricing.tax,
        shipping_tax=pricing.shipping_tax, shipping_tax_rate=pricing.shipping_tax_rate,
        total=pricing.total, promotions=pricing.promotions, price_list=pricing.price_list,
        prices_include_tax=pricing.prices_include_tax, updated_at=clock.now()))


def submit_draft(conn: Connection, clock: Clock, order_id: str, data: dict[str, Any], *, actor: str | None = None
                 ) -> dict[str, Any]:
    """Finish a draft in any channel (started in the app, completed on the web portal): priced again for that
    channel and customer, sourced, held and paid like any order."""
    order = queries.order_row(conn, order_id)
    if order["status"] != "draft":
        raise errors.not_a_draft(order_id)
    channel = catalog.get_channel(conn, data.get("channel") or order["channel_code"], field="channel")
    fulfilment = data["fulfilment"]
    validate_fulfilment(conn, fulfilment)
    lines = [(r["sku"], r["quantity"]) for r in queries.order_line_rows(conn, order_id)]
    address = fulfilment.get("address") or {}
    pricing = price_lines(conn, clock, channel=channel, customer_id=order["customer_id"], lines=lines,
                          codes=data.get("promotion_codes") or [], fulfilment_type=fulfilment["type"],
                          country=address.get("country"))
    expected = data.get("expected_total")
    if expected is not None and rules.quantize(Decimal(expected), pricing.currency) != pricing.total:
        raise errors.total_changed(str(expected), str(pricing.total))
    plan = plan_order(conn, clock, channel=channel, lines=lines, fulfilment=fulfilment)
    decision = plan.decision
    hold = Hold(order_id, channel["code"], new_id("res"), decision.allocations, plan.quotas)
    reservation_id = hold.reservation_id
    conn.execute(order_lines.delete().where(OL.order_id == order_id))
    conn.execute(order_lines.insert(), priced_line_rows(order_id, pricing, decision.allocations))
    pickup = fulfilment["location"] if fulfilment["type"] == "pickup" else None
    travels = bool(pickup and any(loc != pickup for _, loc, _ in decision.allocations))
    _store_totals(conn, clock, order_id, pricing)
    conn.execute(orders.update().where(ORD.id == order_id).values(
        channel_code=channel["code"], fulfilment=jsonable(fulfilment), sourcing=decision.explanation,
        reservation_id=reservation_id, currency=pricing.currency, pickup_location=pickup,
        pickup_status=("awaiting_stock" if travels else "preparing") if pickup else None,
        promised_at=clock.now() + timedelta(days=TRANSFER_DAYS if travels else 2)))
    order = queries.order_row(conn, order_id)
    set_status(conn, clock, order, "pending_payment", actor, f"draft completed in {channel['code']}")
    return complete_order(conn, clock, order, pricing=pricing, payments=data.get("payments") or [], actor=actor,
                          hold=hold)

