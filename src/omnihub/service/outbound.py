"""Sending replies (a worker job): claim due replies, send each through its provider — SMTP for e-mail, the Graph
API for WhatsApp, Instagram and Messenger, the SMS provider (messaging.sms, Twilio's format) for SMS — and record the
outcome. A provider failure is retried with backoff; a refusal that no retry can fix (a 4xx from Meta or the SMS
provider, a 5xx SMTP reply) fails the reply at once, visibly."""

from __future__ import annotations

import http.client
import json
import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock
from omnihub.core.db import Database
from omnihub.core.events import emit
from omnihub.core.outbound import OutboundGuard, OutboundRefused
from omnihub.messaging.sms import SmsFailed, SmsProvider
from omnihub.service import rules
from omnihub.service.channels import connection_secrets
from omnihub.service.models import conversation_messages

log = logging.getLogger("omnihub.service")
M = conversation_messages.c
# A claimed reply belongs to its sender this long; then another worker may take it over (its sender died).
LEASE = timedelta(seconds=120)


class SendFailed(Exception):
    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.permanent = permanent


# ---- providers ------------------------------------------------------------------------------------------------


def send_email(smtp_url: str, mailbox: str, row: Any, timeout: float) -> str:
    """smtp://user:pass@host:port (`?starttls=1` upgrades the connection), or smtps:// for TLS from the start.
    The Message-ID is the reply's own (stable across retries), so the customer's answer threads back here."""
    url = urlparse(smtp_url)
    payload = row.payload or {}
    message = EmailMessage()
    message["From"] = mailbox
    if payload.get("reply_to"):
        message["Reply-To"] = payload["reply_to"]
    message["To"] = payload["to"]
    message["Subject"] = payload.get("subject") or ""
    message["Message-ID"] = f"<{row.email_message_id}>"
    message["Date"] = format_datetime(row.at)
    if payload.get("in_reply_to"):
        message["In-Reply-To"] = f"<{payload['in_reply_to']}>"
        message["References"] = f"<{payload['in_reply_to']}>"
    message.set_content(row.text)
    smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    try:
        with smtp_class(url.hostname or "localhost", url.port or (465 if url.scheme == "smtps" else 25),
                        timeout=timeout) as smtp:
            if parse_qs(url.query).get("starttls") == ["1"]:
                smtp.starttls()
            if url.username:
                smtp.login(unquote(url.username), unquote(url.password or ""))
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise SendFailed(f"recipient refused: {codes}", permanent=all(c >= 500 for c in codes)) from None
    except smtplib.SMTPResponseException as exc:
        raise SendFailed(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:500], permanent=exc.smtp_code >= 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SendFailed(f"SMTP unreachable: {exc}"[:500], permanent=False) from None
    return str(row.email_message_id)


def graph_request(kind: str, account_id: str, row: Any) -> tuple[str, dict[str, Any]]:
    """The Graph API call that sends a reply, as Meta documents it: (path, JSON body)."""
    payload = row.payload or {}
    if kind == "instagram":
        return f"/{account_id}/messages", {"recipient": {"id": payload["to"]}, "message": {"text": row.text}}
    if kind == "facebook":  # Messenger's Send API: an answer to the person's message (inside the 24-hour window)
        return f"/{account_id}/messages", {"recipient": {"id": payload["to"]}, "messaging_type": "RESPONSE",
                                           "message": {"text": row.text}}
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": rules.whatsapp_to(payload["to"])}
    template = payload.get("whatsapp_template")
    if template:
        body["type"] = "template"
        body["template"] = {"name": template["name"], "language": {"code": template["language"]}}
        if template.get("parameters"):
            body["template"]["components"] = [{"type": "body", "parameters": [
                {"type": "text", "text": p} for p in template["parameters"]]}]
    else:
        body["type"] = "text"
        body["text"] = {"preview_url": False, "body": row.text}
    return f"/{account_id}/messages", body


def send_graph(secrets: dict[str, str], row: Any, timeout: float, guard: OutboundGuard) -> str:
    """One POST through the outbound guard: the connection goes only to an address the hub may reach (public,
    or inside OMNIHUB_OUTBOUND_ALLOW), checked after DNS resolution."""
    path, body = graph_request(secrets["kind"], secrets["account_id"], row)
    base = urlsplit(secrets["api_base"])
    connection = guard.connection(base.scheme, base.hostname or "", base.port, timeout=timeout)
    try:
        connection.request("POST", base.path.rstrip("/") + path, body=json.dumps(body).encode(), headers={
            "Authorization": f"Bearer {secrets['access_token']}", "Content-Type": "application/json"})
        response = connection.getresponse()
        status, raw = response.status, response.read(1024 * 1024)
    except OutboundRefused as exc:
        raise SendFailed(f"Graph API refused by the outbound guard: {exc}"[:500], permanent=True) from None
    except (OSError, http.client.HTTPException) as exc:
        raise SendFailed(f"Graph API unreachable: {type(exc).__name__}", permanent=False) from None
    finally:
        connection.close()
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if status >= 300:
        error = data.get("error") if isinstance(data, dict) else None
        detail = (error.get("message") if isinstance(error, dict) else None) or raw[:200].decode("utf-8", "replace")
        permanent = 400 <= status < 500 and status not in (408, 429)
        raise SendFailed(f"Graph API {status}: {detail}"[:500], permanent=permanent)
    try:
        return str(data["messages"][0]["id"] if secrets["kind"] == "whatsapp" else data["message_id"])
    except (KeyError, IndexError, TypeError):
        return ""  # sent (2xx) but without the id Meta documents: statuses will not find it


def send_sms(sms: SmsProvider | None, row: Any) -> str:
    """Through the hub's SMS provider; its refusals keep their verdict (a bad number is not retried)."""
    if sms is None:
        raise SendFailed("SMS is not configured (OMNIHUB_SMS_ACCOUNT_SID, _AUTH_TOKEN, _FROM)", permanent=False)
    try:
        return sms.send(str((row.payload or {})["to"]), row.text)
    except SmsFailed as exc:
        raise SendFailed(exc.detail, permanent=exc.permanent) from None


# ---- the job -----------------------------------------------------------------------------------------------------


def _claim(conn: Connection, clock: Clock, limit: int) -> list[Any]:
    """Due replies (queued and due, or claimed by a sender whose lease ran out), each claimed by one worker:
    rows another worker locked are skipped on PostgreSQL; SQLite serialises writers."""
    now = clock.now()
    query = (sa.select(conversation_messages)
             .where(M.status.in_(("queued", "sending")), M.next_attempt_at <= now)
             .order_by(M.next_attempt_at, M.id).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for row in conn.execute(query).all():
        done = conn.execute(conversation_messages.update()
                            .where(M.id == row.id, M.status == row.status, M.attempts == row.attempts)
                            .values(status="sending", attempts=row.attempts + 1, next_attempt_at=now + LEASE,
                                    updated_at=now)).rowcount
        if done:
            claimed.append(conn.execute(sa.select(conversation_messages).where(M.id == row.id)).first())
    return claimed


def _record(conn: Connection, clock: Clock, row: Any, *, provider_id: str | None, failure: SendFailed | None,
            max_attempts: int, backoff: float) -> None:
    now = clock.now()
    mine = (M.id == row.id, M.status == "sending", M.attempts == row.attempts)
    data = {"message_id": row.id, "conversation_id": row.conversation_id, "channel": row.channel}
    if failure is None:
        if conn.execute(conversation_messages.update().where(*mine).values(
                status="sent", provider_message_id=provider_id or None, error=None, next_attempt_at=None,
                updated_at=now)).rowcount:
            emit(conn, clock, "message.sent", {**data, "attempts": row.attempts})
        return
    if failure.permanent or row.attempts >= max_attempts:
        if conn.execute(conversation_messages.update().where(*mine).values(
                status="failed", error=str(failure)[:500], next_attempt_at=None, updated_at=now)).rowcount:
            emit(conn, clock, "message.failed", {**data, "attempts": row.attempts, "error": str(failure)[:200]})
        return
    conn.execute(conversation_messages.update().where(*mine).values(
        status="queued", error=str(failure)[:500], updated_at=now,
        next_attempt_at=now + timedelta(seconds=rules.backoff_seconds(row.attempts, backoff))))


def send_due(db: Database, clock: Clock, *, secret_key: str, smtp_url: str | None, mailbox: str,
             max_attempts: int = 8, backoff: float = 5.0, timeout: float = 10.0, limit: int = 50,
             outbound_allow: str = "", sms: SmsProvider | None = None) -> int:
    """Send what is due. The claim commits before anything leaves, and the outcome is recorded after: a reply is
    never sent by two workers at once, and one whose sender died mid-way is sent again after its lease (for
    e-mail with the same Message-ID, so the receiving side can tell)."""
    guard = OutboundGuard(outbound_allow)
    with db.transaction() as conn:
        claimed = _claim(conn, clock, limit)
    for row in claimed:
        provider_id: str | None = None
        failure: SendFailed | None = None
        try:
            if row.channel == "email":
                if not smtp_url:
                    raise SendFailed("OMNIHUB_SMTP_URL is not set", permanent=False)
                provider_id = send_email(smtp_url, mailbox, row, timeout)
            elif row.channel == "sms":
                provider_id = send_sms(sms, row)
            else:
                with db.read() as conn:
                    secrets = connection_secrets(conn, secret_key, (row.payload or {}).get("connector", ""))
                if secrets is None:
                    raise SendFailed("the connection this reply was queued for is gone", permanent=True)
                provider_id = send_graph(secrets, row, timeout, guard)
        except SendFailed as exc:
            failure = exc
            log.warning("reply %s not sent (attempt %d): %s", row.id, row.attempts, exc)
        with db.transaction() as conn:
            _record(conn, clock, row, provider_id=provider_id, failure=failure, max_attempts=max_attempts,
                    backoff=backoff)
    return len(claimed)
