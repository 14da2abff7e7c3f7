"""The ERP connector's reads: its configuration (never the token), its documents, the period's journal."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.connectors.erp import errors
from omnihub.connectors.erp.models import erp_config, erp_documents
from omnihub.core.clock import as_utc
from omnihub.core.errors import ValidationFailed

D = erp_documents.c


def config_row(conn: Connection) -> Any:
    return conn.execute(sa.select(erp_config).where(erp_config.c.id == 1)).first()


def config_out(conn: Connection) -> dict[str, Any]:
    row = config_row(conn)
    if row is None:
        raise errors.not_configured()
    return {"endpoint": row.endpoint, "token_set": True, "mapping": row.mapping_yaml,
            "updated_at": as_utc(row.updated_at)}


def document_out(row: Any) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "source": row.source, "status": row.status, "reason": row.reason,
            "idempotency_key": row.id, "document_date": row.document_date, "attempts": row.attempts,
            "next_attempt_at": as_utc(row.next_attempt_at) if row.next_attempt_at else None,
            "last_error": row.last_error, "payload": row.payload, "created_at": as_utc(row.created_at),
            "sent_at": as_utc(row.sent_at) if row.sent_at else None}


def list_documents(conn: Connection, *, status: str | None, kind: str | None, limit: int,
                   cursor: str | None) -> dict[str, Any]:
    """Newest first; `cursor` is the `seq` of the last row of the previous page."""
    query = sa.select(erp_documents).order_by(D.seq.desc()).limit(limit + 1)
    if status:
        query = query.where(D.status == status)
    if kind:
        query = query.where(D.kind == kind)
    if cursor:
        try:
            query = query.where(D.seq < int(cursor))
        except ValueError:
            raise ValidationFailed("invalid_cursor", "Not a cursor of this list.", field="cursor") from None
    rows = conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [document_out(r) for r in rows], "next_cursor": str(rows[-1].seq) if more else None}


def journal_documents(conn: Connection, start: date, end: date) -> list[dict[str, Any]]:
    """The period's invoices and credit notes (both days included) that are mapped, in the order recorded."""
    rows = conn.execute(sa.select(erp_documents).where(
        D.kind.in_(("invoice", "credit_note")), D.payload.is_not(None), D.document_date >= start,
        D.document_date <= end).order_by(D.seq)).all()
    return [{"kind": r.kind, "status": r.status, "payload": r.payload} for r in rows]


def health(conn: Connection, now: datetime) -> dict[str, Any] | None:
    """The ERP connection at a glance (None when no ERP is configured): the last document delivered, the last
    error still standing, the lag of the oldest document waiting to go, and the documents per status."""
    if config_row(conn) is None:
        return None
    counts = {r.status: r.n for r in conn.execute(
        sa.select(D.status, sa.func.count().label("n")).group_by(D.status))}
    last_sent = conn.execute(sa.select(sa.func.max(D.sent_at))).scalar()
    failing = conn.execute(sa.select(D.id, D.kind, D.source, D.last_error, D.status)
                           .where(D.last_error.is_not(None), D.status.in_(("pending", "sending", "failed")))
                           .order_by(D.seq.desc()).limit(1)).first()
    oldest = conn.execute(sa.select(sa.func.min(D.created_at)).where(D.status.in_(("pending", "sending")))).scalar()
    lag = max(0, int((now - as_utc(oldest)).total_seconds())) if oldest is not None else 0
    status = "error" if counts.get("failed") else ("attention" if failing or counts.get("held") else "ok")
    return {"status": status, "last_success_at": as_utc(last_sent) if last_sent else None,
            "last_error": f"{failing.kind} {failing.source}: {failing.last_error}" if failing else None,
            "lag_seconds": lag, "counts": {s: counts.get(s, 0) for s in ("pending", "held", "sent", "failed")}}
