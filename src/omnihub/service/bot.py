"""The bot, first line on customers' messages: an event handler of the worker's dispatcher, run on each
`message.received` in the dispatch transaction (so a message is handled exactly once), each message in its own
savepoint. It answers from the knowledge base above the confidence threshold, citing the article; answers the
order-status question with the customer's real latest order only when the message came from an identity the
identity graph trusts as this customer's (strong: a phone, a Meta account id, a handle, a verified e-mail);
hands off to the queue otherwise — a person asked for, a complaint, a refund, low confidence. Its answers go out
through the agents' reply path (`replies.reply`, author `bot`): queued in the conversation, sent by the worker on
the customer's channel. It stays silent in a conversation that a person has: assigned, handed off, or answered
by an agent."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.commerce import queries as commerce_queries
from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.errors import DomainError
from omnihub.core.events import Event, emit
from omnihub.customers import queries as customers_queries
from omnihub.customers import rules as customers_rules
from omnihub.inventory import queries as inventory_queries
from omnihub.service import bot_rules, replies, routing, rules, sla
from omnihub.service.knowledge_queries import current_index, open_handoff
from omnihub.service.models import bot_handoffs, conversation_messages, conversations
from omnihub.service.service import current

log = logging.getLogger("omnihub.service.bot")
BOT = replies.BOT
C = conversations.c
M = conversation_messages.c
H = bot_handoffs.c
ANSWERS_ON = routing.BOT_CHANNELS  # not `phone`: a logged call
MAX_QUESTION = 2000  # characters of a message the bot reads


# ---- trust -------------------------------------------------------------------------------------------------------


def _sender_identity(channel: str, address: str | None) -> customers_rules.Identity | None:
    """The identity the message came from, as the identity graph stores it (from the channel and address)."""
    if not address:
        return None
    if channel == "email":
        hint: dict[str, Any] = {"kind": "email", "value": address}
    elif channel in ("whatsapp", "sms"):
        digits = address.strip()
        hint = {"kind": "phone", "value": digits if digits.startswith("+") else "+" + digits}
    elif channel in ("instagram", "facebook"):
        hint = {"kind": "external", "value": address, "system": channel}
    else:
        return None
    try:
        parsed = customers_rules.parse_identities(hint, None, "identity")
    except DomainError:
        return None
    return parsed[0] if parsed else None


def verified_sender(conn: Connection, clock: Clock, customer_id: str, channel: str, address: str | None) -> bool:
    """True when the message came from an identity of this customer that the graph counts as strong. An unverified
    e-mail, a device id or a web chat without one is not enough to be told about orders."""
    sender = _sender_identity(channel, address)
    if sender is None:
        return False
    if channel in ("instagram", "facebook"):  # kept as an external id or, when given so, as a handle
        wanted = {("external", channel, sender.value), ("handle", channel, sender.value.lstrip("@").lower())}
    else:
        wanted = {(sender.kind, sender.namespace, sender.value)}
    for identity in customers_queries.customer_view(conn, clock, customer_id).get("identities", []):
        namespace = identity.get("network") or identity.get("system") or ""
        if (identity["kind"], namespace, identity["value"]) in wanted and identity.get("trust") == "strong":
            return True
    return False


# ---- the conversation's state -------------------------------------------------------------------------------------


def _person_has_it(conn: Connection, conv: Any) -> bool:
    """Assigned, handed off and not resolved since, or an agent (not the bot) answered since the last handoff
    closed: the bot stays out of a conversation a person has."""
    if conv.assignee or open_handoff(conn, conv.id) is not None:
        return True
    since = conn.execute(sa.select(sa.func.max(H.closed_at)).where(H.conversation_id == conv.id)).scalar()
    human = sa.select(M.id).where(M.conversation_id == conv.id, M.direction == "out",
                                  sa.or_(M.author.is_(None), M.author != BOT))
    if since is not None:
        human = human.where(M.at > since)
    return conn.execute(human.limit(1)).first() is not None


def hand_off(conn: Connection, clock: Clock, conv: Any, message_id: str, reason: str,
             detail: dict[str, Any] | None = None) -> None:
    """The conversation goes to the queue: unassigned, open, the reason kept (`handoff` in the API) and the whole
    thread as it is."""
    now = clock.now()
    conn.execute(bot_handoffs.insert(), dict(id=new_id("hof"), conversation_id=conv.id, message_id=message_id,
                                             reason=reason, detail=detail or {}, at=now, open_for=conv.id))
    conn.execute(conversations.update().where(C.id == conv.id, C.status.in_(("open", "pending")))
                 .values(status="open", updated_at=now))
    sla.refresh(conn, conv.id, now)  # back in the queue: a paused clock runs again
    routing.on_handoff(conn, clock, conv.id)
    emit(conn, clock, "conversation.handed_off", {"conversation_id": conv.id, "message_id": message_id,
                                                  "reason": reason})


def close_handoffs(conn: Connection, clock: Clock, conversation_id: str) -> None:
    """A resolved conversation is nobody's: the next message from the customer meets the bot again."""
    conn.execute(bot_handoffs.update().where(H.open_for == conversation_id)
                 .values(open_for=None, closed_at=clock.now()))


# ---- answering ---------------------------------------------------------------------------------------------------


def _send(conn: Connection, clock: Clock, settings: Settings, conv: Any, text: str) -> str | None:
    """Queue the bot's answer through the agents' reply path (same channel, outbox, worker). None when the
    customer cannot be answered on it (a web chat, a closed WhatsApp window, no connection): then a person must."""
    outlets = replies.outlets_of(settings)
    try:
        with conn.begin_nested():
            out = replies.reply(conn, clock, conv.id, text=text, template=None, variables={}, channel=None,
                                actor=BOT, outlets=outlets)
    except DomainError as exc:
        log.info("bot cannot answer in %s: %s", conv.id, exc.code)
        return None
    return str(out["id"])


def _latest_order(conn: Connection, customer_id: str) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                                 str | None, dict[str, Any] | None] | None:
    items = commerce_queries.orders_of_customer(conn, [customer_id], limit=1, cursor=None)["items"]
    if not items:
        return None
    order = items[0]
    shipments = commerce_queries.shipments_of(conn, order["id"])
    pickup = order.get("pickup") or {}
    place = slot = None
    if pickup.get("location"):
        try:
            place = inventory_queries.get_location(conn, pickup["location"])["name"]
        except DomainError:
            place = pickup["location"]
        if pickup.get("slot"):
            try:
                slot = commerce_queries.get_slot(conn, pickup["slot"])
            except DomainError:
                slot = None
    return order, shipments, place, slot


def respond(conn: Connection, clock: Clock, settings: Settings, message_id: str) -> str | None:
    """The bot's turn on one customer message; returns what it did (`answer_article`, `answer_order`,
    `ask_verification`, `handoff`) or None when it stays silent."""
    msg = conn.execute(sa.select(conversation_messages).where(M.id == message_id)).first()
    if msg is None or msg.direction != "in" or msg.channel not in ANSWERS_ON or not (msg.text or "").strip():
        return None
    conv = current(conn, msg.conversation_id)
    if conv.status not in ("open", "pending") or _person_has_it(conn, conv):
        return None
    text = msg.text[:MAX_QUESTION]
    now = clock.now()
    reasons = {r["rule"] for r in rules.priority_reasons([], text, now)}
    language = bot_rules.detect_language(text)
    hit = None
    if not bot_rules.wants_person(text) and not bot_rules.asks_order_status(text):
        found_language, hits = current_index(conn).search(text, language=language)
        hit = hits[0] if hits else None
        language = language or found_language
    verified = (verified_sender(conn, clock, conv.customer_id, msg.channel, msg.address)
                if bot_rules.asks_order_status(text) else None)
    decision = bot_rules.decide(text, complaint="complaint" in reasons,
                                refund=bot_rules.asks_refund(text, "refund_asked" in reasons),
                                verified=verified, hit=hit, threshold=settings.service_bot_threshold)
    language = language or (hit.language if hit else "es")
    best = {"article_id": hit.article_id, "confidence": hit.confidence} if hit else {}

    if decision.action == "answer_article" and decision.hit is not None:
        sent = _send(conn, clock, settings, conv, bot_rules.article_answer(decision.hit))
        if sent is None:
            hand_off(conn, clock, conv, msg.id, "cannot_reply", best)
            return "handoff"
        emit(conn, clock, "bot.answered", {"conversation_id": conv.id, "message_id": sent, "kind": "article",
                                           "article_id": decision.hit.article_id,
                                           "confidence": decision.hit.confidence})
        return decision.action
    if decision.action == "answer_order":
        latest = _latest_order(conn, conv.customer_id)
        if latest is None:
            hand_off(conn, clock, conv, msg.id, "no_order")
            return "handoff"
        order, shipments, place, slot = latest
        sent = _send(conn, clock, settings, conv, bot_rules.order_answer(order, shipments, place, slot, language))
        if sent is None:
            hand_off(conn, clock, conv, msg.id, "cannot_reply", {"order": order["number"]})
            return "handoff"
        emit(conn, clock, "bot.answered", {"conversation_id": conv.id, "message_id": sent, "kind": "order",
                                           "order_id": order["id"]})
        return decision.action
    if decision.action == "none":
        return None
    if decision.action == "ask_verification":
        _send(conn, clock, settings, conv, bot_rules.verification_request(language))
    hand_off(conn, clock, conv, msg.id, decision.reason or "low_confidence", best)
    return "handoff" if decision.action == "handoff" else decision.action


class BotHandler:
    """The dispatcher's handle on the bot. A failure answering one message is logged and leaves that message to
    the people (its savepoint rolls back); it never holds up the other handlers. Database errors are raised, so
    the dispatcher retries the batch."""

    name = "service.bot"

    def __init__(self, clock: Clock, settings: Settings) -> None:
        self.clock = clock
        self.settings = settings

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        for event in events:
            if event.type == "conversation.resolved":
                close_handoffs(conn, self.clock, event.data["conversation_id"])
            elif event.type == "message.received" and self.settings.service_bot_enabled:
                try:
                    with conn.begin_nested():
                        respond(conn, self.clock, self.settings, event.data["message_id"])
                except sa.exc.DBAPIError:
                    raise
                except Exception:
                    log.exception("the bot failed on message %s", event.data.get("message_id"))

    def close(self) -> None:
        """Nothing to release (the index lives in `knowledge_queries`)."""
