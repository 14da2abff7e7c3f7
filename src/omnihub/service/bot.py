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
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.commerce import queries as commerce_queries
from omnihub.config import Settings
from omnihub.core.bulk import copy_rows
from omnihub.core.clock import Clock
from omnihub.core.db import PerEngine, new_id, new_ids
from omnihub.core.errors import DomainError
from omnihub.core.events import Event, emit, emit_many
from omnihub.customers import queries as customers_queries
from omnihub.customers import rules as customers_rules
from omnihub.inventory import queries as inventory_queries
from omnihub.service import bot_rules, replies, routing, rules, sla
from omnihub.service.batch import by_columns
from omnihub.service.knowledge_queries import current_index
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


@lru_cache(maxsize=4096)  # pure, and a phone number's parsing is the costly part of the bot's turn
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


def verified_sender(conn: Connection, clock: Clock, customer_id: str, channel: str, address: str | None,
                    identities: list[dict[str, Any]] | None = None) -> bool:
    """True when the message came from an identity of this customer that the graph counts as strong. An unverified
    e-mail, a device id or a web chat without one is not enough to be told about orders."""
    sender = _sender_identity(channel, address)
    if sender is None:
        return False
    if channel in ("instagram", "facebook"):  # kept as an external id or, when given so, as a handle
        wanted = {("external", channel, sender.value), ("handle", channel, sender.value.lstrip("@").lower())}
    else:
        wanted = {(sender.kind, sender.namespace, sender.value)}
    if identities is None:
        identities = customers_queries.identities_of(conn, customer_id)
    for identity in identities:
        namespace = identity.get("network") or identity.get("system") or ""
        if (identity["kind"], namespace, identity["value"]) in wanted and identity.get("trust") == "strong":
            return True
    return False


# ---- the conversation's state -------------------------------------------------------------------------------------


def _person_has(conv_id: Any) -> Any:
    """SQL: a handoff of the conversation still open, or an agent's answer since its last handoff closed (any time
    when none has) — for one id (a parameter) or a batch's (a column)."""
    outer = [conversations] if isinstance(conv_id, sa.Column) else []  # correlated to the batch's rows
    since = (sa.select(sa.func.max(H.closed_at)).where(H.conversation_id == conv_id).correlate(*outer)
             .scalar_subquery())
    return sa.or_(sa.exists().where(H.open_for == conv_id).correlate(*outer),
                  sa.exists().where(M.conversation_id == conv_id, M.direction == "out",
                                    sa.or_(M.author.is_(None), M.author != BOT), sa.or_(since.is_(None), M.at > since))
                  .correlate(*outer))


_PERSON_HAS_IT = sa.select(_person_has(sa.bindparam("b_conv")))


def _person_has_it(conn: Connection, conv: Any, seen: _Seen | None = None) -> bool:
    """Assigned, handed off and not resolved since, or an agent (not the bot) answered since the last handoff
    closed: the bot stays out of a conversation a person has."""
    if conv.assignee or (seen is not None and conv.id in seen.handed):
        return True
    if seen is not None and seen.fresh(conv.id):
        return conv.id in seen.people
    return bool(conn.execute(_PERSON_HAS_IT, {"b_conv": conv.id}).scalar())


@dataclass(frozen=True)
class Handoff:
    """A handoff the bot decided on, written with the others of its dispatch batch (`hand_off_many`)."""

    conv: Any
    message_id: str
    reason: str
    detail: dict[str, Any] | None = None


@dataclass
class _Seen:
    """What the bot reads of a dispatch batch's messages, read once for all of them (a few queries instead of a
    few per message): the messages, their conversations, which of those a person has, the senders' identities,
    which senders have an order, the knowledge index (at the first question for it). Nothing else in the
    dispatch transaction writes these before the bot's turn is over, except the bot itself: a conversation it
    acted on (`touched`) is read again, one by one, as before."""

    messages: dict[str, Any] = field(default_factory=dict)
    conversations: dict[str, Any] = field(default_factory=dict)
    people: set[str] = field(default_factory=set)  # conversations a person has, of those read
    identities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # customer id -> as in the 360 view
    ordered: set[str] = field(default_factory=set)  # customers with at least one order
    asked_orders: set[str] = field(default_factory=set)  # customers whose orders were looked for
    index: Any = None
    touched: set[str] = field(default_factory=set)
    handoffs: list[Handoff] = field(default_factory=list)  # decided, not written yet (`hand_off_many`)
    handed: set[str] = field(default_factory=set)  # their conversations: a person has them now
    _policies: dict[str, Any] | None = None
    _rules: list[dict[str, Any]] | None = None

    def policies(self, conn: Connection) -> dict[str, Any]:
        """The SLA policies, read at the batch's first handoff (only the SLA API changes them)."""
        if self._policies is None:
            self._policies = sla.stored_policies(conn)
        return self._policies

    def rules(self, conn: Connection) -> list[dict[str, Any]]:
        """The routing rules, read at the batch's first handoff (only the routing API changes them)."""
        if self._rules is None:
            self._rules = routing.list_rules(conn)
        return self._rules

    def hand_off(self, handoff: Handoff) -> None:
        """Kept for the batch's `hand_off_many`; from now on the bot stays silent in the conversation."""
        self.handoffs.append(handoff)
        self.handed.add(handoff.conv.id)
        self.touched.add(handoff.conv.id)

    def silent(self, message_id: str) -> bool:
        """The batch's reads alone say the bot stays silent on this message (not one of its channels' messages,
        the conversation not open or pending, or a person has it): no turn, so no savepoint for it."""
        if not self.messages:
            return False
        msg = self.messages.get(message_id)
        if msg is None or msg.direction != "in" or msg.channel not in ANSWERS_ON or not (msg.text or "").strip():
            return True
        if msg.conversation_id in self.handed:
            return True
        conv = self.conversations.get(msg.conversation_id) if self.fresh(msg.conversation_id) else None
        if conv is None or conv.merged_into is not None:
            return False
        return conv.status not in ("open", "pending") or bool(conv.assignee) or conv.id in self.people

    def fresh(self, conversation_id: str) -> bool:
        return conversation_id in self.conversations and conversation_id not in self.touched

    def conversation(self, conn: Connection, conversation_id: str) -> Any:
        """`service.current`, from the batch's read while the bot has not written to it."""
        row = self.conversations.get(conversation_id) if conversation_id not in self.touched else None
        return row if row is not None and row.merged_into is None else current(conn, conversation_id)


# The batch's reads, one array parameter each on PostgreSQL (core.db.PerEngine).
_MESSAGES = PerEngine(lambda in_: sa.select(conversation_messages).where(in_(M.id, "b_ids")))
_CONVERSATIONS = PerEngine(lambda in_: sa.select(conversations).where(in_(C.id, "b_ids")))
_PEOPLE = PerEngine(lambda in_: sa.select(C.id).where(in_(C.id, "b_ids"), _person_has(C.id)))
# A batch's handoffs put their conversations back in the queue: locked in id order (two workers never deadlock).
_QUEUE = PerEngine(lambda in_: conversations.update().where(C.id.in_(
    sa.select(C.id).where(in_(C.id, "b_ids")).order_by(C.id).with_for_update().scalar_subquery()),
    C.status.in_(("open", "pending"))).values(status="open", updated_at=sa.bindparam("b_now"))
    .returning(*conversations.c))


def _see(conn: Connection, settings: Settings, events: Sequence[Event]) -> _Seen:
    seen = _Seen()
    ids = [e.data["message_id"] for e in events if e.type == "message.received"
           and e.data.get("channel") in ANSWERS_ON]
    if not ids or not settings.service_bot_enabled:
        return seen
    seen.messages = {r.id: r for r in conn.execute(_MESSAGES(conn), {"b_ids": ids})}
    conv_ids = sorted({m.conversation_id for m in seen.messages.values()})
    if not conv_ids:
        return seen
    seen.conversations = {r.id: r for r in conn.execute(_CONVERSATIONS(conn), {"b_ids": conv_ids})}
    candidates = sorted(r.id for r in seen.conversations.values()
                        if r.merged_into is None and not r.assignee and r.status in ("open", "pending"))
    if candidates:
        seen.people = set(conn.execute(_PEOPLE(conn), {"b_ids": candidates}).scalars())
    asking = sorted({seen.conversations[m.conversation_id].customer_id for m in seen.messages.values()
                     if m.conversation_id in seen.conversations
                     and bot_rules.asks_order_status((m.text or "")[:MAX_QUESTION])})
    if asking:
        seen.identities = customers_queries.identities_of_many(conn, asking)
        seen.ordered = set(commerce_queries.recent_order_facts(conn, asking, per_customer=1))
        seen.asked_orders = set(asking)
    return seen


def hand_off(conn: Connection, clock: Clock, conv: Any, message_id: str, reason: str,
             detail: dict[str, Any] | None = None, seen: _Seen | None = None) -> None:
    """The conversation goes to the queue: unassigned, open, the reason kept (`handoff` in the API) and the whole
    thread as it is. `seen`: the dispatch batch's reads (its SLA policies and routing rules, read once)."""
    now = clock.now()
    conn.execute(bot_handoffs.insert(), dict(id=new_id("hof"), conversation_id=conv.id, message_id=message_id,
                                             reason=reason, detail=detail or {}, at=now, open_for=conv.id))
    left = conn.execute(conversations.update().where(C.id == conv.id, C.status.in_(("open", "pending")))
                        .values(status="open", updated_at=now).returning(*conversations.c)).first()
    sla.refresh(conn, conv.id, now, policies=seen.policies(conn) if seen is not None else None,
                row=left)  # back in the queue: a paused clock runs again
    routing.on_handoff(conn, clock, conv.id, seen.rules(conn) if seen is not None else None, left)
    emit(conn, clock, "conversation.handed_off", {"conversation_id": conv.id, "message_id": message_id,
                                                  "reason": reason})


def hand_off_many(conn: Connection, clock: Clock, handoffs: Sequence[Handoff], seen: _Seen | None = None) -> None:
    """`hand_off` for a dispatch batch's handoffs (one per conversation), together: one insert, one update that
    puts them back in the queue, one SLA write, one insert of their events; routing each as `hand_off` does. If
    that fails for something other than the database, each is done alone in its own savepoint, so only the bad
    one is lost (logged) — as when each message's turn was its own savepoint. Database errors are raised: the
    dispatcher retries the batch."""
    if not handoffs:
        return
    try:
        with conn.begin_nested():
            _hand_off_together(conn, clock, handoffs, seen)
        return
    except sa.exc.DBAPIError:
        raise
    except Exception:
        log.info("the bot's handoffs failed together; one by one now", exc_info=True)
    for h in handoffs:
        try:
            with conn.begin_nested():
                hand_off(conn, clock, h.conv, h.message_id, h.reason, h.detail, seen)
        except sa.exc.DBAPIError:
            raise
        except Exception:
            log.exception("the bot failed handing off message %s", h.message_id)


_HANDOFF_COLUMNS = ("id", "conversation_id", "message_id", "reason", "detail", "at", "open_for")


def _hand_off_together(conn: Connection, clock: Clock, handoffs: Sequence[Handoff], seen: _Seen | None) -> None:
    now = clock.now()
    copy_rows(conn, bot_handoffs, _HANDOFF_COLUMNS, [  # COPY on PostgreSQL: no multi-row INSERT to parse
        (handoff_id, h.conv.id, h.message_id, h.reason, h.detail or {}, now, h.conv.id)
        for handoff_id, h in zip(new_ids("hof", len(handoffs)), handoffs, strict=True)])
    left = {r.id: r for r in conn.execute(_QUEUE(conn), {"b_ids": sorted({h.conv.id for h in handoffs}),
                                                          "b_now": now})}
    policies = seen.policies(conn) if seen is not None else sla.stored_policies(conn)
    clocks: list[dict[str, Any]] = []
    for h in handoffs:
        row = left.get(h.conv.id)
        if row is None:  # not open or pending any more: `refresh` reads what it is now
            sla.refresh(conn, h.conv.id, now, policies=policies)
        else:
            clocks.append({"id": row.id, **sla.refreshed(row._mapping, now, policies)})
    for group in by_columns(clocks):
        columns = [k for k in group[0] if k != "id"]
        conn.execute(conversations.update().where(C.id == sa.bindparam("b_id")).values(
            {k: sa.bindparam(f"b_{k}") for k in columns}), [{f"b_{k}": v for k, v in g.items()} for g in group])
    stored = seen.rules(conn) if seen is not None else routing.list_rules(conn)
    staffed = routing.staffed_teams(conn)
    for h in handoffs:
        routing.on_handoff(conn, clock, h.conv.id, stored, left.get(h.conv.id), staffed=staffed)
    emit_many(conn, clock, [("conversation.handed_off", {"conversation_id": h.conv.id, "message_id": h.message_id,
                                                         "reason": h.reason}) for h in handoffs])


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


def respond(conn: Connection, clock: Clock, settings: Settings, message_id: str,
            seen: _Seen | None = None) -> str | None:
    """The bot's turn on one customer message; returns what it did (`answer_article`, `answer_order`,
    `ask_verification`, `handoff`) or None when it stays silent. `seen`: the dispatch batch's reads."""
    if seen is not None and seen.messages:
        msg = seen.messages.get(message_id)
    else:
        msg = conn.execute(sa.select(conversation_messages).where(M.id == message_id)).first()
    if msg is None or msg.direction != "in" or msg.channel not in ANSWERS_ON or not (msg.text or "").strip():
        return None
    conv = seen.conversation(conn, msg.conversation_id) if seen is not None else current(conn, msg.conversation_id)
    if conv.status not in ("open", "pending") or _person_has_it(conn, conv, seen):
        return None
    text = msg.text[:MAX_QUESTION]
    now = clock.now()
    reasons = {r["rule"] for r in rules.priority_reasons([], text, now)}
    language = bot_rules.detect_language(text)
    hit = None
    if not bot_rules.wants_person(text) and not bot_rules.asks_order_status(text):
        if seen is not None and seen.index is None:  # read at the batch's first question for the knowledge base
            seen.index = current_index(conn)
        index = seen.index if seen is not None else current_index(conn)
        found_language, hits = index.search(text, language=language)
        hit = hits[0] if hits else None
        language = language or found_language
    verified = (verified_sender(conn, clock, conv.customer_id, msg.channel, msg.address,
                                seen.identities.get(conv.customer_id) if seen is not None else None)
                if bot_rules.asks_order_status(text) else None)
    decision = bot_rules.decide(text, complaint="complaint" in reasons,
                                refund=bot_rules.asks_refund(text, "refund_asked" in reasons),
                                verified=verified, hit=hit, threshold=settings.service_bot_threshold)
    if seen is not None and decision.action != "none":
        seen.touched.add(conv.id)  # written below: read it again for the batch's next message
    language = language or (hit.language if hit else "es")
    best = {"article_id": hit.article_id, "confidence": hit.confidence} if hit else {}

    if decision.action == "answer_article" and decision.hit is not None:
        sent = _send(conn, clock, settings, conv, bot_rules.article_answer(decision.hit))
        if sent is None:
            _hand_off_later(conn, clock, Handoff(conv, msg.id, "cannot_reply", best), seen)
            return "handoff"
        emit(conn, clock, "bot.answered", {"conversation_id": conv.id, "message_id": sent, "kind": "article",
                                           "article_id": decision.hit.article_id,
                                           "confidence": decision.hit.confidence})
        return decision.action
    if decision.action == "answer_order":
        no_order = seen is not None and conv.customer_id in seen.asked_orders and conv.customer_id not in seen.ordered
        latest = None if no_order else _latest_order(conn, conv.customer_id)
        if latest is None:
            _hand_off_later(conn, clock, Handoff(conv, msg.id, "no_order"), seen)
            return "handoff"
        order, shipments, place, slot = latest
        sent = _send(conn, clock, settings, conv, bot_rules.order_answer(order, shipments, place, slot, language))
        if sent is None:
            _hand_off_later(conn, clock, Handoff(conv, msg.id, "cannot_reply", {"order": order["number"]}), seen)
            return "handoff"
        emit(conn, clock, "bot.answered", {"conversation_id": conv.id, "message_id": sent, "kind": "order",
                                           "order_id": order["id"]})
        return decision.action
    if decision.action == "none":
        return None
    if decision.action == "ask_verification":
        _send(conn, clock, settings, conv, bot_rules.verification_request(language))
    _hand_off_later(conn, clock, Handoff(conv, msg.id, decision.reason or "low_confidence", best), seen)
    return "handoff" if decision.action == "handoff" else decision.action


def _hand_off_later(conn: Connection, clock: Clock, handoff: Handoff, seen: _Seen | None) -> None:
    """In a dispatch batch, kept for its `hand_off_many`; alone, now."""
    if seen is not None:
        seen.hand_off(handoff)
    else:
        hand_off(conn, clock, handoff.conv, handoff.message_id, handoff.reason, handoff.detail)


class BotHandler:
    """The dispatcher's handle on the bot. A failure answering one message is logged and leaves that message to
    the people (its savepoint rolls back); it never holds up the other handlers. Database errors are raised, so
    the dispatcher retries the batch."""

    name = "service.bot"

    def __init__(self, clock: Clock, settings: Settings) -> None:
        self.clock = clock
        self.settings = settings

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        seen = _see(conn, self.settings, events)
        for event in events:
            if event.type == "conversation.resolved":
                self._hand_off(conn, seen)  # its handoff, if the batch has one, is written before it is closed
                close_handoffs(conn, self.clock, event.data["conversation_id"])
                seen.touched.add(event.data["conversation_id"])
            elif event.type == "message.received" and self.settings.service_bot_enabled:
                if seen.silent(event.data["message_id"]):
                    continue
                try:  # no savepoint: a turn only reads until it answers (`_send`: a savepoint) or hands off (later)
                    respond(conn, self.clock, self.settings, event.data["message_id"], seen)
                except sa.exc.DBAPIError:
                    raise
                except Exception:
                    msg = seen.messages.get(event.data["message_id"])
                    if msg is not None:
                        seen.touched.add(msg.conversation_id)
                    log.exception("the bot failed on message %s", event.data.get("message_id"))
        self._hand_off(conn, seen)

    def _hand_off(self, conn: Connection, seen: _Seen) -> None:
        handoffs, seen.handoffs = seen.handoffs, []
        hand_off_many(conn, self.clock, handoffs, seen)

    def close(self) -> None:
        """Nothing to release (the index lives in `knowledge_queries`)."""
