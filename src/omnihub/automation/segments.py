"""Segments: conditions over a person's facts (lifetime value, orders in the last N days, channels, categories
bought, tags, store visits, consents, country…) compiled to one SQL query (segment_sql), their stored members and
counts. Membership is kept current two ways: the people an event touched are re-checked at once (segment_events),
and every segment is recomputed by a worker job for what time alone changes (days since the last order, decaying
tags). Who enters or leaves is announced (`segment.entered`, `segment.left`), which automations use as triggers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.automation import errors, rules, segment_rules
from omnihub.automation.models import automation_segment_members, automation_segments
from omnihub.automation.segment_sql import compile_segment
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import new_id
from omnihub.core.errors import NotFound
from omnihub.core.events import emit_many
from omnihub.core.pagination import decode_cursor, page

S, M = automation_segments.c, automation_segment_members.c
CHUNK = 500


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    """The segment normalised, or `invalid_automation` naming the bad field."""
    try:
        segment = rules.validate_segment(doc)
        segment_rules.check(segment["conditions"])
    except rules.RuleInvalid as exc:
        raise errors.invalid_rule(exc.field, exc.detail) from None
    return segment


def _counts(conn: Connection, ids: Sequence[str]) -> dict[str, int]:
    if not ids:
        return {}
    return dict(conn.execute(sa.select(M.segment_id, sa.func.count()).where(M.segment_id.in_(ids))
                             .group_by(M.segment_id)).all())


def _out(row: Any, members: int) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "conditions": row.conditions, "members": members,
            "computed_at": as_utc(row.computed_at) if row.computed_at else None, "created_at": as_utc(row.created_at)}


def _row(conn: Connection, segment_id: str) -> Any:
    row = conn.execute(sa.select(automation_segments).where(S.id == segment_id)).first()
    if row is None:
        raise NotFound("segment_not_found", f"No segment '{segment_id}'.", id=segment_id)
    return row


def get_segment(conn: Connection, segment_id: str) -> dict[str, Any]:
    row = _row(conn, segment_id)
    return _out(row, _counts(conn, [row.id]).get(row.id, 0))


def list_segments(conn: Connection) -> list[dict[str, Any]]:
    rows = list(conn.execute(sa.select(automation_segments).order_by(S.id)))
    counts = _counts(conn, [r.id for r in rows])
    return [_out(r, counts.get(r.id, 0)) for r in rows]


def create_segment(conn: Connection, clock: Clock, doc: dict[str, Any]) -> dict[str, Any]:
    segment = validate(doc)
    now = clock.now()
    segment_id = new_id("seg")
    conn.execute(automation_segments.insert(), dict(id=segment_id, created_at=now, updated_at=now, **segment))
    recompute(conn, clock, segment_id)
    return get_segment(conn, segment_id)


def delete_segment(conn: Connection, segment_id: str) -> None:
    _row(conn, segment_id)
    conn.execute(automation_segment_members.delete().where(M.segment_id == segment_id))
    conn.execute(automation_segments.delete().where(S.id == segment_id))


def preview(conn: Connection, clock: Clock, doc: dict[str, Any], *, sample: int = 10) -> dict[str, Any]:
    """The live count of a rule being written (nothing stored): how many match now and the first few."""
    segment = validate(doc)
    matching = compile_segment(segment["conditions"], clock.now()).subquery()
    count = conn.execute(sa.select(sa.func.count()).select_from(matching)).scalar() or 0
    first = list(conn.execute(sa.select(matching.c.id).order_by(matching.c.id).limit(sample)).scalars())
    return {"count": count, "sample": first}


def members(conn: Connection, segment_id: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
    _row(conn, segment_id)
    query = (sa.select(M.customer_id, M.since).where(M.segment_id == segment_id).order_by(M.customer_id)
             .limit(limit + 1))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(M.customer_id > str(after))
    items = [{"customer_id": r.customer_id, "since": as_utc(r.since)} for r in conn.execute(query)]
    return page(items, limit, key=lambda x: x["customer_id"])


def _apply(conn: Connection, clock: Clock, row: Any, entered: Sequence[str], left: Sequence[str], now: datetime
           ) -> int:
    for start in range(0, len(entered), CHUNK):
        conn.execute(automation_segment_members.insert(), [
            {"segment_id": row.id, "customer_id": c, "since": now} for c in entered[start:start + CHUNK]])
    for start in range(0, len(left), CHUNK):
        conn.execute(automation_segment_members.delete().where(
            M.segment_id == row.id, M.customer_id.in_(left[start:start + CHUNK])))
    about = {"segment_id": row.id, "segment": row.name}
    emit_many(conn, clock, [("segment.entered", {**about, "customer_id": c}) for c in entered]
              + [("segment.left", {**about, "customer_id": c}) for c in left])
    return len(entered) + len(left)


def recompute(conn: Connection, clock: Clock, segment_id: str) -> int:
    """Everyone, in SQL: who matches now and is not a member entered; who is a member and does not match left.
    Returns the number of changes (each announced)."""
    row = conn.execute(sa.select(automation_segments).where(S.id == segment_id)).first()
    if row is None:
        return 0
    now = clock.now()
    matching = compile_segment(row.conditions, now).subquery("matching")
    # anti-joins (not NOT IN): PostgreSQL hashes both sides whatever their size
    entered = list(conn.execute(
        sa.select(matching.c.id).select_from(matching.outerjoin(automation_segment_members, sa.and_(
            M.segment_id == segment_id, M.customer_id == matching.c.id)))
        .where(M.customer_id.is_(None)).order_by(matching.c.id)).scalars())
    left = list(conn.execute(
        sa.select(M.customer_id).select_from(automation_segment_members.outerjoin(
            matching, matching.c.id == M.customer_id))
        .where(M.segment_id == segment_id, matching.c.id.is_(None)).order_by(M.customer_id)).scalars())
    changes = _apply(conn, clock, row, entered, left, now)
    conn.execute(automation_segments.update().where(S.id == segment_id).values(computed_at=now))
    return changes


def recompute_all(conn: Connection, clock: Clock) -> int:
    """Worker job: what time alone changes (days since, decaying interest tags) is caught here."""
    return sum(recompute(conn, clock, segment_id)
               for segment_id in conn.execute(sa.select(S.id).order_by(S.id)).scalars())


def refresh_customers(conn: Connection, clock: Clock, customer_ids: Iterable[str]) -> int:
    """The people an event touched, re-checked in every segment now (the same compiled query, restricted to
    them): a customer crossing a threshold enters once, at the event, not at the next scheduled pass."""
    ids = sorted({c for c in customer_ids if c})
    if not ids:
        return 0
    now = clock.now()
    changes = 0
    for row in conn.execute(sa.select(automation_segments).order_by(S.id)).all():
        matching = set(conn.execute(compile_segment(row.conditions, now, only=ids)).scalars())
        before = set(conn.execute(sa.select(M.customer_id).where(M.segment_id == row.id,
                                                                 M.customer_id.in_(ids))).scalars())
        entered, left = rules.membership_changes(before, matching)
        if entered or left:
            changes += _apply(conn, clock, row, entered, left, now)
    return changes


def remove_people(conn: Connection, customer_ids: Sequence[str]) -> None:
    """An erased person leaves every segment silently (nothing is announced about someone erased)."""
    conn.execute(automation_segment_members.delete().where(M.customer_id.in_(list(customer_ids))))
