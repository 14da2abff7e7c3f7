"""A promotion for a segment (customer tag) prices an order only for customers in it; the customer's tags are
read only when such a promotion is running."""

from fastapi.testclient import TestClient
from tests.builders import ok

MADRID = {"line1": "Calle de Alcalá 50", "city": "Madrid", "postal_code": "28014", "country": "ES",
          "lat": 40.4189, "lon": -3.6919}


def ship(api: TestClient, email: str, amount: str) -> dict:
    return ok(api.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": email}, "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": {"type": "ship", "address": MADRID}, "payments": [{"method": "card", "amount": amount}]}),
        201)


def test_an_automatic_promotion_for_vips_discounts_their_orders_only(shop: TestClient) -> None:
    vip = ship(shop, "ana.vip@example.es", "20.00")["customer_id"]  # before any promotion: full price
    assert shop.put(f"/api/v1/customers/{vip}/tags/vip").status_code == 204
    ok(shop.post("/api/v1/promotions", json={"name": "VIP 10", "kind": "percent", "value": "10",
                                             "customer_tags": ["vip"]}), 201)

    theirs = ship(shop, "ana.vip@example.es", "18.00")
    others = ship(shop, "luis@example.es", "20.00")

    assert (theirs["customer_id"], theirs["totals"]["discount"], theirs["totals"]["total"]) == (vip, "2.00", "18.00")
    assert [p["amount"] for p in theirs["promotions"]] == ["2.00"]
    assert (others["totals"]["discount"], others["promotions"]) == ("0.00", [])
