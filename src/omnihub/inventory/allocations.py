"""Holds for orders: an order's (SKU, location, quantity) claims as one reservation without expiry, fulfilled
shipment by shipment or at collection, and moved to the pickup store."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock
from omnihub.core.db import Timestamp, new_id
from omnihub.inventory import errors, queries
from omnihub.inventory.levels import StockChanges, change_level, ensure_level
from omnihub.inventory.models import reservation_lines, reservations
from omnihub.inventory.reservations import claim, claim_refused, insert_reservation_lines

# PostgreSQL: an order's claims (none touching a quota of the channel's own) with everything they write — the
# reservation header, its lines and the ledger rows — as one statement. The level rows are locked in (sku,
# location) order by the materialised CTE, the order the one-claim-at-a-time path takes them in, so two orders
# never deadlock on each other. A claim whose guard refuses returns no row; then nothing but the other claims'
# updates is written, and the caller rolls the transaction back.
_RESERVE_TOGETHER_PG = sa.text("""
WITH wanted AS (
    SELECT * FROM jsonb_to_recordset(CAST(:claims AS jsonb)) AS w(loc text, sku text, qty int)
), locked AS MATERIALIZED (
    SELECT s.location_code, s.sku FROM stock_levels s JOIN wanted w ON s.location_code = w.loc AND s.sku = w.sku
    ORDER BY s.sku, s.location_code FOR UPDATE OF s
), claimed AS (
    UPDATE stock_levels SET on_hand = on_hand - :sold * w.qty, reserved = reserved + (1 - :sold) * w.qty,
           updated_at = :now
    FROM wanted w JOIN locked l ON l.location_code = w.loc AND l.sku = w.sku
    WHERE stock_levels.location_code = w.loc AND stock_levels.sku = w.sku
      AND on_hand - reserved - safety_stock - ring_fenced >= w.qty
    RETURNING stock_levels.location_code, stock_levels.sku, w.qty, on_hand, reserved, safety_stock, ring_fenced
), complete AS (
    SELECT count(*) = :n AS ok FROM claimed
), header AS (
    INSERT INTO reservations (id, channel_code, status, reference, actor, created_at, expires_at, closed_at)
    SELECT :rid, :channel, :status, :reference, :actor, :now, :expires_at, :closed_at FROM complete WHERE ok
), lines AS (
    INSERT INTO reservation_lines (reservation_id, sku, location_code, quantity, fulfilled, quota_consumed)
    SELECT :rid, c.sku, c.location_code, c.qty, :sold * c.qty, 0 FROM claimed c, complete WHERE complete.ok
), ledger AS (
    INSERT INTO stock_ledger (location_code, sku, kind, on_hand_delta, reserved_delta, quarantined_delta,
                              on_hand_after, reserved_after, reference, actor, reason, at)
    SELECT c.location_code, c.sku, :kind, 0 - :sold * c.qty, (1 - :sold) * c.qty, 0, c.on_hand, c.reserved,
           :reference, :actor, :reason, :now
    FROM claimed c, complete WHERE complete.ok ORDER BY c.sku, c.location_code
)
SELECT location_code, sku, on_hand, reserved, safety_stock, ring_fenced FROM claimed
""").bindparams(sa.bindparam("now", type_=Timestamp), sa.bindparam("expires_at", type_=Timestamp),
                sa.bindparam("closed_at", type_=Timestamp))


def _reserve_together(conn: Connection, changes: StockChanges, header: dict[str, Any],
                      claims: Sequence[tuple[str, str, int]], *, sale: str | None) -> None:
    """`reserve_allocations` in one statement (`_RESERVE_TOGETHER_PG`); its events are left in `changes`."""
    sold = 1 if sale is not None else 0
    rows = conn.execute(_RESERVE_TOGETHER_PG, {
        "claims": json.dumps([{"loc": location, "sku": sku, "qty": quantity} for sku, location, quantity in claims]),
        "n": len(claims), "sold": sold, "now": header["created_at"], "rid": header["id"],
        "channel": header["channel_code"], "status": header["status"], "reference": header["reference"],
        "actor": header["actor"], "expires_at": header["expires_at"], "closed_at": header["closed_at"],
        "kind": "sale" if sale is not None else "reservation", "reason": sale}).all()
    after = {(r.sku, r.location_code): (r.on_hand, r.reserved, r.safety_stock, r.ring_fenced) for r in rows}
    for sku, location, quantity in claims:
        if (sku, location) not in after:
            raise claim_refused(conn, sku, location, quantity, header["channel_code"])
        changes.announce(location, sku, "sale" if sold else "reservation", after[(sku, location)],
                         on_hand_delta=-quantity * sold, reserved_delta=quantity * (1 - sold),
                         reference=header["reference"])


NO_EXPIRY = datetime(9999, 12, 31, tzinfo=UTC)


def reserve_allocations(conn: Connection, clock: Clock, *, channel: str, allocations: Sequence[tuple[str, str, int]],
                        reference: str, actor: str | None = None, expires_at: datetime | None = None,
                        reservation_id: str | None = None,
                        quota_hints: Mapping[str, Mapping[str, int]] | None = None,
                        sale: str | None = None) -> str:
    """Hold exactly these (sku, location, quantity) claims — an order's allocation. All or nothing.

    The caller (sourcing) chose the locations from a snapshot; each claim is still the conditional UPDATE,
    so a race surfaces as `insufficient_stock` and nothing is held. `reservation_id` lets the caller name
    the hold before taking it (an order writes its rows first and claims stock last). `quota_hints`: the
    channel's own units per SKU and location as the caller's snapshot saw them (saves reading them again).

    `sale` (the ledger's reason, e.g. "counter sale"): the units leave the shelf now — one guarded decrement of
    on-hand per line and one `sale` ledger row, instead of a hold and its fulfilment; the reservation is
    recorded already committed and fulfilled, so returns and reports see it like any other."""
    reservation_id = reservation_id or new_id("res")
    now = clock.now()
    header = dict(id=reservation_id, channel_code=channel, status="committed" if sale is not None else "active",
                  reference=reference, actor=actor, created_at=now, expires_at=expires_at or NO_EXPIRY,
                  closed_at=now if sale is not None else None)
    changes = StockChanges(clock, actor)
    taken = []
    # One read for every claim's quota hint (unless the caller has them); the claims stay conditional updates.
    quotas = quota_hints
    if quotas is None:
        _, quotas = queries.snapshot_many(conn, sorted({sku for sku, _, _ in allocations}),
                                          sorted({loc for _, loc, _ in allocations}), channel)
    claims = sorted(allocations)
    if (conn.dialect.name == "postgresql" and len({(sku, loc) for sku, loc, _ in claims}) == len(claims)
            and not any(quotas.get(sku, {}).get(location, 0) for sku, location, _ in claims)):
        _reserve_together(conn, changes, header, claims, sale=sale)
        changes.flush(conn)
        return reservation_id
    conn.execute(reservations.insert(), header)
    for sku, location, quantity in claims:
        used = claim(conn, changes, location=location, sku=sku, quantity=quantity, channel=channel,
                     quota_hint=quotas.get(sku, {}).get(location, 0), reference=reference, sale=sale)
        if used is None:
            raise claim_refused(conn, sku, location, quantity, channel)
        taken.append({"sku": sku, "location_code": location, "quantity": quantity, "quota_consumed": used})
    insert_reservation_lines(conn, reservation_id, taken, fulfilled=sale is not None)
    changes.flush(conn)
    return reservation_id


def fulfil_reservation(conn: Connection, clock: Clock, reservation_id: str, items: Sequence[tuple[str, str, int]],
                       *, actor: str | None = None, reason: str = "sold") -> None:
    """Part of a hold leaves the shelf (a shipment, a collection): a sale for exactly those units."""
    rl = reservation_lines.c
    changes = StockChanges(clock, actor)
    for sku, location, quantity in sorted(items):
        won = conn.execute(reservation_lines.update().where(
            rl.reservation_id == reservation_id, rl.sku == sku, rl.location_code == location,
            rl.fulfilled + quantity <= rl.quantity).values(fulfilled=rl.fulfilled + quantity)).rowcount
        if won != 1:
            raise errors.nothing_left_to_fulfil(reservation_id, sku, location)
        after = change_level(conn, clock, location, sku, on_hand=-quantity, reserved=-quantity)
        changes.record(location, sku, "sale", after, on_hand_delta=-quantity, reserved_delta=-quantity,
                       reference=reservation_id, reason=reason)
    remaining = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(rl.quantity - rl.fulfilled), 0))
                             .where(rl.reservation_id == reservation_id)).scalar()
    if remaining == 0:
        conn.execute(reservations.update().where(reservations.c.id == reservation_id,
                                                 reservations.c.status == "active")
                     .values(status="committed", closed_at=clock.now()))
    changes.flush(conn)


def move_reservation(conn: Connection, clock: Clock, reservation_id: str, *, sku: str, from_location: str,
                     to_location: str, quantity: int, actor: str | None = None) -> None:
    """Held units travel to another location (e.g. to the pickup store) and stay held there."""
    rl = reservation_lines.c
    won = conn.execute(reservation_lines.update().where(
        rl.reservation_id == reservation_id, rl.sku == sku, rl.location_code == from_location,
        rl.quantity - rl.fulfilled >= quantity, rl.quantity > quantity,
    ).values(quantity=rl.quantity - quantity)).rowcount
    if won != 1:
        moved_whole = conn.execute(reservation_lines.delete().where(
            rl.reservation_id == reservation_id, rl.sku == sku, rl.location_code == from_location,
            rl.quantity == quantity, rl.fulfilled == 0)).rowcount
        if moved_whole != 1:
            raise errors.nothing_left_to_fulfil(reservation_id, sku, from_location)
    ensure_level(conn, clock, to_location, sku)
    existing = conn.execute(sa.select(rl.quantity).where(
        rl.reservation_id == reservation_id, rl.sku == sku, rl.location_code == to_location)).first()
    if existing:
        conn.execute(reservation_lines.update().where(
            rl.reservation_id == reservation_id, rl.sku == sku, rl.location_code == to_location)
            .values(quantity=rl.quantity + quantity))
    else:
        conn.execute(reservation_lines.insert(), dict(reservation_id=reservation_id, sku=sku,
                                                       location_code=to_location, quantity=quantity))
    changes = StockChanges(clock, actor)
    legs = sorted([(from_location, -quantity), (to_location, quantity)])
    for location, delta in legs:
        after = change_level(conn, clock, location, sku, on_hand=delta, reserved=delta)
        kind = "transfer_out" if delta < 0 else "transfer_in"
        changes.record(location, sku, kind, after, on_hand_delta=delta, reserved_delta=delta,
                       reference=reservation_id, reason=f"held units moved {from_location} -> {to_location}")
    changes.flush(conn)
