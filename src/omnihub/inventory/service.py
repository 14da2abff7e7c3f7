"""Inventory use cases: the only code that writes stock. Every change is one conditional UPDATE of the
level row (plus a row lock on PostgreSQL where a quota is read), a ledger row, and a `stock.changed` event,
all in the caller's transaction."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.core import reference
from omnihub.core.clock import Clock
from omnihub.core.db import Database, Timestamp, dialect_insert, new_id, upsert
from omnihub.core.errors import DomainError
from omnihub.core.events import Event, emit, emit_many
from omnihub.inventory import errors, queries, rules
from omnihub.inventory.models import (
    channel_availability,
    locations,
    reservation_lines,
    reservations,
    stock_ledger,
    stock_levels,
    stock_quotas,
)
from omnihub.inventory.rules import Level

SL = stock_levels.c
RETURNED = (SL.on_hand, SL.reserved, SL.safety_stock, SL.ring_fenced)
_LEDGER_INSERT = stock_ledger.insert()
_LINES_INSERT = reservation_lines.insert()


def _for_update(conn: Connection, query: sa.Select) -> sa.Select:
    # SQLite serialises writers with BEGIN IMMEDIATE; PostgreSQL needs the row lock.
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


@dataclass
class StockChanges:
    """Ledger rows and events gathered during one use case, written in bulk at its end."""

    clock: Clock
    actor: str | None
    ledger: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def record(self, location: str, sku: str, kind: str, after: Any, *, on_hand_delta: int = 0,
               reserved_delta: int = 0, reference: str | None = None, reason: str | None = None,
               quarantined_delta: int = 0) -> None:
        on_hand, reserved, _safety_stock, _ring_fenced = after
        if on_hand_delta or reserved_delta or quarantined_delta:
            self.ledger.append({
                "location_code": location, "sku": sku, "kind": kind, "on_hand_delta": on_hand_delta,
                "reserved_delta": reserved_delta, "quarantined_delta": quarantined_delta,
                "on_hand_after": on_hand, "reserved_after": reserved,
                "reference": reference, "actor": self.actor, "reason": reason, "at": self.clock.now(),
            })
        self.announce(location, sku, kind, after, on_hand_delta=on_hand_delta, reserved_delta=reserved_delta,
                      reference=reference)

    def announce(self, location: str, sku: str, kind: str, after: Any, *, on_hand_delta: int = 0,
                 reserved_delta: int = 0, reference: str | None = None) -> None:
        """The `stock.changed` event alone, for a change whose ledger row is already written."""
        on_hand, reserved, safety_stock, _ring_fenced = after
        self.events.append(("stock.changed", {
            **_stock_changed(location, sku, kind, on_hand_delta, reserved_delta, reference),
            "on_hand": on_hand, "reserved": reserved, "safety_stock": safety_stock,
            "available": max(0, on_hand - reserved - safety_stock),
        }))

    def flush(self, conn: Connection) -> None:
        if self.ledger:
            conn.execute(_LEDGER_INSERT, self.ledger[0] if len(self.ledger) == 1 else self.ledger)
        emit_many(conn, self.clock, self.events)
        self.ledger.clear()
        self.events.clear()


def _stock_changed(location: str, sku: str, kind: str, on_hand_delta: int, reserved_delta: int,
                   reference: str | None) -> dict[str, Any]:
    """What a `stock.changed` event says besides the level's new figures."""
    return {"location": location, "sku": sku, "kind": kind, "on_hand_delta": on_hand_delta,
            "reserved_delta": reserved_delta, "reference": reference}


# --- locations ---------------------------------------------------------------------------------------


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


# --- levels ------------------------------------------------------------------------------------------


_LEVEL_EXISTS = sa.select(SL.on_hand).where(SL.location_code == sa.bindparam("b_loc"), SL.sku == sa.bindparam("b_sku"))


def _ensure_level(conn: Connection, clock: Clock, location: str, sku: str) -> None:
    """Create an empty level the first time a (location, SKU) is touched. An existing level proves both exist
    (foreign keys), so the usual case is one indexed read."""
    if conn.execute(_LEVEL_EXISTS, {"b_loc": location, "b_sku": sku}).first() is not None:
        return
    queries.get_location(conn, location, field="location")
    if not catalog.existing_skus(conn, [sku]):
        raise catalog_product_not_found(sku)
    insert = dialect_insert(conn)
    conn.execute(insert(stock_levels).values(
        location_code=location, sku=sku, on_hand=0, reserved=0, safety_stock=0, ring_fenced=0,
        updated_at=clock.now(),
    ).on_conflict_do_nothing())


def catalog_product_not_found(sku: str, field: str = "sku") -> Exception:
    from omnihub.catalog.errors import product_not_found

    return product_not_found(sku, field=field)


_LEVEL_ROW = sa.select(SL.on_hand, SL.reserved, SL.safety_stock, SL.ring_fenced).where(
    SL.location_code == sa.bindparam("b_loc"), SL.sku == sa.bindparam("b_sku"))
_LOCKED_LEVEL_ROW = _LEVEL_ROW.with_for_update()


def _locked_level_if_any(conn: Connection, location: str, sku: str) -> Level | None:
    statement = _LOCKED_LEVEL_ROW if conn.dialect.name == "postgresql" else _LEVEL_ROW
    row = conn.execute(statement, {"b_loc": location, "b_sku": sku}).first()
    return None if row is None else Level(location, row.on_hand, row.reserved, row.safety_stock, row.ring_fenced)


def _locked_level(conn: Connection, location: str, sku: str) -> Level:
    level = _locked_level_if_any(conn, location, sku)
    if level is None:
        raise errors.no_stock_level(location, sku)
    return level


def _change_statement(guarded: bool) -> Any:
    """The one UPDATE every stock movement uses, built once (with or without the availability guard)."""
    b = sa.bindparam
    guards = [SL.location_code == b("b_loc"), SL.sku == b("b_sku"),
              SL.on_hand + b("dh") >= SL.reserved + b("dr"), SL.reserved + b("dr") >= 0,
              SL.ring_fenced + b("drf") >= 0]
    if guarded:  # a claim: only units nobody else holds, ring-fenced ones included unless they are ours
        guards.append(SL.on_hand - SL.reserved - SL.safety_stock - SL.ring_fenced + b("own") >= b("qty"))
    return (stock_levels.update().where(*guards)
            .values(on_hand=SL.on_hand + b("dh"), reserved=SL.reserved + b("dr"),
                    ring_fenced=SL.ring_fenced + b("drf"), updated_at=b("b_now"))
            .returning(*RETURNED))


_CHANGE = _change_statement(guarded=False)
_CLAIM = _change_statement(guarded=True)


def _change(conn: Connection, clock: Clock, location: str, sku: str, *, on_hand: int = 0, reserved: int = 0,
            ring_fenced: int = 0, claim: tuple[int, int] | None = None) -> Any:
    """The one way stock moves: a conditional UPDATE that cannot leave the row inconsistent.

    `claim=(own_quota, quantity)` adds the availability guard. Returns the new (on_hand, reserved,
    safety_stock, ring_fenced), or None when a guard refused."""
    params = {"b_loc": location, "b_sku": sku, "dh": on_hand, "dr": reserved, "drf": ring_fenced,
              "b_now": clock.now()}
    if claim is None:
        return conn.execute(_CHANGE, params).first()
    own, quantity = claim
    return conn.execute(_CLAIM, {**params, "own": own, "qty": quantity}).first()


def set_stock(conn: Connection, clock: Clock, *, location: str, sku: str, on_hand: int,
              safety_stock: int | None = None, reason: str | None = None, actor: str | None = None) -> dict[str, Any]:
    """Absolute count (`PUT /stock/{location}/{sku}`): recorded as an adjustment by the difference."""
    current = _locked_level_if_any(conn, location, sku)
    if current is None:
        _ensure_level(conn, clock, location, sku)
        current = _locked_level(conn, location, sku)
    if on_hand < current.reserved:
        raise errors.stock_below_reserved(location, sku, on_hand, current.reserved)
    changes = StockChanges(clock, actor)
    delta = on_hand - current.on_hand
    if safety_stock is not None and safety_stock != current.safety_stock:
        conn.execute(stock_levels.update().where(SL.location_code == location, SL.sku == sku)
                     .values(safety_stock=safety_stock, updated_at=clock.now()))
    after = _change(conn, clock, location, sku, on_hand=delta)
    if after is None:  # the row is locked; only a broken invariant gets here
        raise errors.stock_below_reserved(location, sku, on_hand, current.reserved)
    if delta or (safety_stock is not None and safety_stock != current.safety_stock):
        changes.record(location, sku, "adjustment", after, on_hand_delta=delta, reason=reason or "stock count")
    changes.flush(conn)
    return queries.level(conn, location, sku)


def receive_stock(conn: Connection, changes: StockChanges, *, location: str, sku: str, quantity: int,
                  reference: str | None = None, reason: str | None = None) -> None:
    _ensure_level(conn, changes.clock, location, sku)
    after = _change(conn, changes.clock, location, sku, on_hand=quantity)
    changes.record(location, sku, "receipt", after, on_hand_delta=quantity, reference=reference, reason=reason)


def adjust_stock(conn: Connection, changes: StockChanges, *, location: str, sku: str, delta: int, reason: str,
                 reference: str | None = None, kind: str = "adjustment") -> None:
    _ensure_level(conn, changes.clock, location, sku)
    after = _change(conn, changes.clock, location, sku, on_hand=delta)
    if after is None:
        level = _locked_level(conn, location, sku)
        raise errors.stock_below_reserved(location, sku, level.on_hand + delta, level.reserved)
    changes.record(location, sku, kind, after, on_hand_delta=delta, reference=reference, reason=reason)


def transfer_stock(conn: Connection, changes: StockChanges, *, from_location: str, to_location: str, sku: str,
                   quantity: int, reason: str | None = None, reference: str | None = None) -> str:
    """Move free units between locations; both legs share one transfer id in the ledger."""
    if from_location == to_location:
        raise errors.same_location_transfer(from_location)
    transfer_id = reference or new_id("trf")
    _ensure_level(conn, changes.clock, from_location, sku)
    _ensure_level(conn, changes.clock, to_location, sku)
    # Lock both rows in code order so two opposite transfers cannot deadlock.
    legs = sorted([(from_location, -quantity), (to_location, quantity)])
    for location, delta in legs:
        after = _change(conn, changes.clock, location, sku, on_hand=delta)
        if after is None:
            level = _locked_level(conn, location, sku)
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
    _ensure_level(conn, clock, location, sku)
    q = stock_quotas.c
    key = (q.location_code == location, q.sku == sku, q.channel_code == channel)
    old = conn.execute(_for_update(conn, sa.select(q.units).where(*key))).scalar() or 0
    after = _change(conn, clock, location, sku, ring_fenced=units - old)
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


def _claim(conn: Connection, changes: StockChanges, *, location: str, sku: str, quantity: int, channel: str,
           quota_hint: int, reference: str, sale: str | None = None) -> int | None:
    """Reserve `quantity` at one location — or, with `sale` (the ledger's reason), sell it off the shelf at
    once. Returns the ring-fenced units used, or None if refused.

    With no quota for this channel (the usual case) this is a single conditional UPDATE. With one, the
    quota row is locked first (same order everywhere: quota row, then level row). A sale passes the same
    availability guard as a reservation."""
    own = 0
    if quota_hint > 0:
        q = stock_quotas.c
        own = conn.execute(_for_update(conn, sa.select(q.units).where(
            q.location_code == location, q.sku == sku, q.channel_code == channel))).scalar() or 0
    used = rules.quota_consumption(own, quantity)
    moves = {"on_hand": -quantity} if sale is not None else {"reserved": quantity}
    after = _change(conn, changes.clock, location, sku, **moves, ring_fenced=-used, claim=(own, quantity))
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


def _claim_refused(conn: Connection, sku: str, location: str, quantity: int, channel: str) -> DomainError:
    """The 409 for a claim whose guard refused (the stock moved since it was planned): what is free there now."""
    levels, _ = queries.snapshot(conn, sku, [location], channel)
    free = levels[location].free if location in levels else 0
    return errors.insufficient_stock(sku, quantity, free, field="lines")


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
            raise _claim_refused(conn, sku, location, quantity, header["channel_code"])
        changes.announce(location, sku, "sale" if sold else "reservation", after[(sku, location)],
                         on_hand_delta=-quantity * sold, reserved_delta=quantity * (1 - sold),
                         reference=header["reference"])


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
                used = _claim(conn, changes, location=loc, sku=sku, quantity=qty, channel=channel,
                              quota_hint=quotas.get(loc, 0), reference=reservation_id)
                if used is not None:
                    taken.append({"sku": sku, "location_code": loc, "quantity": qty, "quota_consumed": used})
                    remaining -= qty
            if remaining == 0:
                break
            spread += 1  # someone beat us to a row: look again and try elsewhere
        if remaining:
            raise errors.insufficient_stock(sku, quantity, quantity - remaining, field=f"lines.{index}.quantity")
    _insert_lines(conn, reservation_id, taken)
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
    INSERT INTO outbox (id, type, occurred_at, data)
    SELECT :changed_id, 'stock.changed', :now, CAST(:changed AS jsonb) || jsonb_build_object(
        'on_hand', on_hand, 'reserved', reserved, 'safety_stock', safety_stock,
        'available', GREATEST(0, on_hand - reserved - safety_stock)) FROM claimed
    UNION ALL
    SELECT :created_id, 'reservation.created', :now, CAST(:created AS jsonb) FROM claimed
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
                "changed": json.dumps(_stock_changed(loc, sku, "reservation", 0, quantity, reservation_id)),
                "created": json.dumps(_reservation_created(reservation_id, channel, expires_at, [line])),
            }).first()
            if claimed is not None:
                return _reservation_out(reservation_id, channel, reference, now, expires_at, [line])
            spread += 1  # someone took that row's last units first: look again
    return None


def _insert_lines(conn: Connection, reservation_id: str, taken: list[dict[str, Any]], *, fulfilled: bool = False
                  ) -> None:
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
            after = _change(conn, clock, line.location_code, line.sku, on_hand=-held, reserved=-held)
            changes.record(line.location_code, line.sku, "sale", after, on_hand_delta=-held,
                           reserved_delta=-held, reference=reservation_id, reason=reason)
            continue
        restored = 0
        if line.quota_consumed:
            q = stock_quotas.c
            restored = line.quota_consumed if conn.execute(stock_quotas.update().where(
                q.location_code == line.location_code, q.sku == line.sku, q.channel_code == current["channel"],
            ).values(units=q.units + line.quota_consumed)).rowcount else 0
        after = _change(conn, clock, line.location_code, line.sku, reserved=-held, ring_fenced=restored)
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


# --- holds for orders -------------------------------------------------------------------------------

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
        used = _claim(conn, changes, location=location, sku=sku, quantity=quantity, channel=channel,
                      quota_hint=quotas.get(sku, {}).get(location, 0), reference=reference, sale=sale)
        if used is None:
            raise _claim_refused(conn, sku, location, quantity, channel)
        taken.append({"sku": sku, "location_code": location, "quantity": quantity, "quota_consumed": used})
    _insert_lines(conn, reservation_id, taken, fulfilled=sale is not None)
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
        after = _change(conn, clock, location, sku, on_hand=-quantity, reserved=-quantity)
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
    _ensure_level(conn, clock, to_location, sku)
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
        after = _change(conn, clock, location, sku, on_hand=delta, reserved=delta)
        kind = "transfer_out" if delta < 0 else "transfer_in"
        changes.record(location, sku, kind, after, on_hand_delta=delta, reserved_delta=delta,
                       reference=reservation_id, reason=f"held units moved {from_location} -> {to_location}")
    changes.flush(conn)


def receive_return(conn: Connection, clock: Clock, *, location: str, sku: str, quantity: int, resellable: bool,
                   reference: str, actor: str | None = None) -> None:
    """A returned unit comes back here: on sale again, or into quarantine if damaged."""
    _ensure_level(conn, clock, location, sku)
    changes = StockChanges(clock, actor)
    if resellable:
        after = _change(conn, clock, location, sku, on_hand=quantity)
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


# --- availability projection ----------------------------------------------------------------------------


class AvailabilityProjector:
    """Turns committed stock and channel changes into `availability.changed`, once per real change.

    It runs in the dispatcher's transaction, after the change committed, so it always reads the latest
    committed stock: the last event a channel receives for a SKU carries the final figure."""

    name = "availability"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        skus_by_location: dict[str, set[str]] = {}
        whole_channels: set[str] = set()
        repriced: set[tuple[str, str]] = set()  # a product is available only where priced: a new price counts
        for event in events:
            if event.type == "stock.changed":
                skus_by_location.setdefault(event.data["location"], set()).add(event.data["sku"])
            elif event.type in ("channel.created", "channel.updated"):
                whole_channels.add(event.data["code"])
            elif event.type == "price.changed":
                repriced.update((event.data["channel"], p["sku"]) for p in event.data["prices"])
        pairs: set[tuple[str, str]] = set()
        channels: dict[str, dict[str, Any]] = {}
        if skus_by_location:
            channels = catalog.channels_fulfilled_by(conn, skus_by_location)
            for code, chan in channels.items():
                for loc in chan["locations"]:
                    pairs.update((code, sku) for sku in skus_by_location.get(loc, ()))
        for code in whole_channels:
            chan = channels[code] = catalog.get_channel(conn, code)
            pairs.update((code, sku) for sku in queries.skus_at(conn, chan["locations"]))
        for code, sku in repriced:
            if code not in channels:
                channels[code] = catalog.get_channel(conn, code)
            pairs.add((code, sku))
        if pairs:
            publish_availability(conn, self.clock, sorted(pairs), list(channels.values()))


def publish_availability(conn: Connection, clock: Clock, pairs: Sequence[tuple[str, str]],
                         channels: Sequence[dict[str, Any]]) -> int:
    """Recompute (channel, SKU) availability and emit `availability.changed` where it moved. `channels`: every
    channel named in `pairs`, as catalog reads them."""
    now = clock.now()
    published = _touch_and_lock_published(conn, now, pairs)
    views = queries.availability_views(conn, channels, pairs)
    moved: list[tuple[str, str, int]] = []
    events: list[tuple[str, dict[str, Any]]] = []
    for pair in pairs:
        view = views[pair]
        previous = published.get(pair, -1)
        if view["available"] == previous:
            continue
        moved.append((pair[0], pair[1], view["available"]))
        events.append(("availability.changed", {**view, "previous": None if previous < 0 else previous}))
    if moved:
        _write_published(conn, now, moved)
        emit_many(conn, clock, events)
    return len(events)


# PostgreSQL: the projector's batch as one statement each (arrays), instead of a row-by-row executemany.
# The pairs go as one JSON document ([[channel, sku], ...]): the driver adapts array parameters element by
# element in Python, a JSON text in one go (a projector batch has hundreds of pairs).
_TOUCH_PUBLISHED_PG = sa.text(
    "INSERT INTO channel_availability (channel_code, sku, available, updated_at) "
    "SELECT p->>0, p->>1, -1, :now FROM jsonb_array_elements(CAST(:pairs AS jsonb)) AS t(p) "
    "ON CONFLICT DO NOTHING")
_LOCK_PUBLISHED_PG = sa.text(
    "SELECT a.channel_code, a.sku, a.available FROM channel_availability a "
    "JOIN jsonb_array_elements(CAST(:pairs AS jsonb)) AS t(p) "
    "ON a.channel_code = t.p->>0 AND a.sku = t.p->>1 ORDER BY a.channel_code, a.sku FOR UPDATE OF a")
_WRITE_PUBLISHED_PG = sa.text(
    "UPDATE channel_availability a SET available = (t.p->>2)::integer, updated_at = :now "
    "FROM jsonb_array_elements(CAST(:figures AS jsonb)) AS t(p) "
    "WHERE a.channel_code = t.p->>0 AND a.sku = t.p->>1")


def _touch_and_lock_published(conn: Connection, now: Any, pairs: Sequence[tuple[str, str]]
                              ) -> dict[tuple[str, str], int]:
    """Make sure every pair has a published row, then lock them: concurrent projectors for one pair take turns.
    Returns the figure last published per pair (-1: never)."""
    if conn.dialect.name == "postgresql":
        document = json.dumps([[c, s] for c, s in pairs])
        conn.execute(_TOUCH_PUBLISHED_PG, {"pairs": document, "now": now})
        return {(r.channel_code, r.sku): r.available
                for r in conn.execute(_LOCK_PUBLISHED_PG, {"pairs": document})}
    ca = channel_availability.c
    insert = dialect_insert(conn)
    conn.execute(insert(channel_availability).on_conflict_do_nothing(),
                 [{"channel_code": c, "sku": s, "available": -1, "updated_at": now} for c, s in pairs])
    published: dict[tuple[str, str], int] = {}
    for chunk in _chunks(list(pairs), 400):
        rows = conn.execute(sa.select(ca.channel_code, ca.sku, ca.available).where(
            sa.tuple_(ca.channel_code, ca.sku).in_(chunk)))
        published.update({(r.channel_code, r.sku): r.available for r in rows})
    return published


def _write_published(conn: Connection, now: Any, moved: Sequence[tuple[str, str, int]]) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(_WRITE_PUBLISHED_PG, {"figures": json.dumps([[c, s, n] for c, s, n in moved]), "now": now})
        return
    conn.execute(_PUBLISH_AVAILABILITY, [{"b_channel": c, "b_sku": s, "b_available": n, "b_now": now}
                                         for c, s, n in moved])


_PUBLISH_AVAILABILITY = channel_availability.update().where(
    channel_availability.c.channel_code == sa.bindparam("b_channel"),
    channel_availability.c.sku == sa.bindparam("b_sku"),
).values(available=sa.bindparam("b_available"), updated_at=sa.bindparam("b_now"))


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
