"""Priority set by what happened to the customer's orders and what they wrote, each reason naming why; a
complaint puts the customer on support hold (shown on the 360 view) while the conversation is live."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, product, stock
from tests.integration.service.helpers import conversation, conversations, events_of, message

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def _order(admin: TestClient, email: str) -> dict:
    location(admin, "wh", kind="warehouse", pickup=False)
    product(admin, "RUN-1", category="running")
    channel(admin, "web", locations=["wh"])
    ok(admin.put("/api/v1/channels/web/prices", json=[{"sku": "RUN-1", "amount": "89.90"}]))
    stock(admin, "wh", "RUN-1", 10)
    return ok(admin.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": email}, "lines": [{"sku": "RUN-1", "quantity": 1}],
        "payments": [{"method": "card", "amount": "89.90"}],
        "fulfilment": {"type": "ship", "address": {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013",
                                                   "country": "ES"}}}), 201)


def test_a_late_order_and_a_complaint_make_a_conversation_urgent_and_say_why(admin: TestClient, clock: ManualClock,
                                                                             db: Database) -> None:
    order = _order(admin, "ana@correo.es")
    first = message(admin, "webchat", {"email": "ana@correo.es"}, "Hola, una pregunta sobre tallas")
    cid = first["conversation_id"]
    assert conversation(admin, cid)["priority"] == "normal"
    assert order["status"] == "paid"

    clock.advance(hours=49)  # past the 48 h promised for shipping
    message(admin, "webchat", {"email": "ana@correo.es"}, "¿Dónde está mi pedido?")
    seen = conversation(admin, cid)
    assert seen["priority"] == "high"
    assert [(r["rule"], r["order"]) for r in seen["priority_reasons"]] == [("late_order", order["number"])]
    assert order["number"] in seen["priority_reasons"][0]["why"]
    assert seen["customer"]["support_hold"] is None

    message(admin, "webchat", {"email": "ana@correo.es"}, "Esto es una VERGÜENZA, quiero poner una queja")
    seen = conversation(admin, cid)
    assert [r["rule"] for r in seen["priority_reasons"]] == ["late_order", "complaint"]
    assert seen["priority"] == "urgent"
    assert seen["priority_reasons"][-1]["why"] == "Complaint words: queja, verguenza."
    hold = ok(admin.get(f"/api/v1/customers/{first['customer_id']}"))["support_hold"]
    assert hold["conversation_id"] == cid and hold["reasons"] == ["Complaint words: queja, verguenza."]
    assert [c["id"] for c in conversations(admin, priority=seen["priority"])] == [cid]
    assert events_of(db, "conversation.prioritized")[0]["conversation_id"] == cid

    ok(admin.post(f"/api/v1/conversations/{cid}/resolve"))
    assert ok(admin.get(f"/api/v1/customers/{first['customer_id']}"))["support_hold"] is None


def test_refund_words_in_english_and_spanish(admin: TestClient) -> None:
    en = message(admin, "email", {"email": "tom@mail.co.uk"}, "I want my money back, please")
    es = message(admin, "whatsapp", {"phone": "+34611222333"}, "Quiero el reembolso del pedido")
    plain = message(admin, "whatsapp", {"phone": "+34611222444"}, "¿Tenéis la talla 42?")
    for receipt, rules in ((en, ["refund_asked"]), (es, ["refund_asked"]), (plain, [])):
        seen = conversation(admin, receipt["conversation_id"])
        assert [r["rule"] for r in seen["priority_reasons"]] == rules
        assert seen["priority"] == ("high" if rules else "normal")


def test_a_customer_whose_lifetime_value_reaches_the_shops_threshold_gets_priority(
        admin: TestClient, settings, db: Database, clock: ManualClock) -> None:
    from fastapi.testclient import TestClient as Client

    from omnihub.app import create_app

    _order(admin, "vip@correo.es")  # 89.90 spent
    vip_shop = create_app(settings.model_copy(update={"service_high_value_from": Decimal("80")}), db=db, clock=clock)
    with Client(vip_shop, raise_server_exceptions=False) as api:
        api.headers["Authorization"] = admin.headers["Authorization"]
        vip = message(api, "webchat", {"email": "vip@correo.es"}, "Hola, una pregunta sobre tallas")
        other = message(api, "webchat", {"email": "nuevo@correo.es"}, "Hola, una pregunta sobre tallas")
        seen = conversation(api, vip["conversation_id"])
        assert seen["priority"] == "high" and [r["rule"] for r in seen["priority_reasons"]] == ["high_value"]
        assert "89.90" in seen["priority_reasons"][0]["why"]
        assert conversation(api, other["conversation_id"])["priority"] == "normal"
    plain = message(admin, "webchat", {"email": "vip@correo.es"}, "Otra pregunta")  # the default: rule off
    assert conversation(admin, plain["conversation_id"])["priority"] == "high"  # kept from the earlier message
