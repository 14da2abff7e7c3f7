"""GDPR erasure reaches the other rooms: addresses leave orders, cart hints and messages are cleared."""

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok

from omnihub.commerce.models import carts
from omnihub.core.db import Database

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
