"""Commerce use cases: carts, checkout and orders, fulfilment, returns, wholesale drafts.

The only code that writes the commerce tables. Stock moves through the inventory service (conditional
updates, never read-then-write), money through billing, discounts through promotions, and people through
customers; every step runs in the caller's single transaction, so an order either exists whole — stock
held, payments recorded, promotion counted, events in the outbox — or not at all."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from omnihub.billing import service as billing
from omnihub.catalog import queries as catalog
from omnihub.catalog.errors import product_not_found
from omnihub.commerce import errors, queries, rules, sourcing
from omnihub.commerce.models import (
    cart_lines,
    carts,
    fulfilment_capacity,
    fulfilment_load,
    order_history,
    order_lines,
    order_sequences,
    orders,
    pickup_slots,
    returns,
    shipments,
)
from omnihub.core import reference
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import PerEngine, RetryTransaction, conflict_insert, new_id, take_counter, upsert
from omnihub.core.errors import Conflict, DomainError
from omnihub.core.events import emit, emitted_together, rewrite_events
from omnihub.core.money import format_amount
from omnihub.customers import queries as customers_queries
from omnihub.customers import service as customers
from omnihub.inventory import queries as inventory_queries
from omnihub.inventory import service as inventory
from omnihub.inventory.errors import insufficient_stock
from omnihub.inventory.rules import available_for_channel, channel_availability, withhold_buffer
from omnihub.messaging import service as messaging
from omnihub.promotions import service as promotions
from omnihub.promotions.rules import Basket, BasketLine

PICKUP_KEEP_DAYS = 7  # uncollected click & collect orders expire after this many days
TRANSFER_DAYS = 2  # promised delay when a pickup store must receive the stock first
INVOICE_SERIES = "INV"
CREDIT_NOTE_SERIES = "CN"
UNNUMBERED = "~"  # an order's number until it is taken, last thing before commit
ORD = orders.c
OL = order_lines.c


# ---- customers ---------------------------------------------------------------------------------------------


def _resolve_customer(conn: Connection, clock: Clock, hints: Any, channel: dict[str, Any], actor: str | None
                      ) -> str | None:
    """Attach the order or cart to a profile (get-or-create by identity); no usable hint → anonymous."""
    if not hints:
        return None
    customer_id, _ = customers.create_customer(conn, clock, name=None, identities=hints, channel=channel["code"],
                                               actor=actor, channel_country=channel["country"])
    return customer_id


def _customer_tags(conn: Connection, clock: Clock, customer_id: str | None) -> frozenset[str]:
    if customer_id is None:
        return frozenset()
    return frozenset(customers_queries.customer_tag_names(conn, customer_id, clock.now()))


# ---- pricing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricedLine:
    sku: str
    name: str
    category: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True)
class Pricing:
    currency: str
    prices_include_tax: bool
    lines: list[PricedLine]
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal  # lines and shipping
    total: Decimal
    promotions: list[dict[str, Any]]
    discounts: Any
    price_list: str | None
    shipping_tax: Decimal = Decimal(0)
    shipping_tax_rate: Decimal = Decimal(0)  # a percentage, like the lines' rates


def price_lines(conn: Connection, clock: Clock, *, channel: dict[str, Any], customer_id: str | None,
                lines: Sequence[tuple[str, int]], codes: Sequence[str], fulfilment_type: str,
                country: str | None) -> Pricing:
    """The price of these lines in this channel for this customer: price list or channel price, promotions,
    tax per line, shipping. The same inputs give the same price in every channel a promotion is valid in."""
    currency = channel["currency"]
    skus = [sku for sku, _ in lines]
    facts = catalog.pricing_facts(conn, channel["code"], customer_id, skus)
    info, price_list, listed, channel_prices = facts.products, facts.price_list, facts.listed, facts.channel_prices
    for index, sku in enumerate(skus):
        if sku not in info:
            raise product_not_found(sku, field=f"lines.{index}.sku")
    units: list[Decimal] = []
    for index, (sku, quantity) in enumerate(lines):
        if sku in listed:
            amount, minimum = listed[sku]
            if quantity < minimum:
                raise errors.below_minimum_quantity(sku, minimum, index)
            units.append(amount)
        elif sku in channel_prices:
            units.append(channel_prices[sku])
        else:
            raise errors.price_missing(sku, channel["code"], index)
    shipping = Decimal(channel["shipping_fee"]) if fulfilment_type == "ship" else Decimal(0)
    basket = Basket(channel=channel["code"], currency=currency, customer_id=customer_id,
                    customer_tags=frozenset(),
                    lines=tuple(BasketLine(sku, info[sku]["category"], q, u) for (sku, q), u in zip(lines, units,
                                                                                                 strict=True)),
                    shipping=shipping, now=clock.now(), codes=tuple(codes))
    discounts = promotions.price_basket(conn, clock, basket,
                                        customer_tags=lambda: _customer_tags(conn, clock, customer_id))
    rates = billing.tax_rates_for(conn, country or channel["country"] or "ES",
                                  {info[sku]["tax_class"] for sku in skus})
    priced = []
    for (sku, quantity), unit in zip(lines, units, strict=True):
        discount = rules.quantize(discounts.lines.get(sku, Decimal(0)), currency)
        rate = rates[info[sku]["tax_class"]] * 100  # billing gives a fraction (0.21); lines keep the percent (21)
        amounts = rules.line_amounts(unit, quantity, discount, rate, channel["prices_include_tax"], currency)
        priced.append(PricedLine(sku, info[sku]["name"], info[sku]["category"], quantity, unit, discount, rate,
                                 amounts.tax, amounts.gross))
    shipping_discount = min(shipping, discounts.shipping)
    shipping_rate, carriage = rules.shipping_amounts(shipping, shipping_discount, [p.tax_rate for p in priced],
                                                     channel["prices_include_tax"], currency)
    subtotal = sum((p.unit_price * p.quantity for p in priced), Decimal(0))
    discount_total = sum((p.discount for p in priced), Decimal(0)) + shipping_discount
    tax = sum((p.tax for p in priced), Decimal(0)) + carriage.tax
    total = sum((p.total for p in priced), Decimal(0)) + carriage.gross
    applied = [{"promotion_id": a.promotion_id, "code": a.code, "kind": a.kind, "amount": str(a.amount)}
               for a in discounts.applied]
    return Pricing(currency, channel["prices_include_tax"], priced, rules.quantize(subtotal, currency),
                   rules.quantize(discount_total, currency), rules.quantize(shipping, currency),
                   rules.quantize(tax, currency), rules.quantize(total, currency), applied, discounts, price_list,
                   shipping_tax=carriage.tax, shipping_tax_rate=shipping_rate)


# ---- sourcing ------------------------------------------------------------------------------------------------


# Daily capacity limits are reference data (`omnihub.core.reference`): in memory while unchanged. Only the
# orders a capped location has taken today are read, and only when a candidate is capped.
_ALL_CAPACITY_LIMITS = sa.select(fulfilment_capacity.c.location_code, fulfilment_capacity.c.daily_orders)
_TAKEN_TODAY = PerEngine(lambda in_: sa.select(fulfilment_load.c.location_code, fulfilment_load.c.orders).where(
    fulfilment_load.c.day == sa.bindparam("b_day", type_=fulfilment_load.c.day.type),
    in_(fulfilment_load.c.location_code, "b_codes")))


def _capacity_limits(conn: Connection) -> dict[str, int]:
    return reference.cached(conn, "commerce.capacity_limits",
                            lambda c: {code: int(n) for code, n in c.execute(_ALL_CAPACITY_LIMITS)})


def _capacity_left(conn: Connection, clock: Clock, codes: Sequence[str]) -> dict[str, int | None]:
    """Orders each location may still take today (None: no daily cap)."""
    limits = _capacity_limits(conn)
    capped = [code for code in codes if code in limits]
    taken: dict[str, int] = {}
    if capped:
        taken = dict(conn.execute(_TAKEN_TODAY(conn), {"b_day": clock.now().date(), "b_codes": capped}).all())
    return {code: limits[code] - taken.get(code, 0) if code in limits else None for code in codes}


def _take_capacity(conn: Connection, clock: Clock, codes: Sequence[str]) -> None:
    """Count the order against each location's daily capacity, atomically."""
    today = clock.now().date()
    limits = _capacity_limits(conn)
    for code in sorted(set(codes)):
        if code not in limits:
            continue
        conn.execute(conflict_insert(fulfilment_load, ["location_code", "day", "orders"], conflict="DO NOTHING"),
                     {"location_code": code, "day": today, "orders": 0})
        fl = fulfilment_load.c
        won = conn.execute(fulfilment_load.update().where(fl.location_code == code, fl.day == today,
                                                          fl.orders < limits[code])
                           .values(orders=fl.orders + 1)).rowcount
        if won != 1:
            raise Conflict("location_at_capacity", f"Location '{code}' has taken all its orders for today.",
                           location=code)


def _give_capacity_back(conn: Connection, codes: Sequence[str], created_at: Any) -> None:
    """A cancelled order no longer counts against its locations' capacity for the day it was placed."""
    fl = fulfilment_load.c
    day = as_utc(created_at).date()
    for code in codes:
        conn.execute(fulfilment_load.update().where(fl.location_code == code, fl.day == day, fl.orders > 0)
                     .values(orders=fl.orders - 1))


def _fulfilment_codes(channel: dict[str, Any], fulfilment: dict[str, Any]) -> list[str]:
    """The locations that may fill an order, in preference order: the counter's or pickup store first."""
    kind = fulfilment["type"]
    if kind == "in_store":
        return [fulfilment["location"]]
    if kind == "pickup":
        return [fulfilment["location"], *[c for c in channel["locations"] if c != fulfilment["location"]]]
    return list(channel["locations"])


def refuse_when_sold_out(conn: Connection, data: dict[str, Any], *, idempotency_key: str | None = None) -> None:
    """A look before the order's transaction: when a line plainly cannot be filled from every location that
    may fill it, refuse with the same `insufficient_stock` at the cost of a few reads and no write (in a
    sell-out rush nearly every attempt ends here). Anything less plain — a retried key, a draft, an invalid
    fulfilment, an unknown channel or SKU, enough stock — is left to `place_order`, which decides for real."""
    if data.get("draft"):
        return
    if idempotency_key and conn.execute(sa.select(ORD.id).where(ORD.idempotency_key == idempotency_key)).first():
        return
    fulfilment = data.get("fulfilment") or {"type": "ship"}
    try:
        _validate_fulfilment(conn, fulfilment)
        channel = catalog.get_channel(conn, data["channel"], field="channel")
    except DomainError:
        return
    merged: dict[str, int] = {}
    for line in data["lines"]:
        merged[line["sku"]] = merged.get(line["sku"], 0) + line["quantity"]
    codes = _fulfilment_codes(channel, fulfilment)
    levels, quotas = inventory_queries.snapshot_many(conn, list(merged), codes, channel["code"])
    for index, (sku, wanted) in enumerate(merged.items()):
        if sku not in levels:
            return  # perhaps an unknown SKU: place_order says which error
        available = channel_availability(levels[sku], quotas.get(sku, {}), codes, channel["stock_buffer"]).available
        if available < wanted:
            raise insufficient_stock(sku, wanted, available, field=f"lines.{index}.quantity")


@dataclass(frozen=True)
class _Plan:
    """Where an order's units come from, and the channel's own (ring-fenced) units sourcing saw at each
    location: the claim's hint for whether to lock a quota row."""

    decision: sourcing.Decision
    quotas: dict[str, dict[str, int]]


def _source(conn: Connection, clock: Clock, *, channel: dict[str, Any], lines: Sequence[tuple[str, int]],
            fulfilment: dict[str, Any]) -> _Plan:
    kind = fulfilment["type"]
    codes = _fulfilment_codes(channel, fulfilment)
    places = inventory_queries.locations_by_code(conn, codes)
    if kind == "in_store":
        destination = None
    elif kind == "pickup":
        if codes[0] not in places:
            inventory_queries.get_location(conn, codes[0], field="fulfilment.location")  # the clear 404
        destination = (places[codes[0]]["lat"], places[codes[0]]["lon"])
    else:
        address = fulfilment["address"]
        destination = (address.get("lat"), address.get("lon"))
    capacity = _capacity_left(conn, clock, codes)
    candidates = [sourcing.Candidate(code, places[code]["lat"], places[code]["lon"], capacity[code], rank)
                  for rank, code in enumerate(codes)]
    stock: dict[tuple[str, str], int] = {}

    levels_by_sku, quotas_by_sku = inventory_queries.snapshot_many(conn, [sku for sku, _ in lines], codes,
                                                                   channel["code"])
    for sku, levels in levels_by_sku.items():
        quotas = quotas_by_sku.get(sku, {})
        usable = withhold_buffer({code: available_for_channel(level, quotas.get(code, 0))
                                  for code, level in levels.items()}, codes, channel["stock_buffer"])
        stock.update({(code, sku): units for code, units in usable.items()})
    if kind == "pickup" and all(stock.get((codes[0], s), 0) >= q for s, q in lines):
        candidates = candidates[:1]  # the store has it all: hold it there, nothing travels
    decision = sourcing.source_order(lines, candidates, stock, destination)
    if not decision.complete:
        sku, missing = next(iter(decision.short.items()))
        wanted = dict(lines)[sku]
        index = [s for s, _ in lines].index(sku)
        unknown = [s for s, _ in lines if s not in catalog.existing_skus(conn, [s for s, _ in lines])]
        if unknown:
            raise product_not_found(unknown[0], field=f"lines.{[s for s, _ in lines].index(unknown[0])}.sku")
        raise insufficient_stock(sku, wanted, wanted - missing, field=f"lines.{index}.quantity")
    return _Plan(decision, quotas_by_sku)


# ---- orders --------------------------------------------------------------------------------------------------


def _next_number(conn: Connection, channel: str) -> str:
    """The channel's next order number. On PostgreSQL it comes from a sequence of the channel's own: concurrent
    orders never queue behind each other's open transaction for it, and a rolled-back order merely leaves a
    gap (order numbers may have gaps; invoice numbers, in billing, may not). SQLite runs one writer at a time
    anyway, so there the order's own transaction advances the channel's counter row."""
    if conn.dialect.name == "postgresql":
        number = conn.execute(_NEXTVAL, {"b_sequence": _number_sequence(conn, channel)}).scalar_one()
        return rules.order_number(channel, int(number))
    return _take_number(conn, channel)


_NEXTVAL = sa.text("SELECT nextval(CAST(:b_sequence AS regclass))")
# Per engine: the sequences known to exist (made at most once per process and channel).
_SEQUENCES_MADE: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()


def _number_sequence(conn: Connection, channel: str) -> str:
    """The channel's order-number sequence (PostgreSQL), made on first use, starting where the channel's counter
    row stands (a database that numbered orders with it keeps counting from there). Owned by the counter
    column, so it goes with that table and restarts when the table is truncated with RESTART IDENTITY."""
    base = f"order_number_{channel}"
    if len(base) > 50:  # identifiers stop at 63 bytes: keep long codes apart with a digest
        base = f"{base[:36]}_{hashlib.sha256(channel.encode()).hexdigest()[:12]}"
    name = conn.dialect.identifier_preparer.quote(base)
    made = _SEQUENCES_MADE.setdefault(conn.engine, set())
    if name in made:
        return name
    with conn.engine.connect() as side:  # DDL that commits by itself, whatever becomes of this order
        side = side.execution_options(isolation_level="AUTOCOMMIT")
        counter = side.execute(sa.select(order_sequences.c.next_number)
                               .where(order_sequences.c.channel_code == channel)).scalar()
        try:
            side.exec_driver_sql(f"CREATE SEQUENCE IF NOT EXISTS {name} START WITH {int(counter or 1)} "
                                 "OWNED BY order_sequences.next_number")
        except sa.exc.DBAPIError:  # another process made it between our check and our create
            if not side.execute(_SEQUENCE_EXISTS, {"b_name": base}).scalar():
                raise
    made.add(name)
    return name


_SEQUENCE_EXISTS = sa.text("SELECT to_regclass(quote_ident(:b_name)) IS NOT NULL")


def _take_number(conn: Connection, channel: str) -> str:
    return rules.order_number(channel, take_counter(conn, order_sequences, "channel_code", channel, "next_number"))


COUNTER_SALE = "counter sale"  # the note on a counter sale's hand-over, and its stock ledger reason

# Statements every order runs, built once (a statement built per call pays for its cache key every time).
_INSERT_ORDER = orders.insert()
_INSERT_ORDER_LINES = order_lines.insert()
_INSERT_HISTORY = order_history.insert()
_ORDER_BY_IDEMPOTENCY_KEY = sa.select(ORD.id).where(ORD.idempotency_key == sa.bindparam("b_key"))


@lru_cache(maxsize=32)
def _status_update(columns: tuple[str, ...]) -> Any:
    """`UPDATE orders SET status, updated_at, <columns> WHERE id AND status` for one set of extra columns."""
    b = sa.bindparam
    return (orders.update().where(ORD.id == b("b_id"), ORD.status == b("b_from"))
            .values(status=b("b_to"), updated_at=b("b_now"), **{c: b(f"v_{c}") for c in columns}))


def _history(conn: Connection, clock: Clock, order_id: str, before: str | None, after: str, actor: str | None,
             note: str | None = None) -> None:
    conn.execute(_INSERT_HISTORY, dict(order_id=order_id, from_status=before, to_status=after, actor=actor,
                                       note=note, at=clock.now()))


def _set_status(conn: Connection, clock: Clock, order: dict[str, Any], wanted: str, actor: str | None,
                note: str | None = None, **values: Any) -> None:
    """Move an order along the state machine; a concurrent move loses cleanly (409)."""
    rules.transition(order["id"], order["status"], wanted)
    now = clock.now()
    won = conn.execute(_status_update(tuple(sorted(values))), {
        "b_id": order["id"], "b_from": order["status"], "b_to": wanted, "b_now": now,
        **{f"v_{c}": v for c, v in values.items()}}).rowcount
    if won != 1:
        current = queries.order_status(conn, order["id"])
        raise errors.illegal_transition(order["id"], current, wanted)
    _history(conn, clock, order["id"], order["status"], wanted, actor, note)
    order.update(values, status=wanted, updated_at=now)


def _validate_fulfilment(conn: Connection, fulfilment: dict[str, Any]) -> None:
    kind = fulfilment["type"]
    if kind in ("pickup", "in_store") and not fulfilment.get("location"):
        raise errors.location_required(kind)
    if kind == "ship" and not fulfilment.get("address"):
        raise errors.address_required()
    if kind == "pickup":
        store = inventory_queries.get_location(conn, fulfilment["location"], field="fulfilment.location")
        if not store["pickup"]:
            raise errors.pickup_not_allowed(store["code"])
    if kind == "in_store":
        inventory_queries.get_location(conn, fulfilment["location"], field="fulfilment.location")


def _book_slot(conn: Connection, slot_id: str, location: str) -> None:
    ps = pickup_slots.c
    exists = conn.execute(sa.select(ps.id).where(ps.id == slot_id, ps.location_code == location)).first()
    if exists is None:
        raise errors.slot_not_found(slot_id)
    won = conn.execute(pickup_slots.update().where(ps.id == slot_id, ps.booked < ps.capacity)
                       .values(booked=ps.booked + 1)).rowcount
    if won != 1:
        raise errors.slot_full(slot_id)


def _line_rows(order_id: str, pricing: Pricing, allocations: Sequence[tuple[str, str | None, int]]
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
        _validate_fulfilment(conn, fulfilment)
        if not (cart and cart.get("hold_reservation_id")):
            # Sold out is decided before any profile or price work: the refusal stays cheap in a rush.
            first_plan = _source(conn, clock, channel=channel, lines=lines, fulfilment=fulfilment)
    if customer_id is None:
        customer_id = _resolve_customer(conn, clock, data.get("customer"), channel, actor)
    address = fulfilment.get("address") or {}
    pricing = price_lines(conn, clock, channel=channel, customer_id=customer_id, lines=lines,
                          codes=data.get("promotion_codes") or [], fulfilment_type=fulfilment["type"],
                          country=address.get("country"))
    expected = data.get("expected_total")
    if expected is not None and rules.quantize(Decimal(expected), pricing.currency) != pricing.total:
        raise errors.total_changed(str(expected), str(pricing.total))
    if cart and cart.get("hold_reservation_id"):
        _release_hold(conn, clock, cart["hold_reservation_id"], actor)

    if draft:
        return _write_order(conn, clock, order_id=order_id, now=now, data=data, channel=channel, lines=lines,
                            customer_id=customer_id, pricing=pricing, fulfilment=fulfilment, plan=None,
                            cart=cart, idempotency_key=idempotency_key, actor=actor)
    plan = first_plan or _source(conn, clock, channel=channel, lines=lines, fulfilment=fulfilment)
    try:
        return _write_order(conn, clock, order_id=order_id, now=now, data=data, channel=channel, lines=lines,
                            customer_id=customer_id, pricing=pricing, fulfilment=fulfilment, plan=plan,
                            cart=cart, idempotency_key=idempotency_key, actor=actor)
    except DomainError as exc:
        if exc.code == "insufficient_stock" and conn.dialect.name == "postgresql":
            # Another order took the planned units between our look and our claim (stock is claimed last):
            # the whole transaction runs again and sources from what is left. No savepoint on the way — a lost
            # race is rare, two statements per order are not.
            raise RetryTransaction("the planned stock was taken meanwhile", otherwise=exc) from exc
        raise


@dataclass(frozen=True)
class _Hold:
    """What an order takes from shared rows — stock at its locations and their daily capacity. Claimed by
    `_complete` as late as it can, because those rows stay locked until commit and a hot SKU's next buyer
    waits on them: the less work after the claim, the more orders per second one row can take."""

    order_id: str
    channel: str
    reservation_id: str
    allocations: Sequence[tuple[str, str, int]]
    quota_hints: dict[str, dict[str, int]]


def _hold_stock(conn: Connection, clock: Clock, hold: _Hold, actor: str | None, *, sale: str | None = None
                ) -> None:
    """Hold the order's units — or, with `sale` (a counter sale), take them off the shelf at once."""
    inventory.reserve_allocations(conn, clock, channel=hold.channel, allocations=hold.allocations,
                                  reference=hold.order_id, actor=actor, reservation_id=hold.reservation_id,
                                  quota_hints=hold.quota_hints, sale=sale)
    _take_capacity(conn, clock, sorted({loc for _, loc, _ in hold.allocations}))


def _write_order(conn: Connection, clock: Clock, *, order_id: str, now: Any, data: dict[str, Any],
                 channel: dict[str, Any], lines: list[tuple[str, int]], customer_id: str | None, pricing: Pricing,
                 fulfilment: dict[str, Any], plan: _Plan | None, cart: dict[str, Any] | None,
                 idempotency_key: str | None, actor: str | None) -> dict[str, Any]:
    """The order's rows, then `_complete`. A draft (no plan) holds nothing."""
    draft = plan is None
    decision = plan.decision if plan else None
    hold = None
    allocations: list[tuple[str, str | None, int]] = [(sku, None, q) for sku, q in lines]
    if plan is not None:
        allocations = list(plan.decision.allocations)
        hold = _Hold(order_id, channel["code"], new_id("res"), plan.decision.allocations, plan.quotas)
        if fulfilment["type"] == "pickup" and fulfilment.get("slot"):
            _book_slot(conn, fulfilment["slot"], fulfilment["location"])

    pickup_location = fulfilment.get("location") if fulfilment["type"] == "pickup" and not draft else None
    travels = bool(pickup_location and any(loc != pickup_location for _, loc, _ in allocations))
    promised = None
    if not draft:
        promised = now + (timedelta(days=TRANSFER_DAYS) if travels else timedelta(hours=2 if pickup_location else 48))
        if fulfilment["type"] == "in_store":
            promised = now
    row = dict(
        id=order_id, number=_next_number(conn, channel["code"]) if draft else f"{UNNUMBERED}{order_id}",
        channel_code=channel["code"], customer_id=customer_id,
        origin_customer_id=customer_id,
        status="draft" if draft else "pending_payment", payment_status="unpaid", currency=pricing.currency,
        subtotal=pricing.subtotal, discount=pricing.discount, shipping=pricing.shipping, tax=pricing.tax,
        shipping_tax=pricing.shipping_tax, shipping_tax_rate=pricing.shipping_tax_rate,
        total=pricing.total, prices_include_tax=pricing.prices_include_tax, fulfilment=_jsonable(fulfilment),
        sourcing=decision.explanation if decision else {}, promotions=pricing.promotions,
        reservation_id=hold.reservation_id if hold else None, price_list=pricing.price_list,
        pickup_location=pickup_location,
        pickup_status=("awaiting_stock" if travels else "preparing") if pickup_location else None,
        pickup_slot_id=fulfilment.get("slot") if pickup_location else None, promised_at=promised,
        cart_id=cart["id"] if cart else None, idempotency_key=idempotency_key, created_at=now, updated_at=now)
    line_rows = _line_rows(order_id, pricing, allocations)
    if draft:
        conn.execute(_INSERT_ORDER, row)
        conn.execute(_INSERT_ORDER_LINES, line_rows)
        _history(conn, clock, order_id, None, "draft", actor)
        emit(conn, clock, "order.drafted", {"id": order_id, "channel": channel["code"], "customer_id": customer_id})
        return queries.get_order(conn, order_id)
    assert hold is not None
    return _complete(conn, clock, row, pricing=pricing, payments=data.get("payments") or [], actor=actor, hold=hold,
                     new_lines=line_rows)


def _complete(conn: Connection, clock: Clock, order: dict[str, Any], *, pricing: Pricing,
              payments: Sequence[dict[str, Any]], actor: str | None, hold: _Hold,
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
    paid = billing.take_payments(conn, clock, order_id=order_id, customer_id=order["customer_id"],
                                 currency=pricing.currency, total=pricing.total,
                                 payments=[{"method": p["method"], "amount": p["amount"]} for p in payments],
                                 new_order=new_order)
    counter_sale = order["fulfilment"]["type"] == "in_store"
    if counter_sale and paid["status"] != "paid":
        raise Conflict("payment_required", "A counter sale must be paid in full.", field="payments",
                       total=str(pricing.total), paid=str(paid["paid"]))
    if order["customer_id"]:
        customers.record_purchase(conn, clock, order["customer_id"], order["channel_code"], pricing.total,
                                  order_id=order_id, currency=pricing.currency,
                                  categories=sorted({p.category for p in pricing.lines}))
    values: dict[str, Any] = {"payment_status": paid["status"]}
    if order["number"].startswith(UNNUMBERED):
        values["number"] = order["number"] = _next_number(conn, order["channel_code"])
    if new_lines is not None:
        steps: list[tuple[str | None, str, str | None]] = [(None, "pending_payment", None)]
        if paid["status"] == "paid":
            steps.append(("pending_payment", "paid", None))
        if counter_sale:  # handed over at the counter: its lines are fulfilled as they are written
            steps.append(("paid", "collected", COUNTER_SALE))
            new_lines = [{**line, "fulfilled": line["quantity"]} for line in new_lines]
        _insert_new_order(conn, clock, order, new_lines, steps=steps, actor=actor, **values)
    elif paid["status"] == "paid":  # payment status, number and the new status in one UPDATE
        _set_status(conn, clock, order, "paid", actor, **values)
    else:
        conn.execute(orders.update().where(ORD.id == order_id).values(**values))
        order.update(values)
    _hold_stock(conn, clock, hold, actor, sale=COUNTER_SALE if counter_sale and new_order else None)
    if counter_sale and not new_order:
        _hand_over(conn, clock, order, actor, note=COUNTER_SALE, announce=False)
    if new_lines is not None:  # as written: a read would return the same
        row, line_rows = _as_read(orders, order), [_as_read(order_lines, line) for line in new_lines]
    else:
        row = queries.order_row(conn, order_id)
        line_rows = queries.order_line_rows(conn, order_id)
    result = queries.order_out(row, line_rows)
    event = _jsonable({**result, "pickup": result["pickup"] and {**result["pickup"], "code": None}})
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
    conn.execute(_INSERT_HISTORY, history[0] if len(history) == 1 else history)


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


def _on_paid(conn: Connection, clock: Clock, order: dict[str, Any], actor: str | None) -> None:
    """A later payment completed the order (wholesale terms, pay at pickup)."""
    _set_status(conn, clock, order, "paid", actor)
    _issue_invoice(conn, clock, queries.order_row(conn, order["id"]), queries.order_line_rows(conn, order["id"]))


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
        new_order=new_order, number_into=billing.NumberInto(orders, "id", "invoice_number", order_id))
    return invoice["number"]


def _event(conn: Connection, order_id: str) -> dict[str, Any]:
    order = queries.get_order(conn, order_id, show_pickup_code=False)
    return _jsonable(order)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


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
        _on_paid(conn, clock, order, actor)
    return queries.get_order(conn, order_id)


def cancel_order(conn: Connection, clock: Clock, order_id: str, *, actor: str | None = None,
                 reason: str = "cancelled") -> dict[str, Any]:
    """Release exactly what was held, give promotion uses and capacity back, refund what was paid, and
    cancel the invoice with a credit note."""
    order = queries.order_row(conn, order_id)
    rules.transition(order_id, order["status"], "cancelled")
    rows = queries.order_line_rows(conn, order_id)
    if any(r["fulfilled"] for r in rows):
        raise errors.illegal_transition(order_id, order["status"], "cancelled")
    if order["status"] != "draft":
        _give_capacity_back(conn, sorted({r["location_code"] for r in rows if r["location_code"]}),
                            order["created_at"])
    _set_status(conn, clock, order, "cancelled", actor, reason,
                pickup_status="expired" if reason == "expired" and order["pickup_location"] else
                order["pickup_status"])
    if order["reservation_id"]:
        inventory.release_reservation(conn, clock, order["reservation_id"], actor=actor, reason=f"order {reason}")
    promotions.release_redemptions(conn, clock, order_id)
    if order["pickup_slot_id"]:
        conn.execute(pickup_slots.update().where(pickup_slots.c.id == order["pickup_slot_id"],
                                                 pickup_slots.c.booked > 0)
                     .values(booked=pickup_slots.c.booked - 1))
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
    emit(conn, clock, "order.cancelled", {**_event(conn, order_id), "reason": reason})
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
            inventory.move_reservation(conn, clock, order["reservation_id"], sku=row["sku"],
                                       from_location=row["location_code"], to_location=store,
                                       quantity=row["quantity"], actor=actor)
            conn.execute(order_lines.update().where(OL.order_id == order_id, OL.line_no == row["line_no"])
                         .values(location_code=store))
    code = f"{secrets.randbelow(10**6):06d}"
    expires = clock.now() + timedelta(days=PICKUP_KEEP_DAYS)
    _set_status(conn, clock, order, "ready_for_pickup", actor, pickup_code=code, pickup_status="ready",
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
                                        body=text, template="pickup_ready", reference=order_id)
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
    _hand_over(conn, clock, order, actor, note="collected with pickup code")
    return queries.get_order(conn, order_id)


def _hand_over(conn: Connection, clock: Clock, order: dict[str, Any], actor: str | None, note: str,
               *, announce: bool = True) -> None:
    rows = queries.order_line_rows(conn, order["id"])
    inventory.fulfil_reservation(conn, clock, order["reservation_id"],
                                 [(r["sku"], r["location_code"], r["quantity"] - r["fulfilled"]) for r in rows
                                  if r["quantity"] > r["fulfilled"]], actor=actor, reason=note)
    conn.execute(order_lines.update().where(OL.order_id == order["id"]).values(fulfilled=OL.quantity))
    _set_status(conn, clock, order, "collected", actor, note,
                pickup_status="collected" if order["pickup_location"] else None)
    if announce:
        emit(conn, clock, "order.collected", {"id": order["id"], "number": order["number"],
                                              "location": rows[0]["location_code"],
                                              "customer_id": order["customer_id"]})


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
        from omnihub.core.errors import ValidationFailed

        raise ValidationFailed("invalid_slot", "ends_at must be after starts_at.", field="ends_at")
    slot_id = new_id("slot")
    conn.execute(pickup_slots.insert(), dict(id=slot_id, location_code=data["location"], starts_at=data["starts_at"],
                                              ends_at=data["ends_at"], capacity=data["capacity"], booked=0))
    return queries.get_slot(conn, slot_id)


def set_capacity(conn: Connection, clock: Clock, location: str, daily_orders: int) -> dict[str, Any]:
    inventory_queries.get_location(conn, location, field="location")
    reference.changed(conn)
    upsert(conn, fulfilment_capacity, [{"location_code": location, "daily_orders": daily_orders}],
           keys=["location_code"], update=["daily_orders"])
    return {"location": location, "daily_orders": daily_orders,
            "left_today": _capacity_left(conn, clock, [location])[location]}


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
    inventory.fulfil_reservation(conn, clock, order["reservation_id"],
                                 [(r["sku"], location, q) for r, q in picks], actor=actor, reason="shipped")
    for row, quantity in picks:
        conn.execute(order_lines.update().where(OL.order_id == order_id, OL.line_no == row["line_no"])
                     .values(fulfilled=OL.fulfilled + quantity))
    shipment_id = new_id("shp")
    conn.execute(shipments.insert(), dict(
        id=shipment_id, order_id=order_id, location_code=location, carrier=data["carrier"],
        tracking_number=data["tracking_number"], status="shipped", shipped_at=clock.now(),
        lines=[{"line_no": r["line_no"], "sku": r["sku"], "quantity": q} for r, q in picks]))
    _set_status(conn, clock, order, next_status, actor, f"shipment {shipment_id}")
    shipment = queries.get_shipment(conn, shipment_id)
    emit(conn, clock, "order.shipped", {"id": order_id, "number": order["number"], "status": next_status,
                                        "shipment": _jsonable(shipment)})
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
        _set_status(conn, clock, order, "delivered", actor)
        emit(conn, clock, "order.delivered", {"id": order_id, "number": order["number"]})
    return queries.get_shipment(conn, shipment_id)


# ---- returns -----------------------------------------------------------------------------------------------------


def create_return(conn: Connection, clock: Clock, data: dict[str, Any], *, actor: str | None = None
                  ) -> dict[str, Any]:
    """Return any order line at any location; refund per line (discounts and tax included); restock or
    quarantine; a credit note; optionally an exchange order paid with the returned value."""
    order = queries.order_row(conn, data["order"])
    if conn.dialect.name == "postgresql":  # concurrent returns of one order take turns (SQLite's writes do)
        conn.execute(sa.select(ORD.id).where(ORD.id == order["id"]).with_for_update())
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
        inventory.receive_return(conn, clock, location=location["code"], sku=row["sku"], quantity=quantity,
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
    _set_status(conn, clock, order, next_status, actor, f"return {return_id}")
    conn.execute(returns.insert(), dict(
        id=return_id, order_id=order["id"], location_code=location["code"], condition=data["condition"],
        lines=lines_out, refund_amount=amount, refund_method=refund["method"], credit_note_number=note["number"],
        actor=actor, created_at=clock.now()))
    if order["customer_id"]:
        customers.add_timeline_entries(conn, clock, order["customer_id"], [{
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


# ---- carts -------------------------------------------------------------------------------------------------------


def create_cart(conn: Connection, clock: Clock, *, channel: str, identity: Any, actor: str | None = None
                ) -> dict[str, Any]:
    chan = catalog.get_channel(conn, channel, field="channel")
    customer_id = _resolve_customer(conn, clock, identity, chan, actor) if identity else None
    cart_id = new_id("cart")
    now = clock.now()
    conn.execute(carts.insert(), dict(id=cart_id, channel_code=chan["code"], customer_id=customer_id,
                                       origin_customer_id=customer_id,
                                       identity=identity or {}, status="open", created_at=now, updated_at=now))
    return queries.get_cart(conn, cart_id)


def _release_hold(conn: Connection, clock: Clock, reservation_id: str, actor: str | None) -> None:
    status = inventory_queries.get_reservation(conn, reservation_id)["status"]
    if status == "active":
        inventory.release_reservation(conn, clock, reservation_id, actor=actor, reason="cart changed")


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
        _release_hold(conn, clock, cart["hold_reservation_id"], actor)
    hold = None
    if chan["cart_hold_minutes"] and rows:
        hold = inventory.reserve_stock(conn, clock, channel=chan["code"], lines=list(merged.items()),
                                       ttl_seconds=chan["cart_hold_minutes"] * 60, reference=cart_id, actor=actor)["id"]
    conn.execute(cart_lines.delete().where(cart_lines.c.cart_id == cart_id))
    if rows:
        conn.execute(cart_lines.insert(), rows)
    conn.execute(carts.update().where(carts.c.id == cart_id).values(hold_reservation_id=hold, updated_at=clock.now()))
    if cart["customer_id"]:
        customers.add_timeline_entries(conn, clock, cart["customer_id"], [{
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
        found = _resolve_customer(conn, clock, data["customer"], catalog.get_channel(conn, channel, field="channel"),
                                  actor)
        if customer_id and found and found != customer_id:
            customers.merge_customers(conn, clock, customer_id, found, actor=actor)
            customer_id = customers_queries.resolve_id(conn, customer_id)
        customer_id = customer_id or found
        conn.execute(carts.update().where(carts.c.id == cart_id).values(customer_id=customer_id))
    order = place_order(conn, clock, {
        "channel": channel, "lines": [{"sku": r["sku"], "quantity": r["quantity"]} for r in lines],
        "fulfilment": data["fulfilment"], "payments": data.get("payments") or [],
        "promotion_codes": data.get("promotion_codes") or [], "expected_total": data.get("expected_total")},
        actor=actor, idempotency_key=idempotency_key, cart=cart, customer_id=customer_id)
    closed = conn.execute(carts.update().where(carts.c.id == cart_id, carts.c.status == "open").values(
        status="checked_out", order_id=order["id"], hold_reservation_id=None, updated_at=clock.now())).rowcount
    if closed != 1:  # a concurrent checkout of the same cart committed first: this order is rolled back
        raise errors.cart_not_open(cart_id, queries.cart_row(conn, cart_id)["status"])
    return order


# ---- wholesale drafts ---------------------------------------------------------------------------------------------


def replace_draft_lines(conn: Connection, clock: Clock, order_id: str, lines: Sequence[tuple[str, int]], *,
                        actor: str | None = None) -> dict[str, Any]:
    order = queries.order_row(conn, order_id)
    if order["status"] != "draft":
        raise errors.not_a_draft(order_id)
    channel = catalog.get_channel(conn, order["channel_code"])
    pricing = price_lines(conn, clock, channel=channel, customer_id=order["customer_id"], lines=list(lines), codes=[],
                          fulfilment_type="ship", country=None)
    conn.execute(order_lines.delete().where(OL.order_id == order_id))
    conn.execute(order_lines.insert(), _line_rows(order_id, pricing, [(s, None, q) for s, q in lines]))
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
    _validate_fulfilment(conn, fulfilment)
    lines = [(r["sku"], r["quantity"]) for r in queries.order_line_rows(conn, order_id)]
    address = fulfilment.get("address") or {}
    pricing = price_lines(conn, clock, channel=channel, customer_id=order["customer_id"], lines=lines,
                          codes=data.get("promotion_codes") or [], fulfilment_type=fulfilment["type"],
                          country=address.get("country"))
    expected = data.get("expected_total")
    if expected is not None and rules.quantize(Decimal(expected), pricing.currency) != pricing.total:
        raise errors.total_changed(str(expected), str(pricing.total))
    plan = _source(conn, clock, channel=channel, lines=lines, fulfilment=fulfilment)
    decision = plan.decision
    hold = _Hold(order_id, channel["code"], new_id("res"), decision.allocations, plan.quotas)
    reservation_id = hold.reservation_id
    conn.execute(order_lines.delete().where(OL.order_id == order_id))
    conn.execute(order_lines.insert(), _line_rows(order_id, pricing, decision.allocations))
    pickup = fulfilment["location"] if fulfilment["type"] == "pickup" else None
    travels = bool(pickup and any(loc != pickup for _, loc, _ in decision.allocations))
    _store_totals(conn, clock, order_id, pricing)
    conn.execute(orders.update().where(ORD.id == order_id).values(
        channel_code=channel["code"], fulfilment=_jsonable(fulfilment), sourcing=decision.explanation,
        reservation_id=reservation_id, currency=pricing.currency, pickup_location=pickup,
        pickup_status=("awaiting_stock" if travels else "preparing") if pickup else None,
        promised_at=clock.now() + timedelta(days=TRANSFER_DAYS if travels else 2)))
    order = queries.order_row(conn, order_id)
    _set_status(conn, clock, order, "pending_payment", actor, f"draft completed in {channel['code']}")
    return _complete(conn, clock, order, pricing=pricing, payments=data.get("payments") or [], actor=actor,
                     hold=hold)


def order_merge_participant() -> Any:
    """Orders and carts follow their customer through merges and back through unmerges."""

    class _Participant:
        def on_merge(self, conn: Connection, survivor_id: str, absorbed_ids: Sequence[str]) -> None:
            for table in (orders, carts):
                conn.execute(table.update().where(table.c.customer_id.in_(list(absorbed_ids)))
                             .values(customer_id=survivor_id))

        def on_unmerge(self, conn: Connection, survivor_id: str, restored_id: str,
                       absorbed_ids: Sequence[str]) -> None:
            owners = [restored_id, *absorbed_ids]
            for table in (orders, carts):
                conn.execute(table.update().where(table.c.customer_id == survivor_id,
                                                  table.c.origin_customer_id.in_(owners))
                             .values(customer_id=restored_id))

    return _Participant()


ORDER_SNAPSHOT_EVENTS = ("order.created", "order.cancelled")  # events whose data is the whole order


def _without_address(fulfilment: dict[str, Any] | None) -> dict[str, Any] | None:
    """An erased customer's delivery address, cut to its country (tax and accounting need it)."""
    address = (fulfilment or {}).get("address")
    if not fulfilment or not address:
        return fulfilment
    return {**fulfilment, "address": {"country": address.get("country")}}


def order_erasure_participant() -> Any:
    """An erased customer's delivery addresses leave their orders (the country stays: tax and accounting need
    it), and the contact hints their carts were opened with are cleared."""

    class _Participant:
        def on_erase(self, conn: Connection, customer_ids: Sequence[str]) -> None:
            ids = list(customer_ids)
            owned = sa.or_(ORD.customer_id.in_(ids), ORD.origin_customer_id.in_(ids))
            order_ids = []
            for order_id, fulfilment in conn.execute(sa.select(ORD.id, ORD.fulfilment).where(owned)).all():
                order_ids.append(order_id)
                if (fulfilment or {}).get("address"):
                    conn.execute(orders.update().where(ORD.id == order_id)
                                 .values(fulfilment=_without_address(fulfilment)))
            # The events that carried the whole order carried the address too: the outbox (replays) and the
            # webhook delivery log (a rewrite listener) lose it as well.
            rewrite_events(conn, types=ORDER_SNAPSHOT_EVENTS, about=order_ids,
                           rewrite=lambda data: {**data, "fulfilment": _without_address(data.get("fulfilment"))})
            conn.execute(carts.update().where(sa.or_(carts.c.customer_id.in_(ids),
                                                     carts.c.origin_customer_id.in_(ids)))
                         .values(identity={}))

    return _Participant()
