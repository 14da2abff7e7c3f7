"""Locations and stock on hand: counts, receipts, adjustments, transfers, channel quotas, returned units, and
the reconciliation check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.core import reference
from omnihub.core.clock import Clock
from omnihub.core.db import new_id, upsert
from omnihub.core.events import emit, emit_many
from omnihub.inventory import errors, queries
from omnihub.inventory.levels import (
    RETURNED,
    SL,
    StockChanges,
    change_level,
    ensure_level,
    for_update,
    locked_level,
    locked_level_if_any,
    locked_levels,
    move_on_hand_locked,
)
from omnihub.inventory.models import locations, stock_levels, stock_quotas


def create_location(conn: Connection, clock: Clock, data: dict[str, Any]) -> dict[str, Any]:
    code = data["code"]
    if conn.execute(sa.select(locations.c.code).where(locations.c.code == code)).first():
        raise errors.location_exists(code)
    reference.changed(conn)
    conn.execute(locations.insert(), dict(
        code=code, name=data["name"], kind=data["kind"], lat=data.get("lat"), lon=data.get("lon"),
        pickup=bool(data.get("pickup", False)), created_at=clock.now(),
    ))
    location = queries.get_location(conn, code)
    emit(conn, clock, "location.created", {k: v for k, v in location.items() if k != "created_at"})
    return location


def set_stock(conn: Connection, clock: Clock, *, location: str, sku: str, on_hand: int,
              safety_stock: int | None = None, reason: str | None = None, actor: str | None = None,
              reference: str | None = None) -> dict[str, Any]:
    """Absolute count (`PUT /stock/{location}/{sku}`, an ERP's stock count): recorded as an adjustment by the
    difference, with the counting document's `reference` when there is one."""
    current = locked_level_if_any(conn, location, sku)
    if current is None:
        ensure_level(conn, clock, location, sku)
        current = locked_level(conn, location, sku)
    if on_hand < current.reserved:
        raise errors.stock_below_reserved(location, sku, on_hand, current.reserved)
    changes = StockChanges(clock, actor)
    delta = on_hand - current.on_hand
    if safety_stock is not None and safety_stock != current.safety_stock:
        conn.execute(stock_levels.update().where(SL.location_code == location, SL.sku == sku)
                     .values(safety_stock=safety_stock, updated_at=clock.now()))
    after = change_level(conn, clock, location, sku, on_hand=delta)
    if after is None:  # the row is locked; only a broken invariant gets here
        raise errors.stock_below_reserved(location, sku, on_hand, current.reserved)
    if delta or (safety_stock is not None and safety_stock != current.safety_stock):
        changes.record(location, sku, "adjustment", after, on_hand_delta=delta, reason=reason or "stock count",
                       reference=reference)
    changes.flush(conn)
    return queries.level(conn, location, sku)


def receive_stock(conn: Connection, changes: StockChanges, *, location: str, sku: str, quantity: int,
                  reference: str | None = None, reason: str | None = None) -> None:
    ensure_level(conn, changes.clock, location, sku)
    after = change_level(conn, changes.clock, location, sku, on_hand=quantity)
    changes.record(location, sku, "receipt", after, on_hand_delta=quantity, reference=reference, reason=reason)


def adjust_stock(conn: Connection, changes: StockChanges, *, location: str, sku: str, delta: int, reason: str,
                 reference: str | None = None, kind: str = "adjustment") -> None:
    ensure_level(conn, changes.clock, location, sku)
    after = change_level(conn, changes.clock, location, sku, on_hand=delta)
    if after is None:
        level = locked_level(conn, location, sku)
        raise errors.stock_below_reserved(location, sku, level.on_hand + delta, level.reserved)
    changes.record(location, sku, kind, after, on_hand_delta=delta, reference=reference, reason=reason)


def transfer_stock(conn: Connection, changes: StockChanges, *, from_location: str, to_location: str, sku: str,
                   quantity: int, reason: str | None = None, reference: str | None = None) -> str:
    """Move free units between locations; both legs share one transfer id in the ledger."""
    if from_location == to_location:
        raise errors.same_location_transfer(from_location)
    transfer_id = reference or new_id("trf")
    ensure_level(conn, changes.clock, from_location, sku)
    ensure_level(conn, changes.clock, to_location, sku)
    # Lock both rows in code order so two opposite transfers cannot deadlock.
    legs = sorted([(from_location, -quantity), (to_location, quantity)])
    for location, delta in legs:
        after = change_level(conn, changes.clock, location, sku, on_hand=delta)
        if after is None:
            level = locked_level(conn, location, sku)
            raise errors.insufficient_stock(sku, quantity, max(0, level.on_hand - level.reserved),
                                            field="quantity")
        kind = "transfer_out" if delta < 0 else "transfer_in"
        changes.record(location, sku, kind, after, on_hand_delta=delta, reference=transfer_id, reason=reason)
    return transfer_id


def record_movements(conn: Connection, clock: Clock, movements: Sequence[dict[str, Any]],
                     actor: str | None = None) -> list[dict[str, Any]]:
    """Receipts, adjustments and transfers, all or nothing."""
    changes = StockChanges(clock, actor)
    results = []
    for movement in movements:
        kind = movement["kind"]
        if kind == "receipt":
            receive_stock(conn, changes, location=movement["location"], sku=movement["sku"],
                          quantity=movement["quantity"], reference=movement.get("reference"),
                          reason=movement.get("reason"))
            results.append({**movement})
        elif kind == "adjustment":
            adjust_stock(conn, changes, location=movement["location"], sku=movement["sku"],
                         delta=movement["delta"], reason=movement["reason"], reference=movement.get("reference"))
            results.append({**movement})
        else:
            transfer_id = transfer_stock(
                conn, changes, from_location=movement["from_location"], to_location=movement["to_location"],
                sku=movement["sku"], quantity=movement["quantity"], reason=movement.get("reason"),
                reference=movement.get("reference"))
            results.append({**movement, "reference": transfer_id})
    changes.flush(conn)
    return results


def set_quota(conn: Connection, clock: Clock, *, location: str, sku: str, channel: str, units: int,
              actor: str | None = None) -> dict[str, Any]:
    """Ring-fence `units` of a level for one channel (0 removes the ring-fence)."""
    catalog.get_channel(conn, channel, field="channel")
    ensure_level(conn, clock, location, sku)
    q = stock_quotas.c
    key = (q.location_code == location, q.sku == sku, q.channel_code == channel)
    old = conn.execute(for_update(conn, sa.select(q.units).where(*key))).scalar() or 0
    after = change_level(conn, clock, location, sku, ring_fenced=units - old)
    if units:
        upsert(conn, stock_quotas, [{"location_code": location, "sku": sku, "channel_code": channel,
                                     "units": units, "updated_at": clock.now()}],
               keys=["location_code", "sku", "channel_code"], update=["units", "updated_at"])
    else:
        conn.execute(stock_quotas.delete().where(*key))
    changes = StockChanges(clock, actor)
    changes.record(location, sku, "quota", after, reason=f"{channel} ring-fence {old} -> {units}")
    changes.flush(conn)
    return queries.level(conn, location, sku)


# --- reservations ------------------------------------------------------------------------------------


def receive_return(conn: Connection, clock: Clock, *, location: str, sku: str, quantity: int, resellable: bool,
                   reference: str, actor: str | None = None) -> None:
    """A returned unit comes back here: on sale again, or into quarantine if damaged."""
    ensure_level(conn, clock, location, sku)
    changes = StockChanges(clock, actor)
    if resellable:
        after = change_level(conn, clock, location, sku, on_hand=quantity)
        changes.record(location, sku, "return", after, on_hand_delta=quantity, reference=reference)
    else:
        conn.execute(stock_levels.update().where(SL.location_code == location, SL.sku == sku)
                     .values(quarantined=SL.quarantined + quantity, updated_at=clock.now()))
        after = conn.execute(sa.select(*RETURNED).where(SL.location_code == location, SL.sku == sku)).first()
        changes.record(location, sku, "quarantine", after, quarantined_delta=quantity, reference=reference,
                       reason="returned damaged")
    changes.flush(conn)


# --- reconciliation ----------------------------------------------------------------------------------


def check_inventory(conn: Connection, clock: Clock) -> list[dict[str, Any]]:
    """Compare every level with its ledger, live reservations and quotas. Report drift; never fix it."""
    drifts = queries.inventory_drift(conn)
    emit_many(conn, clock, [("inventory.drift_detected", d) for d in drifts])
    return drifts



# --- sales made elsewhere ----------------------------------------------------------------------------


def take_sold_elsewhere(conn: Connection, clock: Clock, *, lines: Sequence[tuple[str, str, int]], reference: str,
                        reason: str, actor: str | None = None) -> list[int]:
    """Units a shop (Shopify, WooCommerce) has already sold leave their locations at once: `lines` are
    (location, SKU, quantity). The sale happened: it is never refused. Only units nobody holds can go (on hand
    minus reserved; the safety stock is a margin for late channels, and this is the late channel), so the count
    never goes below what reservations hold. Returns, per line, how many were taken; the caller flags the rest as
    oversold.

    One read locks every level the order touches (in (location, SKU) order, so concurrent orders queue rather
    than deadlock), one statement moves them and one insert writes the ledger: a shop's order costs a few
    statements, not a few per line. Two lines of one SKU at one location take in turn from the same units."""
    keys = [(location, sku) for location, sku, _ in lines]
    levels = locked_levels(conn, keys)
    missing = sorted(set(keys) - levels.keys())
    if missing:  # first sale of a SKU at a location: create the empty levels, then lock them too
        for location, sku in missing:
            ensure_level(conn, clock, location, sku)
        levels.update(locked_levels(conn, missing))
    free = {key: max(0, level.on_hand - level.reserved) for key, level in levels.items()}
    taken_per_line = []
    moved: dict[tuple[str, str], int] = {}
    for location, sku, quantity in lines:
        taken = min(quantity, free[(location, sku)])
        free[(location, sku)] -= taken
        taken_per_line.append(taken)
        if taken:
            moved[(location, sku)] = moved.get((location, sku), 0) + taken
    move_on_hand_locked(conn, clock, [(location, sku, -units) for (location, sku), units in moved.items()])
    changes = StockChanges(clock, actor)
    for (location, sku), units in moved.items():
        level = levels[(location, sku)]
        after = (level.on_hand - units, level.reserved, level.safety_stock, level.ring_fenced)
        changes.record(location, sku, "external_sale", after, on_hand_delta=-units, reference=reference,
                       reason=reason)
    changes.flush(conn)
    return taken_per_line


def restock_sold_elsewhere(conn: Connection, clock: Clock, *, location: str, sku: str, quantity: int, reference: str,
                           reason: str, actor: str | None = None) -> None:
    """Units of a shop's sale that came back (the order was cancelled, or refunded with restock)."""
    changes = StockChanges(clock, actor)
    adjust_stock(conn, changes, location=location, sku=sku, delta=quantity, reason=reason, reference=reference,
                 kind="external_return")
    changes.flush(conn)
