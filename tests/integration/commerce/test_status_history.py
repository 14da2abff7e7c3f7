"""An order's moves along its state machine, readable through `GET /orders/{id}/history`."""

from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

MADRID = {"line1": "Calle de Alcalá 50", "city": "Madrid", "postal_code": "28014", "country": "ES",
          "lat": 40.4189, "lon": -3.6919}


def moves(api: TestClient, order_id: str) -> list[tuple[str | None, str]]:
    return [(m["from"], m["to"]) for m in ok(api.get(f"/api/v1/orders/{order_id}/history"))]


def test_paid_at_once_then_cancelled(shop: TestClient) -> None:
    order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "lines": [{"sku": "MUG", "quantity": 1}], "fulfilment": {"type": "ship", "address": MADRID},
        "payments": [{"method": "card", "amount": "11.00"}]}), 201)
    assert ok(shop.get(f"/api/v1/orders/{order['id']}")) == order  # the answer, built from what was written
    ok(shop.post(f"/api/v1/orders/{order['id']}/cancel", json={"reason": "changed my mind"}))

    history = ok(shop.get(f"/api/v1/orders/{order['number']}/history"))  # by number too
    assert [(m["from"], m["to"]) for m in history] == [
        (None, "pending_payment"), ("pending_payment", "paid"), ("paid", "cancelled")]
    assert all(m["actor"] and m["at"] for m in history)


def test_paid_later_and_a_counter_sale(shop: TestClient) -> None:
    unpaid = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "lines": [{"sku": "MUG", "quantity": 1}], "fulfilment": {"type": "ship", "address": MADRID},
        "payments": [{"method": "card", "amount": "5.00"}]}), 201)
    assert moves(shop, unpaid["id"]) == [(None, "pending_payment")]
    ok(shop.post(f"/api/v1/orders/{unpaid['id']}/payments", json={"method": "cash", "amount": "6.00"}))
    assert moves(shop, unpaid["id"]) == [(None, "pending_payment"), ("pending_payment", "paid")]

    counter = ok(shop.post("/api/v1/orders", json={
        "channel": "store", "lines": [{"sku": "MUG", "quantity": 1}], "fulfilment": {"type": "in_store",
                                                                                 "location": "bcn"},
        "payments": [{"method": "cash", "amount": "11.00"}]}), 201)
    assert moves(shop, counter["id"]) == [(None, "pending_payment"), ("pending_payment", "paid"),
                                          ("paid", "collected")]


def test_unknown_order_and_other_stores_orders_are_not_shown(shop: TestClient, db: Database,
                                                            clock: ManualClock) -> None:
    problem(shop.get("/api/v1/orders/ord_nope/history"), 404, "order_not_found")
    sale = ok(shop.post("/api/v1/orders", json={
        "channel": "store", "lines": [{"sku": "MUG", "quantity": 1}], "fulfilment": {"type": "in_store",
                                                                                 "location": "bcn"},
        "payments": [{"method": "cash", "amount": "11.00"}]}), 201)
    elsewhere = {"Authorization": f"Bearer {make_key(db, clock, 'associate', location='vlc')}"}
    refused = shop.get(f"/api/v1/orders/{sale['id']}/history", headers=elsewhere)
    assert refused.status_code == shop.get(f"/api/v1/orders/{sale['id']}", headers=elsewhere).status_code
    assert refused.status_code in (403, 404)
