"""Inventory routes: thin — parse, check scope, call the service or a query, return."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.engine import Connection

from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.core.security import Role
from omnihub.deps import (
    Context,
    Since,
    Until,
    context,
    in_worker_thread,
    recently_sold_out,
    remembering_sold_out,
    requires,
)
from omnihub.inventory import queries, reservations, stock
from omnihub.inventory.schemas import (
    AvailabilityOut,
    DriftOut,
    LedgerEntryOut,
    LevelOut,
    LocationCreate,
    LocationOut,
    MovementBatch,
    QuotaSet,
    ReservationCreate,
    ReservationOut,
    StockOut,
    StockSet,
)

router = APIRouter(tags=["inventory"])
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.post("/locations", status_code=201, response_model=LocationOut)
def create_location(body: LocationCreate, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return stock.create_location(conn, ctx.clock, body.model_dump())


@router.get("/locations", response_model=Page[LocationOut])
def list_locations(limit: int = Limit, cursor: str | None = None, kind: str | None = None,
                   ctx: Context = Depends(context)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_locations(conn, limit=limit, cursor=cursor, kind=kind)


@router.get("/locations/{code}", response_model=LocationOut)
def get_location(code: str, ctx: Context = Depends(context)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_location(conn, code)


@router.put("/stock/{location}/{sku}", response_model=LevelOut)
def set_stock(location: str, sku: str, body: StockSet, ctx: Context = Depends(requires(Role.ASSOCIATE))
              ) -> dict[str, Any]:
    ctx.principal.ensure_location(location)
    return ctx.db.run(lambda conn: stock.set_stock(
        conn, ctx.clock, location=location, sku=sku, on_hand=body.on_hand, safety_stock=body.safety_stock,
        reason=body.reason, actor=ctx.principal.key_id))


@router.get("/stock/{sku}", response_model=StockOut)
def stock_for_sku(sku: str, ctx: Context = Depends(context)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.stock_for_sku(conn, sku)


@router.get("/stock/{location}/{sku}", response_model=LevelOut)
def stock_level(location: str, sku: str, ctx: Context = Depends(context)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.level(conn, location, sku)


@router.get("/stock/{location}/{sku}/ledger", response_model=Page[LedgerEntryOut])
def stock_ledger(location: str, sku: str, limit: int = Limit, cursor: str | None = None,
                 ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    ctx.principal.ensure_location(location)
    with ctx.db.read() as conn:
        return queries.ledger_page(conn, location, sku, limit=limit, cursor=cursor)


@router.post("/stock/movements", status_code=201, response_model=MovementBatch)
def record_movements(body: MovementBatch, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    """Receipts, adjustments and transfers, applied all-or-nothing."""
    for index, movement in enumerate(body.movements):
        if movement.kind == "transfer":
            ctx.principal.ensure_location(movement.from_location, field=f"movements.{index}.from_location")
        else:
            ctx.principal.ensure_location(movement.location, field=f"movements.{index}.location")
    movements = [m.model_dump() for m in body.movements]
    done = ctx.db.run(lambda conn: stock.record_movements(conn, ctx.clock, movements, ctx.principal.key_id))
    return {"movements": done}


@router.put("/stock/{location}/{sku}/quotas/{channel}", response_model=LevelOut)
def set_quota(location: str, sku: str, channel: str, body: QuotaSet, ctx: Context = Depends(requires())
              ) -> dict[str, Any]:
    return ctx.db.run(lambda conn: stock.set_quota(
        conn, ctx.clock, location=location, sku=sku, channel=channel, units=body.units, actor=ctx.principal.key_id))


@router.get("/availability/{sku}", response_model=AvailabilityOut)
def availability(sku: str, channel: str | None = None, ctx: Context = Depends(context)) -> dict[str, Any]:
    channel = channel or ctx.principal.channel
    if channel is None:
        from omnihub.core.errors import ValidationFailed

        raise ValidationFailed("channel_required", "Say which channel: ?channel=CODE.", field="channel")
    ctx.principal.ensure_channel(channel)
    with ctx.db.read() as conn:
        return queries.availability(conn, sku, channel)


def _channel_scope(ctx: Context) -> str | None:
    return ctx.principal.channel if ctx.principal.role is Role.CHANNEL else None


@router.post("/reservations", status_code=201, response_model=ReservationOut)
async def create_reservation(body: ReservationCreate, ctx: Context = Depends(requires(Role.CHANNEL))
                             ) -> dict[str, Any]:
    return await in_worker_thread(_create_reservation, body, ctx)


def _create_reservation(body: ReservationCreate, ctx: Context) -> dict[str, Any]:
    ctx.principal.ensure_channel(body.channel)
    lines = [(line.sku, line.quantity) for line in body.lines]

    def reserve(conn: Connection) -> dict[str, Any]:
        return reservations.reserve_stock(
            conn, ctx.clock, channel=body.channel, lines=lines, location=body.location,
            ttl_seconds=body.ttl_seconds, reference=body.reference, actor=ctx.principal.key_id)

    with remembering_sold_out(ctx, body.channel):
        done = reservations.reserve_at_once(
            ctx.db, ctx.clock, channel=body.channel, lines=lines, location=body.location,
            ttl_seconds=body.ttl_seconds, reference=body.reference, actor=ctx.principal.key_id)
        if done is not None:
            return done
        if recently_sold_out(ctx, body.channel, [sku for sku, _ in lines]):
            with ctx.db.single_statement(read_only=True) as conn:
                reservations.refuse_when_sold_out(conn, channel=body.channel, lines=lines, location=body.location)
        return ctx.db.run(reserve)


@router.get("/reservations", response_model=Page[ReservationOut])
def list_reservations(channel: str | None = None,
                      status: str | None = Query(None, pattern="^(active|released|expired|committed)$"),
                      sku: str | None = None, location: str | None = None,
                      reference: str | None = Query(None, max_length=64, description="e.g. the order id"),
                      created_from: datetime | None = Since, created_to: datetime | None = Until,
                      limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT), cursor: str | None = None,
                      ctx: Context = Depends(requires(Role.CHANNEL))) -> dict[str, Any]:
    """Reservations newest first; a channel key sees its own channel's only (asking for another is 403)."""
    if ctx.principal.role is Role.CHANNEL:
        ctx.principal.ensure_channel(channel or ctx.principal.channel or "")
        channel = ctx.principal.channel
    with ctx.db.read() as conn:
        return queries.list_reservations(conn, limit=limit, cursor=cursor, channel=channel, status=status, sku=sku,
                                         location=location, reference=reference, created_from=created_from,
                                         created_to=created_to)


@router.get("/reservations/{reservation_id}", response_model=ReservationOut)
def get_reservation(reservation_id: str, ctx: Context = Depends(requires(Role.CHANNEL))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_reservation(conn, reservation_id, channel=_channel_scope(ctx))


@router.delete("/reservations/{reservation_id}", response_model=ReservationOut)
def release_reservation(reservation_id: str, ctx: Context = Depends(requires(Role.CHANNEL))) -> dict[str, Any]:
    return ctx.db.run(lambda conn: reservations.release_reservation(
        conn, ctx.clock, reservation_id, channel=_channel_scope(ctx), actor=ctx.principal.key_id))


@router.post("/reservations/{reservation_id}/commit", response_model=ReservationOut)
def commit_reservation(reservation_id: str, ctx: Context = Depends(requires(Role.CHANNEL))) -> dict[str, Any]:
    """The channel's checkout completed: the held units are sold."""
    return ctx.db.run(lambda conn: reservations.commit_reservation(
        conn, ctx.clock, reservation_id, channel=_channel_scope(ctx), actor=ctx.principal.key_id))


@router.post("/inventory/check", response_model=list[DriftOut])
def check_inventory(response: Response, ctx: Context = Depends(requires())) -> list[dict[str, Any]]:
    """Reconcile every level against its ledger, live reservations and quotas; drift is reported, not fixed."""
    with ctx.db.transaction() as conn:
        return stock.check_inventory(conn, ctx.clock)
