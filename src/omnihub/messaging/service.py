"""Queue outbound messages in the caller's transaction; the log provider records them as sent at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.events import emit
from omnihub.messaging import rules
from omnihub.messaging.models import outbound_messages


def _smtp_configured() -> bool:
    from omnihub.config import get_settings

    return bool(get_settings().smtp_url)


def queue_message(conn: Connection, clock: Clock, *, customer_id: str | None, kind: str, to: str, body: str,
                  subject: str | None = None, template: str | None = None, reference: str | None = None,
                  secrets: Sequence[str] = ()) -> dict[str, Any]:
    """`secrets`: parts of the body (a pickup code) that only roles allowed to use them may read back in the
    message log; the others are shown `redacted_body` instead."""
    provider = rules.provider_for(kind, _smtp_configured())
    now = clock.now()
    message_id = new_id("msg")
    status = "sent" if provider == "log" else "queued"
    conn.execute(outbound_messages.insert(), dict(
        id=message_id, customer_id=customer_id, kind=kind, to=to, subject=subject, body=body,
        redacted_body=rules.redact(body, secrets) if secrets else None, template=template,
        reference=reference, provider=provider, status=status, created_at=now,
        sent_at=now if status == "sent" else None))
    emit(conn, clock, "message.sent" if status == "sent" else "message.queued",
         {"id": message_id, "customer_id": customer_id, "kind": kind, "template": template, "provider": provider,
          "reference": reference})
    return {"id": message_id, "provider": provider, "status": status}


def send_queued_email(conn: Connection, clock: Clock, smtp_url: str, limit: int = 50) -> int:
    """Worker job: deliver queued e-mail through SMTP (smtp://user:pass@host:port)."""
    import smtplib
    from email.message import EmailMessage
    from urllib.parse import urlparse

    m = outbound_messages.c
    rows = conn.execute(sa.select(outbound_messages).where(m.status == "queued", m.provider == "smtp")
                        .order_by(m.created_at).limit(limit)).all()
    if not rows:
        return 0
    url = urlparse(smtp_url)
    sent = 0
    with smtplib.SMTP(url.hostname or "localhost", url.port or 25, timeout=10) as smtp:
        if url.username:
            smtp.login(url.username, url.password or "")
        for row in rows:
            message = EmailMessage()
            message["From"] = f"omnihub <no-reply@{url.hostname or 'localhost'}>"
            message["To"] = row.to
            message["Subject"] = row.subject or ""
            message.set_content(row.body)
            try:
                smtp.send_message(message)
                conn.execute(outbound_messages.update().where(m.id == row.id)
                             .values(status="sent", sent_at=clock.now()))
                sent += 1
            except smtplib.SMTPException as exc:
                conn.execute(outbound_messages.update().where(m.id == row.id)
                             .values(status="failed", error=str(exc)[:500]))
    return sent


def message_erasure_participant() -> Any:
    """Messages to an erased customer lose their address and text; those not sent yet are never sent."""

    class _Participant:
        def on_erase(self, conn: Connection, customer_ids: Sequence[str]) -> None:
            m = outbound_messages.c
            mine = m.customer_id.in_(list(customer_ids))
            conn.execute(outbound_messages.update().where(mine, m.status == "queued")
                         .values(status="failed", error="customer erased before sending"))
            conn.execute(outbound_messages.update().where(mine).values(to="erased", subject=None, body="",
                                                                            redacted_body=None))

    return _Participant()
