"""Orders a shop sold itself (Shopify, WooCommerce): recorded as the shop states them — its prices, taxes,
discounts and number — never priced again and never refused. The sale happened there; refusing it here would
lose a real sale. Its units leave the hub's stock at the location the connector maps, and what the hub did not
have is flagged (`order.oversold`), not refused.

The shop fulfils and invoices its own orders: no reservation is held (the units are gone at once, the lines are
recorded as fulfilled by the units taken) and no hub invoice is issued."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import errors as catalog_errors
from omnihub.catalog import queries as catalog
from omnihub.commerce import errors, queries, rules
from omnihub.commerce.lifecycle import INSERT_HISTORY, set_status
from omnihub.commerce.models import cart_lines, carts, order_lines, orders
from omnihub.commerce.numbers import next_number
from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.errors import ValidationFailed
from omnihub.core.events import emit, emitted_together
from omnihub.core.jsonable import jsonable
from omnihub.customers import activity as customer_activity
from omnihub.customers import resolution as customer_resolution
from omnihub.inventory import stock as inventory_stock

ORD = orders.c
OL = order_lines.c
_BY_EXTERNAL_ID = sa.select(ORD.id).where(ORD.channel_code == sa.bindparam("b_channel"),
                                          ORD.external_id == sa.bindparam("b_external"))


def find_external_order(conn: Connection, channel: str, external_id: str) -> str | None:
    """The hub's id of the shop's order, if it is recorded."""
    return conn.execute(_BY_EXTERNAL_ID, {"b_channel": channel, "b_external": external_id}).scalar()


def identify(conn: Connection, clock: Clock, hints: Sequence[dict[str, Any]], channel: dict[str, Any],
              actor: str | None) -> tuple[str | None, dict[str, str] | None]:
    """The buyer through the identity graph. A shop's identifier the hub cannot read (a phone without a country)
    is left out rather than losing the sale: each try runs in a savepoint and drops the next unreadable one."""
    usable = list(hints)
    while usable:
        savepoint = conn.begin_nested()
        try:
            customer_id, contact = customer_resolution.identify_buyer(
                conn, clock, usable, channel=channel["code"], channel_country=channel["country"], actor=actor)
        except ValidationFailed as exc:
            savepoint.rollback()
            bad = _bad_hint(exc, usable)
            if bad is None:
                return None, None
            usable.pop(bad)
            continue
        savepoint.commit()
        return customer_id, contact or None
    return None, None


def _bad_hint(exc: ValidationFailed, hints: list[dict[str, Any]]) -> int | None:
    field = exc.field or ""
    if field.startswith("identities."):
        index = field.split(".")[1]
        if index.isdigit() and int(index) < len(hints):
            return int(index)
    return len(hints) - 1 if hints else None


def record_external_order(conn: Connection, clock: Clock, data: dict[str, Any], *, actor: str | None = None
                          ) -> tuple[dict[str, Any], bool]:
    """Record the shop's order once (by its external id per channel): `(order, created)`.

    `data`: channel, external {system, id, number, ...}, currency, prices_include_tax, payment_status (paid or
    unpaid), cancelled, totals {subtotal, discount, shipping, tax, total} as the shop states them, lines [{sku,
    name, quantity, unit_price, discount, tax_rate, tax, total, location}], hints (identities) and created_at."""
    channel = catalog.get_channel(conn, data["channel"], field="channel")
    external = dict(data["external"])
    existing = find_external_order(conn, channel["code"], str(external["id"]))
    if existing is not None:
        return queries.get_order(conn, existing), False
    with emitted_together(conn):
        return _record(conn, clock, channel, data, external, actor), True


def _record(conn: Connection, clock: Clock, channel: dict[str, Any], data: dict[str, Any], external: dict[str, Any],
            actor: str | None) -> dict[str, Any]:
    currency = data["currency"]
    if not data["lines"]:
        raise errors.external_order_empty(str(external["id"]))
    products = catalog.get_products(conn, [ln["sku"] for ln in data["lines"]])
    unknown = sorted({ln["sku"] for ln in data["lines"]} - products.keys())
    if unknown:
        raise catalog_errors.product_not_found(unknown[0])
    customer_id, contact = identify(conn, clock, data.get("hints") or [], channel, actor)
    order_id = new_id("ord")
    number = next_number(conn, channel["code"])
    now = clock.now()
    # dated when the shop sold it (analytics, the customer's timeline), never after its receipt (a shop's clock
    # ahead of ours)
    created_at = min(data.get("created_at") or now, now)
    cancelled = bool(data.get("cancelled"))
    taken_per_line = [0] * len(data["lines"]) if cancelled else inventory_stock.take_sold_elsewhere(
        conn, clock, lines=[(ln["location"], ln["sku"], ln["quantity"]) for ln in data["lines"]], reference=order_id,
        reason=f"sold by {external['system']} {external.get('number') or external['id']}", actor=actor)
    line_rows = []
    oversold = []
    for line, taken in zip(data["lines"], taken_per_line, strict=True):
        product = products[line["sku"]]
        if taken < line["quantity"] and not cancelled:
            oversold.append({"sku": line["sku"], "location": line["location"], "sold": line["quantity"],
                             "taken": taken, "short": line["quantity"] - taken})
        line_rows.append({
            "order_id": order_id, "line_no": len(line_rows) + 1, "sku": line["sku"],
            "name": (line.get("name") or product["name"])[:300], "category": product.get("category") or "",
            "quantity": line["quantity"], "unit_price": rules.quantize(Decimal(line["unit_price"]), currency),
            "discount": Decimal(line["discount"]), "tax_rate": Decimal(line["tax_rate"]),
            "tax": Decimal(line["tax"]), "total": Decimal(line["total"]), "location_code": line["location"],
            "fulfilled": taken, "returned": 0})
    external["oversold"] = oversold
    totals = {k: Decimal(data["totals"][k]) for k in ("subtotal", "discount", "shipping", "tax", "total")}
    paid = data["payment_status"] == "paid"
    status = "cancelled" if data.get("cancelled") else ("paid" if paid else "pending_payment")
    row = dict(
        id=order_id, number=number, channel_code=channel["code"],
        customer_id=customer_id, origin_customer_id=customer_id, status=status,
        payment_status="paid" if paid else "unpaid", currency=currency, **totals,
        prices_include_tax=bool(data.get("prices_include_tax")), shipping_tax=Decimal(0), shipping_tax_rate=0,
        fulfilment={"type": "external", "system": external["system"],
                    "location": data["lines"][0]["location"]},
        sourcing={"reason": f"sold by {external['system']}"}, promotions=data.get("promotions") or [],
        reservation_id=None, pickup_location=None, pickup_status=None, pickup_slot_id=None, promised_at=None,
        cart_id=None, idempotency_key=None, contact=contact, external_id=str(external["id"]),
        external=jsonable(external), created_at=created_at, updated_at=now)
    conn.execute(orders.insert(), row)
    conn.execute(order_lines.insert(), line_rows)
    history = [dict(order_id=order_id, from_status=None, to_status="pending_payment", actor=actor,
                    note=f"sold by {external['system']}", at=now)]
    if status != "pending_payment":
        history.append(dict(order_id=order_id, from_status="pending_payment", to_status=status, actor=actor,
                            note=None, at=now))
    conn.execute(INSERT_HISTORY, history)
    if customer_id and status != "cancelled":
        customer_activity.record_purchase(conn, clock, customer_id, channel["code"], totals["total"],
                                          at=created_at, order_id=order_id, currency=currency,
                                          categories=sorted({r["category"] for r in line_rows if r["category"]}))
    result = queries.get_order(conn, order_id)
    emit(conn, clock, "order.created", jsonable(result))
    if oversold:
        emit(conn, clock, "order.oversold", {"id": order_id, "number": result["number"], "channel": channel["code"],
                                             "external": {"system": external["system"], "id": str(external["id"]),
                                                          "number": external.get("number")},
                                             "lines": oversold})
    return result


def update_external_order(conn: Connection, clock: Clock, channel: str, external_id: str, *,
                          paid: bool | None = None, cancelled: bool = False, note: str | None = None,
                          actor: str | None = None) -> dict[str, Any] | None:
    """The shop moved its order on: paid there, or cancelled (its units come back to the hub's stock). Returns
    the order, or None when the hub has not recorded it (the caller records it first)."""
    order_id = find_external_order(conn, channel, external_id)
    if order_id is None:
        return None
    order = queries.order_row(conn, order_id)
    system = (order["external"] or {}).get("system", "shop")
    if cancelled and order["status"] != "cancelled":
        for line in queries.order_line_rows(conn, order_id):  # what was taken (fulfilled) and not yet back
            back = line["fulfilled"] - line["returned"]
            if back > 0:
                inventory_stock.restock_sold_elsewhere(
                    conn, clock, location=line["location_code"], sku=line["sku"], quantity=back, reference=order_id,
                    reason=f"cancelled in {system}", actor=actor)
        set_status(conn, clock, order, "cancelled", actor, note or f"cancelled in {system}")
        emit(conn, clock, "order.cancelled", {"id": order_id, "number": order["number"],
                                              "channel": order["channel_code"], "customer_id": order["customer_id"]})
    elif paid and order["payment_status"] != "paid" and order["status"] == "pending_payment":
        set_status(conn, clock, order, "paid", actor, note or f"paid in {system}", payment_status="paid")
        emit(conn, clock, "order.paid", {"id": order_id, "number": order["number"],
                                         "channel": order["channel_code"], "customer_id": order["customer_id"]})
    return queries.get_order(conn, order_id)


def restock_external_refund(conn: Connection, clock: Clock, channel: str, external_id: str,
                            items: Sequence[tuple[str, int]], *, refund_id: str, amount: Decimal,
                            actor: str | None = None) -> dict[str, Any] | None:
    """A shop's refund: the amount is noted on the order; restocked units `(sku, quantity)` come back to the
    location the line was taken from, counted as returned on the line. Replaying the same refund changes
    nothing (its id is remembered). None when the order is not recorded."""
    order_id = find_external_order(conn, channel, external_id)
    if order_id is None:
        return None
    order = queries.order_row(conn, order_id)
    external = dict(order["external"] or {})
    refunds = list(external.get("refunds") or [])
    if any(r["id"] == refund_id for r in refunds):
        return queries.get_order(conn, order_id)
    lines = queries.order_line_rows(conn, order_id)
    returned = []
    for sku, quantity in items:
        line = next((ln for ln in lines if ln["sku"] == sku and ln["returned"] + quantity <= ln["fulfilled"]), None)
        if line is None:
            continue
        inventory_stock.restock_sold_elsewhere(conn, clock, location=line["location_code"], sku=sku,
                                               quantity=quantity, reference=order_id,
                                               reason=f"refunded in {external.get('system', 'shop')}", actor=actor)
        conn.execute(order_lines.update().where(OL.order_id == order_id, OL.line_no == line["line_no"])
                     .values(returned=OL.returned + quantity))
        line["returned"] += quantity
        returned.append({"sku": sku, "quantity": quantity, "location": line["location_code"]})
    refunds.append({"id": refund_id, "amount": str(amount), "restocked": returned})
    external["refunds"] = refunds
    conn.execute(orders.update().where(ORD.id == order_id).values(external=jsonable(external),
                                                                  updated_at=clock.now()))
    emit(conn, clock, "order.refunded", {"id": order_id, "number": order["number"], "channel": channel,
                                         "amount": str(amount), "restocked": returned,
                                         "external": {"system": external.get("system"), "refund_id": refund_id}})
    return queries.get_order(conn, order_id)


def record_external_cart(conn: Connection, clock: Clock, *, channel: str, system: str, token: str,
                         hints: Sequence[dict[str, Any]], lines: Sequence[tuple[str, int, Decimal]],
                         actor: str | None = None) -> dict[str, Any]:
    """A shop's abandoned checkout as the customer's open cart, at the shop's prices and holding no stock: one
    cart per checkout (its id derives from the shop's token), its lines replaced by each update. A cart that
    moved on (checked out here, abandoned) is left alone."""
    chan = catalog.get_channel(conn, channel, field="channel")
    cart_id = "cart_" + hashlib.sha256(f"{channel}:{system}:{token}".encode()).hexdigest()[:32]
    now = clock.now()
    row = conn.execute(sa.select(carts.c.status, carts.c.customer_id).where(carts.c.id == cart_id)).first()
    if row is None:
        customer_id, _ = identify(conn, clock, hints, chan, actor)
        conn.execute(carts.insert(), dict(id=cart_id, channel_code=channel, customer_id=customer_id,
                                          origin_customer_id=customer_id, identity={"system": system, "token": token},
                                          status="open", created_at=now, updated_at=now))
    elif row.status != "open":
        return queries.get_cart(conn, cart_id)
    else:
        customer_id = row.customer_id
    conn.execute(cart_lines.delete().where(cart_lines.c.cart_id == cart_id))
    rows = [{"cart_id": cart_id, "sku": sku, "quantity": quantity, "unit_price": price, "position": index}
            for index, (sku, quantity, price) in enumerate(lines)]
    if rows:
        conn.execute(cart_lines.insert(), rows)
    conn.execute(carts.update().where(carts.c.id == cart_id).values(updated_at=now))
    if customer_id:
        customer_activity.add_timeline_entries(conn, clock, customer_id, [{
            "type": "cart_updated", "channel": channel,
            "properties": {"cart_id": cart_id, "system": system,
                           "lines": [{"sku": s, "quantity": q} for s, q, _ in lines]}}], source="commerce")
    emit(conn, clock, "cart.updated", {"id": cart_id, "channel": channel, "customer_id": customer_id,
                                       "lines": [{"sku": s, "quantity": q} for s, q, _ in lines]})
    return queries.get_cart(conn, cart_id)
