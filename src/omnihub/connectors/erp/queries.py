"""The ERP connector's reads: its configuration (never the token), its documents, the period's journal."""

from __future__ import annotations

from datetime import date
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
