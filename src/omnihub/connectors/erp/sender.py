"""Sending ERP documents (a worker step, like replies and webhooks): the claim commits before anything leaves and
the outcome is recorded after, so a document is never sent by two workers at once. Each request carries the
document's id as `Idempotency-Key`: a document re-sent after a worker died mid-way is recognised by the ERP."""

from __future__ import annotations

import http.client
import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.connectors.erp import rules
from omnihub.connectors.erp.models import erp_config, erp_documents
from omnihub.connectors.erp.service import PURPOSE
from omnihub.core.clock import Clock
from omnihub.core.db import Database
from omnihub.core.outbound import OutboundGuard, OutboundRefused
from omnihub.core.secretbox import unseal

log = logging.getLogger("omnihub.erp")
D = erp_documents.c
LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 10
BACKOFF_SECONDS = 30.0


class SendFailed(Exception):
    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.permanent = permanent


def request_for(kind: str, payload: dict[str, Any]) -> tuple[str, str]:
    """The ERP's method and path (under the endpoint) for a document."""
    if kind == "contact":
        return "PUT", f"/contacts/{quote(str(payload['number']), safe='')}"
    return "POST", "/invoices" if kind == "invoice" else "/credit-notes"


def send_one(endpoint: str, token: str, row: Any, guard: OutboundGuard, timeout: float) -> None:
    method, path = request_for(row.kind, row.payload)
    base = urlsplit(endpoint)
    try:
        connection = guard.connection(base.scheme, base.hostname or "", base.port, timeout=timeout)
    except OutboundRefused as exc:
        raise SendFailed(f"ERP refused by the outbound guard: {exc}"[:500], permanent=True) from None
    try:
        connection.request(method, base.path.rstrip("/") + path, body=json.dumps(row.payload).encode(), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": row.id})
        response = connection.getresponse()
        status, raw = response.status, response.read(64 * 1024)
    except OutboundRefused as exc:
        raise SendFailed(f"ERP refused by the outbound guard: {exc}"[:500], permanent=True) from None
    except (OSError, http.client.HTTPException) as exc:
        raise SendFailed(f"ERP unreachable: {type(exc).__name__}", permanent=False) from None
    finally:
        connection.close()
    if status >= 300:
        permanent = 400 <= status < 500 and status not in (408, 409, 425, 429)
        raise SendFailed(f"ERP {status}: {raw[:200].decode('utf-8', 'replace')}"[:500], permanent=permanent)


def _claim(conn: Connection, clock: Clock, limit: int) -> list[Any]:
    now = clock.now()
    query = (sa.select(erp_documents).where(D.status.in_(("pending", "sending")), D.next_attempt_at <= now)
             .order_by(D.seq).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for row in conn.execute(query).all():
        if conn.execute(erp_documents.update().where(D.id == row.id, D.status == row.status,
                                                     D.attempts == row.attempts)
                        .values(status="sending", attempts=row.attempts + 1, next_attempt_at=now + LEASE)).rowcount:
            claimed.append(conn.execute(sa.select(erp_documents).where(D.id == row.id)).first())
    return claimed


def _record(conn: Connection, clock: Clock, row: Any, failure: SendFailed | None) -> None:
    now = clock.now()
    mine = (D.id == row.id, D.status == "sending", D.attempts == row.attempts)
    if failure is None:
        conn.execute(erp_documents.update().where(*mine).values(status="sent", sent_at=now, last_error=None,
                                                                next_attempt_at=None))
    elif failure.permanent or row.attempts >= MAX_ATTEMPTS:
        conn.execute(erp_documents.update().where(*mine).values(status="failed", last_error=str(failure),
                                                                next_attempt_at=None))
    else:
        wait = timedelta(seconds=rules.backoff_seconds(row.attempts, BACKOFF_SECONDS))
        conn.execute(erp_documents.update().where(*mine).values(status="pending", last_error=str(failure),
                                                                next_attempt_at=now + wait))


def send_due(db: Database, clock: Clock, *, secret_key: str, outbound_allow: str = "", timeout: float = 10.0,
             limit: int = 50) -> int:
    """Send what is due, in the order it was recorded (a contact before its invoice). Returns how many were
    tried."""
    with db.read() as conn:
        config = conn.execute(sa.select(erp_config).where(erp_config.c.id == 1)).first()
    if config is None:
        return 0
    with db.transaction() as conn:
        claimed = _claim(conn, clock, limit)
    if not claimed:
        return 0
    token = unseal(secret_key, PURPOSE, config.token_sealed)
    guard = OutboundGuard(outbound_allow)
    for row in claimed:
        failure: SendFailed | None = None
        try:
            send_one(config.endpoint, token, row, guard, timeout)
        except SendFailed as exc:
            failure = exc
            log.warning("ERP document %s not sent (attempt %d): %s", row.id, row.attempts, exc)
        with db.transaction() as conn:
            _record(conn, clock, row, failure)
    return len(claimed)
