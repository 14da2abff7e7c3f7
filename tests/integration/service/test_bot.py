"""The bot, first line: it answers from the knowledge base citing the article, answers the order question only to a
verified identity of the customer, and hands off to the queue (with the reason, the whole thread kept) when asked
for a person, on a complaint, or when no article covers the question — then stays out until the conversation is
resolved. Its answers take the agents' reply path: queued in the thread, sent by the worker on the same channel.

Journey 6 with the bot is here too: an Instagram DM about a late order, the bot answering a known question and
handing off on "quiero hablar con una persona", the customer continuing by e-mail in the same thread and the agent
replying with a template that reaches them by SMTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, product, stock
from tests.integration.service.helpers import conversation, conversations, events_of, message
from tests.integration.service.meta import APP_SECRET, IG_ACCOUNT_ID, instagram_message, signed, threaded
from tests.integration.service.outlets import Graph, Mailbox
from tests.integration.service.test_email_inbound import mail, send

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.service.bot import BotHandler
from omnihub.worker import Worker

SAMPLE_KB = Path(__file__).parents[3] / "bench" / "data" / "kb_sample.yaml"
ADDRESS = {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"}


@pytest.fixture
def bot_worker(desk_settings: Settings, db: Database, clock: ManualClock) -> Iterator[Worker]:
    """A worker whose dispatcher runs only the bot (no projections, webhooks or NATS)."""
    w = Worker(desk_settings, db, clock, handlers=[BotHandler(clock, desk_settings)])
    yield w
    w.close()


def load_kb(api: TestClient, languages: tuple[str, ...] = ("es", "en")) -> dict[str, str]:
    """The shipped sample knowledge base, published, through the API: title → article id."""
    ids = {}
    for article in yaml.safe_load(SAMPLE_KB.read_text())["articles"]:
        if article["language"] in languages:
            created = ok(api.post("/api/v1/kb/articles", json={**article, "published": True}), 201)
            ids[article["title"]] = created["id"]
    return ids


def shop_with_order(api: TestClient, customer: list[dict[str, Any]], *, ship: bool = True) -> dict[str, Any]:
    location(api, "wh", kind="warehouse", pickup=False)
    product(api, "RUN-1", category="running")
    channel(api, "web", locations=["wh"])
    ok(api.put("/api/v1/channels/web/prices", json=[{"sku": "RUN-1", "amount": "89.90"}]))
    stock(api, "wh", "RUN-1", 10)
    return order_for(api, customer, ship=ship)


def order_for(api: TestClient, customer: list[dict[str, Any]], *, ship: bool = True) -> dict[str, Any]:
    order = ok(api.post("/api/v1/orders", json={
        "channel": "web", "customer": customer, "lines": [{"sku": "RUN-1", "quantity": 1}],
        "fulfilment": {"type": "ship", "address": ADDRESS},
        "payments": [{"method": "card", "amount": "89.90"}]}), 201)
    if ship:
        ok(api.post(f"/api/v1/orders/{order['id']}/shipments", json={
            "carrier": "SEUR", "tracking_number": "SEUR-20260105-77", "location": "wh"}), 201)
    return order


def outs(api: TestClient, conversation_id: str) -> list[dict[str, Any]]:
    return [m for m in conversation(api, conversation_id)["messages"] if m["direction"] == "out"]


def test_the_bot_answers_from_the_knowledge_base_citing_the_article(desk: TestClient, bot_worker: Worker,
                                                                      mailbox: Mailbox, db: Database) -> None:
    kb = load_kb(desk, ("es",))
    cid = message(desk, "email", {"email": "marta@correo.es"}, "¿Cuánto cuesta el envío a Canarias?")[
        "conversation_id"]
    bot_worker.dispatch()
    [answer] = outs(desk, cid)
    article = kb["Gastos y plazos de envío"]
    assert answer["author"] == "bot" and answer["channel"] == "email" and answer["status"] == "queued"
    assert "A Canarias, Ceuta y Melilla cuestan 12,95 €" in answer["text"]
    assert answer["text"].endswith(f"Fuente: «Gastos y plazos de envío» ({article})")
    seen = conversation(desk, cid)
    assert seen["status"] == "pending" and seen["handoff"] is None
    [answered] = events_of(db, "bot.answered")
    assert answered["article_id"] == article and answered["confidence"] == 1.0

    bot_worker.send_replies()  # the agents' reply path: SMTP, from the support mailbox
    [sent] = mailbox.messages
    assert sent["To"] == "marta@correo.es" and f"({article})" in sent.get_content()

    message(desk, "email", {"email": "marta@correo.es"}, "¡Muchas gracias!")  # nothing to answer, nobody to call
    bot_worker.dispatch()
    assert len(outs(desk, cid)) == 1 and conversation(desk, cid)["handoff"] is None


def test_below_the_threshold_it_hands_off_and_stays_out_until_resolved(desk: TestClient, bot_worker: Worker,
                                                                        db: Database) -> None:
    load_kb(desk, ("es",))
    who = {"email": "pablo@correo.es"}
    cid = message(desk, "email", who, "¿Vendéis tarjetas regalo?")["conversation_id"]
    bot_worker.dispatch()
    seen = conversation(desk, cid)
    assert outs(desk, cid) == [] and seen["status"] == "open" and seen["assignee"] is None
    assert seen["handoff"]["reason"] == "low_confidence" and seen["handoff"]["open"] is True
    assert seen["handoff"]["message_id"] == seen["messages"][0]["id"]
    assert [c["id"] for c in conversations(desk, assignee="none", status="open")] == [cid]

    message(desk, "email", who, "¿Cuánto cuesta el envío a Canarias?")  # a person has it now: the bot is silent
    bot_worker.dispatch()
    assert outs(desk, cid) == []

    ok(desk.post(f"/api/v1/conversations/{cid}/resolve"))
    bot_worker.dispatch()
    assert conversation(desk, cid)["handoff"]["open"] is False
    assert message(desk, "email", who, "¿Cuánto cuesta el envío a Baleares?")["conversation_id"] == cid  # reopened
    bot_worker.dispatch()
    assert [m["author"] for m in outs(desk, cid)] == ["bot"]
    assert [e["reason"] for e in events_of(db, "conversation.handed_off")] == ["low_confidence"]


def test_a_person_asked_for_a_complaint_or_a_refund_go_to_the_queue(desk: TestClient, bot_worker: Worker) -> None:
    load_kb(desk)
    cases = [("Quiero hablar con una persona", "asked_for_person"),
             ("I want to talk to a human agent", "asked_for_person"),
             ("Esto es una vergüenza, quiero poner una reclamación por el envío", "complaint"),
             ("I want a refund for my returns", "refund_asked")]
    sent = [message(desk, "email", {"email": f"eva{n}@correo.es"}, text)["conversation_id"]
            for n, (text, _) in enumerate(cases)]
    bot_worker.dispatch()
    for cid, (_, reason) in zip(sent, cases, strict=True):
        seen = conversation(desk, cid)
        assert outs(desk, cid) == [] and seen["handoff"]["reason"] == reason and seen["status"] == "open"


def test_the_order_question_is_answered_only_to_a_verified_identity(desk: TestClient, bot_worker: Worker,
                                                                     db: Database) -> None:
    verified = shop_with_order(desk, [{"kind": "email", "value": "ana@correo.es", "verified": True}])
    unverified = order_for(desk, [{"kind": "email", "value": "luis@correo.es"}])

    ana = message(desk, "email", {"email": "ana@correo.es"}, "Hola, ¿dónde está mi pedido?")["conversation_id"]
    luis = message(desk, "email", {"email": "luis@correo.es"}, "Where is my order?")["conversation_id"]
    bot_worker.dispatch()

    [told] = outs(desk, ana)
    assert told["author"] == "bot" and told["text"] == (
        f"Tu pedido {verified['number']} está: enviado. Va con SEUR, número de seguimiento SEUR-20260105-77. "
        "Fecha prometida: 2026-01-07 09:00 UTC.")
    assert conversation(desk, ana)["handoff"] is None
    [asked] = outs(desk, luis)
    assert unverified["number"] not in asked["text"] and "SEUR" not in asked["text"]
    assert asked["text"].startswith("To tell you about your orders we need to know it is you")
    seen = conversation(desk, luis)
    assert seen["handoff"]["reason"] == "identity_not_verified" and seen["status"] == "open"
    assert [e["kind"] for e in events_of(db, "bot.answered")] == ["order"]


def test_the_bot_stays_out_of_assigned_conversations_and_when_disabled(desk: TestClient, desk_settings: Settings,
                                                                       bot_worker: Worker, db: Database,
                                                                       clock: ManualClock) -> None:
    load_kb(desk, ("en",))
    first = message(desk, "email", {"email": "rosa@correo.es"}, "Hello")["conversation_id"]
    ok(desk.post(f"/api/v1/conversations/{first}/assign", json={"assignee": "marta"}))
    bot_worker.dispatch()
    message(desk, "email", {"email": "rosa@correo.es"}, "Do you ship to France?")
    bot_worker.dispatch()
    assert outs(desk, first) == [] and conversation(desk, first)["handoff"] is None

    off = Worker(desk_settings, db, clock,
                 handlers=[BotHandler(clock, desk_settings.model_copy(update={"service_bot_enabled": False}))])
    other = message(desk, "email", {"email": "tom@correo.es"}, "Do you ship to France?")["conversation_id"]
    off.dispatch()
    off.close()
    assert outs(desk, other) == [] and conversation(desk, other)["handoff"] is None


def test_journey_6_with_the_bot(desk: TestClient, bot_worker: Worker, mailbox: Mailbox, graph: Graph,
                                clock: ManualClock) -> None:
    """An Instagram DM about a late order opens the conversation with priority 'late order'; the bot answers a
    known question (on Instagram, citing the article) and hands off on 'quiero hablar con una persona'; the
    customer writes by e-mail into the same thread; the agent replies with a template, received by SMTP."""
    kb = load_kb(desk, ("es",))
    order = shop_with_order(desk, [{"kind": "email", "value": "ana@correo.es"},
                                   {"kind": "external", "value": "1254459154682919", "system": "instagram"}],
                            ship=False)
    channel(desk, "ig", kind="social")
    ok(desk.put("/api/v1/connectors/meta/ig", json={"app_secret": APP_SECRET, "verify_token": "v",
                                                    "access_token": "EAAG-ig", "page_id": IG_ACCOUNT_ID,
                                                    "api_base": graph.base}), 201)
    ok(desk.post("/api/v1/reply-templates", json={
        "code": "retraso", "name": "Pedido con retraso", "subject": "Tu pedido {{ order.number }}",
        "body": "Hola, sentimos el retraso del pedido {{ order.number }}. Sale hoy."}), 201)
    clock.advance(hours=49)  # past the 48 h promised for shipping: the order is late

    key = desk.headers.pop("Authorization")

    def dm(text: str, mid: str) -> None:
        body, headers = signed(instagram_message("1254459154682919", text, mid,
                                                 timestamp_ms=int(clock.now().timestamp() * 1000)))
        assert threaded(desk, desk.post("/api/v1/connectors/meta/webhooks", content=body, headers=headers)
                        )["received"] == 1

    dm("Hola, ¿hacéis envíos a Canarias? ¿Cuánto cuesta el envío?", "mid.J1")
    desk.headers["Authorization"] = key
    [opened] = conversations(desk, status="open")
    assert opened["customer_id"] == order["customer_id"] and opened["priority"] == "high"
    assert [r["rule"] for r in opened["priority_reasons"]] == ["late_order"]
    bot_worker.dispatch()
    bot_worker.send_replies()
    [sent] = graph.calls
    assert sent.path == f"/v21.0/{IG_ACCOUNT_ID}/messages"
    assert sent.body["recipient"] == {"id": "1254459154682919"}
    article = kb["Gastos y plazos de envío"]
    assert sent.body["message"]["text"].endswith(f"Fuente: «Gastos y plazos de envío» ({article})")

    key = desk.headers.pop("Authorization")
    clock.advance(minutes=5)
    dm("Quiero hablar con una persona", "mid.J2")
    desk.headers["Authorization"] = key
    bot_worker.dispatch()
    seen = conversation(desk, opened["id"])
    assert seen["status"] == "open" and seen["assignee"] is None and seen["handoff"]["reason"] == "asked_for_person"
    assert [(m["channel"], m["direction"], m["author"] == "bot") for m in seen["messages"]] == [
        ("instagram", "in", False), ("instagram", "out", True), ("instagram", "in", False)]
    assert [c["id"] for c in conversations(desk, assignee="none", status="open")] == [opened["id"]]

    by_mail = send(desk, mail("ana@correo.es", "Os escribo también por correo.", message_id="<ana-j3@correo.es>"))
    assert by_mail["conversation_id"] == opened["id"]
    bot_worker.dispatch()  # handed off: the bot stays out
    assert [m["channel"] for m in conversation(desk, opened["id"])["messages"]] == [
        "instagram", "instagram", "instagram", "email"]

    ok(desk.post(f"/api/v1/conversations/{opened['id']}/assign", json={"assignee": "me"}))
    ok(desk.post(f"/api/v1/conversations/{opened['id']}/reply", json={"template": "retraso", "channel": "email"}),
       202)
    bot_worker.send_replies()
    [received] = mailbox.messages
    assert received["To"] == "ana@correo.es" and received["Subject"] == f"Tu pedido {order['number']}"
    assert received.get_content().strip() == f"Hola, sentimos el retraso del pedido {order['number']}. Sale hoy."


def test_one_dispatch_batch_gives_each_message_the_turn_it_gets_alone(desk: TestClient, bot_worker: Worker,
                                                                     mailbox: Mailbox, db: Database) -> None:
    """The bot reads a dispatch batch's messages, conversations and who has them once: a conversation an agent
    answered stays the agent's, and a conversation the bot handed off on one message is a person's for the next
    message of the same batch (read again, not taken from the batch's first read)."""
    load_kb(desk, ("es",))
    answered = message(desk, "email", {"email": "pablo@correo.es"}, "¿Vendéis tarjetas regalo?")["conversation_id"]
    ok(desk.post(f"/api/v1/conversations/{answered}/reply", json={"text": "Sí, en tienda."}), 202)
    message(desk, "email", {"email": "pablo@correo.es"}, "¿Y por internet?")
    fresh = message(desk, "email", {"email": "eva@correo.es"}, "¿Vendéis tarjetas regalo?")
    twice = [message(desk, "email", {"email": "rosa@correo.es"}, text)
             for text in ("¿Vendéis tarjetas regalo?", "¿Y cheques regalo?")]
    assert bot_worker.dispatch() >= 5  # every message above in one batch

    assert "bot" not in [m["author"] for m in outs(desk, answered)] and conversation(desk, answered)["handoff"] is None
    handed = events_of(db, "conversation.handed_off")
    assert sorted((e["conversation_id"], e["message_id"]) for e in handed) == sorted(
        [(fresh["conversation_id"], fresh["message_id"]), (twice[0]["conversation_id"], twice[0]["message_id"])])


def test_two_workers_give_each_message_exactly_one_turn(desk: TestClient, desk_settings: Settings, db: Database,
                                                        clock: ManualClock) -> None:
    """Dispatchers claim events with SKIP LOCKED (PostgreSQL) or one writer at a time (SQLite): however many
    workers run, a message is answered or handed off once."""
    load_kb(desk, ("en",))
    sent = []
    for n in range(6):
        text = "Do you ship to France?" if n % 2 else "Do you sell gift cards?"
        sent.append(message(desk, "email", {"email": f"c{n}@correo.es"}, text)["conversation_id"])
    workers = [Worker(desk_settings, db, clock, handlers=[BotHandler(clock, desk_settings)]) for _ in range(2)]

    def drain(worker: Worker) -> None:
        while worker.dispatch():
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in workers:
        worker.close()
    for n, cid in enumerate(sent):
        seen = conversation(desk, cid)
        answers = [m for m in seen["messages"] if m["direction"] == "out"]
        assert (len(answers), seen["handoff"] is not None) == ((1, False) if n % 2 else (0, True)), seen
    assert len(events_of(db, "conversation.handed_off")) == 3 and len(events_of(db, "bot.answered")) == 3


def test_a_click_and_collect_order_is_told_with_its_store_and_until_when_the_code_is_valid(
        desk: TestClient, bot_worker: Worker) -> None:
    location(desk, "sol", name="Madrid Sol")
    product(desk, "RUN-1", category="running")
    channel(desk, "web", locations=["sol"])
    ok(desk.put("/api/v1/channels/web/prices", json=[{"sku": "RUN-1", "amount": "89.90"}]))
    stock(desk, "sol", "RUN-1", 5)
    order = ok(desk.post("/api/v1/orders", json={
        "channel": "web", "customer": [{"kind": "email", "value": "ines@correo.es", "verified": True}],
        "lines": [{"sku": "RUN-1", "quantity": 1}], "fulfilment": {"type": "pickup", "location": "sol"},
        "payments": [{"method": "card", "amount": "89.90"}]}), 201)
    ready = ok(desk.post(f"/api/v1/orders/{order['id']}/ready"))
    code, until = ready["pickup"]["code"], ready["pickup"]["expires_at"]

    cid = message(desk, "email", {"email": "ines@correo.es"}, "Where is my order? Can I pick it up?")[
        "conversation_id"]
    bot_worker.dispatch()
    [told] = outs(desk, cid)
    assert told["text"].startswith(f"Your order {order['number']} is ready for pickup. You can pick it up at "
                                   "Madrid Sol. Your pickup code is valid until ")
    assert until[:10] in told["text"] and code not in told["text"]


def test_a_batchs_handoffs_are_written_together_and_one_failing_loses_only_itself(
        desk: TestClient, bot_worker: Worker, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dispatch batch's handoffs go in one insert (`hand_off_many`); when one of them fails (here routing raises
    for one conversation) they are done again one by one, each in its own savepoint: only that one is lost."""
    import sqlalchemy as sa

    from omnihub.service import routing

    load_kb(desk, ("es",))
    sent = [message(desk, "email", {"email": f"ana{n}@correo.es"}, "¿Vendéis tarjetas regalo?")
            for n in range(3)]
    inserts: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO BOT_HANDOFFS"):
            inserts.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert bot_worker.dispatch() >= 3
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(inserts) == (0 if db.is_postgres else 1)  # PostgreSQL: one COPY (not a SQLAlchemy statement)
    assert sorted(e["message_id"] for e in events_of(db, "conversation.handed_off")) == sorted(
        m["message_id"] for m in sent)

    bad = [message(desk, "email", {"email": f"bea{n}@correo.es"}, "¿Vendéis tarjetas regalo?") for n in range(3)]
    on_handoff = routing.on_handoff

    def failing(conn: Any, clock: Any, conversation_id: str, *args: Any, **kwargs: Any) -> None:
        if conversation_id == bad[1]["conversation_id"]:
            raise ValueError("routing broke for this one")
        on_handoff(conn, clock, conversation_id, *args, **kwargs)

    monkeypatch.setattr(routing, "on_handoff", failing)
    bot_worker.dispatch()
    assert conversation(desk, bad[1]["conversation_id"])["handoff"] is None
    for m in (bad[0], bad[2]):
        assert conversation(desk, m["conversation_id"])["handoff"]["reason"] == "low_confidence"
    assert len(events_of(db, "conversation.handed_off")) == 5
