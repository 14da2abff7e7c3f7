"""Read side of commerce: orders, carts, shipments, returns, slots, order history."""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.commerce import errors
from omnihub.commerce.models import (
    cart_lines,
    carts,
    order_history,
    order_lines,
    orders,
    pickup_slots,
    returns,
    shipments,
)
from omnihub.core.clock import as_utc
from omnihub.core.jsonable import jsonable
from omnihub.core.money import format_amount
from omnihub.core.pagination import decode_cursor, newest_first, page, within

ORD = orders.c


def _money(value: Any, currency: str) -> Decimal:
    return Decimal(format_amount(Decimal(value), currency))


# The reads every order makes several times, built once (building a statement costs more than running it here).
_ORDER_ROW = sa.select(orders).where(sa.or_(ORD.id == sa.bindparam("b_ref"), ORD.number == sa.bindparam("b_ref")))
_ORDER_LINE_ROWS = sa.select(order_lines).where(order_lines.c.order_id == sa.bindparam("b_order")).order_by(
    order_lines.c.line_no)


def order_row(conn: Connection, order_id: str) -> dict[str, Any]:
    row = conn.execute(_ORDER_ROW, {"b_ref": order_id}).first()
    if row is None:
        raise errors.order_not_found(order_id)
    return dict(row._mapping)


def order_status(conn: Connection, order_id: str) -> str:
    return conn.execute(sa.select(ORD.status).where(ORD.id == order_id)).scalar_one()


def order_line_rows(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(_ORDER_LINE_ROWS, {"b_order": order_id})]


def get_order(conn: Connection, order_id: str, *, show_pickup_code: bool = True) -> dict[str, Any]:
    """`order_id`: the order's id or its number; the lines are always found by the id."""
    order = order_row(conn, order_id)
    return order_out(order, order_line_rows(conn, order["id"]), show_pickup_code=show_pickup_code)


def status_history(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    """Every move of the order along its state machine, oldest first: from, to, who (API key id), note, when."""
    h = order_history.c
    rows = conn.execute(sa.select(h.from_status, h.to_status, h.actor, h.note, h.at)
                        .where(h.order_id == order_id).order_by(h.id))
    return [{"from": r.from_status, "to": r.to_status, "actor": r.actor, "note": r.note, "at": as_utc(r.at)}
            for r in rows]


def order_out(order: dict[str, Any], line_rows: list[dict[str, Any]], *, show_pickup_code: bool = True
              ) -> dict[str, Any]:
    """An order row and its line rows as the API shows them."""
    currency = order["currency"]
    lines = [{"line_no": r["line_no"], "sku": r["sku"], "name": r["name"], "quantity": r["quantity"],
              "unit_price": _money(r["unit_price"], currency), "discount": _money(r["discount"], currency),
              "tax": _money(r["tax"], currency), "total": _money(r["total"], currency),
              "location": r["location_code"], "fulfilled": r["fulfilled"], "returned": r["returned"]}
             for r in line_rows]
    pickup = None
    if order["pickup_location"]:
        pickup = {"location": order["pickup_location"], "status": order["pickup_status"],
                  "code": order["pickup_code"] if show_pickup_code else None,
                  "expires_at": as_utc(order["pickup_expires_at"]) if order["pickup_expires_at"] else None,
                  "slot": order["pickup_slot_id"],
                  "locked_until": as_utc(order["pickup_locked_until"]) if order.get("pickup_locked_until") else None}
    return {
        "id": order["id"], "number": order["number"], "status": order["status"],
        "payment_status": order["payment_status"], "channel": order["channel_code"],
        "customer_id": order["customer_id"], "lines": lines,
        "totals": {k: _money(order[k], currency)
                   for k in ("subtotal", "discount", "shipping", "shipping_tax", "tax", "total")}
        | {"currency": currency},
        "fulfilment": order["fulfilment"], "pickup": pickup,
        "promised_at": as_utc(order["promised_at"]) if order["promised_at"] else None,
        "sourcing": order["sourcing"] or {}, "promotions": order["promotions"] or [],
        "invoice_number": order["invoice_number"], "price_list": order["price_list"],
        "contact": order.get("contact") or None, "external": order.get("external") or None,
        "created_at": as_utc(order["created_at"]), "updated_at": as_utc(order["updated_at"]),
    }


def orders_of_customer(conn: Connection, customer_ids: list[str], *, limit: int, cursor: str | None,
                       channel: str | None = None) -> dict[str, Any]:
    """Order history across every channel (or one: a channel key's), newest first. Pickup codes included:
    the api decides who sees them, with the same rule as for one order."""
    query = (sa.select(ORD.id).where(ORD.customer_id.in_(customer_ids))
             .order_by(ORD.id.desc()).limit(limit + 1))
    if channel is not None:
        query = query.where(ORD.channel_code == channel)
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(ORD.id < str(before))
    ids = [r.id for r in conn.execute(query)]
    return page([get_order(conn, i) for i in ids], limit, key=lambda o: o["id"])


def recent_order_facts(conn: Connection, customer_ids: list[str], *, per_customer: int
                       ) -> dict[str, list[dict[str, Any]]]:
    """For many customers in one query: each one's latest `per_customer` orders (newest first, as
    `orders_of_customer` pages them) with what other rooms' rules read of an order — number, status, promised_at,
    pickup (its status, or None: no pickup), updated_at — in `order_out`'s shape. The service desk's priority rules
    read it for a whole batch of messages."""
    if not customer_ids:
        return {}
    ranked = (sa.select(ORD.customer_id, ORD.id, ORD.number, ORD.status, ORD.promised_at, ORD.pickup_location,
                        ORD.pickup_status, ORD.updated_at,
                        sa.func.row_number().over(partition_by=ORD.customer_id, order_by=ORD.id.desc()).label("n"))
              .where(ORD.customer_id.in_(sorted(set(customer_ids)))).subquery())
    found: dict[str, list[dict[str, Any]]] = {}
    for r in conn.execute(sa.select(ranked).where(ranked.c.n <= per_customer).order_by(ranked.c.customer_id,
                                                                                        ranked.c.n)):
        found.setdefault(r.customer_id, []).append({
            "id": r.id, "number": r.number, "status": r.status,
            "promised_at": as_utc(r.promised_at) if r.promised_at else None,
            "pickup": {"location": r.pickup_location, "status": r.pickup_status} if r.pickup_location else None,
            "updated_at": as_utc(r.updated_at)})
    return found


def cart_row(conn: Connection, cart_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(carts).where(carts.c.id == cart_id)).first()
    if row is None:
        raise errors.cart_not_found(cart_id)
    return dict(row._mapping)


def cart_line_rows(conn: Connection, cart_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(cart_lines).where(cart_lines.c.cart_id == cart_id).order_by(cart_lines.c.position))
    return [dict(r._mapping) for r in rows]


def get_cart(conn: Connection, cart_id: str) -> dict[str, Any]:
    """The cart as its channel sees it now: current prices, flagged where they moved since added."""
    cart = cart_row(conn, cart_id)
    channel = catalog.get_channel(conn, cart["channel_code"])
    rows = cart_line_rows(conn, cart_id)
    facts = catalog.pricing_facts(conn, channel["code"], cart["customer_id"], [r["sku"] for r in rows])
    listed, prices = facts.listed, facts.channel_prices
    currency = channel["currency"]
    lines = []
    for r in rows:
        now = listed[r["sku"]][0] if r["sku"] in listed else prices.get(r["sku"], Decimal(r["unit_price"]))
        lines.append({"sku": r["sku"], "quantity": r["quantity"], "unit_price": _money(now, currency),
                      "price_changed": _money(now, currency) != _money(r["unit_price"], currency)})
    hold = None
    if cart["hold_reservation_id"] and cart["status"] == "open":
        from omnihub.inventory import queries as inventory

        reservation = inventory.get_reservation(conn, cart["hold_reservation_id"])
        hold = {"reservation_id": reservation["id"], "status": reservation["status"],
                "expires_at": reservation["expires_at"].isoformat()}
    return {"id": cart["id"], "channel": cart["channel_code"], "customer_id": cart["customer_id"],
            "status": cart["status"], "lines": lines, "currency": currency,
            "subtotal": sum((line["unit_price"] * line["quantity"] for line in lines), Decimal(0)),
            "hold": hold, "order_id": cart["order_id"], "updated_at": as_utc(cart["updated_at"])}


_CID = sa.bindparam("b_cid", type_=sa.String())
_OPEN_CART = (sa.select(carts.c.id).where(carts.c.customer_id == _CID, carts.c.status == "open",
                                          sa.exists().where(cart_lines.c.cart_id == carts.c.id))
              .order_by(carts.c.updated_at.desc()).limit(1))


def open_cart_of(conn: Connection, customer_id: str) -> dict[str, Any] | None:
    """The customer's most recent open cart with lines (for the 360 view at the store counter)."""
    return _open_cart_from(conn, [conn.execute(_OPEN_CART, {"b_cid": customer_id}).all()])


def _open_cart_from(conn: Connection, found: list[list[Any]]) -> dict[str, Any] | None:
    return jsonable(get_cart(conn, found[0][0].id)) if found[0] else None


def get_shipment(conn: Connection, shipment_id: str, *, order_id: str | None = None) -> dict[str, Any]:
    row = conn.execute(sa.select(shipments).where(shipments.c.id == shipment_id)).first()
    if row is None or (order_id is not None and row.order_id != order_id):
        raise errors.shipment_not_found(shipment_id)
    return {"id": row.id, "order_id": row.order_id, "location": row.location_code, "carrier": row.carrier,
            "tracking_number": row.tracking_number, "lines": row.lines, "status": row.status,
            "shipped_at": as_utc(row.shipped_at),
            "delivered_at": as_utc(row.delivered_at) if row.delivered_at else None}


def get_return(conn: Connection, return_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(returns).where(returns.c.id == return_id)).first()
    if row is None:
        raise errors.return_not_found(return_id)
    currency = order_row(conn, row.order_id)["currency"]
    return {"id": row.id, "order": row.order_id, "location": row.location_code, "condition": row.condition,
            "lines": row.lines, "refund": {"amount": str(_money(row.refund_amount, currency)),
                                           "method": row.refund_method, "currency": currency},
            "credit_note": row.credit_note_number,
            "exchange_order": get_order(conn, row.exchange_order_id) if row.exchange_order_id else None,
            "created_at": as_utc(row.created_at)}


def get_slot(conn: Connection, slot_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(pickup_slots).where(pickup_slots.c.id == slot_id)).first()
    if row is None:
        raise errors.slot_not_found(slot_id)
    return {"id": row.id, "location": row.location_code, "starts_at": as_utc(row.starts_at),
            "ends_at": as_utc(row.ends_at), "capacity": row.capacity, "booked": row.booked}


def list_slots(conn: Connection, location: str) -> list[dict[str, Any]]:
    ids = conn.execute(sa.select(pickup_slots.c.id).where(pickup_slots.c.location_code == location)
                       .order_by(pickup_slots.c.starts_at)).scalars()
    return [get_slot(conn, i) for i in ids]


# What the 360 view's purchases section reads: the customer's orders, the carriers of their shipments (joined,
# not an IN list of every order id) and the promotions addressed to them.
_PURCHASES = sa.select(ORD.id, ORD.fulfilment, ORD.pickup_location, ORD.promotions).where(ORD.customer_id == _CID)
_CARRIERS = (sa.select(shipments.c.carrier).join(orders, orders.c.id == shipments.c.order_id)
             .where(ORD.customer_id == _CID).distinct())


def _purchases_from(_conn: Connection, found: list[list[Any]]) -> dict[str, Any]:
    """The 360 view's commerce section: preferred store, carriers used, promotions received and redeemed."""
    from collections import Counter

    rows, carriers, promotions = found
    stores: Counter[str] = Counter()
    redeemed: list[str] = []
    for row in rows:
        fulfilment = row.fulfilment or {}
        store = row.pickup_location or (fulfilment.get("location") if fulfilment.get("type") == "in_store" else None)
        if store:
            stores[store] += 1
        redeemed += [p.get("code") or p.get("promotion_id") for p in (row.promotions or [])]
    return {"preferred_store": stores.most_common(1)[0][0] if stores else None,
            "stores": dict(stores), "carriers_used": sorted({r.carrier for r in carriers}),
            "promotions_redeemed": sorted(set(redeemed)),
            "promotions_received": [r.promotion_id for r in promotions]}


def view_sections() -> dict[str, Any]:
    """The 360 view's commerce sections, read with the rest of the view (customers.queries.ReadSection)."""
    from omnihub.customers.queries import ReadSection
    from omnihub.promotions import queries as promotions

    return {"open_cart": ReadSection((_OPEN_CART,), _open_cart_from),
            "purchases": ReadSection((_PURCHASES, _CARRIERS, promotions.FOR_CUSTOMER), _purchases_from)}


# ---- lists -------------------------------------------------------------------------------------------------------


def orders_out(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order rows as the API shows them, their lines read in one query."""
    ids = [r["id"] for r in rows]
    line_rows = conn.execute(sa.select(order_lines).where(order_lines.c.order_id.in_(ids))
                             .order_by(order_lines.c.order_id, order_lines.c.line_no)).all() if ids else []
    return _with_lines(rows, line_rows)


def _with_lines(rows: list[dict[str, Any]], line_rows: list[Any]) -> list[dict[str, Any]]:
    """Order rows with their line rows (ordered by order and line number) as the API shows them."""
    lines: dict[str, list[dict[str, Any]]] = {}
    for r in line_rows:
        lines.setdefault(r.order_id, []).append(r._asdict())
    return [order_out(r, lines.get(r["id"], [])) for r in rows]


@functools.cache
def latest_orders_reads(limit: int) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """A customer's (`b_cid`) latest orders and their lines — the first `limit` of `list_orders(customer_ids=
    [cid])` — as two reads that need nothing else, so that they can go with other reads in one round trip
    (core.reads; the service desk's thread view sends them with the 360 view). Built once per limit."""
    latest = sa.select(ORD.id).where(ORD.customer_id == _CID).order_by(ORD.id.desc()).limit(limit)
    return (sa.select(orders).where(ORD.customer_id == _CID).order_by(ORD.id.desc()).limit(limit),
            sa.select(order_lines).where(order_lines.c.order_id.in_(latest.scalar_subquery()))
            .order_by(order_lines.c.order_id, order_lines.c.line_no))


def latest_orders_from(order_rows: list[Any], line_rows: list[Any]) -> list[dict[str, Any]]:
    """`latest_orders_reads`' rows as the API shows the orders (as `list_orders` does)."""
    return _with_lines([r._asdict() for r in order_rows], line_rows)


def at_location(location: str) -> sa.ColumnElement[bool]:
    """Orders a location deals with: it holds a line's stock or hands the order over (the associate's scope)."""
    return sa.or_(ORD.pickup_location == location,
                  sa.exists().where(order_lines.c.order_id == ORD.id, order_lines.c.location_code == location))


def list_orders(conn: Connection, *, limit: int, cursor: str | None, channel: str | None = None,
                status: str | None = None, location: str | None = None, customer_ids: list[str] | None = None,
                created_from: datetime | None = None, created_to: datetime | None = None, q: str | None = None,
                pickup_location: str | None = None, pickup_status: str | None = None,
                pickups_only: bool = False) -> dict[str, Any]:
    """Orders newest first, every filter optional. `q`: an order number or id, or a customer's e-mail (or any
    identifier of theirs). Pickup codes are included: the api decides who sees them."""
    from omnihub.customers import queries as customers

    conditions = within(ORD.created_at, created_from, created_to)
    if channel is not None:
        conditions.append(ORD.channel_code == channel)
    if status is not None:
        conditions.append(ORD.status == status)
    if location is not None:
        conditions.append(at_location(location))
    if customer_ids is not None:
        conditions.append(ORD.customer_id.in_(customer_ids))
    if pickups_only:
        conditions.append(ORD.pickup_location.is_not(None))
    if pickup_location is not None:
        conditions.append(ORD.pickup_location == pickup_location)
    if pickup_status is not None:
        conditions.append(ORD.pickup_status == pickup_status)
    if q:
        text = q.strip()
        conditions.append(sa.or_(ORD.number == text, ORD.number == text.upper(), ORD.id == text,
                                 ORD.customer_id.in_(customers.customers_with_identity(text))))
    query = newest_first(sa.select(orders).where(*conditions), ORD.id, limit=limit, cursor=cursor)
    rows = [dict(r._mapping) for r in conn.execute(query)]
    return page(orders_out(conn, rows), limit, key=lambda o: o["id"])


def list_returns(conn: Connection, *, limit: int, cursor: str | None, channel: str | None = None,
                 location: str | None = None, order: str | None = None, condition: str | None = None,
                 created_from: datetime | None = None, created_to: datetime | None = None) -> dict[str, Any]:
    """Returns newest first. `channel`: of the order returned; `order`: its id or number."""
    r = returns.c
    conditions = within(r.created_at, created_from, created_to)
    if location is not None:
        conditions.append(r.location_code == location)
    if condition is not None:
        conditions.append(r.condition == condition)
    if order is not None:
        conditions.append(r.order_id.in_(sa.select(ORD.id).where(sa.or_(ORD.id == order, ORD.number == order))))
    if channel is not None:
        conditions.append(r.order_id.in_(sa.select(ORD.id).where(ORD.channel_code == channel)))
    query = newest_first(sa.select(returns.c.id).where(*conditions), r.id, limit=limit, cursor=cursor)
    return page([get_return(conn, i) for i in conn.execute(query).scalars()], limit, key=lambda x: x["id"])


# ---- the console's counter and order page ---------------------------------------------------------------


def _order_summary(row: Any) -> dict[str, Any]:
    currency = row.currency
    return {"id": row.id, "number": row.number, "status": row.status, "payment_status": row.payment_status,
            "channel": row.channel_code, "customer_id": row.customer_id, "total": _money(row.total, currency),
            "currency": currency, "pickup_location": row.pickup_location, "pickup_status": row.pickup_status,
            "pickup_expires_at": as_utc(row.pickup_expires_at) if row.pickup_expires_at else None,
            "created_at": as_utc(row.created_at)}


_SUMMARY_COLUMNS = (ORD.id, ORD.number, ORD.status, ORD.payment_status, ORD.channel_code, ORD.customer_id, ORD.total,
                    ORD.currency, ORD.pickup_location, ORD.pickup_status, ORD.pickup_expires_at, ORD.created_at)


def pickups_at(conn: Connection, location: str, statuses: tuple[str, ...], *, limit: int = 100
               ) -> list[dict[str, Any]]:
    """Pickup orders at a store in the given pickup statuses, oldest first (the counter's queue)."""
    query = (sa.select(*_SUMMARY_COLUMNS).where(ORD.pickup_location == location, ORD.pickup_status.in_(statuses),
                                                ORD.status.not_in(("cancelled", "draft")))
             .order_by(ORD.id).limit(limit))
    return [_order_summary(r) for r in conn.execute(query)]


def shipments_of(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    ids = conn.execute(sa.select(shipments.c.id).where(shipments.c.order_id == order_id)
                       .order_by(shipments.c.shipped_at)).scalars().all()
    return [get_shipment(conn, i) for i in ids]


def oversold_orders(conn: Connection, *, limit: int = 50, scan: int = 1000) -> list[dict[str, Any]]:
    """The most recent orders a shop sold with units the hub did not have (`external.oversold`), newest first,
    among the last `scan` orders from shops: what someone must source, cancel or refund by hand."""
    rows = conn.execute(sa.select(ORD.id, ORD.number, ORD.channel_code, ORD.status, ORD.external, ORD.created_at)
                        .where(ORD.external_id.is_not(None)).order_by(ORD.created_at.desc()).limit(scan))
    found = []
    for row in rows:
        short = (row.external or {}).get("oversold") or []
        if short:
            found.append({"id": row.id, "number": row.number, "channel": row.channel_code, "status": row.status,
                          "external": {k: (row.external or {}).get(k) for k in ("system", "id", "number")},
                          "lines": short, "created_at": as_utc(row.created_at)})
            if len(found) >= limit:
                break
    return found


def idle_carts(conn: Connection, channel: str, *, after: datetime, after_id: str = "", upto: datetime, limit: int
               ) -> list[dict[str, Any]]:
    """Open carts of `channel` with a known customer and at least one line, last touched after (after, after_id)
    and at or before `upto`, oldest first (then by id): the carts whose idle threshold passed since the automation
    scan last looked (automation.carts)."""
    has_lines = sa.exists().where(cart_lines.c.cart_id == carts.c.id)
    later = sa.or_(carts.c.updated_at > after, sa.and_(carts.c.updated_at == after, carts.c.id > after_id))
    rows = conn.execute(
        sa.select(carts.c.id, carts.c.customer_id, carts.c.updated_at)
        .where(carts.c.channel_code == channel, carts.c.status == "open", carts.c.customer_id.is_not(None),
               later, carts.c.updated_at <= upto, has_lines)
        .order_by(carts.c.updated_at, carts.c.id).limit(limit))
    return [{"id": r.id, "customer_id": r.customer_id, "updated_at": as_utc(r.updated_at)} for r in rows]


def lines_of_carts(conn: Connection, cart_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The lines of many carts at once (sku, quantity, the unit price stamped when added), in cart order."""
    found: dict[str, list[dict[str, Any]]] = {cart_id: [] for cart_id in cart_ids}
    for start in range(0, len(cart_ids), 1000):
        chunk = cart_ids[start:start + 1000]
        rows = conn.execute(sa.select(cart_lines.c.cart_id, cart_lines.c.sku, cart_lines.c.quantity,
                                      cart_lines.c.unit_price).where(cart_lines.c.cart_id.in_(chunk))
                            .order_by(cart_lines.c.cart_id, cart_lines.c.position))
        for r in rows:
            found[r.cart_id].append({"sku": r.sku, "quantity": r.quantity, "unit_price": Decimal(r.unit_price)})
    return found


def bought_together(conn: Connection, skus: list[str], *, limit: int = 200) -> dict[str, int]:
    """SKUs sold in the same orders as any of `skus` (not those themselves), with the number of such orders."""
    if not skus:
        return {}
    a, b = order_lines.alias("a"), order_lines.alias("b")
    rows = conn.execute(
        sa.select(b.c.sku, sa.func.count(sa.distinct(b.c.order_id)).label("n"))
        .select_from(a.join(b, sa.and_(a.c.order_id == b.c.order_id, b.c.sku != a.c.sku)))
        .where(a.c.sku.in_(skus), b.c.sku.not_in(skus))
        .group_by(b.c.sku).order_by(sa.desc("n"), b.c.sku).limit(limit))
    return {r.sku: int(r.n) for r in rows}


def skus_bought_by(conn: Connection, customer_ids: list[str]) -> dict[str, int]:
    """What these profiles bought: SKU → units."""
    if not customer_ids:
        return {}
    rows = conn.execute(sa.select(order_lines.c.sku, sa.func.sum(order_lines.c.quantity))
                        .select_from(order_lines.join(orders, orders.c.id == order_lines.c.order_id))
                        .where(orders.c.customer_id.in_(customer_ids)).group_by(order_lines.c.sku))
    return {sku: int(n) for sku, n in rows}


def orders_with(conn: Connection, skus: list[str]) -> dict[str, int]:
    """How many orders hold each of these SKUs (what recommendation scores normalise co-purchase by)."""
    found: dict[str, int] = {}
    for start in range(0, len(skus), 500):
        rows = conn.execute(sa.select(order_lines.c.sku, sa.func.count(sa.distinct(order_lines.c.order_id)))
                            .where(order_lines.c.sku.in_(skus[start:start + 500])).group_by(order_lines.c.sku))
        found.update({sku: int(n) for sku, n in rows})
    return found


def best_sellers(conn: Connection, *, limit: int = 200) -> dict[str, int]:
    """The SKUs in the most orders (the fallback when nothing is known of a person or product)."""
    rows = conn.execute(sa.select(order_lines.c.sku, sa.func.count(sa.distinct(order_lines.c.order_id)).label("n"))
                        .group_by(order_lines.c.sku).order_by(sa.desc("n"), order_lines.c.sku).limit(limit))
    return {r.sku: int(r.n) for r in rows}
