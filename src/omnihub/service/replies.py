"""Replies and reply templates: an agent's answer is rendered, checked against the channel's rules (the WhatsApp
window) and queued in the conversation in the agent's transaction; the worker (`outbound.py`) sends it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.commerce import queries as commerce_queries
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import new_id
from omnihub.core.errors import NotFound
from omnihub.core.events import emit
from omnihub.customers import queries as customers_queries
from omnihub.service import errors, rules, sla
from omnihub.service.models import conversation_messages, conversations, meta_connectors, reply_templates
from omnihub.service.service import writable

C = conversations.c
M = conversation_messages.c
T = reply_templates.c
BOT = "bot"  # the author of the bot's answers (service/bot.py)


@dataclass(frozen=True)
class Outlets:
    """What this hub can send through: e-mail needs SMTP, SMS a provider (OMNIHUB_SMS_*); the support mailbox signs
    e-mail and its reply tokens."""

    smtp: bool
    mailbox: str
    sms: bool = False


def outlets_of(settings: Any) -> Outlets:
    """What the settings let this hub send through (SMTP; SMS when all three OMNIHUB_SMS_* credentials are set)."""
    return Outlets(smtp=bool(settings.smtp_url), mailbox=settings.support_email,
                   sms=bool(settings.sms_account_sid and settings.sms_auth_token and settings.sms_from))


# ---- templates ---------------------------------------------------------------------------------------------


def _checked(data: Mapping[str, Any]) -> dict[str, Any]:
    for name in ("body", "subject"):
        if data.get(name):
            try:
                rules.check_template(data[name])
            except rules.TemplateProblem as exc:
                raise errors.template_problem(exc.code, exc.detail, name) from None
    whatsapp = data.get("whatsapp") or {}
    for i, expression in enumerate(whatsapp.get("parameters") or []):
        try:
            rules.check_template(expression)
        except rules.TemplateProblem as exc:
            raise errors.template_problem(exc.code, exc.detail, f"whatsapp.parameters.{i}") from None
    return {"name": data["name"], "body": data["body"], "subject": data.get("subject"),
            "whatsapp_name": whatsapp.get("name"), "whatsapp_language": whatsapp.get("language"),
            "whatsapp_parameters": list(whatsapp.get("parameters") or [])}


def create_template(conn: Connection, clock: Clock, data: Mapping[str, Any]) -> None:
    if conn.execute(sa.select(T.code).where(T.code == data["code"])).first() is not None:
        raise errors.template_exists(data["code"])
    now = clock.now()
    conn.execute(reply_templates.insert(), dict(code=data["code"], **_checked(data), created_at=now, updated_at=now))


def replace_template(conn: Connection, clock: Clock, code: str, data: Mapping[str, Any]) -> bool:
    """Create or replace; True when it was created."""
    values = _checked(data)
    now = clock.now()
    if conn.execute(reply_templates.update().where(T.code == code).values(**values, updated_at=now)).rowcount:
        return False
    conn.execute(reply_templates.insert(), dict(code=code, **values, created_at=now, updated_at=now))
    return True


def delete_template(conn: Connection, code: str) -> None:
    if not conn.execute(reply_templates.delete().where(T.code == code)).rowcount:
        raise errors.template_not_found(code)


# ---- where a reply can go ----------------------------------------------------------------------------------------


def _reachable(conn: Connection, conversation_id: str, customer_id: str) -> dict[str, dict[str, Any]]:
    """Per channel a reply can go out on: the address and connection of the customer's latest message there, or
    (e-mail, WhatsApp) an address from their profile when they never wrote from it."""
    found: dict[str, dict[str, Any]] = {}
    for row in conn.execute(sa.select(M.channel, M.address, M.at, M.payload, M.subject, M.email_message_id)
                            .where(M.conversation_id == conversation_id, M.direction == "in",
                                   M.channel.in_(rules.SENDABLE), M.address.is_not(None))
                            .order_by(M.at.desc(), M.id.desc())):
        if row.channel not in found:
            found[row.channel] = {"address": row.address, "last_inbound_at": as_utc(row.at),
                                  "connector": (row.payload or {}).get("connector"), "subject": row.subject,
                                  "in_reply_to": row.email_message_id}
    contacts = customers_queries.contacts(conn, customer_id)
    if "email" not in found and contacts.get("email"):
        found["email"] = {"address": contacts["email"], "last_inbound_at": None}
    if "whatsapp" not in found and contacts.get("sms"):
        found["whatsapp"] = {"address": contacts["sms"], "last_inbound_at": None}
    if "sms" not in found and contacts.get("sms"):
        found["sms"] = {"address": contacts["sms"], "last_inbound_at": None}
    return found


def _connector(conn: Connection, kind: str, preferred: str | None) -> str | None:
    mc = meta_connectors.c
    if preferred and conn.execute(sa.select(mc.channel).where(mc.channel == preferred, mc.kind == kind)).first():
        return preferred
    return conn.execute(sa.select(mc.channel).where(mc.kind == kind).order_by(mc.channel).limit(1)).scalar()


def _order_for(conn: Connection, customer_id: str, wanted: Any) -> dict[str, Any] | None:
    """The order a template speaks of: the one named in `variables.order` (id or number), else the latest."""
    if isinstance(wanted, str):
        try:
            order = commerce_queries.get_order(conn, wanted, show_pickup_code=False)
        except NotFound:
            order = None
        if order is None or order["customer_id"] != customer_id:
            raise errors.template_problem("order_not_found", f"The customer has no order '{wanted}'.",
                                          "variables.order")
    else:
        items = commerce_queries.orders_of_customer(conn, [customer_id], limit=1, cursor=None)["items"]
        order = items[0] if items else None
    if order is None:
        return None
    return {"id": order["id"], "number": order["number"], "status": order["status"],
            "total": str(order["totals"]["total"]), "currency": order["totals"]["currency"],
            "channel": order["channel"]}


def _render(conn: Connection, clock: Clock, conv: Any, code: str, variables: Mapping[str, Any]
            ) -> tuple[dict[str, Any], str, str | None, list[str]]:
    """(template, body, subject, WhatsApp parameters), all rendered before anything is queued."""
    try:
        rules.check_variables(variables)
    except rules.TemplateProblem as exc:
        raise errors.template_problem(exc.code, exc.detail, "variables") from None
    row = conn.execute(sa.select(reply_templates).where(T.code == code)).first()
    if row is None:
        raise errors.template_not_found(code, "template")
    profile = customers_queries.customer_view(conn, clock, conv.customer_id)
    given = dict(variables)
    wanted = given.pop("order", None) if not isinstance(given.get("order"), dict) else None
    context = rules.template_context(profile, _order_for(conn, conv.customer_id, wanted), given)
    try:
        body = rules.render(row.body, context)
        subject = rules.render(row.subject, context) if row.subject else None
        parameters = [rules.render(p, context) for p in (row.whatsapp_parameters or [])]
    except rules.TemplateProblem as exc:
        raise errors.template_problem(exc.code, exc.detail, "variables") from None
    return dict(row._mapping), body, subject, parameters


def reply(conn: Connection, clock: Clock, conversation_id: str, *, text: str | None, template: str | None,
          variables: Mapping[str, Any], channel: str | None, actor: str, outlets: Outlets,
          automatic: bool = False) -> dict[str, Any]:
    """Queue an agent's reply on the channel the customer last wrote from (or the one the agent picks, if the
    customer has it). Everything that can refuse it — template variables, the channel, the WhatsApp window — is
    checked here, so a queued reply is one the worker can send. `automatic` (the CSAT question): sent the same
    way, but not a response — the conversation's status and first response stay as they are."""
    if bool(text) == bool(template):
        raise errors.text_or_template()
    conv = writable(conn, conversation_id)
    now = clock.now()
    reachable = _reachable(conn, conv.id, conv.customer_id)
    last_in = conn.execute(sa.select(M.channel).where(M.conversation_id == conv.id, M.direction == "in")
                           .order_by(M.at.desc(), M.id.desc()).limit(1)).scalar()
    chosen = rules.reply_channel(channel, last_in, reachable)
    if chosen is None:
        raise errors.channel_unreachable(channel or last_in)
    target = reachable[chosen]
    payload: dict[str, Any] = {"to": target["address"]}
    if chosen == "email":
        if not outlets.smtp:
            raise errors.channel_not_configured("email")
        payload["in_reply_to"] = target.get("in_reply_to")
        local, _, domain = outlets.mailbox.partition("@")
        payload["reply_to"] = f"{local}+{conv.reply_token}@{domain}"
    elif chosen == "sms":
        if not outlets.sms:
            raise errors.channel_not_configured("sms")
    else:
        connector = _connector(conn, chosen, target.get("connector"))
        if connector is None:
            raise errors.channel_not_configured(chosen)
        payload["connector"] = connector

    row, body, subject, parameters = (_render(conn, clock, conv, template, variables) if template
                                      else (None, text or "", None, []))
    if chosen == "whatsapp" and not rules.whatsapp_window_open(target.get("last_inbound_at"), now):
        if row is None:
            last = target.get("last_inbound_at")
            raise errors.whatsapp_window_closed(last.isoformat() if last else None)
        if not row["whatsapp_name"]:
            raise errors.template_not_for_whatsapp(row["code"])
        payload["whatsapp_template"] = {"name": row["whatsapp_name"], "language": row["whatsapp_language"] or "en",
                                        "parameters": parameters}
    if chosen == "email":
        previous = target.get("subject")
        payload["subject"] = subject or (f"Re: {previous}" if previous and not previous.lower().startswith("re:")
                                         else previous) or "Your conversation with us"
    if chosen == "sms" and len(body) > rules.MAX_SMS_CHARS:
        raise errors.sms_too_long(rules.MAX_SMS_CHARS)
    message_id = new_id("cmsg")
    domain = outlets.mailbox.partition("@")[2] or "omnihub.local"
    conn.execute(conversation_messages.insert(), dict(
        id=message_id, conversation_id=conv.id, origin_conversation_id=conv.id, channel=chosen, direction="out",
        author=actor, text=body, subject=payload.get("subject"), attachments=[], address=target["address"],
        email_message_id=f"{message_id}@{domain}" if chosen == "email" else None, status="queued", attempts=0,
        next_attempt_at=now, template=template, payload=payload, at=now, updated_at=now))
    if not automatic:
        # Only a person's reply is a response for the SLA: the bot's answer waits on the customer (pending) but
        # leaves the first response, and any next response owed, to the agents.
        human = actor != BOT
        conn.execute(conversations.update().where(C.id == conv.id).values(
            status="pending" if conv.status == "open" else conv.status,
            first_response_at=conv.first_response_at or (now if human else None), last_message_at=now,
            updated_at=now))
        sla.refresh(conn, conv.id, now, answered=human)
    emit(conn, clock, "message.queued", {"message_id": message_id, "conversation_id": conv.id,
                                         "customer_id": conv.customer_id, "channel": chosen, "template": template})
    return {"id": message_id, "conversation_id": conv.id, "channel": chosen, "status": "queued", "text": body,
            "template": template, "whatsapp_template": payload.get("whatsapp_template", {}).get("name")}
