"""Segments: rules over the 360 facts (lifetime value, orders, channels used, tags, consents, country, days since
the last order or abandoned cart), their members and counts. Membership is recomputed by a worker job and on every
change of the rule; who enters or leaves is announced (`segment.entered`, `segment.left`), which automations can
use as triggers. The conditions are evaluated per profile over the same facts rules read (not compiled to SQL)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.automation import errors, facts, rules
from omnihub.automation.models import automation_segment_members, automation_segments
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import new_id
from omnihub.core.errors import NotFound
from omnihub.core.events import emit_many
from omnihub.core.pagination import decode_cursor, page
from omnihub.customers import queries as customers_queries

S, M = automation_segments.c, automation_segment_members.c
PAGE = 200


def _valid(doc: dict[str, Any]) -> dict[str, Any]:
    try:
        return rules.validate_segment(doc)
    except rules.RuleInvalid as exc:
        raise errors.invalid_rule(exc.field, exc.detail) from None


def _out(conn: Connection, row: Any) -> dict[str, Any]:
    count = conn.execute(sa.select(sa.func.count()).where(M.segment_id == row.id)).scalar() or 0
    return {"id": row.id, "name": row.name, "conditions": row.conditions, "members": count,
            "computed_at": as_utc(row.computed_at) if row.computed_at else None, "created_at": as_utc(row.created_at)}


def get_segment(conn: Connection, segment_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(automation_segments).where(S.id == segment_id)).first()
    if row is None:
        raise NotFound("segment_not_found", f"No segment '{segment_id}'.", id=segment_id)
    return _out(conn, row)


def list_segments(conn: Connection) -> list[dict[str, Any]]:
    return [_out(conn, r) for r in conn.execute(sa.select(automation_segments).order_by(S.id))]


def create_segment(conn: Connection, clock: Clock, doc: dict[str, Any]) -> dict[str, Any]:
    segment = _valid(doc)
    now = clock.now()
    segment_id = new_id("seg")
    conn.execute(automation_segments.insert(), dict(id=segment_id, created_at=now, updated_at=now, **segment))
    recompute(conn, clock, segment_id)
    return get_segment(conn, segment_id)


def delete_segment(conn: Connection, segment_id: str) -> None:
    get_segment(conn, segment_id)
    conn.execute(automation_segment_members.delete().where(M.segment_id == segment_id))
    conn.execute(automation_segments.delete().where(S.id == segment_id))


def members(conn: Connection, segment_id: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
    get_segment(conn, segment_id)
    query = (sa.select(M.customer_id, M.since).where(M.segment_id == segment_id).order_by(M.customer_id)
             .limit(limit + 1))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(M.customer_id > str(after))
    items = [{"customer_id": r.customer_id, "since": as_utc(r.since)} for r in conn.execute(query)]
    return page(items, limit, key=lambda x: x["customer_id"])


def recompute(conn: Connection, clock: Clock, segment_id: str) -> int:
    """Evaluate every active profile; record who entered and left, and announce them. Returns the changes."""
    row = conn.execute(sa.select(automation_segments).where(S.id == segment_id)).first()
    if row is None:
        return 0
    now_in: set[str] = set()
    cursor = None
    while True:
        found = customers_queries.list_customers(conn, limit=PAGE, cursor=cursor)
        for person in found["items"]:
            known = {"customer": facts.customer_facts(conn, clock, person["id"])}
            if known["customer"].get("status") == "active" and rules.matches(row.conditions, known)[0]:
                now_in.add(known["customer"]["id"])
        cursor = found.get("next_cursor")
        if not cursor:
            break
    before = set(conn.execute(sa.select(M.customer_id).where(M.segment_id == segment_id)).scalars())
    entered, left = rules.membership_changes(before, now_in)
    now = clock.now()
    if entered:
        conn.execute(automation_segment_members.insert(),
                     [{"segment_id": segment_id, "customer_id": c, "since": now} for c in entered])
    if left:
        conn.execute(automation_segment_members.delete().where(M.segment_id == segment_id,
                                                               M.customer_id.in_(left)))
    emit_many(conn, clock, [("segment.entered", {"segment_id": segment_id, "segment": row.name, "customer_id": c})
                            for c in entered] + [("segment.left", {"segment_id": segment_id, "segment": row.name,
                                                                   "customer_id": c}) for c in left])
    conn.execute(automation_segments.update().where(S.id == segment_id).values(computed_at=now))
    return len(entered) + len(left)


def recompute_all(conn: Connection, clock: Clock) -> int:
    return sum(recompute(conn, clock, segment_id)
               for segment_id in conn.execute(sa.select(S.id).order_by(S.id)).scalars())
