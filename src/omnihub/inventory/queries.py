"""Read side of inventory: locations, levels, availability, ledger, reservations, drift."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.core import reference
from omnihub.core.clock import as_utc
from omnihub.core.db import PerEngine
from omnihub.core.pagination import decode_cursor, newest_first, page, within
from omnihub.inventory import errors, rules
from omnihub.inventory.models import (
    locations,
    reservation_lines,
    reservations,
    stock_ledger,
    stock_levels,
    stock_quotas,
)
from omnihub.inventory.rules import Level

SL = stock_levels.c


def _location(row: Any) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "kind": row.kind, "lat": row.lat, "lon": row.lon,
            "pickup": row.pickup, "created_at": row.created_at}


_ALL_LOCATIONS = sa.select(locations)


def _all_locations(conn: Connection) -> dict[str, dict[str, Any]]:
    return {r.code: _location(r) for r in conn.execute(_ALL_LOCATIONS)}


def _known_locations(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every location, from memory while reference data is unchanged (`omnihub.core.reference`): sourcing reads
    every candidate of every order."""
    return reference.cached(conn, "inventory.locations", _all_locations)


def get_location(conn: Connection, code: str, *, field: str | None = None) -> dict[str, Any]:
    location = _known_locations(conn).get(code)
    if location is None:
        raise errors.location_not_found(code, field=field)
    return dict(location)


def list_locations(conn: Connection, *, limit: int, cursor: str | None, kind: str | None = None) -> dict[str, Any]:
    query = sa.select(locations).order_by(locations.c.code).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(locations.c.code > str(after))
    if kind:
        query = query.where(locations.c.kind == kind)
    return page([_location(r) for r in conn.execute(query)], limit, key=lambda loc: loc["code"])


def existing_location_codes(conn: Connection, codes: Iterable[str]) -> set[str]:
    wanted = list(set(codes))
    if not wanted:
        return set()
    return set(conn.execute(sa.select(locations.c.code).where(locations.c.code.in_(wanted))).scalars())


def _quotas_by_level(
    conn: Connection, sku: str, location_codes: Sequence[str] | None = None
) -> dict[str, dict[str, int]]:
    q = stock_quotas.c
    query = sa.select(q.location_code, q.channel_code, q.units).where(q.sku == sku)
    if location_codes is not None:
        query = query.where(q.location_code.in_(list(location_codes)))
    result: dict[str, dict[str, int]] = {}
    for loc, channel, units in conn.execute(query):
        result.setdefault(loc, {})[channel] = units
    return result


def _level_out(row: Any, quotas: dict[str, int]) -> dict[str, Any]:
    level = Level(row.location_code, row.on_hand, row.reserved, row.safety_stock, row.ring_fenced)
    return {"location": row.location_code, "sku": row.sku, "on_hand": row.on_hand, "reserved": row.reserved,
            "safety_stock": row.safety_stock, "available": level.free, "ring_fenced": row.ring_fenced,
            "quarantined": row.quarantined,
            "quotas": quotas, "updated_at": row.updated_at}


_LEVEL = sa.select(stock_levels).where(SL.location_code == sa.bindparam("b_loc"), SL.sku == sa.bindparam("b_sku"))
_LEVEL_QUOTAS = sa.select(stock_quotas.c.channel_code, stock_quotas.c.units).where(
    stock_quotas.c.location_code == sa.bindparam("b_loc"), stock_quotas.c.sku == sa.bindparam("b_sku"))


def level(conn: Connection, location: str, sku: str) -> dict[str, Any]:
    """One level with its quotas (statements built once: this answers every `PUT /stock`)."""
    key = {"b_loc": location, "b_sku": sku}
    row = conn.execute(_LEVEL, key).first()
    if row is None:
        raise errors.no_stock_level(location, sku)
    return _level_out(row, {channel: units for channel, units in conn.execute(_LEVEL_QUOTAS, key)})


def stock_for_sku(conn: Connection, sku: str) -> dict[str, Any]:
    """`GET /stock/{sku}`: every location's level with totals."""
    catalog.get_product(conn, sku)
    rows = conn.execute(sa.select(stock_levels).where(SL.sku == sku).order_by(SL.location_code)).all()
    quotas = _quotas_by_level(conn, sku)
    levels = [_level_out(r, quotas.get(r.location_code, {})) for r in rows]
    return {"sku": sku, "on_hand": sum(x["on_hand"] for x in levels),
            "reserved": sum(x["reserved"] for x in levels), "available": sum(x["available"] for x in levels),
            "locations": levels}


def _snapshot_statement(in_: Any, *, many: bool) -> sa.Select:
    """Levels with the asking channel's own ring-fenced units; built once for one SKU and for many."""
    return (
        sa.select(SL.sku, SL.location_code, SL.on_hand, SL.reserved, SL.safety_stock, SL.ring_fenced,
                  stock_quotas.c.units)
        .select_from(stock_levels.outerjoin(stock_quotas, sa.and_(
            stock_quotas.c.location_code == SL.location_code, stock_quotas.c.sku == SL.sku,
            stock_quotas.c.channel_code == sa.bindparam("channel"))))
        .where(in_(SL.sku, "skus") if many else SL.sku == sa.bindparam("sku"), in_(SL.location_code, "locations"))
    )


_SNAPSHOT = PerEngine(lambda in_: _snapshot_statement(in_, many=False))
_SNAPSHOT_MANY = PerEngine(lambda in_: _snapshot_statement(in_, many=True))


def _collect(rows: Any, levels: dict[str, dict[str, Level]], quotas: dict[str, dict[str, int]]) -> None:
    for sku, loc, on_hand, reserved, safety, ring_fenced, units in rows:
        levels.setdefault(sku, {})[loc] = Level(loc, on_hand, reserved, safety, ring_fenced)
        if units:
            quotas.setdefault(sku, {})[loc] = units


def snapshot(conn: Connection, sku: str, location_codes: Sequence[str], channel: str
             ) -> tuple[dict[str, Level], dict[str, int]]:
    """Levels of one SKU at some locations, with the channel's own ring-fenced units, in one query."""
    levels: dict[str, dict[str, Level]] = {}
    quotas: dict[str, dict[str, int]] = {}
    if location_codes:
        _collect(conn.execute(_SNAPSHOT(conn), {"channel": channel, "sku": sku, "locations": list(location_codes)}),
                 levels, quotas)
    return levels.get(sku, {}), quotas.get(sku, {})


def snapshot_many(conn: Connection, skus: Sequence[str], location_codes: Sequence[str], channel: str
                  ) -> tuple[dict[str, dict[str, Level]], dict[str, dict[str, int]]]:
    """`snapshot` for several SKUs, one query per 500: levels and the channel's own ring-fenced units, by SKU."""
    levels: dict[str, dict[str, Level]] = {}
    quotas: dict[str, dict[str, int]] = {}
    if location_codes:
        for start in range(0, len(skus), 500):
            _collect(conn.execute(_SNAPSHOT_MANY(conn), {"channel": channel, "skus": list(skus[start : start + 500]),
                                                   "locations": list(location_codes)}), levels, quotas)
    return levels, quotas


# Levels with every asking channel's own ring-fenced units (a row per quota, or one with none).
_SNAPSHOT_CHANNELS = PerEngine(lambda in_: (
    sa.select(SL.sku, SL.location_code, SL.on_hand, SL.reserved, SL.safety_stock, SL.ring_fenced,
              stock_quotas.c.channel_code, stock_quotas.c.units)
    .select_from(stock_levels.outerjoin(stock_quotas, sa.and_(
        stock_quotas.c.location_code == SL.location_code, stock_quotas.c.sku == SL.sku,
        in_(stock_quotas.c.channel_code, "channels"))))
    .where(in_(SL.sku, "skus"), in_(SL.location_code, "locations"))
))


def availability_views(conn: Connection, channels: Sequence[dict[str, Any]], pairs: Sequence[tuple[str, str]]
                       ) -> dict[tuple[str, str], dict[str, Any]]:
    """Availability of many (channel, SKU) pairs — the projector's batch — from one read per 500 SKUs,
    whichever channels they belong to. `channels` are the channels named in `pairs`, as catalog reads them."""
    by_code = {c["code"]: c for c in channels}
    skus = sorted({sku for _, sku in pairs})
    locations = sorted({loc for c in channels for loc in c["locations"]})
    levels: dict[str, dict[str, Level]] = {}
    quotas: dict[tuple[str, str], dict[str, int]] = {}  # (channel, sku) -> location -> units
    if locations:
        for start in range(0, len(skus), 500):
            rows = conn.execute(_SNAPSHOT_CHANNELS(conn), {"skus": skus[start : start + 500], "locations": locations,
                                                     "channels": sorted(by_code)})
            for sku, loc, on_hand, reserved, safety, ring_fenced, channel, units in rows:
                levels.setdefault(sku, {})[loc] = Level(loc, on_hand, reserved, safety, ring_fenced)
                if units:
                    quotas.setdefault((channel, sku), {})[loc] = units
    with_price = catalog.priced(conn, by_code, skus) if pairs else set()
    return {(code, sku): _view(by_code[code], sku, levels.get(sku, {}), quotas.get((code, sku), {}),
                               priced=(code, sku) in with_price)
            for code, sku in pairs}


PRICE_MISSING = "price_missing"


def _view(channel: dict[str, Any], sku: str, levels: dict[str, Level], quotas: dict[str, int], *, priced: bool
          ) -> dict[str, Any]:
    """Where the product has no price in the channel it cannot be sold there: nothing is available, and the
    answer says why (`reason`, the code an order there would be refused with)."""
    view = rules.channel_availability(levels, quotas, channel["locations"], channel["stock_buffer"])
    if not priced:
        return {"sku": sku, "channel": channel["code"], "available": 0, "reason": PRICE_MISSING,
                "locations": [{"code": code, "available": 0} for code in channel["locations"]]}
    return {"sku": sku, "channel": channel["code"], "available": view.available, "reason": None,
            "locations": [{"code": code, "available": view.locations[code]} for code in channel["locations"]]}


def availability_view(conn: Connection, channel: dict[str, Any], sku: str) -> dict[str, Any]:
    levels, quotas = snapshot(conn, sku, channel["locations"], channel["code"])
    return _view(channel, sku, levels, quotas, priced=bool(catalog.priced(conn, [channel["code"]], [sku])))


def availability(conn: Connection, sku: str, channel_code: str) -> dict[str, Any]:
    """`GET /availability/{sku}?channel=`: live, from the levels themselves."""
    channel = catalog.get_channel(conn, channel_code, field="channel")
    if not catalog.existing_skus(conn, [sku]):
        catalog.get_product(conn, sku)
    return availability_view(conn, channel, sku)


def skus_at(conn: Connection, location_codes: Sequence[str]) -> list[str]:
    if not location_codes:
        return []
    return list(conn.execute(sa.select(SL.sku).where(SL.location_code.in_(list(location_codes)))
                             .distinct().order_by(SL.sku)).scalars())


def ledger_page(conn: Connection, location: str, sku: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
    g = stock_ledger.c
    query = (sa.select(stock_ledger).where(g.location_code == location, g.sku == sku)
             .order_by(g.id.desc()).limit(limit + 1))
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(g.id < int(before))
    items = [{"id": r.id, "kind": r.kind, "on_hand_delta": r.on_hand_delta, "reserved_delta": r.reserved_delta,
              "quarantined_delta": r.quarantined_delta,
              "on_hand_after": r.on_hand_after, "reserved_after": r.reserved_after, "reference": r.reference,
              "actor": r.actor, "reason": r.reason, "at": r.at} for r in conn.execute(query)]
    return page(items, limit, key=lambda e: e["id"])


def get_reservation(conn: Connection, reservation_id: str, *, channel: str | None = None) -> dict[str, Any]:
    """A channel only ever sees its own reservations (others look like they do not exist)."""
    r = reservations.c
    row = conn.execute(sa.select(reservations).where(r.id == reservation_id)).first()
    if row is None or (channel is not None and row.channel_code != channel):
        raise errors.reservation_not_found(reservation_id)
    rl = reservation_lines.c
    lines = conn.execute(sa.select(rl.sku, rl.location_code, rl.quantity).where(rl.reservation_id == reservation_id)
                         .order_by(rl.sku, rl.location_code)).all()
    return {"id": row.id, "channel": row.channel_code, "status": row.status, "reference": row.reference,
            "created_at": as_utc(row.created_at), "expires_at": as_utc(row.expires_at),
            "closed_at": as_utc(row.closed_at) if row.closed_at else None,
            "lines": [{"sku": s, "location": loc, "quantity": q} for s, loc, q in lines]}


def inventory_drift(conn: Connection) -> list[dict[str, Any]]:
    """Every level whose figures disagree with its ledger, live reservations or quotas, with the rows involved."""
    g, rl, r, q = stock_ledger.c, reservation_lines.c, reservations.c, stock_quotas.c
    ledger = (sa.select(g.location_code, g.sku, sa.func.sum(g.on_hand_delta).label("on_hand"),
                        sa.func.sum(g.reserved_delta).label("reserved"),
                        sa.func.sum(g.quarantined_delta).label("quarantined"))
              .group_by(g.location_code, g.sku).subquery())
    live = (sa.select(rl.location_code, rl.sku, sa.func.sum(rl.quantity - rl.fulfilled).label("reserved"))
            .select_from(reservation_lines.join(reservations, r.id == rl.reservation_id))
            .where(r.status == "active").group_by(rl.location_code, rl.sku).subquery())
    fenced = (sa.select(q.location_code, q.sku, sa.func.sum(q.units).label("units"))
              .group_by(q.location_code, q.sku).subquery())

    def joined(sub: Any) -> Any:
        return sa.and_(sub.c.location_code == SL.location_code, sub.c.sku == SL.sku)

    rows = conn.execute(
        sa.select(SL.location_code, SL.sku, SL.on_hand, SL.reserved, SL.safety_stock, SL.ring_fenced,
                  SL.quarantined, sa.func.coalesce(ledger.c.quarantined, 0),
                  sa.func.coalesce(ledger.c.on_hand, 0), sa.func.coalesce(ledger.c.reserved, 0),
                  sa.func.coalesce(live.c.reserved, 0), sa.func.coalesce(fenced.c.units, 0))
        .select_from(stock_levels.outerjoin(ledger, joined(ledger)).outerjoin(live, joined(live))
                     .outerjoin(fenced, joined(fenced)))
        .order_by(SL.location_code, SL.sku)
    )
    report = []
    for (loc, sku, on_hand, reserved, safety, ring, quarantined, led_quarantined, led_on_hand, led_reserved,
         live_reserved, quota_units) in rows:
        level = Level(loc, on_hand, reserved, safety, ring)
        if int(led_quarantined) != quarantined:
            report.append({"location": loc, "sku": sku, "check": "ledger_quarantined",
                           "expected": int(led_quarantined), "actual": quarantined,
                           "rows": _rows_involved(conn, loc, sku, "ledger_quarantined")})
        for drift in rules.find_drift(level, sku, int(led_on_hand), int(led_reserved), int(live_reserved),
                                      int(quota_units)):
            report.append({"location": loc, "sku": sku, "check": drift.check, "expected": drift.expected,
                           "actual": drift.actual, "rows": _rows_involved(conn, loc, sku, drift.check)})
    return report


def _rows_involved(conn: Connection, location: str, sku: str, check: str) -> list[str]:
    if check.startswith("ledger"):
        g = stock_ledger.c
        ids = conn.execute(sa.select(g.id).where(g.location_code == location, g.sku == sku)
                           .order_by(g.id.desc()).limit(20)).scalars()
        return [f"ledger:{i}" for i in ids]
    if check == "live_reservations":
        rl, r = reservation_lines.c, reservations.c
        ids = conn.execute(sa.select(rl.reservation_id).select_from(
            reservation_lines.join(reservations, r.id == rl.reservation_id))
            .where(rl.location_code == location, rl.sku == sku, r.status == "active")).scalars()
        return [f"reservation:{i}" for i in ids]
    q = stock_quotas.c
    return [f"quota:{location}/{sku}/{c}" for c in conn.execute(
        sa.select(q.channel_code).where(q.location_code == location, q.sku == sku)).scalars()]


def locations_by_code(conn: Connection, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Several locations in one query (routing reads every candidate)."""
    known = _known_locations(conn)
    return {code: dict(known[code]) for code in codes if code in known}


def levels_page(conn: Connection, *, location: str | None, sku_prefix: str | None, low_only: bool, limit: int,
                cursor: str | None) -> dict[str, Any]:
    """Stock levels by (location, SKU) for the console: `low` when what is free to sell (after the safety stock)
    is no more than the safety stock itself — nothing left at all when there is none —, `negative_drift` when
    reservations exceed what is on hand."""
    query = sa.select(stock_levels).order_by(SL.location_code, SL.sku).limit(limit + 1)
    if location:
        query = query.where(SL.location_code == location)
    if sku_prefix:
        query = query.where(SL.sku.startswith(sku_prefix, autoescape=True))
    free = SL.on_hand - SL.reserved - SL.safety_stock - SL.ring_fenced
    if low_only:
        query = query.where(free <= SL.safety_stock)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(sa.tuple_(SL.location_code, SL.sku) > sa.tuple_(str(after[0]), str(after[1])))
    items = []
    for row in conn.execute(query):
        item = _level_out(row, {})
        item["low"] = item["available"] <= row.safety_stock
        item["negative_drift"] = row.reserved > row.on_hand
        items.append(item)
    return page(items, limit, key=lambda x: [x["location"], x["sku"]])


def list_reservations(conn: Connection, *, limit: int, cursor: str | None, channel: str | None = None,
                      status: str | None = None, sku: str | None = None, location: str | None = None,
                      reference: str | None = None, created_from: datetime | None = None,
                      created_to: datetime | None = None) -> dict[str, Any]:
    """Reservations newest first (an order's hold is one too: its `reference` is the order id)."""
    r, rl = reservations.c, reservation_lines.c
    conditions = within(r.created_at, created_from, created_to)
    if channel is not None:
        conditions.append(r.channel_code == channel)
    if status is not None:
        conditions.append(r.status == status)
    if reference is not None:
        conditions.append(r.reference == reference)
    if sku is not None or location is not None:
        line = [rl.reservation_id == r.id]
        line += [rl.sku == sku] if sku is not None else []
        line += [rl.location_code == location] if location is not None else []
        conditions.append(sa.exists().where(*line))
    rows = list(conn.execute(newest_first(sa.select(reservations).where(*conditions), r.id, limit=limit,
                                          cursor=cursor)))
    lines: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if rows:
        for rid, s, loc, q in conn.execute(sa.select(rl.reservation_id, rl.sku, rl.location_code, rl.quantity)
                                           .where(rl.reservation_id.in_(list(lines)))
                                           .order_by(rl.reservation_id, rl.sku, rl.location_code)):
            lines[rid].append({"sku": s, "location": loc, "quantity": q})
    items = [{"id": row.id, "channel": row.channel_code, "status": row.status, "reference": row.reference,
              "created_at": as_utc(row.created_at), "expires_at": as_utc(row.expires_at),
              "closed_at": as_utc(row.closed_at) if row.closed_at else None, "lines": lines[row.id]}
             for row in rows]
    return page(items, limit, key=lambda i: i["id"])
