"""Writing an order: the one path every new order takes (direct orders, cart checkouts, exchanges) and the
completion drafts share — price, source, hold stock, take payment, count promotions, number, invoice — in the
caller's single transaction, so an order either exists whole or not at all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import service as billing
from omnihub.catalog import queries as catalog
from omnihub.commerce import errors, payment_flow, queries, rules
from omnihub.commerce.lifecycle import INSERT_HISTORY, hand_over, record_history, set_status
from omnihub.commerce.models import order_lines, orders, pickup_slots
from omnihub.commerce.numbers import next_number
from omnihub.commerce.planning import Plan, plan_order, take_capacity, validate_fulfilment
from omnihub.commerce.pricing import Pricing, price_lines
from omnihub.core.clock import Clock
from omnihub.core.db import RetryTransaction, new_id
from omnihub.core.errors import DomainError
from omnihub.core.events import emit, emitted_together
from omnihub.core.jsonable import jsonable
from omnihub.core.money import format_amount
from omnihub.customers import activity as customer_activity
from omnihub.customers import resolution as customer_resolution
from omnihub.inventory import allocations as inventory_allocations
from omnihub.inventory import queries as inventory_queries
from omnihub.inventory import reservations as inventory_reservations
from omnihub.promotions import service as promotions

TRANSFER_DAYS = 2  # promised delay when a pickup store must receive the stock first
INVOICE_SERIES = "INV"
UNNUMBERED = "~"  # an order's number until it is taken, last thing before commit
ORD = orders.c
OL = order_lines.c


def resolve_customer(conn: Connection, clock: Clock, hints: Any, channel: dict[str, Any], actor: str | None
                     ) -> tuple[str | None, dict[str, str] | None]:
    """Attach the order or cart to a profile (get-or-create by identity); no usable hint → anonymous. Returns it
    with the order's contact: identifiers that identify no one (placeholders, block list) — a sale is never
    refused for them (customers.resolution.identify_buyer)."""
    if not hints:
        return None, None
    customer_id, contact = customer_resolution.identify_buyer(conn, clock, hints, channel=channel["code"],
                                                              channel_country=channel["country"], actor=actor)
    return customer_id, contact or None


def release_cart_hold(conn: Connection, clock: Clock, reservation_id: str, actor: str | None) -> None:
    status = inventory_queries.get_reservation(conn, reservation_id)["status"]
    if status == "active":
        inventory_reservations.release_reservation(conn, clock, reservation_id, actor=actor, reason="cart changed")


COUNTER_SALE = "counter sale"  # the note on a counter sale's hand-over, and its stock ledger reason

# Statements every order runs, built once (a statement built per call pays for its cache key every time).
_INSERT_ORDER = orders.insert()
_INSERT_ORDER_LINES = order_lines.insert()
_ORDER_BY_IDEMPOTENCY_KEY = sa.select(ORD.id).where(ORD.idempotency_key == sa.bindparam("b_key"))
_SET_INVOICE_NUMBER = (orders.update().where(ORD.id == sa.bindparam("b_id"))
                       .values(invoice_number=sa.bindparam("b_number")))
# PostgreSQL, a new order: billing numbers and writes the invoice and this step of ours records the number on the
# order, in one statement (no round trip added while the invoice series row is locked).
_ISSUE_AND_RECORD_PG = billing.issuing_statement_pg(
    then="recorded AS (UPDATE orders SET invoice_number = doc.number FROM doc WHERE orders.id = :b_order)")


def _book_slot(conn: Connection, slot_id: str, location: str) -> None:
    ps = pickup_slots.c
    exists = conn.execute(sa.select(ps.id).where(ps.id == slot_id, ps.location_code == location)).first()
    if exists is None:
        raise errors.slot_not_found(slot_id)
    won = conn.execute(pickup_slots.update().where(ps.id == slot_id, ps.booked < ps.capacity)
                       .values(booked=ps.booked + 1)).rowcount
    if won != 1:
        raise errors.slot_full(slot_id)


def priced_line_rows(order_id: str, pricing: Pricing, allocations: Sequence[tuple[str, str | None, int]]
                     ) -> list[dict[str, Any]]:
    """One order line per (SKU, location) allocation; a SKU split over locations shares its amounts exactly."""
    rows = []
    for priced in pricing.lines:
        parts = [(loc, q) for sku, loc, q in allocations if sku == priced.sku]
        weights = [q for _, q in parts]
        discounts = rules.split_amount(priced.discount, weights, pricing.currency)
        taxes = rules.split_amount(priced.tax, weights, pricing.currency)
        totals = rules.split_amount(priced.total, weights, pricing.currency)
        for (loc, q), discount, tax, total in zip(parts, discounts, taxes, totals, strict=True):
            rows.append({"order_id": order_id, "line_no": len(rows) + 1, "sku": priced.sku, "name": priced.name,
                         "category": priced.category, "quantity": q, "unit_price": priced.unit_price,
                         "discount": discount, "tax_rate": priced.tax_rate, "tax": tax, "total": total,
                         "location_code": loc, "fulfilled": 0, "returned": 0})
    return rows


def place_order(conn: Connection, clock: Clock, data: dict[str, Any], *, actor: str | None = None,
                idempotency_key: str | None = None, cart: dict[str, Any] | None = None,
                customer_id: str | None = None) -> dict[str, Any]:
    """Create an order: price, source, hold stock, take payment, count promotions — one transaction. Its events
    (paid, stock changed, created, invoice issued…) are written together at the end, as one insert."""
    with emitted_together(conn):
        return _place_order(conn, clock, data, actor=actor, idempotency_key=idempotency_key, cart=cart,
                            customer_id=customer_id)


def _place_order(conn: Connection, clock: Clock, data: dict[str, Any], *, actor: str | None,
                 idempotency_key: str | None, cart: dict[str, Any] | None, customer_id: str | None
                 ) -> dict[str, Any]:
    if idempotency_key:
        existing = conn.execute(_ORDER_BY_IDEMPOTENCY_KEY, {"b_key": idempotency_key}).scalar()
        if existing:
            return queries.get_order(conn, existing)
    channel = catalog.get_channel(conn, data["channel"], field="channel")
    lines = [(line["sku"], line["quantity"]) for line in data["lines"]]
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        merged[sku] = merged.get(sku, 0) + quantity
    lines = list(merged.items())
    now = clock.now()
    order_id = new_id("ord")
    draft = bool(data.get("draft"))
    fulfilment = data.get("fulfilment") or {"type": "ship"}
    first_plan = None
    if not draft:
        validate_fulfilment(conn, fulfilment)
        if not (cart and cart.get("hold_reservation_id")):
            # Sold out is decided before any profile or price work: the refusal stays cheap in a rush.
            first_plan = plan_order(conn, clock, channel=channel, lines=lines, fulfilment=fulfilment)
    contact = None
    if customer_id is None:
        customer_id, contact = resolve_customer(conn, clock, data.get("customer"), channel, actor)
    pricing = price_for(conn, clock, channel=channel, customer_id=customer_id, lines=lines, data=data,
                        fulfilment=fulfilment)
    if cart and cart.get("hold_reservation_id"):
        release_cart_hold(conn, clock, cart["hold_reservation_id"], actor)

    if draft:
        return _write_draft(conn, clock, order_id=order_id, now=now, channel=channel, lines=lines,
                            customer_id=customer_id, contact=contact, pricing=pricing, fulfilment=fulfilment,
                            cart=cart, idempotency_key=idempotency_key, actor=actor)
    plan = first_plan or plan_order(conn, clock, channel=channel, lines=lines, fulfilment=fulfilment)
    try:
        return _write_order(conn, clock, order_id=order_id, now=now, data=data, channel=channel, contact=contact,
                            customer_id=customer_id, pricing=pricing, fulfilment=fulfilment, plan=plan,
                            cart=cart, idempotency_key=idempotency_key, actor=actor)
    except DomainError as exc:
        if exc.code == "insufficient_stock" and conn.dialect.name == "postgresql":
            # Another order took the planned units between our look and our claim (stock is claimed last):
            # the whole transaction runs again and sources from what is left. No savepoint on the way — a lost
            # race is rare, two statements per order are not.
            raise RetryTransaction("the planned stock was taken meanwhile", otherwise=exc) from exc
        raise


def price_for(conn: Connection, clock: Clock, *, channel: dict[str, Any], customer_id: str | None,
              lines: list[tuple[str, int]], data: dict[str, Any], fulfilment: dict[str, Any]) -> Pricing:
    """What the order costs where it is placed (its promotion codes, the delivery country's tax); a caller that
    named the total it expects gets a 409 when the price moved."""
    address = fulfilment.get("address") or {}
    pricing = price_lines(conn, clock, channel=channel, customer_id=customer_id, lines=lines,
                          codes=data.get("promotion_codes") or [], fulfilment_type=fulfilment["type"],
                          country=address.get("country"))
    expected = data.get("expected_total")
    if expected is not None and rules.quantize(Decimal(expected), pricing.currency) != pricing.total:
        raise errors.total_changed(str(expected), str(pricing.total))
    return pricing


def totals_columns(pricing: Pricing) -> dict[str, Any]:
    """An order's money columns as priced."""
    return dict(currency=pricing.currency, subtotal=pricing.subtotal, discount=pricing.discount,
                shipping=pricing.shipping, tax=pricing.tax, shipping_tax=pricing.shipping_tax,
                shipping_tax_rate=pricing.shipping_tax_rate, total=pricing.total,
                prices_include_tax=pricing.prices_include_tax, promotions=pricing.promotions,
                price_list=pricing.price_list)


def placed_columns(conn: Connection, now: Any, *, channel: dict[str, Any], pricing: Pricing,
                   fulfilment: dict[str, Any], plan: Plan, reservation_id: str) -> dict[str, Any]:
    """The columns an order takes when it is placed — a new order or a draft completed now alike: its channel
    and totals, how it is fulfilled and from where, its hold, its pickup store and slot (booked here), and what
    it is promised: now at the counter, two hours for a pickup the store holds whole, two days when units travel
    to the store or for a delivery."""
    kind = fulfilment["type"]
    pickup_location = fulfilment["location"] if kind == "pickup" else None
    slot = fulfilment.get("slot") if pickup_location else None
    if slot:
        _book_slot(conn, slot, pickup_location)
    travels = bool(pickup_location and any(loc != pickup_location for _, loc, _ in plan.decision.allocations))
    if kind == "in_store":
        promised = now
    else:
        promised = now + (timedelta(days=TRANSFER_DAYS) if travels else timedelta(hours=2 if pickup_location else 48))
    return dict(
        channel_code=channel["code"], **totals_columns(pricing), fulfilment=jsonable(fulfilment),
        sourcing=plan.decision.explanation, reservation_id=reservation_id, pickup_location=pickup_location,
        pickup_status=("awaiting_stock" if travels else "preparing") if pickup_location else None,
        pickup_slot_id=slot, promised_at=promised)


@dataclass(frozen=True)
class Hold:
    """What an order takes from shared rows — stock at its locations and their daily capacity. Claimed by
    `complete_order` as late as it can, because those rows stay locked until commit and a hot SKU's next buyer
    waits on them: the less work after the claim, the more orders per second one row can take."""

    order_id: str
    channel: str
    reservation_id: str
    allocations: Sequence[tuple[str, str, int]]
    quota_hints: dict[str, dict[str, int]]


def _hold_stock(conn: Connection, clock: Clock, hold: Hold, actor: str | None, *, sale: str | None = None
                ) -> None:
    """Hold the order's units — or, with `sale` (a counter sale), take them off the shelf at once."""
    inventory_allocations.reserve_allocations(conn, clock, channel=hold.channel, allocations=hold.allocations,
                                              reference=hold.order_id, actor=actor,
                                              reservation_id=hold.reservation_id, quota_hints=hold.quota_hints,
                                              sale=sale)
    take_capacity(conn, clock, sorted({loc for _, loc, _ in hold.allocations}))


def _write_order(conn: Connection, clock: Clock, *, order_id: str, now: Any, data: dict[str, Any],
                 channel: dict[str, Any], customer_id: str | None, pricing: Pricing, fulfilment: dict[str, Any],
                 plan: Plan, cart: dict[str, Any] | None, idempotency_key: str | None, actor: str | None,
                 contact: dict[str, str] | None = None) -> dict[str, Any]:
    """A new order's row and lines, written by `complete_order` in their final state."""
    hold = Hold(order_id, channel["code"], new_id("res"), plan.decision.allocations, plan.quotas)
    row = dict(
        id=order_id, number=f"{UNNUMBERED}{order_id}", customer_id=customer_id, origin_customer_id=customer_id,
        status="pending_payment", payment_status="unpaid", cart_id=cart["id"] if cart else None,
        idempotency_key=idempotency_key, contact=contact, created_at=now, updated_at=now,
        **placed_columns(conn, now, channel=channel, pricing=pricing, fulfilment=fulfilment, plan=plan,
                         reservation_id=hold.reservation_id))
    line_rows = priced_line_rows(order_id, pricing, plan.decision.allocations)
    return complete_order(conn, clock, row, pricing=pricing, payments=data.get("payments") or [], actor=actor,
                          hold=hold, new_lines=line_rows)


def _write_draft(conn: Connection, clock: Clock, *, order_id: str, now: Any, channel: dict[str, Any],
                 lines: list[tuple[str, int]], customer_id: str | None, contact: dict[str, str] | None,
                 pricing: Pricing, fulfilment: dict[str, Any], cart: dict[str, Any] | None,
                 idempotency_key: str | None, actor: str | None) -> dict[str, Any]:
    """A draft holds nothing and promises nothing: its lines are priced, not yet sourced."""
    row = dict(
        id=order_id, number=next_number(conn, channel["code"]), channel_code=channel["code"],
        customer_id=customer_id, origin_customer_id=customer_id, status="draft", payment_status="unpaid",
        **totals_columns(pricing), fulfilment=jsonable(fulfilment), sourcing={}, reservation_id=None,
        pickup_location=None, pickup_status=None, pickup_slot_id=None, promised_at=None,
        cart_id=cart["id"] if cart else None, idempotency_key=idempotency_key, contact=contact, created_at=now,
        updated_at=now)
    conn.execute(_INSERT_ORDER, row)
    conn.execute(_INSERT_ORDER_LINES, priced_line_rows(order_id, pricing, [(sku, None, q) for sku, q in lines]))
    record_history(conn, clock, order_id, None, "draft", actor)
    emit(conn, clock, "order.drafted", {"id": order_id, "channel": channel["code"], "customer_id": customer_id})
    return queries.get_order(conn, order_id)


def complete_draft(conn: Connection, clock: Clock, order_id: str, data: dict[str, Any], *, actor: str | None
                   ) -> dict[str, Any]:
    """A draft becomes an order where it is completed (possibly another channel): priced again for that channel
    and customer, sourced, and written with the same columns a new order gets (`placed_columns`: slot booked,
    promise kept), then held and paid by `complete_order` like any order."""
    order = queries.order_row(conn, order_id)
    if order["status"] != "draft":
        raise errors.not_a_draft(order_id)
    channel = catalog.get_channel(conn, data.get("channel") or order["channel_code"], field="channel")
    fulfilment = data["fulfilment"]
    validate_fulfilment(conn, fulfilment)
    lines = [(r["sku"], r["quantity"]) for r in queries.order_line_rows(conn, order_id)]
    pricing = price_for(conn, clock, channel=channel, customer_id=order["customer_id"], lines=lines, data=data,
                        fulfilment=fulfilment)
    plan = plan_order(conn, clock, channel=channel, lines=lines, fulfilment=fulfilment)
    hold = Hold(order_id, channel["code"], new_id("res"), plan.decision.allocations, plan.quotas)
    now = clock.now()
    conn.execute(order_lines.delete().where(OL.order_id == order_id))
    conn.execute(_INSERT_ORDER_LINES, priced_line_rows(order_id, pricing, plan.decision.allocations))
    conn.execute(orders.update().where(ORD.id == order_id).values(
        **placed_columns(conn, now, channel=channel, pricing=pricing, fulfilment=fulfilment, plan=plan,
                         reservation_id=hold.reservation_id), updated_at=now))
    order = queries.order_row(conn, order_id)
    set_status(conn, clock, order, "pending_payment", actor, f"draft completed in {channel['code']}")
    return complete_order(conn, clock, order, pricing=pricing, payments=data.get("payments") or [], actor=actor,
                          hold=hold)


def complete_order(conn: Connection, clock: Clock, order: dict[str, Any], *, pricing: Pricing,
                   payments: Sequence[dict[str, Any]], actor: str | None, hold: Hold,
                   new_lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The part every new order shares: promotions counted, payments taken, stock held, counter sales handed
    over.

    `order` holds the order's row as written (at least id, number, status, channel_code, customer_id,
    fulfilment, reservation_id, pickup_location). The rows other orders wait on are taken last, just before
    commit — stock and capacity (`hold`), then the gapless invoice series — so they stay locked as briefly as
    possible. `new_lines`: the line rows of a new order (not a draft completed now); `order` is then its whole
    row, not yet written: it is inserted once its payment status and number are known, in its final state
    (no UPDATE after), and neither is read back."""
    order_id = order["id"]
    new_order = new_lines is not None
    promotions.redeem(conn, clock, pricing.discounts, order_id=order_id, customer_id=order["customer_id"])
    counter_sale = order["fulfilment"]["type"] == "in_store"
    now_paid, at_provider = payment_flow.split_tenders(conn, payments, currency=pricing.currency,
                                                       counter_sale=counter_sale)
    paid = billing.take_payments(conn, clock, order_id=order_id, customer_id=order["customer_id"],
                                 currency=pricing.currency, total=pricing.total, payments=now_paid,
                                 new_order=new_order)
    if counter_sale and paid["status"] != "paid":
        raise errors.payment_required(str(pricing.total), str(paid["paid"]))
    if at_provider:
        payment_flow.open_at_providers(conn, clock, order, pricing=pricing, paid=paid, tenders=at_provider)
    if order["customer_id"]:
        customer_activity.record_purchase(conn, clock, order["customer_id"], order["channel_code"], pricing.total,
                                          order_id=order_id, currency=pricing.currency,
                                          categories=sorted({p.category for p in pricing.lines}))
    values: dict[str, Any] = {"payment_status": paid["status"]}
    if order["number"].startswith(UNNUMBERED):
        values["number"] = order["number"] = next_number(conn, order["channel_code"])
    if new_lines is not None:
        steps: list[tuple[str | None, str, str | None]] = [
            (None, "awaiting_payment" if at_provider else "pending_payment", None)]
        if paid["status"] == "paid":
            steps.append(("pending_payment", "paid", None))
        if counter_sale:  # handed over at the counter: its lines are fulfilled as they are written
            steps.append(("paid", "collected", COUNTER_SALE))
            new_lines = [{**line, "fulfilled": line["quantity"]} for line in new_lines]
        _insert_new_order(conn, clock, order, new_lines, steps=steps, actor=actor, **values)
    elif paid["status"] == "paid":  # payment status, number and the new status in one UPDATE
        set_status(conn, clock, order, "paid", actor, **values)
    elif at_provider:
        set_status(conn, clock, order, "awaiting_payment", actor, "payment at a provider", **values)
    else:
        conn.execute(orders.update().where(ORD.id == order_id).values(**values))
        order.update(values)
    _hold_stock(conn, clock, hold, actor, sale=COUNTER_SALE if counter_sale and new_order else None)
    if counter_sale and not new_order:
        hand_over(conn, clock, order, actor, note=COUNTER_SALE, announce=False)
    if new_lines is not None:  # as written: a read would return the same
        row, line_rows = _as_read(orders, order), [_as_read(order_lines, line) for line in new_lines]
    else:
        row = queries.order_row(conn, order_id)
        line_rows = queries.order_line_rows(conn, order_id)
    result = queries.order_out(row, line_rows)
    event = jsonable({**result, "pickup": result["pickup"] and {**result["pickup"], "code": None}})
    emit(conn, clock, "order.created", event)
    if counter_sale:
        emit(conn, clock, "order.collected", {"id": order_id, "number": result["number"],
                                              "location": order["fulfilment"]["location"],
                                              "customer_id": order["customer_id"]})
    if paid["status"] == "paid":  # last: the invoice series is gapless, so its row stays locked until commit
        result["invoice_number"] = _issue_invoice(conn, clock, row, line_rows, new_order=new_order)
    return result


def _insert_new_order(conn: Connection, clock: Clock, order: dict[str, Any], lines: list[dict[str, Any]], *,
                      steps: list[tuple[str | None, str, str | None]], actor: str | None, **values: Any) -> None:
    """A new order's rows as they end up after `steps` — its moves along the state machine (from, to, note),
    each checked — with one insert each for the order, its lines and its history (PostgreSQL gets several
    rows as one multi-row INSERT: see core.db.make_engine)."""
    for before, after, _ in steps[1:]:
        rules.transition(order["id"], before, after)
    order.update(values, status=steps[-1][1])
    conn.execute(_INSERT_ORDER, order)
    conn.execute(_INSERT_ORDER_LINES, lines)
    now = clock.now()
    history = [dict(order_id=order["id"], from_status=before, to_status=after, actor=actor, note=note, at=now)
               for before, after, note in steps]
    conn.execute(INSERT_HISTORY, history[0] if len(history) == 1 else history)


def _scales(table: sa.Table) -> dict[str, Decimal]:
    return {c.name: Decimal(1).scaleb(-c.type.scale) for c in table.columns
            if isinstance(c.type, sa.Numeric) and not isinstance(c.type, sa.Float) and c.type.scale is not None}


_ORDER_SCALES = {"orders": _scales(orders), "order_lines": _scales(order_lines)}


def _as_read(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """A row this transaction wrote, as reading it back would give it: every column present (None where not
    written) and numbers at their column's scale (a tax rate of 21 reads back as 21.0000)."""
    row: dict[str, Any] = dict.fromkeys(table.columns.keys())
    row.update(values)
    for name, unit in _ORDER_SCALES[table.name].items():
        if row[name] is not None:
            row[name] = Decimal(row[name]).quantize(unit)
    return row


def on_paid(conn: Connection, clock: Clock, order: dict[str, Any], actor: str | None) -> None:
    """A later payment completed the order (wholesale terms, pay at pickup)."""
    set_status(conn, clock, order, "paid", actor)
    _issue_invoice(conn, clock, queries.order_row(conn, order["id"]), queries.order_line_rows(conn, order["id"]))


def issue_invoice_of(conn: Connection, clock: Clock, order: dict[str, Any]) -> str:
    """The invoice of a stored order (a queued one: billing.take_due_invoices)."""
    return _issue_invoice(conn, clock, order, queries.order_line_rows(conn, order["id"]))


def _issue_invoice(conn: Connection, clock: Clock, order: dict[str, Any], lines: list[dict[str, Any]], *,
                   new_order: bool = False) -> str:
    """Invoices are numbered per channel series (INV-WEB-…, INV-STORE-…): gapless per series, and no single
    counter that every order in the shop must queue for. `order` and `lines` are the stored rows; `new_order`:
    created in this transaction."""
    order_id = order["id"]

    def money(value: Any) -> str:  # stored at 4 places; documents show the currency's minor units
        return format_amount(Decimal(value), order["currency"])

    document_lines = [{"kind": "goods", "sku": r["sku"], "name": r["name"], "quantity": r["quantity"],
                       "unit_price": money(r["unit_price"]), "discount": money(r["discount"]),
                       "tax_rate": str(r["tax_rate"]), "tax": money(r["tax"]), "total": money(r["total"])}
                      for r in lines]
    if Decimal(order["shipping"]) > 0:  # the delivery charge is a line of its own, taxed like the goods
        shipping_discount = Decimal(order["discount"]) - sum((Decimal(r["discount"]) for r in lines), Decimal(0))
        charged = Decimal(order["shipping"]) - shipping_discount
        shipping_tax = Decimal(order["shipping_tax"])
        document_lines.append({
            "kind": "shipping", "sku": None, "name": "Shipping", "quantity": 1,
            "unit_price": money(order["shipping"]), "discount": money(shipping_discount),
            "tax_rate": str(order["shipping_tax_rate"]), "tax": money(shipping_tax),
            "total": money(charged if order["prices_include_tax"] else charged + shipping_tax)})
    invoice = billing.issue_invoice(
        conn, clock, order_id=order_id, series=f"{INVOICE_SERIES}-{order['channel_code'].upper()}",
        currency=order["currency"], lines=document_lines,
        totals={k: money(order[k]) for k in ("subtotal", "discount", "shipping", "shipping_tax", "tax", "total")},
        new_order=new_order, record_pg=(_ISSUE_AND_RECORD_PG, {"b_order": order_id}))
    if not (new_order and conn.dialect.name == "postgresql"):  # there the issuing statement recorded it
        conn.execute(_SET_INVOICE_NUMBER, {"b_id": order_id, "b_number": invoice["number"]})
    return invoice["number"]


def add_payment(conn: Connection, clock: Clock, order_id: str, *, method: str, amount: Decimal,
                actor: str | None = None) -> dict[str, Any]:
    """A later payment (wholesale terms, pay at pickup): when the order is paid in full it moves on."""
    order = queries.order_row(conn, order_id)
    if order["status"] not in ("pending_payment",):
        raise errors.illegal_transition(order_id, order["status"], "paid")
    paid = billing.add_payment(conn, clock, order_id=order_id, customer_id=order["customer_id"],
                               currency=order["currency"], total=Decimal(order["total"]), method=method, amount=amount)
    conn.execute(orders.update().where(ORD.id == order_id)
                 .values(payment_status=paid["status"], updated_at=clock.now()))
    if paid["status"] == "paid":
        on_paid(conn, clock, order, actor)
    return queries.get_order(conn, order_id)

