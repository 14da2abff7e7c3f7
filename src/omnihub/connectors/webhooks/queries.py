"""Read side of webhooks: subscriptions and the delivery log."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.connectors.webhooks import errors, rules
from omnihub.connectors.webhooks.models import webhook_deliveries, webhook_streams, webhook_subscriptions
from omnihub.core.clock import as_utc
from omnihub.core.events import count_events_after, head_position
from omnihub.core.pagination import decode_cursor, page

# `behind` counts up to this many events; beyond it the stream is simply "at least this far behind".
BEHIND_CAP = 100_000


def _utc(value: Any) -> Any:
    return as_utc(value) if value is not None else None


_STREAM_COLUMNS = ("position", "until_position", "attempts", "next_attempt_at", "last_attempt_at",
                   "last_status_code", "last_error", "last_delivered_at")
_WEBHOOKS = sa.select(
    webhook_subscriptions, *(webhook_streams.c[name].label(f"stream_{name}") for name in _STREAM_COLUMNS),
).select_from(webhook_subscriptions.outerjoin(
    webhook_streams, webhook_streams.c.subscription_id == webhook_subscriptions.c.id))


def _webhook(conn: Connection, row: Any, head: int) -> dict[str, Any]:
    stream = None
    if row.stream_position is not None:
        until = row.stream_until_position
        upto = head if until is None else min(head, until)
        wanted = rules.type_filter(list(row.events))
        stream = {
            "position": row.stream_position,
            "behind": count_events_after(conn, row.stream_position, upto, types=wanted.types,
                                         prefixes=wanted.prefixes, cap=BEHIND_CAP) if upto > row.stream_position else 0,
            "draining": until is not None,
            "attempts": row.stream_attempts,
            "next_attempt_at": _utc(row.stream_next_attempt_at),
            "last_attempt_at": _utc(row.stream_last_attempt_at),
            "last_status_code": row.stream_last_status_code,
            "last_error": row.stream_last_error,
            "last_delivered_at": _utc(row.stream_last_delivered_at),
        }
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events),
        "active": bool(row.active),
        "batch_size": row.batch_size,
        "created_at": _utc(row.created_at),
        "deactivated_at": _utc(row.deactivated_at),
        "previous_secret_expires_at": _utc(row.previous_secret_expires_at),
        "stream": stream,
    }


def get_webhook(conn: Connection, webhook_id: str) -> dict[str, Any]:
    row = conn.execute(_WEBHOOKS.where(webhook_subscriptions.c.id == webhook_id)).first()
    if row is None:
        raise errors.webhook_not_found(webhook_id)
    return _webhook(conn, row, head_position(conn))


def list_webhooks(conn: Connection, *, limit: int, cursor: str | None, active: bool | None = None) -> dict[str, Any]:
    s = webhook_subscriptions
    query = _WEBHOOKS.order_by(s.c.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(s.c.id > str(after))
    if active is not None:
        query = query.where(s.c.active.is_(active))
    head = head_position(conn)
    return page([_webhook(conn, r, head) for r in conn.execute(query)], limit, key=lambda w: w["id"])


def active_subscriptions(conn: Connection) -> list[dict[str, Any]]:
    """What the fan-out matches events against."""
    s = webhook_subscriptions
    rows = conn.execute(sa.select(s.c.id, s.c.events, s.c.batch_size).where(s.c.active.is_(True)).order_by(s.c.id))
    return [{"id": r.id, "events": list(r.events), "batch_size": r.batch_size} for r in rows]


def _delivery(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "webhook_id": row.subscription_id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "last_attempt_at": _utc(row.last_attempt_at),
        "next_attempt_at": _utc(row.next_attempt_at),
        "created_at": _utc(row.created_at),
        "delivered_at": _utc(row.delivered_at),
    }


_LOG_COLUMNS = [c for c in webhook_deliveries.c if c.name not in ("payload", "claim_token", "locked_until")]


def get_delivery(conn: Connection, webhook_id: str, delivery_id: str) -> dict[str, Any]:
    d = webhook_deliveries
    row = conn.execute(
        sa.select(*_LOG_COLUMNS).where(d.c.id == delivery_id, d.c.subscription_id == webhook_id)
    ).first()
    if row is None:
        raise errors.delivery_not_found(webhook_id, delivery_id)
    return _delivery(row)


def list_deliveries(
    conn: Connection, webhook_id: str, *, limit: int, cursor: str | None, status: str | None = None
) -> dict[str, Any]:
    """The delivery log, newest first."""
    get_webhook(conn, webhook_id)
    d = webhook_deliveries
    query = sa.select(*_LOG_COLUMNS).where(d.c.subscription_id == webhook_id).order_by(d.c.id.desc())
    query = query.limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(d.c.id < str(after))
    if status:
        query = query.where(d.c.status == status)
    return page([_delivery(r) for r in conn.execute(query)], limit, key=lambda x: x["id"])


def delivery_counts(conn: Connection, webhook_id: str | None = None) -> dict[str, int]:
    """How many deliveries are in each status (for the worker's progress and the admin UI)."""
    d = webhook_deliveries
    query = sa.select(d.c.status, sa.func.count()).group_by(d.c.status)
    if webhook_id:
        query = query.where(d.c.subscription_id == webhook_id)
    counts = {"pending": 0, "delivered": 0, "dead": 0}
    counts.update({status: n for status, n in conn.execute(query)})
    return counts


def lowest_stream_cursor(conn: Connection) -> int | None:
    """The lowest position an active webhook's stream has yet to send after (None: no stream holds anything).
    The outbox must keep every event above it."""
    st, s = webhook_streams.c, webhook_subscriptions.c
    pending = sa.or_(st.until_position.is_(None), st.position < st.until_position)
    return conn.execute(sa.select(sa.func.min(st.position)).select_from(
        webhook_streams.join(webhook_subscriptions, s.id == st.subscription_id)).where(s.active.is_(True), pending)
    ).scalar()
