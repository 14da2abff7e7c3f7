"""Replies through the worker: e-mail by real SMTP (a local aiosmtpd server), WhatsApp and Instagram through the
Graph API send endpoints (a local receiver that checks what Meta documents), retries that never lose or double a
reply, the WhatsApp 24-hour window, reply templates rendered in a sandbox."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, problem, product, stock
from tests.conftest import make_key
from tests.integration.service.helpers import conversation, events_of, message
from tests.integration.service.meta import (
    APP_SECRET,
    IG_ACCOUNT_ID,
    PHONE_NUMBER_ID,
    instagram_message,
    instagram_read,
    signed,
    threaded,
    whatsapp_status,
    whatsapp_text,
)
from tests.integration.service.outlets import Graph, Mailbox
from tests.integration.service.test_email_inbound import RAW, mail, send

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import Worker

HOOK = "/api/v1/connectors/meta/webhooks"


def reply(api: TestClient, conversation_id: str, *, status: int = 202, **body: Any) -> dict[str, Any]:
    return ok(api.post(f"/api/v1/conversations/{conversation_id}/reply", json=body), status)


def webhook(api: TestClient, payload: dict[str, Any]) -> dict[str, Any]:
    body, headers = signed(payload)
    return threaded(api, api.post(HOOK, content=body, headers=headers))


def connect_meta(api: TestClient, graph: Graph) -> None:
    channel(api, "wa", kind="social")
    channel(api, "ig", kind="social")
    for code, account in (("wa", {"phone_number_id": PHONE_NUMBER_ID}), ("ig", {"page_id": IG_ACCOUNT_ID})):
        ok(api.put(f"/api/v1/connectors/meta/{code}", json={
            "app_secret": APP_SECRET, "verify_token": f"v-{code}", "access_token": f"EAAG-{code}",
            "api_base": graph.base, **account}), 201)


def last_out(api: TestClient, conversation_id: str) -> dict[str, Any]:
    return [m for m in conversation(api, conversation_id)["messages"] if m["direction"] == "out"][-1]


def test_an_email_reply_goes_out_by_smtp_and_the_answer_threads_back(desk: TestClient, worker: Worker,
                                                                     mailbox: Mailbox, db: Database,
                                                                     clock: ManualClock) -> None:
    cid = send(desk, RAW)["conversation_id"]
    queued = reply(desk, cid, text="Hola Ana, tu pedido sale hoy.")
    assert queued["channel"] == "email" and queued["status"] == "queued"
    assert mailbox.messages == []  # nothing leaves inside the request

    assert worker.send_replies() == 1
    [sent] = mailbox.messages
    assert mailbox.envelopes == [("support@tienda.es", ["ana@correo.es"])]
    assert sent["To"] == "ana@correo.es" and sent["From"] == "support@tienda.es"
    assert sent["Subject"] == "Re: Pedido 1042"
    assert sent["In-Reply-To"] == "<CAF=ana-1@mail.correo.es>"
    assert sent["Reply-To"].startswith("support+") and sent["Reply-To"].endswith("@tienda.es")
    assert sent.get_content().strip() == "Hola Ana, tu pedido sale hoy."
    out = last_out(desk, cid)
    assert (out["status"], out["channel"], out["text"]) == ("sent", "email", "Hola Ana, tu pedido sale hoy.")
    assert [e["message_id"] for e in events_of(db, "message.sent")] == [queued["id"]]
    assert conversation(desk, cid)["status"] == "pending"  # waiting for the customer
    assert worker.send_replies() == 0 and len(mailbox.messages) == 1  # sent once

    ok(desk.post(f"/api/v1/conversations/{cid}/resolve"))
    clock.advance(days=20)
    answer = send(desk, mail("ana@correo.es", "Gracias!",
                             message_id="<ana-2@correo.es>", in_reply_to=sent["Message-ID"]))
    assert answer["conversation_id"] == cid


def test_smtp_down_is_retried_later_and_sent_once(desk: TestClient, worker: Worker, mailbox: Mailbox,
                                                  clock: ManualClock) -> None:
    cid = send(desk, RAW)["conversation_id"]
    reply(desk, cid, text="Primera respuesta")
    mailbox.stop()
    assert worker.send_replies() == 1
    out = last_out(desk, cid)
    assert out["status"] == "queued" and "SMTP unreachable" in out["error"]
    assert worker.send_replies() == 0  # not due before its backoff
    mailbox.start()
    clock.advance(seconds=31)
    assert worker.send_replies() == 1
    assert [m.get_content().strip() for m in mailbox.messages] == ["Primera respuesta"]
    assert last_out(desk, cid)["status"] == "sent"


def test_a_whatsapp_reply_calls_the_graph_api_as_meta_documents_and_statuses_follow(
        desk: TestClient, worker: Worker, graph: Graph, db: Database) -> None:
    connect_meta(desk, graph)
    webhook(desk, whatsapp_text("34612345678", "¿Y mi pedido?", "wamid.IN1"))
    cid = ok(desk.get("/api/v1/conversations"))["items"][0]["id"]

    reply(desk, cid, text="Sale hoy 📦")
    worker.send_replies()

    [call] = graph.calls
    assert call.method == "POST" and call.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert call.headers["authorization"] == "Bearer EAAG-wa"
    assert call.headers["content-type"] == "application/json"
    assert call.body == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "34612345678",
                         "type": "text", "text": {"preview_url": False, "body": "Sale hoy 📦"}}
    assert last_out(desk, cid)["status"] == "sent"

    assert webhook(desk, whatsapp_status("wamid.OUT1", "delivered", "34612345678"))["statuses"] == 1
    assert last_out(desk, cid)["status"] == "delivered"
    webhook(desk, whatsapp_status("wamid.OUT1", "read", "34612345678"))
    assert webhook(desk, whatsapp_status("wamid.OUT1", "delivered", "34612345678"))["statuses"] == 0
    assert last_out(desk, cid)["status"] == "read"
    assert len(events_of(db, "message.read")) == 1


def test_an_instagram_reply_and_its_read_receipt(desk: TestClient, worker: Worker, graph: Graph) -> None:
    connect_meta(desk, graph)
    webhook(desk, instagram_message("1254459154682919", "Hola", "mid.IN1"))
    cid = ok(desk.get("/api/v1/conversations"))["items"][0]["id"]
    reply(desk, cid, text="¡Hola! ¿En qué te ayudo?")
    worker.send_replies()
    [call] = graph.calls
    assert call.path == f"/v21.0/{IG_ACCOUNT_ID}/messages" and call.headers["authorization"] == "Bearer EAAG-ig"
    assert call.body == {"recipient": {"id": "1254459154682919"}, "message": {"text": "¡Hola! ¿En qué te ayudo?"}}
    webhook(desk, instagram_read("1254459154682919", "mid.OUT1"))
    assert last_out(desk, cid)["status"] == "read"


def test_a_provider_failure_is_retried_and_never_doubled(desk: TestClient, worker: Worker, graph: Graph,
                                                         desk_settings: Any, db: Database, clock: ManualClock) -> None:
    connect_meta(desk, graph)
    graph.fail_first = 1
    webhook(desk, whatsapp_text("34612345678", "Hola", "wamid.IN1"))
    cid = ok(desk.get("/api/v1/conversations"))["items"][0]["id"]
    first = reply(desk, cid, text="uno")
    worker.send_replies()
    assert last_out(desk, cid)["status"] == "queued" and "Graph API 500" in last_out(desk, cid)["error"]
    clock.advance(seconds=31)
    for i in range(2, 6):
        reply(desk, cid, text=f"respuesta {i}")

    others = [Worker(desk_settings, db, clock, handlers=[]) for _ in range(3)]
    threads = [threading.Thread(target=w.send_replies) for w in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in others:
        w.close()
    worker.send_replies()

    texts = [c.body["text"]["body"] for c in graph.calls]
    assert sorted(texts) == sorted(["uno", "uno", "respuesta 2", "respuesta 3", "respuesta 4", "respuesta 5"])
    assert [m["status"] for m in conversation(desk, cid)["messages"] if m["direction"] == "out"] == ["sent"] * 5
    assert sorted(e["message_id"] for e in events_of(db, "message.sent")).count(first["id"]) == 1


def test_a_refusal_no_retry_can_fix_fails_the_reply_at_once(desk: TestClient, worker: Worker, graph: Graph,
                                                            db: Database) -> None:
    connect_meta(desk, graph)
    graph.fail_first, graph.fail_status = 1, 400
    webhook(desk, whatsapp_text("34612345678", "Hola", "wamid.IN1"))
    cid = ok(desk.get("/api/v1/conversations"))["items"][0]["id"]
    failed = reply(desk, cid, text="uno")
    worker.send_replies()
    out = last_out(desk, cid)
    assert out["status"] == "failed" and "(#131000)" in out["error"]
    assert [e["message_id"] for e in events_of(db, "message.failed")] == [failed["id"]]


def test_the_whatsapp_window_allows_only_an_approved_template_after_24_hours(
        desk: TestClient, worker: Worker, graph: Graph, clock: ManualClock) -> None:
    connect_meta(desk, graph)
    webhook(desk, whatsapp_text("34612345678", "Hola", "wamid.IN1", name="Ana García"))
    cid = ok(desk.get("/api/v1/conversations"))["items"][0]["id"]
    ok(desk.post("/api/v1/reply-templates", json={"code": "plain", "name": "Plain",
                                                  "body": "Hola {{ customer.first_name }}"}), 201)
    ok(desk.post("/api/v1/reply-templates", json={
        "code": "seguimiento", "name": "Seguimiento", "body": "Hola {{ customer.first_name }}, ¿seguimos?",
        "whatsapp": {"name": "order_follow_up", "language": "es", "parameters": ["{{ customer.first_name }}"]}}), 201)
    clock.advance(hours=25)

    closed = problem(desk.post(f"/api/v1/conversations/{cid}/reply", json={"text": "¿Sigues ahí?"}), 409,
                     "whatsapp_window_closed")
    assert closed["last_inbound_at"].startswith("2026-01-05T09:00:00")
    problem(desk.post(f"/api/v1/conversations/{cid}/reply", json={"template": "plain"}), 409,
            "template_not_approved")
    queued = reply(desk, cid, template="seguimiento")
    assert queued["text"] == "Hola Ana, ¿seguimos?" and queued["whatsapp_template"] == "order_follow_up"
    worker.send_replies()
    [call] = graph.calls
    assert call.body == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "34612345678",
                         "type": "template", "template": {"name": "order_follow_up", "language": {"code": "es"},
                                                          "components": [{"type": "body", "parameters": [
                                                              {"type": "text", "text": "Ana"}]}]}}


def test_templates_render_customer_and_order_and_a_missing_variable_stops_the_reply(
        desk: TestClient, worker: Worker, mailbox: Mailbox) -> None:
    location(desk, "wh", kind="warehouse", pickup=False)
    product(desk, "TEE", category="apparel")
    channel(desk, "web", locations=["wh"])
    ok(desk.put("/api/v1/channels/web/prices", json=[{"sku": "TEE", "amount": "20.00"}]))
    stock(desk, "wh", "TEE", 5)
    ok(desk.post("/api/v1/reply-templates", json={
        "code": "pedido", "name": "Pedido", "subject": "Tu pedido {{ order.number }}",
        "body": "Hola {{ customer.first_name }}, tu pedido {{ order.number }} está {{ order.status }}."}), 201)
    cid = send(desk, RAW)["conversation_id"]

    missing = problem(desk.post(f"/api/v1/conversations/{cid}/reply", json={"template": "pedido"}), 422,
                      "template_variable_missing")
    assert "'order' is undefined" in missing["detail"]
    assert [m for m in conversation(desk, cid)["messages"] if m["direction"] == "out"] == []

    order = ok(desk.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": "ana@correo.es"}, "lines": [{"sku": "TEE", "quantity": 1}],
        "fulfilment": {"type": "ship", "address": {"line1": "Calle Mayor 1", "city": "Madrid",
                                                   "postal_code": "28013", "country": "ES"}}}), 201)
    queued = reply(desk, cid, template="pedido")
    assert queued["text"] == f"Hola Ana, tu pedido {order['number']} está {order['status']}."
    worker.send_replies()
    assert mailbox.messages[0]["Subject"] == f"Tu pedido {order['number']}"
    by_variable = reply(desk, cid, template="pedido", variables={"order": {"number": "W-0001"}})
    assert "W-0001" in by_variable["text"]
    problem(desk.post(f"/api/v1/conversations/{cid}/reply", json={"template": "pedido", "variables": {
        "order": "ord_nope"}}), 422, "order_not_found")
    ok(desk.post("/api/v1/reply-templates", json={"code": "evil", "name": "x",
                                                  "body": "{{ customer.__class__.__mro__ }}"}), 201)
    problem(desk.post(f"/api/v1/conversations/{cid}/reply", json={"template": "evil"}), 422,
            "template_not_allowed")  # the sandbox refuses the walk to Python's internals
    conv = conversation(desk, cid)
    assert conv["orders"][0]["number"] == order["number"]  # the agent sees the customer's orders beside the thread


def test_the_reply_channel_is_where_the_customer_last_wrote_unless_the_agent_picks_one_they_have(
        desk: TestClient, worker: Worker, graph: Graph, mailbox: Mailbox) -> None:
    connect_meta(desk, graph)
    ok(desk.post("/api/v1/customers", json={"channel": "wa", "identities": [
        {"kind": "email", "value": "ana@correo.es"},
        {"kind": "external", "value": "1254459154682919", "system": "instagram"}]}), 201)
    webhook(desk, instagram_message("1254459154682919", "Hola", "mid.IN1"))
    cid = ok(desk.get("/api/v1/conversations"))["items"][0]["id"]

    assert reply(desk, cid, text="Por Instagram")["channel"] == "instagram"
    assert reply(desk, cid, text="Por correo", channel="email")["channel"] == "email"
    problem(desk.post(f"/api/v1/conversations/{cid}/reply", json={"text": "x", "channel": "whatsapp"}), 409,
            "channel_unreachable")
    worker.send_replies()
    assert [c.body["message"]["text"] for c in graph.calls] == ["Por Instagram"]
    assert [m["To"] for m in mailbox.messages] == ["ana@correo.es"]

    chat = message(desk, "webchat", {"email": "solo.chat@correo.es"}, "Hola")
    problem(desk.post(f"/api/v1/conversations/{chat['conversation_id']}/reply", json={"text": "x"}), 409,
            "channel_unreachable")
    assert reply(desk, chat["conversation_id"], text="Te escribo al correo", channel="email")["channel"] == "email"
    problem(desk.post(f"/api/v1/conversations/{cid}/reply", json={"text": "x", "template": "y"}), 422,
            "text_or_template")
    problem(desk.post(f"/api/v1/conversations/{cid}/reply", json={}), 422, "text_or_template")


def test_without_smtp_an_email_reply_is_refused_clearly(admin: TestClient) -> None:
    cid = message(admin, "email", {"email": "ana@correo.es"}, "Hola")["conversation_id"]
    problem(admin.post(f"/api/v1/conversations/{cid}/reply", json={"text": "x"}), 409, "channel_not_configured")


def test_template_crud_and_who_may_edit(desk: TestClient, db: Database, clock: ManualClock) -> None:
    agent = {"Authorization": f"Bearer {make_key(db, clock, 'agent')}"}
    body = {"code": "gracias", "name": "Gracias", "body": "Gracias {{ customer.first_name }}"}
    created = ok(desk.post("/api/v1/reply-templates", json=body), 201)
    assert created["whatsapp"] is None and created["body"] == body["body"]
    problem(desk.post("/api/v1/reply-templates", json=body), 409, "template_exists")
    problem(desk.post("/api/v1/reply-templates", json={**body, "code": "roto", "body": "{{ customer."}), 422,
            "invalid_template")
    problem(desk.post("/api/v1/reply-templates", json={**body, "code": "x"}, headers=agent), 403, "role_not_allowed")
    assert [t["code"] for t in ok(desk.get("/api/v1/reply-templates", headers=agent))["items"]] == ["gracias"]
    replaced = ok(desk.put("/api/v1/reply-templates/gracias", json={"name": "G", "body": "¡Gracias!"}))
    assert replaced["body"] == "¡Gracias!"
    assert desk.put("/api/v1/reply-templates/nueva", json={"name": "N", "body": "n"}).status_code == 201
    assert desk.delete("/api/v1/reply-templates/gracias").status_code == 204
    problem(desk.delete("/api/v1/reply-templates/gracias"), 404, "template_not_found")
    problem(desk.get("/api/v1/reply-templates/gracias", headers=agent), 404, "template_not_found")


def test_a_retried_reply_with_its_idempotency_key_is_queued_once(desk: TestClient, worker: Worker,
                                                                 mailbox: Mailbox) -> None:
    cid = send(desk, RAW)["conversation_id"]
    results: list[Any] = []
    lock = threading.Lock()

    def post() -> None:
        response = desk.post(f"/api/v1/conversations/{cid}/reply", json={"text": "Una sola vez"},
                             headers={"Idempotency-Key": "reply-1"})
        with lock:
            results.append(response)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    replayed = desk.post(f"/api/v1/conversations/{cid}/reply", json={"text": "Una sola vez"},
                         headers={"Idempotency-Key": "reply-1"})

    assert {r.status_code for r in results} <= {202, 409}, [r.text for r in results]
    assert replayed.status_code == 202 and replayed.headers["idempotent-replayed"] == "true"
    assert len({r.json()["id"] for r in [*results, replayed] if r.status_code == 202}) == 1
    problem(desk.post(f"/api/v1/conversations/{cid}/reply", json={"text": "Otra"},
                      headers={"Idempotency-Key": "reply-1"}), 422, "idempotency_key_reused")
    worker.send_replies()
    assert [m.get_content().strip() for m in mailbox.messages] == ["Una sola vez"]
