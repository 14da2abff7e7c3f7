"""Read side of the service desk: the inbox list, one conversation with its thread, the customer beside it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.commerce import queries as commerce_queries
from omnihub.core.clock import Clock, as_utc
from omnihub.core.pagination import decode_cursor, invalid_cursor, page
from omnihub.core.reads import read_together
from omnihub.customers import queries as customers_queries
from omnihub.customers.errors import customer_not_found
from omnihub.service import desk_queries, errors, rules
from omnihub.service.knowledge_queries import handoff_out, latest_handoff_id
from omnihub.service.models import (
    bot_handoffs,
    conversation_messages,
    conversation_tags,
    conversations,
    csat_surveys,
    reply_templates,
)

C = conversations.c
M = conversation_messages.c
THREAD_LIMIT = 500
ORDERS_SHOWN = 10

# What opening a conversation reads, built once: building a statement costs about as much as running it here.
_ID = sa.bindparam("b_id")
# The conversation and those merged into it, each with its tags, its latest CSAT survey and bot handoff: one row
# per tag (columns of the survey prefixed `csat_`, of the handoff `handoff_`).
_OPENED = (sa.select(conversations, conversation_tags.c.tag.label("tag_"),
                     *(c.label(f"csat_{c.name}") for c in csat_surveys.c),
                     *(c.label(f"handoff_{c.name}") for c in bot_handoffs.c))
           .select_from(conversations
                        .outerjoin(conversation_tags, conversation_tags.c.conversation_id == C.id)
                        .outerjoin(csat_surveys, csat_surveys.c.token == desk_queries.latest_survey_token(C.id)
                                   .correlate(conversations))
                        .outerjoin(bot_handoffs, bot_handoffs.c.id == latest_handoff_id(C.id).correlate(conversations)))
           .where(sa.or_(C.id == _ID, C.merged_into == _ID)).order_by(conversation_tags.c.tag))
_THREAD = (sa.select(conversation_messages).where(M.conversation_id == _ID)
           .order_by(M.at.desc(), M.id.desc()).limit(sa.bindparam("b_limit")))
_CHANNELS = sa.select(M.channel).where(M.conversation_id == _ID, M.direction == "in").distinct()
_LIVE_FOR = sa.select(C.id, C.priority_reasons, C.created_at).where(C.active_for == sa.bindparam("b_cid"))


def _iso(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _summary(row: Any, tags: list[str] | None = None) -> dict[str, Any]:
    return {"team": row.team_id, "tags": tags or [], "sla": desk_queries.sla_of(row),
            "id": row.id, "customer_id": row.customer_id, "status": row.status,
            "snoozed_until": _iso(row.snoozed_until), "assignee": row.assignee, "priority": row.priority,
            "priority_reasons": row.priority_reasons or [], "last_channel": row.last_channel,
            "last_message_at": _iso(row.last_message_at), "first_response_at": _iso(row.first_response_at),
            "resolved_at": _iso(row.resolved_at), "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at)}


def list_conversations(conn: Connection, *, limit: int, cursor: str | None, customer: str | None = None,
                       status: str | None = None, assignee: str | None = None, channel: str | None = None,
                       priority: str | None = None, q: str | None = None, team: str | None = None,
                       tag: str | None = None, breaching: str | None = None, now: datetime | None = None,
                       soon_minutes: int = 30, teams: Sequence[str] | None = None) -> dict[str, Any]:
    """Newest activity first, paged by (last_message_at, id). `assignee`: an agent, or `none` for the queue of
    unassigned ones. `team`: a team's code, or `none`. `breaching`: `breached` (a live conversation past a due time
    it has not met) or `soon` (not breached, a due time within `soon_minutes` of `now`). `teams`: any of these
    teams (none given: nothing)."""
    query = sa.select(conversations).where(C.merged_into.is_(None))
    if teams is not None:
        query = query.where(C.team_id.in_(list(teams)) if teams else sa.false())
    if team == "none":
        query = query.where(C.team_id.is_(None))
    elif team:
        query = query.where(C.team_id == team)
    if tag:
        tg = conversation_tags.c
        query = query.where(sa.exists().where(tg.conversation_id == C.id, tg.tag == tag))
    if breaching and now is not None:
        query = query.where(_breaching(breaching, now, soon_minutes))
    if customer:
        cid = customers_queries.resolve_id(conn, customer)
        if cid is None:
            raise customer_not_found(customer, "customer")
        query = query.where(C.customer_id == cid)
    if status:
        query = query.where(C.status == status)
    if assignee == "none":
        query = query.where(C.assignee.is_(None))
    elif assignee:
        query = query.where(C.assignee == assignee)
    if priority:
        query = query.where(C.priority == priority)
    if channel:
        query = query.where(sa.exists().where(M.conversation_id == C.id, M.channel == channel))
    if q:
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.exists().where(M.conversation_id == C.id, M.direction != "note",
                                              sa.func.lower(M.text).like(pattern, escape="\\")))
    after = decode_cursor(cursor)
    if after is not None:
        try:
            at, last_id = datetime.fromisoformat(after[0]), str(after[1])
        except (TypeError, ValueError, IndexError, KeyError):
            raise invalid_cursor() from None
        query = query.where(sa.or_(C.last_message_at < at, sa.and_(C.last_message_at == at, C.id < last_id)))
    rows = conn.execute(query.order_by(C.last_message_at.desc(), C.id.desc()).limit(limit + 1)).all()
    tags = desk_queries.tags_of(conn, [r.id for r in rows])
    items = [_summary(r, tags[r.id]) for r in rows]
    return page(items, limit, key=lambda x: [x["last_message_at"].isoformat(), x["id"]])


def _breaching(which: str, now: datetime, soon_minutes: int) -> Any:
    """Live conversations past (`breached`) or near (`soon`) a due time they have not met."""
    first_unmet = C.first_response_at.is_(None)
    awaited = C.next_response_started_at.is_not(None)
    live = sa.and_(C.status.in_(rules.LIVE), C.paused_at.is_(None))  # pending: the clock is stopped
    breached = sa.or_(sa.and_(first_unmet, C.first_response_due_at <= now), C.resolution_due_at <= now,
                      sa.and_(awaited, C.next_response_due_at <= now))
    if which == "breached":
        return sa.and_(live, breached)
    # `sla_check_at` is the earliest due time still unmet and not flagged: in the future, nothing is breached
    # unflagged; with no flag either, the conversation is not breached and its next target is that time (indexed).
    horizon = now + timedelta(minutes=soon_minutes)
    return sa.and_(live, C.sla_check_at > now, C.sla_check_at <= horizon, C.first_response_breached_at.is_(None),
                   C.resolution_breached_at.is_(None),
                   sa.or_(~awaited, C.next_response_breached_at.is_(None)))


def message_out(row: Any) -> dict[str, Any]:
    return {"id": row.id, "channel": row.channel, "direction": row.direction, "author": row.author,
            "text": row.text, "subject": row.subject, "attachments": row.attachments or [],
            "external_id": row.external_id, "status": row.status, "error": row.error, "template": row.template,
            "has_original": row.original is not None, "at": _iso(row.at)}


def _current(conn: Connection, conversation_id: str) -> Any:
    row = None
    next_id: str | None = conversation_id
    for _ in range(20):
        if next_id is None:
            break
        row = conn.execute(sa.select(conversations).where(C.id == next_id)).first()
        if row is None:
            raise errors.conversation_not_found(conversation_id)
        next_id = row.merged_into
    return row


def _opened(conn: Connection, conversation_id: str) -> tuple[Any, list[Any]]:
    """`_current` and `_OPENED`'s rows of it (one per tag; those merged into it too), one read per hop."""
    row: Any = None
    rows: list[Any] = []
    next_id: str | None = conversation_id
    for _ in range(20):
        if next_id is None:
            break
        rows = conn.execute(_OPENED, {"b_id": next_id}).all()
        row = next((r for r in rows if r.id == next_id), None)
        if row is None:
            raise errors.conversation_not_found(conversation_id)
        next_id = row.merged_into
    return row, rows


def _prefixed(row: Any, prefix: str, key: str) -> SimpleNamespace | None:
    """The columns of a joined row under `prefix`; None when the outer join found nothing (no `key`)."""
    fields = {name[len(prefix):]: value for name, value in row._asdict().items() if name.startswith(prefix)}
    return SimpleNamespace(**fields) if fields[key] is not None else None


def conversation_detail(conn: Connection, clock: Clock, conversation_id: str) -> dict[str, Any]:
    """The thread (every channel, oldest first) with the customer's 360 view and latest orders beside it. An id
    merged into another conversation shows that one. An agent opens many: on PostgreSQL it is two round trips
    (core.reads) — the conversation with its thread, then the 360 view with the latest orders and their lines —
    whatever the customer's history."""
    # The conversation and its thread in one round trip (core.reads), taking the id as the live one's; an id
    # merged into another reads the one it went to.
    opened, rows = read_together(conn, [(_OPENED, {"b_id": conversation_id}),
                                        (_THREAD, {"b_id": conversation_id, "b_limit": THREAD_LIMIT})])
    row = next((r for r in opened if r.id == conversation_id), None)
    if row is None or row.merged_into is not None:
        row, opened = _opened(conn, conversation_id)
        rows = conn.execute(_THREAD, {"b_id": row.id, "b_limit": THREAD_LIMIT}).all()
    tags = [r.tag_ for r in opened if r.id == row.id and r.tag_ is not None]
    merged = sorted({r.id for r in opened if r.merged_into == row.id})
    survey, handoff = _prefixed(row, "csat_", "token"), _prefixed(row, "handoff_", "id")
    if len(rows) < THREAD_LIMIT:  # the whole thread is here: its channels too
        channels = sorted({m.channel for m in rows if m.direction == "in"})
    else:
        channels = sorted(set(conn.execute(_CHANNELS, {"b_id": row.id}).scalars()))
    messages = [message_out(m) for m in reversed(rows)]
    by_customer = {"b_cid": row.customer_id}  # the latest orders, as `list_orders` shows them, with the 360 view
    customer, (order_rows, line_rows) = customers_queries.customer_view_with(
        conn, clock, row.customer_id, [(read, by_customer) for read in commerce_queries.latest_orders_reads(
            ORDERS_SHOWN)])
    orders = commerce_queries.latest_orders_from(order_rows, line_rows)
    return {**_summary(row, tags), "channels": channels, "merged_ids": merged, "messages": messages,
            "csat": desk_queries.csat_out(survey) if survey else None,
            "handoff": handoff_out(handoff) if handoff else None,
            "customer": customer, "orders": [_without_pickup_code(o) for o in orders]}


def thread_of(conn: Connection, conversation_id: str) -> dict[str, Any]:
    """The conversation's summary and its thread only (no 360 view, no orders): what a live inbox page polls."""
    row = _current(conn, conversation_id)
    messages = [message_out(m) for m in conn.execute(_THREAD, {"b_id": row.id, "b_limit": THREAD_LIMIT})]
    messages.reverse()
    return {**_summary(row), "messages": messages}


def _without_pickup_code(order: dict[str, Any]) -> dict[str, Any]:
    """Agents see the customer's orders, never a pickup code (those are for the store that hands it over)."""
    if order.get("pickup"):
        return {**order, "pickup": {**order["pickup"], "code": None}}
    return order


def original_of(conn: Connection, conversation_id: str, message_id: str) -> str:
    """An e-mail exactly as it arrived (the thread shows it trimmed)."""
    row = _current(conn, conversation_id)
    original = conn.execute(sa.select(M.original).where(M.id == message_id, M.conversation_id == row.id)).first()
    if original is None or original.original is None:
        raise errors.message_not_found(message_id)
    return str(original.original)


def support_hold_of(conn: Connection, customer_id: str) -> dict[str, Any] | None:
    """While a conversation with a complaint is live, the customer is on support hold: automations and marketing
    sends should leave them alone (the 360 view shows it as `support_hold`)."""
    cid = customers_queries.resolve_id(conn, customer_id) or customer_id
    return _hold_from(conn.execute(_LIVE_FOR, {"b_cid": cid}).all())


def _hold_from(found: list[Any]) -> dict[str, Any] | None:
    """The hold from the customer's live conversation (`_LIVE_FOR`'s rows: none or one)."""
    row = found[0] if found else None
    if row is None or not rules.is_complaint(row.priority_reasons or []):
        return None
    return {"conversation_id": row.id, "since": _iso(row.created_at),
            "reasons": [r["why"] for r in row.priority_reasons if r.get("rule") == "complaint"]}


# The 360 view's `support_hold` section, read with the rest of the view (customers.queries.ReadSection).
SUPPORT_HOLD_SECTION = customers_queries.ReadSection((_LIVE_FOR,), lambda _conn, found: _hold_from(found[0]))


def on_support_hold(conn: Connection, customer_id: str) -> bool:
    return support_hold_of(conn, customer_id) is not None


def template_out(row: Any) -> dict[str, Any]:
    whatsapp = ({"name": row.whatsapp_name, "language": row.whatsapp_language,
                 "parameters": row.whatsapp_parameters or []} if row.whatsapp_name else None)
    return {"code": row.code, "name": row.name, "body": row.body, "subject": row.subject, "whatsapp": whatsapp,
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at)}


def get_template(conn: Connection, code: str, *, field: str = "code") -> dict[str, Any]:
    row = conn.execute(sa.select(reply_templates).where(reply_templates.c.code == code)).first()
    if row is None:
        raise errors.template_not_found(code, field)
    return template_out(row)


def list_templates(conn: Connection, *, limit: int, cursor: str | None) -> dict[str, Any]:
    t = reply_templates.c
    query = sa.select(reply_templates).order_by(t.code).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(t.code > str(after))
    return page([template_out(r) for r in conn.execute(query)], limit, key=lambda x: x["code"])
