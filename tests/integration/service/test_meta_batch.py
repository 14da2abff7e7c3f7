"""The worker's batch path (`receive_many`) keeps each conversation in memory and writes it once: several messages
of one conversation in a batch leave exactly what the same messages received one by one leave — every column of
the conversation (status, priority and its reasons read from commerce and the customer's lifetime value, the SLA's
due times, pauses and waits), the messages, the events and the customer's timeline — and a batch costs the same
number of statements however many messages each conversation gets."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, product, stock
from tests.integration.service.helpers import message
from tests.integration.service.meta import APP_SECRET, PHONE_NUMBER_ID, whatsapp_text

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import outbox
from omnihub.customers.models import customer_events, customer_identities
from omnihub.customers.writes import retrying
from omnihub.service import channels, rules, service
from omnihub.service.models import conversation_messages, conversations

HIGH_VALUE = Decimal("50")
REOPEN = timedelta(hours=72)
CV, MS, CE = conversations.c, conversation_messages.c, customer_events.c
# Ids, tokens and owners differ between the two runs; everything else must not.
_OWN = {"id", "customer_id", "owner_id", "active_for", "reply_token", "merged_into", "team_id", "assignee"}


def _shop(admin: TestClient) -> None:
    location(admin, "wh", kind="warehouse", pickup=False)
    product(admin, "RUN-1", category="running")
    channel(admin, "web", locations=["wh"])
    channel(admin, "wa", kind="social")
    ok(admin.put("/api/v1/channels/web/prices", json=[{"sku": "RUN-1", "amount": "89.90"}]))
    stock(admin, "wh", "RUN-1", 10)
    ok(admin.put("/api/v1/connectors/meta/wa", json={"app_secret": APP_SECRET, "verify_token": "verify-wa",
                                                     "access_token": "EAAG-token", "phone_number_id": PHONE_NUMBER_ID}),
       201)


def _history(admin: TestClient, prefix: str) -> None:
    """Person 1 bought (89.90, promised within 48 h) and wrote; an agent answered (pending, first response)."""
    ok(admin.post("/api/v1/orders", json={
        "channel": "web", "customer": {"phone": f"+{prefix}1"}, "lines": [{"sku": "RUN-1", "quantity": 1}],
        "payments": [{"method": "card", "amount": "89.90"}],
        "fulfilment": {"type": "ship", "address": {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013",
                                                   "country": "ES"}}}), 201)
    first = message(admin, "whatsapp", {"phone": f"+{prefix}1"}, "Hola, una pregunta", external_id=f"{prefix}-old")
    ok(admin.post(f"/api/v1/conversations/{first['conversation_id']}/reply", json={"text": "Dime"}), 202)


def _inbounds(clock: ManualClock, prefix: str, repeat: int) -> list[service.Inbound]:
    """Person 1: `repeat` plain messages, then one asking after the order, then a complaint; person 2 (new):
    `repeat` messages."""
    ts = int(clock.now().timestamp())
    texts = [(1, f"hola {chr(97 + n)}") for n in range(repeat)]
    texts += [(1, "¿Y mi pedido?"), (1, "Es una vergüenza, una queja")]
    texts += [(2, f"buenas {chr(97 + n)}") for n in range(repeat)]
    inbounds = []
    for n, (person, text) in enumerate(texts):
        payload = whatsapp_text(f"{prefix}{person}", text, f"wamid.{prefix}.{n}", timestamp=ts + n)
        _, messages, _ = rules.parse_meta(payload, clock.now())
        inbounds += [channels.meta_inbound(m, {"channel": "wa", "kind": "whatsapp"}) for m in messages]
    return inbounds


def _customer(db: Database, phone: str) -> str:
    with db.read() as conn:
        return str(conn.execute(sa.select(customer_identities.c.customer_id)
                                .where(customer_identities.c.value == phone)).scalar_one())


def _state(db: Database, prefix: str) -> list[Any]:
    """Per person: every column of their conversations, their messages, the events about them, their timeline."""
    people = []
    for person in (1, 2):
        customer = _customer(db, f"+{prefix}{person}")
        convs = []
        with db.read() as conn:
            for conv in conn.execute(sa.select(conversations).where(CV.customer_id == customer)
                                     .order_by(CV.created_at)):
                columns = {k: v for k, v in conv._mapping.items() if k not in _OWN}
                columns["priority_reasons"] = json.loads(re.sub(r"WEB-\d+", "WEB-n", json.dumps(
                    columns["priority_reasons"])))  # each person bought their own order
                texts = [(m.channel, m.direction, m.text, m.status, m.at) for m in conn.execute(
                    sa.select(conversation_messages).where(MS.conversation_id == conv.id).order_by(MS.at, MS.id))]
                events = [(e.type, {k: v for k, v in (e.data or {}).items() if not k.endswith("_id")})
                          for e in conn.execute(sa.select(outbox.c.type, outbox.c.data).order_by(outbox.c.id))
                          if (e.data or {}).get("conversation_id") == conv.id]
                convs.append((columns, conv.active_for == customer, texts, events))
            timeline = [(e.type, e.channel, e.occurred_at, e.source, sorted(e.properties))
                        for e in conn.execute(sa.select(customer_events).where(CE.customer_id == customer)
                                              .order_by(CE.id))]
        people.append((convs, timeline))
    return people


def _one_by_one(db: Database, clock: ManualClock, inbounds: list[service.Inbound]) -> None:
    for inbound in inbounds:
        retrying(db, lambda conn, i=inbound: service.receive(conn, clock, i, reopen_window=REOPEN, actor="meta",
                                                             high_value_from=HIGH_VALUE))


def _batch(db: Database, clock: ManualClock, inbounds: list[service.Inbound]) -> int:
    """`receive_many` in one transaction; returns how many statements it ran."""
    statements = []

    def count(*_: Any) -> None:
        statements.append(1)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        with db.transaction() as conn:
            outcomes = service.receive_many(conn, clock, inbounds, reopen_window=REOPEN, actor="meta",
                                            high_value_from=HIGH_VALUE)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert outcomes == ["received"] * len(inbounds)
    return len(statements)


def test_several_messages_of_one_conversation_in_a_batch_leave_what_one_by_one_leaves(
        admin: TestClient, db: Database, clock: ManualClock) -> None:
    _shop(admin)
    _history(admin, "3461100000")
    _history(admin, "3462200000")
    clock.advance(hours=49)  # the orders are late now; the conversations waited pending for 49 h
    _one_by_one(db, clock, _inbounds(clock, "3461100000", 3))
    _batch(db, clock, _inbounds(clock, "3462200000", 3))

    batched, one_by_one = _state(db, "3462200000"), _state(db, "3461100000")
    assert batched == one_by_one
    [(convs, timeline), (new, _)] = _state(db, "3462200000")
    columns, live, texts, events = convs[0]
    assert live and columns["status"] == "open" and columns["priority"] == "urgent"
    assert sorted(r["rule"] for r in columns["priority_reasons"]) == ["complaint", "high_value", "late_order"]
    assert columns["next_response_started_at"] is not None and columns["paused_seconds"] == 49 * 3600
    assert columns["next_response_due_at"] is not None and columns["sla_check_at"] is not None
    assert [t[2] for t in texts][-5:] == ["hola a", "hola b", "hola c", "¿Y mi pedido?", "Es una vergüenza, una queja"]
    assert [e[0] for e in events].count("conversation.prioritized") == 2 and ("conversation.woken", {
        "reason": "customer_wrote"}) in events
    assert [t[0] for t in timeline].count("message_received") == 6
    assert len(new) == 1 and new[0][0]["first_response_due_at"] is not None and len(new[0][2]) == 3


def test_a_batch_costs_the_same_statements_however_many_messages_a_conversation_gets(
        admin: TestClient, db: Database, clock: ManualClock) -> None:
    _shop(admin)
    for prefix in ("3463300000", "3464400000"):
        _history(admin, prefix)
    clock.advance(hours=49)
    few = _batch(db, clock, _inbounds(clock, "3463300000", 1))
    many = _batch(db, clock, _inbounds(clock, "3464400000", 12))
    assert many == few
