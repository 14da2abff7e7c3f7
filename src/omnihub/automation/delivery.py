"""Delivery (a worker job): queued automation messages leave through SMTP (marketing e-mail with the RFC 8058
one-click unsubscribe headers) and the SMS provider (messaging.sms, Twilio's format); with no provider configured
they are recorded as sent to the log, as the message log does.

A pass claims a batch (on PostgreSQL `FOR UPDATE SKIP LOCKED`: passes running at once take different messages, and
a message is marked sent in the transaction that claimed it, so none goes twice), hands its SMS to the provider
SMS_CONCURRENCY at a time over kept-alive connections (one per sending thread, reused from pass to pass), and
records every outcome with one statement per kind of outcome."""

from __future__ import annotations

import contextlib
import smtplib
import threading
from collections import defaultdict
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
from omnihub.messaging.sms import SmsFailed, SmsProvider, TwilioSms, sms_provider

MSG = automation_messages.c
MAX_ATTEMPTS = 5
SMS_CONCURRENCY = 16
DELIVER_BATCH = 400


class _TextSender:
    """A pool of sending threads, each with its own kept-alive connection to the provider (a new connection per
    message costs a handshake, and a provider's listen queue drops bursts of them)."""

    def __init__(self, sms: SmsProvider, concurrency: int) -> None:
        self.sms = sms
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="automation-sms")
        self.local = threading.local()

    def _send(self, row: Any) -> str | SmsFailed:
        """The provider's message id, or the failure (raised later, in order, by the caller)."""
        to = f"whatsapp:{row.to}" if row.channel == "whatsapp" else row.to
        try:
            if not isinstance(self.sms, TwilioSms):
                return self.sms.send(to, row.body)
            connection = getattr(self.local, "connection", None)
            if connection is None:
                connection = self.local.connection = self.sms.connection()
            return self.sms.send_on(connection, to, row.body)
        except SmsFailed as exc:
            return exc

    def send_all(self, rows: list[Any]) -> dict[str, str | SmsFailed]:
        return dict(zip((row.id for row in rows), self.pool.map(self._send, rows), strict=True))

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        # the threads' connections close with the threads' locals


_sender_lock = threading.Lock()
_sender: tuple[tuple[Any, ...], _TextSender] | None = None


def _text_sender(settings: Settings) -> _TextSender | None:
    """The process's sender for the configured provider (kept while the configuration stays the same)."""
    global _sender
    key = tuple(getattr(settings, name, None) for name in (
        "sms_account_sid", "sms_auth_token", "sms_from", "sms_api_base", "outbound_allow"))
    with _sender_lock:
        if _sender is not None and _sender[0] == key:
            return _sender[1]
        sms = sms_provider(settings)
        old, _sender = _sender, ((key, _TextSender(sms, SMS_CONCURRENCY)) if sms is not None else None)
    if old is not None:
        old[1].close()
    return _sender[1] if _sender is not None else None


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


def deliver(conn: Connection, clock: Clock, settings: Settings, limit: int = DELIVER_BATCH) -> int:
    """Send what is queued, oldest first; a temporary failure stays queued for the next pass (up to 5 tries)."""
    query = (sa.select(automation_messages).where(MSG.status == "queued").order_by(MSG.created_at, MSG.id)
             .limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    if not rows:
        return 0
    sender = _text_sender(settings)
    texts = [row for row in rows if row.channel in ("sms", "whatsapp") and sender is not None]
    # SMS go out several at a time (each is one HTTP request to the provider); e-mail over one SMTP connection
    sent_texts = sender.send_all(texts) if sender is not None and texts else {}
    smtp: smtplib.SMTP | None = None
    outcomes: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
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
            outcomes[tuple(sorted(values))].append({"b_id": row.id, **values})
            done += values.get("status") != "queued"
    finally:
        if smtp is not None:
            with contextlib.suppress(smtplib.SMTPException):
                smtp.quit()
    _record(conn, outcomes)
    return done


def _record(conn: Connection, outcomes: dict[tuple[str, ...], list[dict[str, object]]]) -> None:
    """Each kind of outcome (the columns it sets) as one executemany UPDATE."""
    for columns, params in outcomes.items():
        conn.execute(automation_messages.update().where(MSG.id == sa.bindparam("b_id"))
                     .values({name: sa.bindparam(name) for name in columns}), params)
