"""Journey 6 (without the bot): an Instagram DM about an order opens the customer's conversation, the customer
continues by e-mail in the same thread, the agent sees the history and the orders, and replies with a template
that reaches the customer by SMTP. Snoozed conversations wake when their time comes."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, product, stock
from tests.integration.service.helpers import conversation, events_of
from tests.integration.service.meta import APP_SECRET, IG_ACCOUNT_ID, instagram_message, signed, threaded
from tests.integration.service.outlets import Mailbox
from tests.integration.service.test_email_inbound import mail, send

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import Worker


def test_journey_6_one_conversation_any_channel(desk: TestClient, worker: Worker, mailbox: Mailbox) -> None:
    location(desk, "wh", kind="warehouse", pickup=False)
    product(desk, "RUN-1", category="running")
    channel(desk, "web", locations=["wh"])
    channel(desk, "ig", kind="social")
    ok(desk.put("/api/v1/channels/web/prices", json=[{"sku": "RUN-1", "amount": "89.90"}]))
    stock(desk, "wh", "RUN-1", 10)
    ok(desk.put("/api/v1/connectors/meta/ig", json={"app_secret": APP_SECRET, "verify_token": "v",
                                                    "access_token": "EAAG-ig", "page_id": IG_ACCOUNT_ID}), 201)
    order = ok(desk.post("/api/v1/orders", json={
        "channel": "web", "customer": [{"kind": "email", "value": "ana@correo.es"},
                                       {"kind": "external", "value": "1254459154682919", "system": "instagram"}],
        "lines": [{"sku": "RUN-1", "quantity": 1}],
        "fulfilment": {"type": "ship", "address": {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013",
                                                   "country": "ES"}}}), 201)
    ok(desk.post("/api/v1/reply-templates", json={
        "code": "retraso", "name": "Pedido con retraso", "subject": "Tu pedido {{ order.number }}",
        "body": "Hola, sentimos el retraso del pedido {{ order.number }}. Sale hoy."}), 201)

    key = desk.headers.pop("Authorization")
    body, headers = signed(instagram_message("1254459154682919", "Mi pedido no llega", "mid.J1"))
    assert threaded(desk, desk.post("/api/v1/connectors/meta/webhooks", content=body, headers=headers)
                    )["received"] == 1
    desk.headers["Authorization"] = key
    [opened] = ok(desk.get("/api/v1/conversations", params={"status": "open"}))["items"]
    assert opened["customer_id"] == order["customer_id"]

    by_mail = send(desk, mail("ana@correo.es", "Os escribo también por correo.\n\nEl lun, Tienda escribió:\n> x",
                              message_id="<ana-j2@correo.es>"))
    assert by_mail["conversation_id"] == opened["id"]

    seen = conversation(desk, opened["id"])
    assert [(m["channel"], m["text"]) for m in seen["messages"]] == [
        ("instagram", "Mi pedido no llega"), ("email", "Os escribo también por correo.")]
    assert [o["number"] for o in seen["orders"]] == [order["number"]]
    assert seen["customer"]["stats"]["orders_count"] == 1

    reply = ok(desk.post(f"/api/v1/conversations/{opened['id']}/reply",
                         json={"template": "retraso", "channel": "email"}), 202)
    worker.send_replies()
    [received] = mailbox.messages
    assert received["To"] == "ana@correo.es" and received["Subject"] == f"Tu pedido {order['number']}"
    assert received.get_content().strip() == f"Hola, sentimos el retraso del pedido {order['number']}. Sale hoy."
    assert conversation(desk, opened["id"])["messages"][-1]["id"] == reply["id"]


def test_a_snoozed_conversation_wakes_when_its_time_comes(desk: TestClient, worker: Worker, clock: ManualClock,
                                                          db: Database) -> None:
    cid = send(desk, mail("luis@correo.es", "Hola", message_id="<l-1@correo.es>"))["conversation_id"]
    ok(desk.post(f"/api/v1/conversations/{cid}/snooze", json={"until": "2026-01-05T12:00:00Z"}))
    worker.run_jobs()
    assert worker.stats.jobs.get("service.wake_snoozed", 0) == 0
    clock.advance(hours=3)
    worker.run_jobs()
    assert worker.stats.jobs["service.wake_snoozed"] == 1
    assert conversation(desk, cid)["status"] == "open"
    assert events_of(db, "conversation.woken") == [{"conversation_id": cid, "reason": "snooze_ended"}]
