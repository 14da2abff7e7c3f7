"""The providers' own formats in and out of the hub's shape: Meta connections (configuration with sealed
secrets, the verification handshake, signed WhatsApp/Instagram/Messenger webhooks, delivery statuses) and raw e-mail."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog_queries
from omnihub.core.clock import Clock, as_utc
from omnihub.core.events import emit
from omnihub.core.outbound import OutboundGuard, OutboundRefused
from omnihub.core.secretbox import seal, unseal
from omnihub.service import errors, rules
from omnihub.service.models import conversation_messages, meta_connectors
from omnihub.service.service import Inbound

MC = meta_connectors.c
M = conversation_messages.c
DEFAULT_GRAPH = "https://graph.facebook.com/v21.0"
SEALED = ("app_secret", "verify_token", "access_token")
_PURPOSE = "service.meta"


# ---- Meta connections ------------------------------------------------------------------------------------------


def check_api_base(url: str, guard: OutboundGuard) -> str:
    """The Graph API base a connection sends to. Only http(s) URLs with a host; no credentials or fragments in
    it (the access token travels in the Authorization header only); never a loopback, private or link-local
    address unless OMNIHUB_OUTBOUND_ALLOW lets it (checked again on every connection)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise errors.connector_invalid("api_base", "api_base must be an http(s) URL with a host.")
    if parsed.username or parsed.password or parsed.fragment or parsed.query:
        raise errors.connector_invalid("api_base", "api_base takes no credentials, query or fragment.")
    try:
        guard.check_url(url)
    except OutboundRefused as exc:
        raise errors.connector_invalid("api_base", str(exc)) from None
    return url.rstrip("/")


def connection_out(row: Any) -> dict[str, Any]:
    """A connection as the API shows it: which secrets are set, never their values."""
    return {"channel": row.channel, "kind": row.kind,
            "phone_number_id": row.account_id if row.kind == "whatsapp" else None,
            "page_id": row.account_id if row.kind in ("instagram", "facebook") else None,
            "api_base": row.api_base, "secrets_set": list(SEALED),
            "created_at": as_utc(row.created_at), "updated_at": as_utc(row.updated_at)}


def configure_meta(conn: Connection, clock: Clock, secret_key: str, channel: str, data: dict[str, Any],
                   guard: OutboundGuard) -> tuple[dict[str, Any], bool]:
    """Create or replace the channel's connection. `phone_number_id` makes it WhatsApp, `page_id` Instagram — or
    Messenger with `kind: facebook` (a Facebook Page)."""
    catalog_queries.get_channel(conn, channel, field="channel")
    phone, page = data.get("phone_number_id"), data.get("page_id")
    if bool(phone) == bool(page):
        raise errors.connector_invalid("phone_number_id", "Give phone_number_id (WhatsApp) or page_id (Instagram), "
                                       "exactly one.")
    kind, account = ("whatsapp", phone) if phone else (data.get("kind") or "instagram", page)
    if data.get("kind") not in (None, kind) or (kind == "whatsapp") != bool(phone):
        raise errors.connector_invalid("kind", "kind whatsapp goes with phone_number_id; instagram and facebook "
                                       "(Messenger) with page_id.")
    other = conn.execute(sa.select(MC.channel).where(MC.account_id == account, MC.channel != channel)).scalar()
    if other is not None:
        raise errors.account_taken(account, other)
    now = clock.now()
    api_base = check_api_base(data.get("api_base") or DEFAULT_GRAPH, guard)
    values = {"kind": kind, "account_id": account, "api_base": api_base,
              **{name: seal(secret_key, _PURPOSE, data[name]) for name in SEALED}, "updated_at": now}
    created = not conn.execute(meta_connectors.update().where(MC.channel == channel).values(**values)).rowcount
    if created:
        conn.execute(meta_connectors.insert(), dict(channel=channel, created_at=now, **values))
    emit(conn, clock, "connector.configured", {"connector": "meta", "channel": channel, "kind": kind})
    row = conn.execute(sa.select(meta_connectors).where(MC.channel == channel)).one()
    return connection_out(row), created


def get_connection(conn: Connection, channel: str) -> dict[str, Any]:
    row = conn.execute(sa.select(meta_connectors).where(MC.channel == channel)).first()
    if row is None:
        raise errors.connection_not_found(channel)
    return connection_out(row)


def connection_secrets(conn: Connection, secret_key: str, channel: str) -> dict[str, str] | None:
    row = conn.execute(sa.select(meta_connectors).where(MC.channel == channel)).first()
    if row is None:
        return None
    return {"channel": row.channel, "kind": row.kind, "account_id": row.account_id, "api_base": row.api_base,
            **{name: unseal(secret_key, _PURPOSE, getattr(row, name)) for name in SEALED}}


def verify_handshake(conn: Connection, secret_key: str, mode: str | None, token: str | None) -> None:
    """Meta's subscription check: `hub.mode=subscribe` with the verify token of one of our connections."""
    if mode != "subscribe" or not token:
        raise errors.bad_verify_token()
    for sealed in conn.execute(sa.select(MC.verify_token)).scalars():
        if hmac.compare_digest(unseal(secret_key, _PURPOSE, sealed).encode(), token.encode()):
            return
    raise errors.bad_verify_token()


def unseal_app_secret(secret_key: str, sealed: str) -> str:
    """A connection's app secret in clear, to check a webhook's signature (service.ingest caches it)."""
    return unseal(secret_key, _PURPOSE, sealed)


def signed_by(app_secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def meta_inbound(message: rules.MetaMessage, connection: dict[str, str]) -> Inbound:
    """A WhatsApp sender is their phone number (it joins the profile that gave it at a till or a checkout); an
    Instagram or Messenger sender is the account-scoped id Meta gives them (kept as an external id of system
    `instagram` / `facebook`). WhatsApp media are described by the Graph API later, in `media.describe`."""
    if message.kind == "whatsapp":
        identity: Any = {"kind": "phone", "value": "+" + rules.whatsapp_to(message.sender)}
    else:
        identity = {"kind": "external", "value": message.sender, "system": message.kind}
    return Inbound(channel=message.kind, identity=identity, text=message.text, attachments=message.attachments,
                   external_id=message.external_id, thread_refs=[message.reply_to] if message.reply_to else [],
                   at=message.at, name=(message.name or "")[:200] or None, address=message.sender,
                   sales_channel=connection["channel"],
                   connector=connection["channel"])


def apply_status(conn: Connection, clock: Clock, status: rules.MetaStatus) -> bool:
    """Delivered/read/failed from Meta: statuses only move forward; `failed` stands unless it was read."""
    row = conn.execute(sa.select(M.id, M.status, M.conversation_id, M.channel).where(
        M.provider_message_id == status.provider_message_id, M.direction == "out")).first()
    if row is None:
        return False
    if status.status == "failed":
        if row.status == "read":
            return False
        values: dict[str, Any] = {"status": "failed", "error": status.error or "failed at the provider"}
    elif rules.status_rank(status.status) > rules.status_rank(row.status):
        values = {"status": status.status}
    else:
        return False
    conn.execute(conversation_messages.update().where(M.id == row.id).values(**values, updated_at=clock.now()))
    emit(conn, clock, f"message.{status.status}", {"message_id": row.id, "conversation_id": row.conversation_id,
                                                   "channel": row.channel})
    return True


# ---- e-mail ---------------------------------------------------------------------------------------------------


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag in ("br", "p", "div", "tr", "li", "blockquote"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)


def parse_email(raw: bytes, mailbox: str, *, sales_channel: str | None = None) -> Inbound:
    """A raw RFC 822 message in the hub's shape: the sender's address as identity, the new text trimmed of quoted
    history and signature (the original kept), attachments described, threads by In-Reply-To/References and by
    the reply token in `support+<token>@…`. No Message-ID: the body's hash stands in, so a re-delivery is one."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        senders = [a for _, a in getaddresses([str(message.get("From", ""))]) if "@" in a]
        if not senders:
            raise errors.invalid_email("The message has no sender address.", "From")
        name = next((n[:200] for n, a in getaddresses([str(message.get("From", ""))]) if a == senders[0] and n),
                    None)
        body_part = message.get_body(preferencelist=("plain", "html"))
        body = ""
        if body_part is not None:
            content = body_part.get_content()
            body = _html_text(content) if body_part.get_content_type() == "text/html" else str(content)
        attachments = []
        for part in message.iter_attachments():
            content = part.get_payload(decode=True) or b""
            attachments.append({"type": "file", "filename": part.get_filename(),
                                "content_type": part.get_content_type(), "size": len(content)})
        recipients = [a for _, a in getaddresses([str(message.get(h, "")) for h in
                                                  ("To", "Cc", "Delivered-To", "X-Original-To")])]
        message_ids = rules.message_ids(str(message.get("Message-ID", "")))
        refs = rules.message_ids(str(message.get("In-Reply-To", ""))) + rules.message_ids(
            str(message.get("References", "")))
        at: datetime | None = None
        if message.get("Date"):
            try:
                at = parsedate_to_datetime(str(message["Date"]))
                at = at if at.tzinfo else None
            except (TypeError, ValueError):
                at = None
        subject = str(message.get("Subject", ""))[:300] or None
    except errors.ValidationFailed:
        raise
    except Exception as exc:  # a malformed message in any of the ways e-mail can be malformed
        raise errors.invalid_email(f"The message could not be read: {type(exc).__name__}.") from None
    own_id = message_ids[0] if message_ids and len(message_ids[0]) <= 300 else None  # longer: its hash stands in
    return Inbound(
        channel="email", identity={"kind": "email", "value": senders[0]}, text=rules.trim_email(body)[:20_000],
        attachments=attachments, external_id=own_id or "sha256:" + hashlib.sha256(raw).hexdigest(),
        thread_refs=[r for r in dict.fromkeys(reversed(refs)) if len(r) <= 300][:50],
        reply_token=rules.reply_token(recipients, mailbox), at=at,
        name=name, address=senders[0], subject=subject, original=raw.decode("utf-8", "replace"),
        email_message_id=own_id, sales_channel=sales_channel)

