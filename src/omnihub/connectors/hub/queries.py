"""The connector hub's read side: connections with their health, dead letters, the push queue."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.connectors.hub import errors, rules
from omnihub.connectors.hub.models import connector_connections, connector_dead_letters, connector_pushes
from omnihub.core.clock import Clock, as_utc
from omnihub.core.pagination import newest_first, page

CC = connector_connections.c
DL = connector_dead_letters.c
CP = connector_pushes.c


def _utc(value: Any) -> Any:
    return as_utc(value) if value is not None else None


def connections(conn: Connection, clock: Clock) -> list[dict[str, Any]]:
    """Every connection with its health: last success and error, push lag, failed pushes, open dead letters."""
    pending = {(r.kind, r.channel): r.oldest for r in conn.execute(
        sa.select(CP.kind, CP.channel, sa.func.min(CP.changed_at).label("oldest"))
        .where(CP.status == "pending").group_by(CP.kind, CP.channel))}
    failed = {(r.kind, r.channel): r.n for r in conn.execute(
        sa.select(CP.kind, CP.channel, sa.func.count().label("n")).where(CP.status.in_(("failed", "unmapped")))
        .group_by(CP.kind, CP.channel))}
    letters = {(r.kind, r.channel): r.n for r in conn.execute(
        sa.select(DL.kind, DL.channel, sa.func.count().label("n")).where(DL.status == "open")
        .group_by(DL.kind, DL.channel))}
    now = clock.now()
    out = []
    for row in conn.execute(sa.select(connector_connections).order_by(CC.kind, CC.channel)):
        key = (row.kind, row.channel)
        values = {**row._mapping, "last_success_at": _utc(row.last_success_at),
                  "last_error_at": _utc(row.last_error_at)}
        oldest = pending.get(key)
        out.append({"kind": row.kind, "channel": row.channel,
                    "health": rules.health(values, _utc(oldest), failed.get(key, 0), letters.get(key, 0), now)})
    return out


def _letter_out(row: Any, *, payload: bool) -> dict[str, Any]:
    out = {"id": row.id, "connector": row.kind, "channel": row.channel, "topic": row.topic,
           "delivery_id": row.delivery_id, "external_id": row.external_id, "code": row.code, "reason": row.reason,
           "status": row.status, "attempts": row.attempts, "result": row.result,
           "created_at": as_utc(row.created_at), "replayed_at": _utc(row.replayed_at)}
    if payload:
        out["payload"] = row.payload
    return out


def dead_letters(conn: Connection, *, connector: str | None, channel: str | None, status: str | None, limit: int,
                 cursor: str | None) -> dict[str, Any]:
    query = newest_first(sa.select(connector_dead_letters), DL.id, limit=limit, cursor=cursor)
    if connector:
        query = query.where(DL.kind == connector)
    if channel:
        query = query.where(DL.channel == channel)
    if status:
        query = query.where(DL.status == status)
    return page([_letter_out(r, payload=False) for r in conn.execute(query)], limit, key=lambda d: d["id"])


def dead_letter(conn: Connection, letter_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(connector_dead_letters).where(DL.id == letter_id)).first()
    if row is None:
        raise errors.dead_letter_not_found(letter_id)
    return _letter_out(row, payload=True)


def pushes(conn: Connection, kind: str, channel: str) -> list[dict[str, Any]]:
    """The push queue of one connection, SKU by SKU (what was last sent, what is pending or failed)."""
    return [{"sku": r.sku, "status": r.status, "attempts": r.attempts, "last_error": r.last_error,
             "pushed": r.pushed, "due_at": as_utc(r.due_at), "pushed_at": _utc(r.pushed_at)}
            for r in conn.execute(sa.select(connector_pushes).where(CP.kind == kind, CP.channel == channel)
                                  .order_by(CP.sku))]
