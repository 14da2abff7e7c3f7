"""An order named by its number answers like one named by its id; the pickup code follows one role rule."""

from fastapi.testclient import TestClient
from tests.builders import ok
from tests.conftest import make_key

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def _pickup_order(api: TestClient) -> dict:
    body = {"channel": "web", "customer": {"email": "lucia.moreno@correo.es"},
            "lines": [{"sku": "TEE-M", "quantity": 1}, {"sku": "MUG", "quantity": 1}],
            "fulfilment": {"type": "pickup", "location": "bcn"},
            "payments": [{"method": "card", "amount": "31.00"}]}
    return ok(api.post("/api/v1/orders", json=body), 201)


def test_an_order_read_and_collected_by_its_number_shows_its_lines(shop: TestClient, associate) -> None:
    order = _pickup_order(shop)
    number = order["number"]
    assert number != order["id"]

    by_number = ok(shop.get(f"/api/v1/orders/{number}"))
    assert by_number["id"] == order["id"]
    assert [line["sku"] for line in by_number["lines"]] == ["TEE-M", "MUG"]

    bcn = associate("bcn")
    ready = ok(shop.post(f"/api/v1/orders/{number}/ready", headers=bcn))
    assert ready["status"] == "ready_for_pickup" and len(ready["lines"]) == 2
    collected = ok(shop.post(f"/api/v1/orders/{number}/collect", json={"code": ready["pickup"]["code"]},
                             headers=bcn))
    assert collected["status"] == "collected"
    assert [(line["sku"], line["fulfilled"]) for line in collected["lines"]] == [("TEE-M", 1), ("MUG", 1)]
    level = ok(shop.get("/api/v1/stock/bcn/MUG"))
    assert (level["on_hand"], level["reserved"]) == (4, 0)
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_customer_orders_show_the_pickup_code_to_whom_one_order_shows_it(shop: TestClient, associate,
                                                                        db: Database, clock: ManualClock) -> None:
    order = _pickup_order(shop)
    ready = ok(shop.post(f"/api/v1/orders/{order['id']}/ready", headers=associate("bcn")))
    code = ready["pickup"]["code"]
    customer = order["customer_id"]

    def codes(headers: dict[str, str] | None = None) -> tuple[str | None, str | None]:
        one = ok(shop.get(f"/api/v1/orders/{order['id']}", headers=headers))
        listed = ok(shop.get(f"/api/v1/customers/{customer}/orders", headers=headers))["items"]
        return one["pickup"]["code"], listed[0]["pickup"]["code"]

    assert codes() == (code, code)  # admin
    assert codes(associate("bcn")) == (code, code)  # the store that hands it over
    agent = {"Authorization": f"Bearer {make_key(db, clock, 'agent')}"}
    assert codes(agent) == (None, None)
    other_store = ok(shop.get(f"/api/v1/customers/{customer}/orders", headers=associate("mad")))["items"]
    assert other_store[0]["pickup"]["code"] is None
