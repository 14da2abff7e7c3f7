"""The one way stock moves: a conditional UPDATE of the level row that cannot leave it inconsistent, and the
ledger rows and `stock.changed` events a use case gathers and writes in bulk at its end. Every inventory
use case writes stock through here, in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.core.clock import Clock
from omnihub.core.db import dialect_insert
from omnihub.core.events import emit_many
from omnihub.inventory import errors, queries, rules
from omnihub.inventory.models import stock_ledger, stock_levels
from omnihub.inventory.rules import Level

SL = stock_levels.c
RETURNED = (SL.on_hand, SL.reserved, SL.safety_stock, SL.ring_fenced)
LEDGER_INSERT = stock_ledger.insert()


def for_update(conn: Connection, query: sa.Select) -> sa.Select:
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
            **stock_changed_data(location, sku, kind, on_hand_delta, reserved_delta, reference),
            "on_hand": on_hand, "reserved": reserved, "safety_stock": safety_stock,
            "available": rules.free_units(on_hand, reserved, safety_stock),
        }))

    def flush(self, conn: Connection) -> None:
        if self.ledger:
            conn.execute(LEDGER_INSERT, self.ledger[0] if len(self.ledger) == 1 else self.ledger)
        emit_many(conn, self.clock, self.events)
        self.ledger.clear()
        self.events.clear()


def stock_changed_data(location: str, sku: str, kind: str, on_hand_delta: int, reserved_delta: int,
                       reference: str | None) -> dict[str, Any]:
    """What a `stock.changed` event says besides the level's new figures."""
    return {"location": location, "sku": sku, "kind": kind, "on_hand_delta": on_hand_delta,
            "reserved_delta": reserved_delta, "reference": reference}


# --- locations ---------------------------------------------------------------------------------------


_LEVEL_EXISTS = sa.select(SL.on_hand).where(SL.location_code == sa.bindparam("b_loc"), SL.sku == sa.bindparam("b_sku"))


def ensure_level(conn: Connection, clock: Clock, location: str, sku: str) -> None:
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


def locked_level_if_any(conn: Connection, location: str, sku: str) -> Level | None:
    statement = _LOCKED_LEVEL_ROW if conn.dialect.name == "postgresql" else _LEVEL_ROW
    row = conn.execute(statement, {"b_loc": location, "b_sku": sku}).first()
    return None if row is None else Level(location, row.on_hand, row.reserved, row.safety_stock, row.ring_fenced)


def locked_level(conn: Connection, location: str, sku: str) -> Level:
    level = locked_level_if_any(conn, location, sku)
    if level is None:
        raise errors.no_stock_level(location, sku)
    return level


def locked_levels(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Level]:
    """Several levels read and locked in one statement, locked in (location, SKU) order — the order every batch
    takes them in, so two batches touching the same levels queue instead of deadlocking. Absent ones are left
    out."""
    if not keys:
        return {}
    query = (sa.select(SL.location_code, SL.sku, SL.on_hand, SL.reserved, SL.safety_stock, SL.ring_fenced)
             .where(sa.tuple_(SL.location_code, SL.sku).in_(sorted(set(keys))))
             .order_by(SL.location_code, SL.sku))
    return {(r.location_code, r.sku): Level(r.location_code, r.on_hand, r.reserved, r.safety_stock, r.ring_fenced)
            for r in conn.execute(for_update(conn, query))}


_MOVE_ON_HAND = (stock_levels.update()
                 .where(SL.location_code == sa.bindparam("b_loc"), SL.sku == sa.bindparam("b_sku"),
                        SL.on_hand + sa.bindparam("dh") >= SL.reserved)
                 .values(on_hand=SL.on_hand + sa.bindparam("dh"), updated_at=sa.bindparam("b_now")))


def move_on_hand_locked(conn: Connection, clock: Clock, moves: list[tuple[str, str, int]]) -> None:
    """Move on hand at levels the caller holds locked (`locked_levels`), all in one statement; their new figures
    are the locked ones plus the deltas, so nothing is read back. The guard stays: a move that would leave fewer
    units than reserved fails the whole batch."""
    if not moves:
        return
    now = clock.now()
    params = [{"b_loc": location, "b_sku": sku, "dh": delta, "b_now": now} for location, sku, delta in moves]
    moved = conn.execute(_MOVE_ON_HAND, params).rowcount
    if moved != len(moves):
        raise errors.no_stock_level(*moves[0][:2])


def _change_statement(guarded: bool) -> Any:
    """The one UPDATE every stock movement uses, built once (with or without the availability guard)."""
    b = sa.bindparam
    guards = [SL.location_code == b("b_loc"), SL.sku == b("b_sku"),
              SL.on_hand + b("dh") >= SL.reserved + b("dr"), SL.reserved + b("dr") >= 0,
              SL.ring_fenced + b("drf") >= 0]
    if guarded:  # a claim: only units nobody else holds, ring-fenced ones included unless they are ours
        guards.append(sa.literal_column(rules.CLAIMABLE_SQL) + b("own") >= b("qty"))
    return (stock_levels.update().where(*guards)
            .values(on_hand=SL.on_hand + b("dh"), reserved=SL.reserved + b("dr"),
                    ring_fenced=SL.ring_fenced + b("drf"), updated_at=b("b_now"))
            .returning(*RETURNED))


_CHANGE = _change_statement(guarded=False)
_CLAIM = _change_statement(guarded=True)


def change_level(conn: Connection, clock: Clock, location: str, sku: str, *, on_hand: int = 0, reserved: int = 0,
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

