"""Back in stock: a subscription needs consent, fires once when the SKU's availability in the channel goes from 0
to more (`stock.back`), and the built-in recipe e-mails the subscriber once. The "open a service conversation"
action puts a note naming the rule on the customer's conversation."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, problem, product, stock
from tests.conftest import make_key
from tests.integration.automation.conftest import consent
from tests.integration.automation.test_rules_and_guards import person
from tests.provider_receiver import Mailbox

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import outbox


def stock_back(db: Database) -> list[dict]:
    with db.read() as conn:
        return list(conn.execute(sa.select(outbox.c.data).where(outbox.c.type == "stock.back")
                                 .order_by(outbox.c.seq)).scalars())


def test_a_subscriber_hears_once_when_the_product_is_back(shop: TestClient, db: Database, clock: ManualClock,
                                                          mailbox: Mailbox, work) -> None:
    product(shop, "BOOT-42", category="shoes", name="Hiking Boot 42")
    ok(shop.put("/api/v1/channels/web/prices", json=[{"sku": "BOOT-42", "amount": "90.00"}]))
    work()
    ana = person(shop, "ana.bis@correo.es", "+34600000061")
    path = "/api/v1/products/BOOT-42/back-in-stock"
    assert problem(shop.post(path, json={"customer_id": ana, "channel": "web"}), 409,
                   "consent_required")["field"] == "notify_by"
    consent(shop, ana, "email_marketing")
    problem(shop.post("/api/v1/products/NOPE/back-in-stock", json={"customer_id": ana, "channel": "web"}), 404,
            "product_not_found")
    problem(shop.post(path, json={"channel": "web"}), 422, "customer_required")
    first = ok(shop.post(path, json={"customer_id": ana, "channel": "web"}), 201)
    again = shop.post(path, json={"identity": {"kind": "email", "value": "ana.bis@correo.es"}, "channel": "web"})
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    # a channel key subscribes for its own channel only
    app_key = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='app')}"}
    assert shop.post(path, headers=app_key, json={"customer_id": ana, "channel": "web"}).status_code == 403
    ok(shop.patch("/api/v1/automations/rule_recipe_back_in_stock", json={"active": True}))

    stock(shop, "wh", "BOOT-42", 4)  # 0 -> 4 in web
    work()
    fired = stock_back(db)
    assert [(e["customer_id"], e["sku"], e["channel"]) for e in fired] == [(ana, "BOOT-42", "web")]
    assert [m["To"] for m in mailbox.messages] == ["ana.bis@correo.es"]
    assert "Hiking Boot 42 is available again" in mailbox.messages[0].get_body(("plain",)).get_content()

    stock(shop, "wh", "BOOT-42", 0)
    work()
    stock(shop, "wh", "BOOT-42", 3)  # back again: the subscription was spent
    work()
    assert len(stock_back(db)) == 1 and len(mailbox.messages) == 1
    assert ok(shop.post(path, json={"customer_id": ana, "channel": "web"}), 201)["id"] != first["id"]


def test_open_a_service_conversation_with_a_note_naming_the_rule(shop: TestClient, work) -> None:
    rule = ok(shop.post("/api/v1/automations", json={
        "name": "Call big buyers", "trigger": {"event": "order.created"}, "conditions": [],
        "steps": [{"action": "conversation", "note": "Thank them personally."}], "active": True}), 201)
    assert problem(shop.post("/api/v1/automations", json={
        "name": "x", "trigger": {"event": "order.created"}, "conditions": [],
        "steps": [{"action": "conversation", "note": ""}]}), 422, "invalid_automation")["field"] == "steps.0.note"
    order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": "vip@correo.es"}, "lines": [{"sku": "MUG", "quantity": 1}],
        "fulfilment": {"type": "ship", "address": {"line1": "Calle Mayor 1", "city": "Madrid",
                                                    "postal_code": "28013", "country": "ES"}},
        "payments": [{"method": "card", "amount": "11.00"}]}), 201)
    work()
    found = ok(shop.get("/api/v1/conversations", params={"customer": order["customer_id"]}))["items"]
    assert len(found) == 1 and found[0]["status"] == "open"
    thread = ok(shop.get(f"/api/v1/conversations/{found[0]['id']}"))
    notes = [m for m in thread["messages"] if m["direction"] == "note"]
    assert len(notes) == 1 and "Call big buyers" in notes[0]["text"] and rule["id"] in notes[0]["text"]
    assert "Thank them personally." in notes[0]["text"]
