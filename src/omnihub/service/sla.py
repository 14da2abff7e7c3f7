"""SLA use cases: policies per priority, due times kept on each conversation, and the worker job that flags
each missed target once (`conversation.breached`). `refresh` is called by every write that changes what the
SLA reads (a message in, a reply, resolve, merge), in that write's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock, as_utc
from omnihub.core.events import emit
from omnihub.service import errors, sla_rules
from omnihub.service.models import conversations, sla_policies

C = conversations.c
P = sla_policies.c


def stored_policies(conn: Connection) -> dict[str, sla_rules.Policy]:
    return {r.priority: sla_rules.Policy(r.first_response_minutes, r.resolution_minutes, r.next_response_minutes)
            for r in conn.execute(sa.select(sla_policies))}


def put_policy(conn: Connection, clock: Clock, priority: str, first_response_minutes: int,
               resolution_minutes: int, next_response_minutes: int | None = None) -> bool:
    """Create or replace the policy of a priority; True when created. Conversations get the new targets the next
    time their SLA is refreshed (a message, a reply, a new priority); due times already set stay. Without a
    next-response target the priority's default stands."""
    problem = sla_rules.check_policy(first_response_minutes, resolution_minutes, next_response_minutes)
    if problem:
        raise errors.invalid_policy(problem)
    values = {"first_response_minutes": first_response_minutes, "resolution_minutes": resolution_minutes,
              "next_response_minutes": next_response_minutes, "updated_at": clock.now()}
    if conn.execute(sla_policies.update().where(P.priority == priority).values(**values)).rowcount:
        return False
    conn.execute(sla_policies.insert().values(priority=priority, **values))
    return True


def _ts(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def clocked(row: Any, **override: Any) -> sla_rules.Clocked:
    r = {**(row if isinstance(row, Mapping) else row._mapping), **override}
    created = as_utc(r["created_at"])
    return sla_rules.Clocked(
        status=r["status"], priority=r["priority"], created_at=created,
        started_at=_ts(r["sla_started_at"]) or created, first_response_at=_ts(r["first_response_at"]),
        resolved_at=_ts(r["resolved_at"]), first_response_breached_at=_ts(r["first_response_breached_at"]),
        resolution_breached_at=_ts(r["resolution_breached_at"]),
        next_response_started_at=_ts(r["next_response_started_at"]),
        next_response_breached_at=_ts(r["next_response_breached_at"]), paused_at=_ts(r["paused_at"]),
        paused_seconds=r["paused_seconds"] or 0, resolution_paused_base=r["resolution_paused_base"] or 0,
        next_response_paused_base=r["next_response_paused_base"] or 0)


def refresh(conn: Connection, conversation_id: str, now: datetime, *, restart: bool = False,
            awaiting: datetime | None = None, answered: bool = False,
            policies: dict[str, sla_rules.Policy] | None = None, row: Any = None) -> None:
    """Recompute the conversation's due times and recorded times after a change, in the change's transaction
    (`refreshed` says what changes). `policies`: `stored_policies`, when the caller has read them already; `row`:
    the conversation's row as the change left it (an update's RETURNING), when the caller has it."""
    if row is None:
        row = conn.execute(sa.select(conversations).where(C.id == conversation_id)).first()
    if row is None:
        return
    conn.execute(conversations.update().where(C.id == conversation_id).values(**refreshed(
        row._mapping, now, stored_policies(conn) if policies is None else policies, restart=restart,
        awaiting=awaiting, answered=answered)))


def refreshed(row: Mapping[str, Any], now: datetime, policies: dict[str, sla_rules.Policy], *,
              restart: bool = False, awaiting: datetime | None = None, answered: bool = False) -> dict[str, Any]:
    """The SLA columns of a conversation (its columns as `row`) after a change: what `refresh` writes. Without
    I/O, so a batch of messages (`receive_many`) keeps each conversation in memory and writes it once.

    `restart`: it has just reopened, so a new resolution cycle starts now (its earlier breach no longer counts).
    `awaiting`: a customer message came at that time — once a person has replied, it starts a next-response wait
    (unless one is running). `answered`: a person replied, meeting the running wait. The pause follows the status:
    entering `pending` stops the clock, leaving it adds the time spent to the pauses that shift the due times."""
    paused_at, paused_seconds = sla_rules.pause(row["status"], _ts(row["paused_at"]), row["paused_seconds"] or 0,
                                                now)
    extra: dict[str, Any] = {"paused_at": paused_at, "paused_seconds": paused_seconds}
    if restart:
        extra |= {"sla_started_at": now, "resolution_breached_at": None, "resolution_paused_base": paused_seconds}
    if answered:
        extra |= {"next_response_started_at": None}
    elif awaiting is not None and row["first_response_at"] is not None and row["next_response_started_at"] is None:
        extra |= {"next_response_started_at": awaiting, "next_response_breached_at": None,
                  "next_response_paused_base": paused_seconds}
    c = clocked(row, **extra)
    d = sla_rules.due(c, sla_rules.policy_for(c.priority, policies))
    extra.pop("sla_started_at", None)
    return dict(sla_started_at=c.started_at, first_response_due_at=d.first_response_due_at,
                resolution_due_at=d.resolution_due_at, next_response_due_at=d.next_response_due_at,
                first_response_seconds=d.first_response_seconds, resolution_seconds=d.resolution_seconds,
                sla_check_at=d.check_at, **extra)


BREACH_COLUMNS = {"first_response": C.first_response_breached_at, "next_response": C.next_response_breached_at,
                  "resolution": C.resolution_breached_at}


def check_breaches(conn: Connection, clock: Clock, limit: int = 500) -> int:
    """Worker job: conversations whose next due time has passed. Each missed target is flagged by a conditional
    update (`…_breached_at IS NULL`), so `conversation.breached` is emitted once per target and cycle (for the
    next response: once per customer message awaiting an answer) even with several workers."""
    now = clock.now()
    rows = conn.execute(sa.select(conversations).where(C.sla_check_at <= now).order_by(C.sla_check_at, C.id)
                        .limit(limit)).all()
    policies = stored_policies(conn)
    for row in rows:
        c = clocked(row)
        d = sla_rules.due(c, sla_rules.policy_for(c.priority, policies))
        for target in sla_rules.breaches(c, d, now):
            column = BREACH_COLUMNS[target]
            if conn.execute(conversations.update().where(C.id == row.id, column.is_(None))
                            .values({column.key: now})).rowcount:
                due_at = {"first_response": d.first_response_due_at, "next_response": d.next_response_due_at,
                          "resolution": d.resolution_due_at}[target]
                emit(conn, clock, "conversation.breached", {
                    "conversation_id": row.id, "customer_id": row.customer_id, "target": target,
                    "due_at": due_at.isoformat() if due_at else None, "priority": row.priority,
                    "team": row.team_id, "assignee": row.assignee})
        refresh(conn, row.id, now)
    return len(rows)
