"""Holding stock for a channel's checkout: reservations with an expiry, claimed by guarded updates (never more
than is there), released, committed or expired."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.core.clock import Clock
from omnihub.core.db import Database, Timestamp, new_id
from omnihub.core.errors import DomainError
from omnihub.core.events import outbox_insert_pg
from omnihub.inventory import errors, queries, rules
from omnihub.inventory.levels import (
    StockChanges,
    catalog_product_not_found,
    change_level,
    for_update,
    stock_changed_data,
)
from omnihub.inventory.models import reservation_lines, reservations, stock_quotas

_LINES_INSERT = reservation_lines.insert()


def claim(conn: Connection, changes: StockChanges, *, location: str, sku: str, quantity: int, channel: str,
          quota_hint: int, reference: str, sale: str | None = None) -> int | None:
    """Reserve `quantity` at one location — or, with `sale` (the ledger's reason), sell it off the shelf at
    once. Returns the ring-fenced units used, or None if refused.

    With no quota for this channel (the usual case) this is a single conditional UPDATE. With one, the
    quota row is locked first (same order everywhere: quota row, then level row). A sale passes the same
    availability guard as a reservation."""
    own = 0
    if quota_hint > 0:
        q = stock_quotas.c
        own = conn.execute(for_update(conn, sa.select(q.units).where(
            q.location_code == location, q.sku == sku, q.channel_code == channel))).scalar() or 0
    used = rules.quota_consumption(own, quantity)
    moves = {"on_hand": -quantity} if sale is not None else {"reserved": quantity}
    after = change_level(conn, changes.clock, location, sku, **moves, ring_fenced=-used, claim=(own, quantity))
    if after is None:
        return None
    if used:
        q = stock_quotas.c
        conn.execute(stock_quotas.update().where(q.location_code == location, q.sku == sku,
                                                 q.channel_code == channel).values(units=q.units - used))
    if sale is not None:
        changes.record(location, sku, "sale", after, on_hand_delta=-quantity, reference=reference, reason=sale)
    else:
        changes.record(location, sku, "reservation", after, reserved_delta=quantity, reference=reference)
    return used


def claim_refused(conn: Connection, sku: str, location: str, quantity: int, channel: str) -> DomainError:
    """The 409 for a claim whose guard refused (the stock moved since it was planned): what is free there now."""
    levels, _ = queries.snapshot(conn, sku, [location], channel)
    free = levels[location].free if location in levels else 0
    return errors.insufficient_stock(sku, quantity, free, field="lines")


def refuse_when_sold_out(conn: Connection, *, channel: str, lines: Sequence[tuple[str, int]],
                         location: str | None = None) -> None:
    """A look before the transaction: when the channel plainly cannot have the stock, refuse at the cost of
    two reads and no write transaction (in a sell-out rush nearly every attempt ends here). Anything else —
    unknown channel, SKU or location, enough stock — is left to `reserve_stock`, which decides for real."""
    try:
        chan = catalog.get_channel(conn, channel, field="channel")
    except DomainError:
        return
    candidates = [location] if location is not None else chan["locations"]
    if location is not None and location not in chan["locations"]:
        return
    merged = rules.merge_lines(lines)
    levels, quotas = queries.snapshot_many(conn, [sku for sku, _ in merged], candidates, channel)
    for index, (sku, quantity) in enumerate(merged):
        if sku not in levels:
            return  # perhaps an unknown SKU: reserve_stock says which error
        view = rules.channel_availability(levels[sku], quotas.get(sku, {}), candidates, chan["stock_buffer"])
        if view.available < quantity:
            raise errors.insufficient_stock(sku, quantity, view.available, field=f"lines.{index}.quantity")


def reserve_stock(conn: Connection, clock: Clock, *, channel: str, lines: Sequence[tuple[str, int]],
                  location: str | None = None, ttl_seconds: int = 900, reference: str | None = None,
                  actor: str | None = None) -> dict[str, Any]:
    """Hold stock for a channel's checkout. All lines or none; never more than is there."""
    chan = catalog.get_channel(conn, channel, field="channel")
    candidates = chan["locations"]
    if location is not None:
        if location not in candidates:
            queries.get_location(conn, location, field="location")
            raise errors.location_not_in_channel(location, channel)
        candidates = [location]
    merged = rules.merge_lines(lines)
    now = clock.now()
    expires_at = rules.reservation_expiry(now, ttl_seconds)
    reservation_id = new_id("res")
    header = dict(id=reservation_id, channel_code=channel, status="active", reference=reference, actor=actor,
                  created_at=now, expires_at=expires_at)
    changes = StockChanges(clock, actor)
    taken: list[dict[str, Any]] = []
    spread = random.randrange(1 << 16)
    for index, (sku, quantity) in enumerate(merged):
        remaining = quantity
        for _attempt in range(5):
            levels, quotas = queries.snapshot(conn, sku, candidates, channel)
            view = rules.channel_availability(levels, quotas, candidates, chan["stock_buffer"])
            if view.available < remaining:
                if not levels and not catalog.existing_skus(conn, [sku]):
                    raise catalog_product_not_found(sku, field=f"lines.{index}.sku")
                raise errors.insufficient_stock(sku, quantity, quantity - remaining + view.available,
                                                field=f"lines.{index}.quantity")
            if header:
                # Written once there is something to claim (a sold-out refusal writes nothing) and before any
                # stock row is locked: what follows a claim is kept short, as the row stays locked until commit.
                conn.execute(reservations.insert(), header)
                header = {}
            plan = rules.plan_allocation(remaining, [(c, view.locations[c]) for c in candidates], spread)
            for loc, qty in plan:
                used = claim(conn, changes, location=loc, sku=sku, quantity=qty, channel=channel,
                             quota_hint=quotas.get(loc, 0), reference=reservation_id)
                if used is not None:
                    taken.append({"sku": sku, "location_code": loc, "quantity": qty, "quota_consumed": used})
                    remaining -= qty
            if remaining == 0:
                break
            spread += 1  # someone beat us to a row: look again and try elsewhere
        if remaining:
            raise errors.insufficient_stock(sku, quantity, quantity - remaining, field=f"lines.{index}.quantity")
    insert_reservation_lines(conn, reservation_id, taken)
    changes.events.append(("reservation.created", _reservation_created(reservation_id, channel, expires_at, taken)))
    changes.flush(conn)
    return _reservation_out(reservation_id, channel, reference, now, expires_at, _combine(taken))


def _reservation_created(reservation_id: str, channel: str, expires_at: datetime, taken: list[dict[str, Any]]
                         ) -> dict[str, Any]:
    return {"id": reservation_id, "channel": channel, "expires_at": expires_at.isoformat(),
            "lines": [{"sku": t["sku"], "quantity": t["quantity"], "location": t["location_code"]} for t in taken]}


def _reservation_out(reservation_id: str, channel: str, reference: str | None, created_at: datetime,
                     expires_at: datetime, lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": reservation_id, "channel": channel, "status": "active", "reference": reference,
            "created_at": created_at, "expires_at": expires_at,
            "lines": [{"sku": t["sku"], "quantity": t["quantity"], "location": t["location_code"]} for t in lines]}


# PostgreSQL: a claim on one level row with everything it writes — header, line, ledger row, `stock.changed`
# and `reservation.created` — as one self-committing statement. The row is locked only while PostgreSQL runs
# the statement, never across round trips to a busy Python process: that lock hold is what limits a hot SKU.
# A refused guard returns no row and writes nothing (every insert selects from the claim).
_RESERVE_AT_ONCE_PG = sa.text("""
WITH claimed AS (
    UPDATE stock_levels SET reserved = reserved + :qty, updated_at = :now
    WHERE location_code = :loc AND sku = :sku AND on_hand - reserved - safety_stock - ring_fenced >= :qty
    RETURNING on_hand, reserved, safety_stock
), header AS (
    INSERT INTO reservations (id, channel_code, status, reference, actor, created_at, expires_at)
    SELECT :rid, :channel, 'active', :reference, :actor, :now, :expires_at FROM claimed
    RETURNING id
), line AS (
    INSERT INTO reservation_lines (reservation_id, sku, location_code, quantity, fulfilled, quota_consumed)
    SELECT id, :sku, :loc, :qty, 0, 0 FROM header
), ledger AS (
    INSERT INTO stock_ledger (location_code, sku, kind, on_hand_delta, reserved_delta, quarantined_delta,
                              on_hand_after, reserved_after, reference, actor, at)
    SELECT :loc, :sku, 'reservation', 0, :qty, 0, on_hand, reserved, :rid, :actor, :now FROM claimed
), events AS (
    """ + outbox_insert_pg("""
    SELECT :changed_id, 'stock.changed', :now, CAST(:changed AS jsonb) || jsonb_build_object(
        'on_hand', on_hand, 'reserved', reserved, 'safety_stock', safety_stock,
        'available', GREATEST(0, on_hand - reserved - safety_stock)) FROM claimed
    UNION ALL
    SELECT :created_id, 'reservation.created', :now, CAST(:created AS jsonb) FROM claimed""") + """
)
SELECT on_hand, reserved FROM claimed
""").bindparams(sa.bindparam("now", type_=Timestamp), sa.bindparam("expires_at", type_=Timestamp))


def reserve_at_once(db: Database, clock: Clock, *, channel: str, lines: Sequence[tuple[str, int]],
                    location: str | None = None, ttl_seconds: int = 900, reference: str | None = None,
                    actor: str | None = None) -> dict[str, Any] | None:
    """`reserve_stock` for the commonest request — one SKU that one location can fill, no quota of the
    channel's own there — on PostgreSQL, without a transaction: two reads and one statement (see
    `_RESERVE_AT_ONCE_PG`). Answers sold out itself; returns None for anything else (several lines or
    locations, a quota, an unknown SKU or location, SQLite), which `reserve_stock` then does in full."""
    merged = rules.merge_lines(lines)
    if not db.is_postgres or len(merged) != 1:
        return None
    sku, quantity = merged[0]
    with db.single_statement() as conn:
        chan = catalog.get_channel(conn, channel, field="channel")
        candidates = chan["locations"] if location is None else [location]
        if location is not None and location not in chan["locations"]:
            return None
        spread = random.randrange(1 << 16)
        for _attempt in range(5):
            levels, quotas = queries.snapshot(conn, sku, candidates, channel)
            if not levels or quotas:
                return None
            view = rules.channel_availability(levels, quotas, candidates, chan["stock_buffer"])
            if view.available < quantity:
                raise errors.insufficient_stock(sku, quantity, view.available, field="lines.0.quantity")
            plan = rules.plan_allocation(quantity, [(c, view.locations[c]) for c in candidates], spread)
            if len(plan) != 1:
                return None
            loc = plan[0][0]
            now = clock.now()
            expires_at = rules.reservation_expiry(now, ttl_seconds)
            reservation_id = new_id("res")
            line = {"sku": sku, "location_code": loc, "quantity": quantity}
            claimed = conn.execute(_RESERVE_AT_ONCE_PG, {
                "qty": quantity, "now": now, "loc": loc, "sku": sku, "rid": reservation_id, "channel": channel,
                "reference": reference, "actor": actor, "expires_at": expires_at,
                "changed_id": new_id("evt"), "created_id": new_id("evt"),
                "changed": json.dumps(stock_changed_data(loc, sku, "reservation", 0, quantity, reservation_id)),
                "created": json.dumps(_reservation_created(reservation_id, channel, expires_at, [line])),
            }).first()
            if claimed is not None:
                return _reservation_out(reservation_id, channel, reference, now, expires_at, [line])
            spread += 1  # someone took that row's last units first: look again
    return None


def insert_reservation_lines(conn: Connection, reservation_id: str, taken: list[dict[str, Any]], *,
                             fulfilled: bool = False) -> None:
    rows = [{"reservation_id": reservation_id, **t} for t in _combine(taken)]
    if fulfilled:
        rows = [{**r, "fulfilled": r["quantity"]} for r in rows]
    if rows:
        conn.execute(_LINES_INSERT, rows[0] if len(rows) == 1 else rows)


def _combine(taken: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (SKU, location), even when a retry claimed the same row twice."""
    combined: dict[tuple[str, str], dict[str, Any]] = {}
    for t in taken:
        key = (t["sku"], t["location_code"])
        if key in combined:
            combined[key]["quantity"] += t["quantity"]
            combined[key]["quota_consumed"] += t["quota_consumed"]
        else:
            combined[key] = dict(t)
    return list(combined.values())


def _close(conn: Connection, clock: Clock, reservation_id: str, status: str, *, channel: str | None,
           actor: str | None, reason: str) -> dict[str, Any]:
    """Move an active reservation to its end state, undoing (or converting) what it held."""
    current = queries.get_reservation(conn, reservation_id, channel=channel)
    rules.ensure_active(reservation_id, current["status"])
    r = reservations.c
    won = conn.execute(reservations.update().where(r.id == reservation_id, r.status == "active")
                       .values(status=status, closed_at=clock.now())).rowcount
    if won != 1:  # a concurrent release/expiry/commit got there first
        raise errors.reservation_not_active(reservation_id, queries.get_reservation(conn, reservation_id)["status"])
    changes = StockChanges(clock, actor)
    rl = reservation_lines.c
    lines = conn.execute(sa.select(reservation_lines).where(rl.reservation_id == reservation_id)
                         .order_by(rl.sku, rl.location_code)).all()
    for line in lines:
        held = line.quantity - line.fulfilled
        if held == 0:
            continue
        if status == "committed":
            after = change_level(conn, clock, line.location_code, line.sku, on_hand=-held, reserved=-held)
            changes.record(line.location_code, line.sku, "sale", after, on_hand_delta=-held,
                           reserved_delta=-held, reference=reservation_id, reason=reason)
            continue
        restored = 0
        if line.quota_consumed:
            q = stock_quotas.c
            restored = line.quota_consumed if conn.execute(stock_quotas.update().where(
                q.location_code == line.location_code, q.sku == line.sku, q.channel_code == current["channel"],
            ).values(units=q.units + line.quota_consumed)).rowcount else 0
        after = change_level(conn, clock, line.location_code, line.sku, reserved=-held, ring_fenced=restored)
        changes.record(line.location_code, line.sku, "release", after, reserved_delta=-held,
                       reference=reservation_id, reason=reason)
    event = {"committed": "reservation.committed", "expired": "reservation.expired"}.get(status,
                                                                                        "reservation.released")
    changes.events.append((event, {"id": reservation_id, "channel": current["channel"], "lines": current["lines"]}))
    changes.flush(conn)
    return queries.get_reservation(conn, reservation_id)


def release_reservation(conn: Connection, clock: Clock, reservation_id: str, *, channel: str | None = None,
                        actor: str | None = None, reason: str = "released by channel") -> dict[str, Any]:
    return _close(conn, clock, reservation_id, "released", channel=channel, actor=actor, reason=reason)


def commit_reservation(conn: Connection, clock: Clock, reservation_id: str, *, channel: str | None = None,
                       actor: str | None = None, reason: str = "sold") -> dict[str, Any]:
    """The checkout completed: the held units leave the shelf (a sale in the ledger)."""
    return _close(conn, clock, reservation_id, "committed", channel=channel, actor=actor, reason=reason)


def release_expired_reservations(conn: Connection, clock: Clock, limit: int = 500) -> int:
    """Worker job: expired holds go back on sale. Safe beside concurrent releases and other workers."""
    r = reservations.c
    query = (sa.select(r.id).where(r.status == "active", r.expires_at <= clock.now())
             .order_by(r.expires_at).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    released = 0
    for reservation_id in conn.execute(query).scalars().all():
        _close(conn, clock, reservation_id, "expired", channel=None, actor="worker", reason="expired")
        released += 1
    return released
