"""Delivery (a worker job): queued automation messages leave through SMTP (marketing e-mail with the RFC 8058
one-click unsubscribe headers) and the SMS provider (messaging.sms, Twilio's format); with no provider configured
they are recorded as sent to the log, as the message log does."""

from __future__ import annotations

import contextlib
import smtplib
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.automation.models import automation_messages
from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.messaging.sms import SmsFailed, SmsProvider, sms_provider

MSG = automation_messages.c
MAX_ATTEMPTS = 5
SMS_CONCURRENCY = 4


def _send_text(sms: SmsProvider | None, row: Any) -> str | SmsFailed:
    """The provider's message id, or the failure (raised later, in order, by the caller)."""
    assert sms is not None
    try:
        return sms.send(f"whatsapp:{row.to}" if row.channel == "whatsapp" else row.to, row.body)
    except SmsFailed as exc:
        return exc


def email_message(row: object, settings: Settings) -> EmailMessage:
    """The e-mail as it leaves: text and HTML (with the open pixel), and for marketing the unsubscribe headers."""
    base = settings.public_url.rstrip("/") + "/api/v1/automation"
    message = EmailMessage()
    message["From"] = settings.marketing_email
    message["To"] = row.to  # type: ignore[attr-defined]
    message["Subject"] = row.subject or ""  # type: ignore[attr-defined]
    message["Message-ID"] = make_msgid(domain=settings.marketing_email.rpartition("@")[2] or "omnihub.local")
    if row.purpose != "transactional":  # type: ignore[attr-defined]
        message["List-Unsubscribe"] = f"<{base}/u/{row.token}>"  # type: ignore[attr-defined]
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(row.body)  # type: ignore[attr-defined]
    if row.html:  # type: ignore[attr-defined]
        message.add_alternative(row.html, subtype="html")  # type: ignore[attr-defined]
    return message


def deliver(conn: Connection, clock: Clock, settings: Settings, limit: int = 100) -> int:
    """Send what is queued, oldest first; a temporary failure stays queued for the next pass (up to 5 tries)."""
    query = (sa.select(automation_messages).where(MSG.status == "queued").order_by(MSG.created_at, MSG.id)
             .limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    if not rows:
        return 0
    sms = sms_provider(settings)
    texts = [row for row in rows if row.channel in ("sms", "whatsapp") and sms is not None]
    # SMS go out several at a time (each is one HTTP request to the provider); e-mail over one SMTP connection
    with ThreadPoolExecutor(max_workers=SMS_CONCURRENCY) as pool:
        sent_texts = dict(zip((row.id for row in texts), pool.map(lambda row: _send_text(sms, row), texts),
                              strict=True))
    smtp: smtplib.SMTP | None = None
    done = 0
    try:
        for row in rows:
            values: dict[str, object] = {"attempts": row.attempts + 1}
            try:
                if row.id in sent_texts:
                    outcome = sent_texts[row.id]
                    if isinstance(outcome, SmsFailed):
                        raise outcome
                    values.update(status="sent", provider="sms", provider_id=outcome, sent_at=clock.now())
                elif row.channel == "email" and settings.smtp_url:
                    if smtp is None:
                        url = urlparse(settings.smtp_url)
                        smtp = smtplib.SMTP(url.hostname or "localhost", url.port or 25, timeout=10)
                        if url.username:
                            smtp.login(url.username, url.password or "")
                    smtp.send_message(email_message(row, settings))
                    values.update(status="sent", provider="smtp", sent_at=clock.now())
                else:
                    values.update(status="sent", provider="log", sent_at=clock.now())
            except SmsFailed as exc:
                failed = exc.permanent or row.attempts + 1 >= MAX_ATTEMPTS
                values.update(status="failed" if failed else "queued", error=exc.detail[:500])
            except (smtplib.SMTPException, OSError) as exc:
                values.update(status="failed" if row.attempts + 1 >= MAX_ATTEMPTS else "queued",
                              error=f"{type(exc).__name__}: {exc}"[:500])
            conn.execute(automation_messages.update().where(MSG.id == row.id).values(**values))
            done += values.get("status") != "queued"
    finally:
        if smtp is not None:
            with contextlib.suppress(smtplib.SMTPException):
                smtp.quit()
    return done
