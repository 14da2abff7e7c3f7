"""What the automation room shows: rules, runs with their log (skip reasons), messages and per-rule results."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.automation import errors
from omnihub.automation.models import (
    automation_conversions,
    automation_log,
    automation_messages,
    automation_rules,
    automation_runs,
)
from omnihub.core.clock import as_utc
from omnihub.core.pagination import decode_cursor, page

R, RUN, LOG, MSG, CONV = (automation_rules.c, automation_runs.c, automation_log.c, automation_messages.c,
                          automation_conversions.c)


def _rule(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "trigger": row.trigger, "conditions": row.conditions,
            "steps": row.steps, "options": row.options or {}, "active": bool(row.active), "recipe": row.recipe,
            "created_at": as_utc(row.created_at), "updated_at": as_utc(row.updated_at)}


def get_rule(conn: Connection, rule_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(automation_rules).where(R.id == rule_id)).first()
    if row is None:
        raise errors.rule_not_found(rule_id)
    return _rule(row)


def list_rules(conn: Connection, *, limit: int, cursor: str | None, active: bool | None = None) -> dict[str, Any]:
    query = sa.select(automation_rules).order_by(R.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(R.id > str(after))
    if active is not None:
        query = query.where(R.active == active)
    return page([_rule(r) for r in conn.execute(query)], limit, key=lambda r: r["id"])


def active_rules_for(conn: Connection, types: list[str]) -> list[dict[str, Any]]:
    if not types:
        return []
    rows = conn.execute(sa.select(automation_rules).where(R.active.is_(True), R.trigger_type.in_(types))
                        .order_by(R.id))
    return [_rule(r) | {"trigger_type": r.trigger_type} for r in rows]


def scheduled_rules(conn: Connection) -> list[Any]:
    return list(conn.execute(sa.select(automation_rules).where(R.active.is_(True), R.trigger_type.is_(None))))


def run_log(conn: Connection, rule_id: str, *, limit: int, cursor: str | None, customer_id: str | None = None,
            outcome: str | None = None) -> dict[str, Any]:
    """What each run of the rule did, newest first: sends, skips with their reason, waits, stops."""
    get_rule(conn, rule_id)
    query = sa.select(automation_log).where(LOG.rule_id == rule_id).order_by(LOG.id.desc()).limit(limit + 1)
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(LOG.id < int(before))
    if customer_id:
        query = query.where(LOG.customer_id == customer_id)
    if outcome:
        query = query.where(LOG.outcome == outcome)
    items = [{"id": r.id, "run_id": r.run_id, "customer_id": r.customer_id, "step": r.step, "action": r.action,
              "outcome": r.outcome, "reason": r.reason, "detail": r.detail, "at": as_utc(r.at)}
             for r in conn.execute(query)]
    return page(items, limit, key=lambda x: x["id"])


def runs_of(conn: Connection, rule_id: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
    get_rule(conn, rule_id)
    query = sa.select(automation_runs).where(RUN.rule_id == rule_id).order_by(RUN.id.desc()).limit(limit + 1)
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(RUN.id < str(before))
    items = [{"id": r.id, "subject": r.subject, "customer_id": r.customer_id, "status": r.status, "step": r.step,
              "due_at": as_utc(r.due_at) if r.due_at else None, "reason": r.reason,
              "created_at": as_utc(r.created_at)} for r in conn.execute(query)]
    return page(items, limit, key=lambda x: x["id"])


def results(conn: Connection, rule_id: str) -> dict[str, Any]:
    """Per-rule campaign results: sent, opened (pixel), clicked (tracked links), converted and revenue."""
    get_rule(conn, rule_id)
    m = conn.execute(sa.select(
        sa.func.count().filter(MSG.status == "sent"), sa.func.count().filter(MSG.opened_at.is_not(None)),
        sa.func.count().filter(MSG.clicked_at.is_not(None)), sa.func.count().filter(MSG.unsubscribed_at.is_not(None)),
    ).where(MSG.rule_id == rule_id)).one()
    skipped = conn.execute(sa.select(sa.func.count()).where(LOG.rule_id == rule_id, LOG.outcome == "skipped")
                           ).scalar() or 0
    revenue: dict[str, Decimal] = {}
    converted = 0
    for amount, currency in conn.execute(sa.select(CONV.revenue, CONV.currency).where(CONV.rule_id == rule_id)):
        converted += 1
        revenue[currency or ""] = revenue.get(currency or "", Decimal(0)) + Decimal(amount)
    return {"rule_id": rule_id, "sent": m[0], "opened": m[1], "clicked": m[2], "unsubscribed": m[3],
            "skipped": skipped, "converted": converted,
            "revenue": {c: str(v.quantize(Decimal("0.01"))) for c, v in sorted(revenue.items())}}


def message_by_token(conn: Connection, token: str) -> Any:
    row = conn.execute(sa.select(automation_messages).where(MSG.token == token)).first()
    if row is None:
        raise errors.token_not_found()
    return row


def messages_of(conn: Connection, rule_id: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
    get_rule(conn, rule_id)
    query = sa.select(automation_messages).where(MSG.rule_id == rule_id).order_by(MSG.id.desc()).limit(limit + 1)
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(MSG.id < str(before))
    items = [{"id": r.id, "run_id": r.run_id, "customer_id": r.customer_id, "channel": r.channel, "to": r.to,
              "subject": r.subject, "body": r.body, "template": r.template, "status": r.status,
              "provider": r.provider, "error": r.error, "created_at": as_utc(r.created_at),
              "sent_at": as_utc(r.sent_at) if r.sent_at else None,
              "opened_at": as_utc(r.opened_at) if r.opened_at else None,
              "clicked_at": as_utc(r.clicked_at) if r.clicked_at else None} for r in conn.execute(query)]
    return page(items, limit, key=lambda x: x["id"])
