"""Carts that follow the customer across channels, and their checkout into an order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.catalog.errors import product_not_found
from omnihub.commerce import errors, queries, rules
from omnihub.commerce.models import cart_lines, carts, orders
from omnihub.commerce.orders import place_order, release_cart_hold, resolve_customer
from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.events import emit
from omnihub.customers import activity as customer_activity
from omnihub.customers import merging as customer_merging
from omnihub.customers import queries as customers_queries
from omnihub.inventory import reservations as inventory_reservations

ORD = orders.c


def create_cart(conn: Connection, clock: Clock, *, channel: str, identity: Any, actor: str | None = None
                ) -> dict[str, Any]:
    chan = catalog.get_channel(conn, channel, field="channel")
    customer_id = resolve_customer(conn, clock, identity, chan, actor)[0] if identity else None
    cart_id = new_id("cart")
    now = clock.now()
    conn.execute(carts.insert(), dict(id=cart_id, channel_code=chan["code"], customer_id=customer_id,
                                      origin_customer_id=customer_id,
                                      identity=identity or {}, status="open", created_at=now, updated_at=now))
    return queries.get_cart(conn, cart_id)


def set_cart_lines(conn: Connection, clock: Clock, cart_id: str, lines: Sequence[tuple[str, int]], *,
                   channel: str | None = None, actor: str | None = None) -> dict[str, Any]:
    """Replace the lines (from any channel). Prices are stamped in the cart's channel; a channel with a cart
    hold keeps the units reserved while the customer shops."""
    cart = queries.cart_row(conn, cart_id)
    if cart["status"] != "open":
        raise errors.cart_not_open(cart_id, cart["status"])
    if channel and channel != cart["channel_code"]:
        conn.execute(carts.update().where(carts.c.id == cart_id).values(channel_code=channel))
        cart["channel_code"] = channel
    chan = catalog.get_channel(conn, cart["channel_code"], field="channel")
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        merged[sku] = merged.get(sku, 0) + quantity
    skus = list(merged)
    facts = catalog.pricing_facts(conn, chan["code"], cart["customer_id"], skus)
    info, listed, prices = facts.products, facts.listed, facts.channel_prices
    rows = []
    for index, sku in enumerate(skus):
        if sku not in info:
            raise product_not_found(sku, field=f"{index}.sku")
        unit = listed[sku][0] if sku in listed else prices.get(sku)
        if unit is None:
            raise errors.price_missing(sku, chan["code"], index)
        rows.append({"cart_id": cart_id, "sku": sku, "quantity": merged[sku], "unit_price": unit, "position": index})
    if cart["hold_reservation_id"]:
        release_cart_hold(conn, clock, cart["hold_reservation_id"], actor)
    hold = None
    if chan["cart_hold_minutes"] and rows:
        hold = inventory_reservations.reserve_stock(conn, clock, channel=chan["code"], lines=list(merged.items()),
                                                    ttl_seconds=chan["cart_hold_minutes"] * 60, reference=cart_id,
                                                    actor=actor)["id"]
    conn.execute(cart_lines.delete().where(cart_lines.c.cart_id == cart_id))
    if rows:
        conn.execute(cart_lines.insert(), rows)
    conn.execute(carts.update().where(carts.c.id == cart_id).values(hold_reservation_id=hold, updated_at=clock.now()))
    if cart["customer_id"]:
        customer_activity.add_timeline_entries(conn, clock, cart["customer_id"], [{
            "type": "cart_updated", "channel": chan["code"],
            "properties": {"cart_id": cart_id, "lines": [{"sku": s, "quantity": q} for s, q in merged.items()]}}],
            source="commerce")
    emit(conn, clock, "cart.updated", {"id": cart_id, "channel": chan["code"], "customer_id": cart["customer_id"],
                                       "lines": [{"sku": s, "quantity": q} for s, q in merged.items()]})
    return queries.get_cart(conn, cart_id)


def checkout(conn: Connection, clock: Clock, cart_id: str, data: dict[str, Any], *, actor: str | None = None,
             idempotency_key: str | None = None) -> dict[str, Any]:
    """Turn a cart into an order in whichever channel the customer is in now; prices and stock are checked
    again, and a price that moved since the line was added is a 409 unless accepted."""
    if idempotency_key:
        existing = conn.execute(sa.select(ORD.id).where(ORD.idempotency_key == idempotency_key)).scalar()
        if existing:
            return queries.get_order(conn, existing)
    cart = queries.cart_row(conn, cart_id)
    if cart["status"] != "open":
        raise errors.cart_not_open(cart_id, cart["status"])
    lines = queries.cart_line_rows(conn, cart_id)
    if not lines:
        raise errors.cart_empty(cart_id)
    channel = data.get("channel") or cart["channel_code"]
    if channel == cart["channel_code"] and not data.get("accept_price_changes"):
        view = queries.get_cart(conn, cart_id)
        moved = [{"sku": line["sku"], "was": str(rules.quantize(old["unit_price"], view["currency"])),
                  "now": str(line["unit_price"])}
                 for line, old in zip(view["lines"], lines, strict=True) if line["price_changed"]]
        if moved:
            raise errors.price_changed(moved)
    customer_id = cart["customer_id"]
    if data.get("customer"):
        found, _ = resolve_customer(conn, clock, data["customer"],
                                    catalog.get_channel(conn, channel, field="channel"), actor)
        if customer_id and found and found != customer_id:
            customer_merging.merge_customers(conn, clock, customer_id, found, actor=actor)
            customer_id = customers_queries.resolve_id(conn, customer_id)
        customer_id = customer_id or found
        conn.execute(carts.update().where(carts.c.id == cart_id).values(customer_id=customer_id))
    order = place_order(conn, clock, {
        "channel": channel, "lines": [{"sku": r["sku"], "quantity": r["quantity"]} for r in lines],
        "fulfilment": data["fulfilment"], "payments": data.get("payments") or [],
        "promotion_codes": data.get("promotion_codes") or [], "expected_total": data.get("expected_total"),
        "customer": None if customer_id else data.get("customer")},  # no profile: the order keeps the contact
        actor=actor, idempotency_key=idempotency_key, cart=cart, customer_id=customer_id)
    closed = conn.execute(carts.update().where(carts.c.id == cart_id, carts.c.status == "open").values(
        status="checked_out", order_id=order["id"], hold_reservation_id=None, updated_at=clock.now())).rowcount
    if closed != 1:  # a concurrent checkout of the same cart committed first: this order is rolled back
        raise errors.cart_not_open(cart_id, queries.cart_row(conn, cart_id)["status"])
    return order

