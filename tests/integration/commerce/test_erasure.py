"""GDPR erasure reaches the other rooms: addresses leave orders, cart hints and messages are cleared."""

import json

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok

from omnihub.commerce.models import carts
from omnihub.connectors.webhooks.models import webhook_deliveries
from omnihub.connectors.webhooks.service import WebhookFanout
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import dispatch_pending, outbox

CUSTOMER = {"email": "ana.garcia@correo.es", "phone": "+34 600 111 222"}
HOME = {"line1": "Carrer de Verdi 12, 3r 2a", "city": "Barcelona", "postal_code": "08012", "country": "ES",
        "lat": 41.4036, "lon": 2.1585}


def test_erasing_a_customer_anonymises_their_orders_carts_and_messages(shop: TestClient, associate,
                                                                       db: Database) -> None:
    shipped = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "customer": CUSTOMER, "lines": [{"sku": "MUG", "quantity": 1}],
        "fulfilment": {"type": "ship", "address": HOME}, "payments": [{"method": "card", "amount": "11.00"}]}), 201)
    pickup = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "customer": CUSTOMER, "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": {"type": "pickup", "location": "mad"},
        "payments": [{"method": "card", "amount": "20.00"}]}), 201)
    ok(shop.post(f"/api/v1/orders/{pickup['id']}/ready", headers=associate("mad")))  # e-mail + SMS with the code
    cart = ok(shop.post("/api/v1/carts", json={"channel": "app", "identity": CUSTOMER}), 201)
    customer_id = shipped["customer_id"]
    before = ok(shop.get("/api/v1/outbox/messages", params={"customer": customer_id}))["items"]

    ok(shop.delete(f"/api/v1/customers/{customer_id}"))

    after = ok(shop.get("/api/v1/outbox/messages", params={"customer": customer_id}))["items"]
    order = ok(shop.get(f"/api/v1/orders/{shipped['id']}"))
    with db.read() as conn:
        cart_hints = conn.execute(sa.select(carts.c.identity).where(carts.c.id == cart["id"])).scalar_one()
    assert {m["to"] for m in before} == {"ana.garcia@correo.es", "+34600111222"}
    assert {(m["to"], m["body"], m["subject"]) for m in after} == {("erased", "", None)}
    assert len(after) == len(before) == 2
    assert order["fulfilment"]["address"] == {"country": "ES"}
    assert order["totals"] == shipped["totals"] and order["status"] == shipped["status"]  # the books stay
    assert cart_hints == {}
    assert ok(shop.get(f"/api/v1/orders/{pickup['id']}"))["fulfilment"] == {
        "type": "pickup", "location": "mad", "address": None, "slot": None}


def test_erasure_reaches_the_stored_events_that_carried_the_address(shop: TestClient, db: Database,
                                                                    clock: ManualClock) -> None:
    """The outbox keeps events for replays and the delivery log keeps payloads for re-sending: an erased
    address must leave both, or a replay would send it again."""
    ok(shop.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/erp", "events": ["order.*"]}), 201)
    order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "customer": CUSTOMER, "lines": [{"sku": "MUG", "quantity": 1}],
        "fulfilment": {"type": "ship", "address": HOME}, "payments": [{"method": "card", "amount": "11.00"}]}), 201)
    ok(shop.post(f"/api/v1/orders/{order['id']}/cancel"))
    with db.transaction() as conn:
        dispatch_pending(conn, clock, [WebhookFanout(clock)])  # the delivery log now holds the payloads
    kinds = ("order.created", "order.cancelled")

    def stored() -> tuple[list[dict], list[dict]]:
        with db.read() as conn:
            events = [r.data for r in conn.execute(sa.select(outbox.c.data).where(outbox.c.type.in_(kinds)))]
            payloads = [json.loads(p) for p in conn.execute(
                sa.select(webhook_deliveries.c.payload).where(webhook_deliveries.c.event_type.in_(kinds))).scalars()]
        return events, payloads

    events, payloads = stored()
    assert [p["data"]["fulfilment"]["address"]["line1"] for p in payloads] == [HOME["line1"]] * 2
    assert len(events) == 2

    ok(shop.delete(f"/api/v1/customers/{order['customer_id']}"))

    events, payloads = stored()
    assert [e["fulfilment"]["address"] for e in events] == [{"country": "ES"}] * 2
    assert [p["data"]["fulfilment"]["address"] for p in payloads] == [{"country": "ES"}] * 2
    assert {p["data"]["id"] for p in payloads} == {order["id"]}
    assert [e["totals"] for e in events] == [order["totals"]] * 2  # the rest of the record stays
