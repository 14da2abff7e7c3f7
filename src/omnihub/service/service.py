"""Conversation use cases: the only code that writes conversations and their messages (inbound, notes, status,
assignment), and the participants that make conversations follow customer merges, unmerges and erasure."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.commerce import queries as commerce_queries
from omnihub.core.clock import Clock, SystemClock, as_utc
from omnihub.core.db import PerEngine, new_id
from omnihub.core.errors import Conflict, ValidationFailed
from omnihub.core.events import emit
from omnihub.customers import activity as customer_activity
from omnihub.customers import queries as customers_queries
from omnihub.customers import resolution as customer_resolution
from omnihub.customers.writes import RetryResolution
from omnihub.service import csat, errors, rules, sla, tags
from omnihub.service.batch import Batch
from omnihub.service.models import conversation_messages, conversations

C = conversations.c
M = conversation_messages.c
MAX_CHAIN = 20


@dataclass
class Inbound:
    """A message from a person, in the hub's own shape, whatever channel or provider it came through."""

    channel: str
    identity: Any
    text: str
    attachments: list[dict[str, Any]] = field(default_factory=list)
    external_id: str | None = None
    thread: str | None = None  # a conversation id, a reply token or an earlier message's id
    thread_refs: list[str] = field(default_factory=list)  # e-mail In-Reply-To/References, Meta reply-to ids
    reply_token: str | None = None
    at: datetime | None = None
    name: str | None = None
    address: str | None = None
    subject: str | None = None
    original: str | None = None
    email_message_id: str | None = None
    sales_channel: str | None = None  # a hub channel: its country reads national phone numbers
    connector: str | None = None  # the Meta connection it came through (replies go back through it)


# ---- reading helpers (inside the writing transaction) -------------------------------------------------------


def _row(conn: Connection, conversation_id: str) -> Any:
    row = conn.execute(sa.select(conversations).where(C.id == conversation_id)).first()
    if row is None:
        raise errors.conversation_not_found(conversation_id)
    return row


def current(conn: Connection, conversation_id: str) -> Any:
    """The conversation an id stands for now: one merged into another resolves to where it went."""
    row = _row(conn, conversation_id)
    for _ in range(MAX_CHAIN):
        if row.merged_into is None:
            return row
        row = _row(conn, row.merged_into)
    return row


def writable(conn: Connection, conversation_id: str) -> Any:
    row = _row(conn, conversation_id)
    if row.merged_into is not None:
        raise errors.conversation_merged(conversation_id, current(conn, conversation_id).id)
    return row


def _receipt(conn: Connection, message: Any, *, duplicate: bool) -> dict[str, Any]:
    conv = current(conn, message.conversation_id)
    return {"message_id": message.id, "conversation_id": conv.id, "customer_id": conv.customer_id,
            "conversation_status": conv.status, "channel": message.channel, "duplicate": duplicate}


def _thread_candidate(conn: Connection, inbound: Inbound, customer_id: str) -> rules.Candidate | None:
    """The conversation the message says it continues — only when it is this person's: a forwarded e-mail or a
    stranger's reply never lands in someone else's thread."""
    found: str | None = None
    refs = [r for r in (inbound.thread, *inbound.thread_refs) if r]
    if inbound.reply_token:
        found = conn.execute(sa.select(C.id).where(C.reply_token == inbound.reply_token)).scalar()
    if found is None and inbound.thread:
        found = conn.execute(sa.select(C.id).where(sa.or_(C.id == inbound.thread,
                                                          C.reply_token == inbound.thread))).scalar()
    if found is None and refs:
        found = conn.execute(sa.select(M.conversation_id).where(sa.or_(
            M.email_message_id.in_(refs), M.provider_message_id.in_(refs),
            sa.and_(M.channel == inbound.channel, M.external_id.in_(refs)))).limit(1)).scalar()
    if found is None:
        return None
    conv = current(conn, found)
    if conv.customer_id != customer_id:
        return None
    return rules.Candidate(conv.id, conv.status, as_utc(conv.resolved_at) if conv.resolved_at else None)


def _existing(conn: Connection, channel: str, external_id: str | None) -> Any:
    if not external_id:
        return None
    return conn.execute(sa.select(conversation_messages).where(M.channel == channel, M.external_id == external_id)
                        ).first()


# ---- inbound ------------------------------------------------------------------------------------------------

# A batch's reads, with one array parameter each on PostgreSQL (an expanding IN of a thousand ids is SQL the driver
# parses anew every time): which external ids are stored already, and each sender's last resolved conversation.
_STORED = PerEngine(lambda in_: sa.select(M.external_id).where(M.channel == sa.bindparam("b_channel"),
                                                               in_(M.external_id, "b_ids")))


def _last_resolved(in_: Any) -> Any:
    latest = sa.select(C.id, C.customer_id, C.resolved_at, sa.func.row_number().over(
        partition_by=C.customer_id, order_by=C.resolved_at.desc()).label("n")).where(
        in_(C.customer_id, "b_customers"), C.status == "resolved").subquery()
    return sa.select(latest).where(latest.c.n == 1)


_LAST_RESOLVED = PerEngine(_last_resolved)

PRIORITY_ORDERS = 20  # the customer's latest orders the priority rules look at


def _priority_reasons(conn: Connection, customer_id: str, text: str, now: datetime,
                      high_value_from: Decimal | None, batch: Batch | None = None) -> list[dict[str, Any]]:
    if batch is not None and customer_id in batch.commerce:
        orders, value = batch.commerce[customer_id]
    else:
        orders = commerce_queries.orders_of_customer(conn, [customer_id], limit=PRIORITY_ORDERS,
                                                     cursor=None)["items"]
        value = (customers_queries.stats_of(conn, customer_id)["lifetime_value"] if high_value_from is not None
                 else None)
        if batch is not None:  # a customer's orders do not change while their batch is threaded
            batch.commerce[customer_id] = (orders, value)
    return rules.priority_reasons(orders, text, now, lifetime_value=value, high_value_from=high_value_from)


def _read_commerce(conn: Connection, batch: Batch, customer_ids: list[str], high_value_from: Decimal | None) -> None:
    """What the priority rules read of every customer of the batch, in two queries (the rooms' batch reads: the
    same facts `orders_of_customer` and `stats_of` give one customer at a time)."""
    orders = commerce_queries.recent_order_facts(conn, customer_ids, per_customer=PRIORITY_ORDERS)
    values = customers_queries.lifetime_values(conn, customer_ids) if high_value_from is not None else {}
    for customer_id in customer_ids:
        batch.commerce[customer_id] = (orders.get(customer_id, []), values.get(customer_id))


def receive(conn: Connection, clock: Clock, inbound: Inbound, *, reopen_window: timedelta,
            actor: str | None = None, high_value_from: Decimal | None = None) -> dict[str, Any]:
    """Store a message from a person on their one conversation. A message already stored (same channel and
    external id) is answered with the first result and stored once: the unique key decides a race, and the
    loser's transaction, run again, finds the winner's row."""
    existing = _existing(conn, inbound.channel, inbound.external_id)
    if existing is not None:
        return _receipt(conn, existing, duplicate=True)
    customer_id, _ = customer_resolution.create_customer(conn, clock, name=inbound.name, identities=inbound.identity,
                                               channel=inbound.sales_channel, actor=actor)
    return _store(conn, clock, inbound, customer_id, reopen_window=reopen_window, high_value_from=high_value_from)


def _identity_key(inbound: Inbound) -> str:
    return json.dumps([inbound.sales_channel, inbound.identity], sort_keys=True, default=str)


def _customers_of(conn: Connection, clock: Clock, fresh: list[Inbound], actor: str | None) -> list[str | None]:
    """Each message's customer: every distinct sender resolved once, all of them in one identity resolution per
    sales channel (`create_customers`). A sender whose identity must not identify anyone (blocked, erased) gets
    None — when the batch has one, its senders are resolved one by one, as `receive` would."""
    people: dict[str, Inbound] = {}
    for inbound in fresh:
        people.setdefault(_identity_key(inbound), inbound)
    found: dict[str, str | None] = {}
    by_channel: dict[str | None, list[str]] = {}
    for key, inbound in people.items():
        by_channel.setdefault(inbound.sales_channel, []).append(key)
    for channel, keys in by_channel.items():
        try:
            with conn.begin_nested():
                ids = customer_resolution.create_customers(
                    conn, clock, [(people[k].name, people[k].identity) for k in keys], channel=channel, actor=actor)
            found.update(zip(keys, ids, strict=True))
        except (ValidationFailed, Conflict):
            for key in keys:
                try:
                    with conn.begin_nested():
                        found[key], _ = customer_resolution.create_customer(
                            conn, clock, name=people[key].name, identities=people[key].identity, channel=channel,
                            actor=actor)
                except (ValidationFailed, Conflict):
                    found[key] = None
    return [found[_identity_key(inbound)] for inbound in fresh]


def receive_many(conn: Connection, clock: Clock, inbounds: Sequence[Inbound], *, reopen_window: timedelta,
                 actor: str | None = None, high_value_from: Decimal | None = None) -> list[str]:
    """`receive` for a batch of messages (the worker's Meta payloads), in order, with the batch's reads done once:
    one query finds the messages already stored, each distinct sender is resolved once, the customers' live and
    last resolved conversations are read together, events are recorded in one statement. Per message:
    `received`, `duplicates` (already stored, or earlier in the batch) or `ignored` (an identity that must not
    identify anyone)."""
    outcomes: list[str] = ["duplicates"] * len(inbounds)
    stored: set[tuple[str, str]] = set()
    by_channel: dict[str, set[str]] = {}
    for inbound in inbounds:
        if inbound.external_id:
            by_channel.setdefault(inbound.channel, set()).add(inbound.external_id)
    for channel, ids in by_channel.items():
        stored.update((channel, e) for e in conn.execute(_STORED(conn), {"b_channel": channel,
                                                                         "b_ids": sorted(ids)}).scalars())
    fresh: list[tuple[int, Inbound]] = []
    for i, inbound in enumerate(inbounds):
        key = (inbound.channel, inbound.external_id or "")
        if inbound.external_id and key in stored:
            continue
        if inbound.external_id:
            stored.add(key)
        fresh.append((i, inbound))
    if not fresh:
        return outcomes
    customers = _customers_of(conn, clock, [inbound for _, inbound in fresh], actor)
    batch = Batch()
    known = sorted({c for c in customers if c is not None})
    batch.read_live(conn, known)
    for row in conn.execute(_LAST_RESOLVED(conn), {"b_customers": [c for c in known if c not in batch.live]}):
        batch.resolved[row.customer_id] = row
    for customer_id in known:
        batch.live.setdefault(customer_id, None)
        batch.resolved.setdefault(customer_id, None)
    _read_commerce(conn, batch, known, high_value_from)
    for (i, inbound), customer_id in zip(fresh, customers, strict=True):
        if customer_id is None:
            outcomes[i] = "ignored"
            continue
        _store(conn, clock, inbound, customer_id, reopen_window=reopen_window, high_value_from=high_value_from,
               batch=batch)
        outcomes[i] = "received"
    batch.flush(conn, clock)
    return outcomes


def _store(conn: Connection, clock: Clock, inbound: Inbound, customer_id: str, *, reopen_window: timedelta,
           high_value_from: Decimal | None, batch: Batch | None = None) -> dict[str, Any]:
    """The message on the customer's one conversation (open, join or reopen), priority, SLA and events. With a
    batch, the conversation is the batch's copy in memory, and every write (the conversation, its SLA, the
    message, events and timeline entries) waits for the flush: one per conversation, not one per message."""
    now = clock.now()
    at = min(as_utc(inbound.at), now) if inbound.at else now
    if csat.score_in(inbound.text) is not None:
        if batch is not None:
            batch.flush(conn, clock)  # the survey answer records its events now: keep them in order
        survey_answer = csat.answer_by_reply(conn, clock, customer_id, channel=inbound.channel, text=inbound.text,
                                             external_id=inbound.external_id, address=inbound.address, at=at)
        if survey_answer is not None:  # "4" after a satisfaction question: an answer, not a new conversation
            return survey_answer
    if batch is not None and customer_id in batch.live:
        live = batch.live[customer_id]
        resolved_row = batch.resolved[customer_id] if live is None else None
    else:
        live_row = conn.execute(sa.select(C.id, C.status).where(C.active_for == customer_id)).first()
        live = rules.Candidate(live_row.id, live_row.status) if live_row else None
        resolved_row = None
        if live is None:
            resolved_row = conn.execute(sa.select(C.id, C.resolved_at).where(
                C.customer_id == customer_id, C.status == "resolved").order_by(C.resolved_at.desc()).limit(1)).first()
    placement = rules.place_message(
        live=live, thread=_thread_candidate(conn, inbound, customer_id) if live is None else None,
        last_resolved=rules.Candidate(resolved_row.id, "resolved", as_utc(resolved_row.resolved_at))
        if resolved_row is not None else None,
        now=now, reopen_window=reopen_window)

    events: list[tuple[str, dict[str, Any]]] = []
    timeline: list[dict[str, Any]] = []
    if placement.action == "open":
        conversation_id = new_id("cnv")
        opened = dict(id=conversation_id, customer_id=customer_id, owner_id=customer_id, active_for=customer_id,
                      status="open", priority="normal", priority_reasons=[], reply_token=secrets.token_hex(8),
                      last_channel=inbound.channel, last_message_at=at, created_at=now, updated_at=now)
        if batch is None:
            conn.execute(conversations.insert(), opened)
        else:
            batch.open(opened)
        events.append(("conversation.opened", {"conversation_id": conversation_id, "customer_id": customer_id,
                                               "channel": inbound.channel}))
        timeline.append({"type": "ticket_opened", "at": now, "properties": {"conversation_id": conversation_id}})
    else:
        conversation_id = placement.conversation_id or ""
        if placement.action == "reopen":
            reopen = (conversations.update().where(C.id == conversation_id, C.status == "resolved")
                      .values(status="open", active_for=customer_id, resolved_at=None, updated_at=now))
            if batch is None:
                reopened = conn.execute(reopen).rowcount
            else:  # the batch keeps the row the update leaves: no read of it again
                row = conn.execute(reopen.returning(*conversations.c)).first()
                reopened = row is not None
                if row is not None:
                    batch.reopened(row)
            if not reopened:  # another message reopened it first: place this one again (customers' retrying)
                raise RetryResolution("the conversation changed while the message was placed")
            events.append(("conversation.reopened", {"conversation_id": conversation_id,
                                                     "customer_id": customer_id, "channel": inbound.channel}))
            timeline.append({"type": "ticket_opened", "at": now,
                             "properties": {"conversation_id": conversation_id, "reopened": True}})

    message_id = new_id("cmsg")
    stored = dict(
        id=message_id, conversation_id=conversation_id, origin_conversation_id=conversation_id,
        channel=inbound.channel, direction="in", author=customer_id, text=inbound.text, subject=inbound.subject,
        original=inbound.original, attachments=inbound.attachments, external_id=inbound.external_id,
        address=inbound.address, email_message_id=inbound.email_message_id, status="received", attempts=0,
        payload={"connector": inbound.connector} if inbound.connector else None, at=at, updated_at=now)
    if batch is None:
        conn.execute(conversation_messages.insert(), stored)
    conv = _row(conn, conversation_id) if batch is None else SimpleNamespace(**batch.row(conn, conversation_id))
    status = rules.status_after_inbound(conv.status)
    earlier = [] if placement.action == "reopen" else list(conv.priority_reasons or [])
    reasons = rules.merge_reasons(earlier, _priority_reasons(conn, customer_id, inbound.text, now, high_value_from,
                                                             batch))
    priority = rules.priority_of(reasons)
    values = dict(status=status, snoozed_until=None if status != "snoozed" else conv.snoozed_until,
                  priority=priority, priority_reasons=reasons, last_channel=inbound.channel,
                  last_message_at=max(as_utc(conv.last_message_at), at), updated_at=now)
    # Only these move the SLA's due times (or it has none yet: opened before the SLAs existed): a new cycle, a new
    # priority, the clock starting again (it was pending), a wait for an answer starting (a person had replied).
    awaits = conv.first_response_at is not None and conv.next_response_started_at is None
    sla_kept = not (placement.action != "join" or priority != conv.priority or conv.sla_started_at is None
                    or status != conv.status or awaits)
    if batch is None:
        conn.execute(conversations.update().where(C.id == conversation_id).values(**values))
        if not sla_kept:
            sla.refresh(conn, conversation_id, now, restart=placement.action == "reopen", awaiting=at)
    else:  # the same changes on the batch's copy: written once per conversation at the flush
        batch.change(conversation_id, values)
        if not sla_kept:
            batch.change(conversation_id, sla.refreshed(batch.rows[conversation_id], now, batch.policies(conn),
                                                        restart=placement.action == "reopen", awaiting=at))
        batch.messages.append(stored)
    if priority != conv.priority or reasons != list(conv.priority_reasons or []):
        events.append(("conversation.prioritized", {"conversation_id": conversation_id, "priority": priority,
                                                    "rules": sorted({r["rule"] for r in reasons})}))
    if conv.status in ("snoozed", "pending") and status == "open":
        events.append(("conversation.woken", {"conversation_id": conversation_id, "reason": "customer_wrote"}))
    events.append(("message.received", {"message_id": message_id, "conversation_id": conversation_id,
                                        "customer_id": customer_id, "channel": inbound.channel}))
    timeline.append({"type": "message_received", "channel": inbound.sales_channel, "at": at,
                     "properties": {"conversation_id": conversation_id, "message_id": message_id,
                                    "service_channel": inbound.channel}})
    if batch is None:
        for type_, data in events:
            emit(conn, clock, type_, data)
        customer_activity.add_timeline_entries(conn, clock, customer_id, timeline, source="service")
    else:
        batch.events.extend(events)
        batch.timeline.extend((customer_id, entry) for entry in timeline)
        batch.live[customer_id] = rules.Candidate(conversation_id, status)
    return {"message_id": message_id, "conversation_id": conversation_id, "customer_id": customer_id,
            "conversation_status": status, "channel": inbound.channel, "duplicate": False}


# ---- agents' actions --------------------------------------------------------------------------------------------


def assign(conn: Connection, clock: Clock, conversation_id: str, assignee: str | None, *, actor: str) -> None:
    conv = writable(conn, conversation_id)
    conn.execute(conversations.update().where(C.id == conv.id).values(assignee=assignee, updated_at=clock.now()))
    emit(conn, clock, "conversation.assigned", {"conversation_id": conv.id, "assignee": assignee, "by": actor})


def snooze(conn: Connection, clock: Clock, conversation_id: str, until: datetime, *, actor: str) -> None:
    conv = writable(conn, conversation_id)
    if conv.status == "resolved":
        raise errors.conversation_resolved(conv.id)
    problem = rules.check_snooze(until, clock.now())
    if problem:
        raise errors.invalid_snooze(problem)
    conn.execute(conversations.update().where(C.id == conv.id).values(
        status="snoozed", snoozed_until=until, updated_at=clock.now()))
    if conv.status != "snoozed":  # a pending one's clock runs again while snoozed
        sla.refresh(conn, conv.id, clock.now())
    emit(conn, clock, "conversation.snoozed", {"conversation_id": conv.id, "until": as_utc(until).isoformat(),
                                               "by": actor})


def resolve(conn: Connection, clock: Clock, conversation_id: str, *, actor: str) -> None:
    conv = writable(conn, conversation_id)
    if conv.status == "resolved":
        raise errors.conversation_resolved(conv.id)
    now = clock.now()
    conn.execute(conversations.update().where(C.id == conv.id).values(
        status="resolved", active_for=None, snoozed_until=None, resolved_at=now, updated_at=now))
    sla.refresh(conn, conv.id, now)
    emit(conn, clock, "conversation.resolved", {"conversation_id": conv.id, "customer_id": conv.customer_id,
                                                "by": actor})
    customer_activity.add_timeline_entries(conn, clock, conv.customer_id, [
        {"type": "ticket_resolved", "at": now, "properties": {"conversation_id": conv.id}}], source="service")


def add_note(conn: Connection, clock: Clock, conversation_id: str, text: str, *, actor: str) -> dict[str, Any]:
    """Internal notes sit in the thread for agents; they are never sent to the customer."""
    conv = writable(conn, conversation_id)
    now = clock.now()
    note_id = new_id("cmsg")
    conn.execute(conversation_messages.insert(), dict(
        id=note_id, conversation_id=conv.id, origin_conversation_id=conv.id, channel="internal", direction="note",
        author=actor, text=text, attachments=[], status="internal", attempts=0, at=now, updated_at=now))
    conn.execute(conversations.update().where(C.id == conv.id).values(updated_at=now))
    emit(conn, clock, "conversation.note_added", {"conversation_id": conv.id, "message_id": note_id, "by": actor})
    return {"id": note_id}


def wake_snoozed(conn: Connection, clock: Clock, limit: int = 500) -> int:
    """Worker job: conversations whose snooze ran out are open again."""
    now = clock.now()
    due = list(conn.execute(sa.select(C.id).where(C.status == "snoozed", C.snoozed_until <= now)
                            .order_by(C.snoozed_until).limit(limit)).scalars())
    woken = 0
    for conversation_id in due:
        if conn.execute(conversations.update().where(C.id == conversation_id, C.status == "snoozed")
                        .values(status="open", snoozed_until=None, updated_at=now)).rowcount:
            emit(conn, clock, "conversation.woken", {"conversation_id": conversation_id, "reason": "snooze_ended"})
            woken += 1
    return woken


# ---- customers merge, unmerge and erasure ----------------------------------------------------------------------


def _merge_into(conn: Connection, clock: Clock, keep: Any, gone: Any) -> None:
    """`gone`'s messages move to `keep`, which stays the person's one live conversation."""
    now = clock.now()
    conn.execute(conversations.update().where(C.id == gone.id).values(
        active_for=None, status="merged", status_before_merge=gone.status, merged_into=keep.id, updated_at=now))
    conn.execute(conversation_messages.update().where(M.conversation_id == gone.id).values(conversation_id=keep.id))
    latest = max(as_utc(keep.last_message_at), as_utc(gone.last_message_at))
    reasons = rules.merge_reasons(keep.priority_reasons or [], gone.priority_reasons or [])
    conn.execute(conversations.update().where(C.id == keep.id).values(
        last_message_at=latest, assignee=keep.assignee or gone.assignee, priority=rules.priority_of(reasons),
        priority_reasons=reasons, updated_at=now))
    tags.move_tags(conn, gone.id, keep.id)
    sla.refresh(conn, keep.id, now)
    emit(conn, clock, "conversation.merged", {"conversation_id": keep.id, "merged_id": gone.id,
                                              "customer_id": keep.customer_id})


def conversation_merge_participant(clock: Clock | None = None) -> Any:
    """Two profiles merged: their conversations belong to the survivor, and their live conversations become one
    (the survivor's keeps its id). Unmerge gives the restored profile back the conversations opened for it.
    The customers room calls participants without its clock, so their own writes are stamped by `clock`
    (the system's by default)."""
    clock = clock or SystemClock()

    class _Participant:
        def on_merge(self, conn: Connection, survivor_id: str, absorbed_ids: Sequence[str]) -> None:
            absorbed = list(absorbed_ids)
            live_absorbed = list(conn.execute(sa.select(conversations).where(C.active_for.in_(absorbed))
                                              .order_by(C.created_at)))
            conn.execute(conversations.update().where(C.customer_id.in_(absorbed)).values(customer_id=survivor_id))
            keep = conn.execute(sa.select(conversations).where(C.active_for == survivor_id)).first()
            for row in live_absorbed:
                if keep is None:
                    conn.execute(conversations.update().where(C.id == row.id).values(active_for=survivor_id))
                    keep = _row(conn, row.id)
                else:
                    _merge_into(conn, clock, keep, _row(conn, row.id))
                    keep = _row(conn, keep.id)

        def on_unmerge(self, conn: Connection, survivor_id: str, restored_id: str,
                       absorbed_ids: Sequence[str]) -> None:
            owners = [restored_id, *absorbed_ids]
            now = clock.now()
            theirs = list(conn.execute(sa.select(conversations).where(C.customer_id == survivor_id,
                                                                      C.owner_id.in_(owners))))
            for row in theirs:
                if row.merged_into is not None:
                    conn.execute(conversation_messages.update().where(
                        M.origin_conversation_id == row.id, M.conversation_id != row.id).values(conversation_id=row.id))
                    status = row.status_before_merge or "open"
                    conn.execute(conversations.update().where(C.id == row.id).values(
                        customer_id=restored_id, status=status, merged_into=None, status_before_merge=None,
                        active_for=restored_id if status in rules.LIVE else None, updated_at=now))
                    emit(conn, clock, "conversation.unmerged", {"conversation_id": row.id,
                                                                "from_id": row.merged_into,
                                                                "customer_id": restored_id})
                else:
                    conn.execute(conversations.update().where(C.id == row.id).values(
                        customer_id=restored_id, active_for=restored_id if row.active_for else None, updated_at=now))

    return _Participant()


def conversation_erasure_participant() -> Any:
    """An erased person's messages lose their text, subject, original e-mail, attachments and address; replies not
    sent yet are never sent. The conversations stay (counts, times) without anything personal."""

    class _Participant:
        def on_erase(self, conn: Connection, customer_ids: Sequence[str]) -> None:
            ids = list(customer_ids)
            theirs = sa.select(C.id).where(sa.or_(C.customer_id.in_(ids), C.owner_id.in_(ids)))
            mine = sa.or_(M.conversation_id.in_(theirs), M.origin_conversation_id.in_(theirs))
            conn.execute(conversation_messages.update().where(mine, M.status.in_(("queued", "sending")))
                         .values(status="failed", error="customer erased before sending", next_attempt_at=None))
            conn.execute(conversation_messages.update().where(mine).values(
                text="", subject=None, original=None, attachments=[], address=None, payload=None))

    return _Participant()
