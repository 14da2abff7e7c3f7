"""What was sent to whom, by which provider."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import as_utc
from omnihub.core.pagination import decode_cursor, page
from omnihub.messaging.models import outbound_messages


def list_messages(conn: Connection, *, limit: int, cursor: str | None, customer_id: str | None = None,
                  reference: str | None = None, show_secrets: bool = False) -> dict[str, Any]:
    """`show_secrets`: the bodies as sent; otherwise with their secrets (pickup codes) masked."""
    m = outbound_messages.c
    query = sa.select(outbound_messages).order_by(m.id.desc()).limit(limit + 1)
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(m.id < str(before))
    if customer_id:
        query = query.where(m.customer_id == customer_id)
    if reference:
        query = query.where(m.reference == reference)
    items = [{"id": r.id, "customer_id": r.customer_id, "kind": r.kind, "to": r.to, "subject": r.subject,
              "body": r.body if show_secrets or r.redacted_body is None else r.redacted_body,
              "template": r.template, "reference": r.reference, "provider": r.provider,
              "status": r.status, "error": r.error, "created_at": as_utc(r.created_at),
              "sent_at": as_utc(r.sent_at) if r.sent_at else None} for r in conn.execute(query)]
    return page(items, limit, key=lambda x: x["id"])
