"""Where an order's units come from: its fulfilment checked, locations with stock and daily capacity left
(sourcing), the cheap sold-out look before the order's transaction, and the daily capacity counters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.catalog.errors import product_not_found
from omnihub.commerce import errors, sourcing
from omnihub.commerce.models import fulfilment_capacity, fulfilment_load, orders
from omnihub.core import reference
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import PerEngine, conflict_insert, upsert
from omnihub.core.errors import Conflict, DomainError
from omnihub.inventory import queries as inventory_queries
from omnihub.inventory.errors import insufficient_stock
from omnihub.inventory.rules import available_for_channel, channel_availability, withhold_buffer

ORD = orders.c


# Daily capacity limits are reference data (`omnihub.core.reference`): in memory while unchanged. Only the
# orders a capped location has taken today are read, and only when a candidate is capped.
_ALL_CAPACITY_LIMITS = sa.select(fulfilment_capacity.c.location_code, fulfilment_capacity.c.daily_orders)
_TAKEN_TODAY = PerEngine(lambda in_: sa.select(fulfilment_load.c.location_code, fulfilment_load.c.orders).where(
    fulfilment_load.c.day == sa.bindparam("b_day", type_=fulfilment_load.c.day.type),
    in_(fulfilment_load.c.location_code, "b_codes")))


def _capacity_limits(conn: Connection) -> dict[str, int]:
    return reference.cached(conn, "commerce.capacity_limits",
                            lambda c: {code: int(n) for code, n in c.execute(_ALL_CAPACITY_LIMITS)})


def capacity_left(conn: Connection, clock: Clock, codes: Sequence[str]) -> dict[str, int | None]:
    """Orders each location may still take today (None: no daily cap)."""
    limits = _capacity_limits(conn)
    capped = [code for code in codes if code in limits]
    taken: dict[str, int] = {}
    if capped:
        taken = dict(conn.execute(_TAKEN_TODAY(conn), {"b_day": clock.now().date(), "b_codes": capped}).all())
    return {code: limits[code] - taken.get(code, 0) if code in limits else None for code in codes}


def take_capacity(conn: Connection, clock: Clock, codes: Sequence[str]) -> None:
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


def give_capacity_back(conn: Connection, codes: Sequence[str], created_at: Any) -> None:
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
        validate_fulfilment(conn, fulfilment)
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
class Plan:
    """Where an order's units come from, and the channel's own (ring-fenced) units sourcing saw at each
    location: the claim's hint for whether to lock a quota row."""

    decision: sourcing.Decision
    quotas: dict[str, dict[str, int]]


def plan_order(conn: Connection, clock: Clock, *, channel: dict[str, Any], lines: Sequence[tuple[str, int]],
               fulfilment: dict[str, Any]) -> Plan:
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
    capacity = capacity_left(conn, clock, codes)
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
    return Plan(decision, quotas_by_sku)


def validate_fulfilment(conn: Connection, fulfilment: dict[str, Any]) -> None:
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


def set_capacity(conn: Connection, clock: Clock, location: str, daily_orders: int) -> dict[str, Any]:
    inventory_queries.get_location(conn, location, field="location")
    reference.changed(conn)
    upsert(conn, fulfilment_capacity, [{"location_code": location, "daily_orders": daily_orders}],
           keys=["location_code"], update=["daily_orders"])
    return {"location": location, "daily_orders": daily_orders,
            "left_today": capacity_left(conn, clock, [location])[location]}

