"""Journey 4: return anywhere — an online order comes back to a store."""

from fastapi.testclient import TestClient
from tests.builders import ok, problem

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

CUSTOMER = {"email": "marta.ruiz@correo.es"}


def shipped_web_order(api: TestClient, associate, *lines: tuple[str, int], total: str,
                      code: str | None = None) -> dict:
    body = {"channel": "web", "customer": CUSTOMER, "lines": [{"sku": s, "quantity": q} for s, q in lines],
            "fulfilment": {"type": "ship", "address": {"line1": "Calle Mayor 1", "city": "Madrid",
                                                      "postal_code": "28013", "country": "ES",
                                                      "lat": 40.4155, "lon": -3.7074}},
            "payments": [{"method": "card", "amount": total}], "promotion_codes": [code] if code else []}
    order = ok(api.post("/api/v1/orders", json=body), 201)
    location = order["lines"][0]["location"]
    ok(api.post(f"/api/v1/orders/{order['id']}/shipments", headers=associate(location) if location != "wh" else {},
                json={"carrier": "correos", "tracking_number": "PQ123456789ES", "location": location}), 201)
    return order


def test_online_order_returned_in_a_store_is_restocked_there_and_refunded_to_the_card(
        shop: TestClient, associate) -> None:
    order = shipped_web_order(shop, associate, ("MUG", 3), total="33.00")
    bcn = associate("bcn")

    returned = ok(shop.post("/api/v1/returns", headers=bcn, json={
        "order": order["id"], "lines": [{"sku": "MUG", "quantity": 2}], "location": "bcn",
        "condition": "resellable", "refund_method": "original"}), 201)

    assert returned["refund"] == {"amount": "22.00", "method": "original", "currency": "EUR"}
    assert returned["credit_note"].startswith("CN")
    level = ok(shop.get("/api/v1/stock/bcn/MUG"))
    assert level["on_hand"] == 7
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "partially_returned"
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_damaged_return_goes_to_quarantine_and_store_credit(shop: TestClient, associate) -> None:
    order = shipped_web_order(shop, associate, ("MUG", 1), total="11.00")

    returned = ok(shop.post("/api/v1/returns", headers=associate("mad"), json={
        "order": order["id"], "lines": [{"sku": "MUG", "quantity": 1}], "location": "mad",
        "condition": "damaged", "refund_method": "store_credit"}), 201)

    assert returned["refund"]["method"] == "store_credit"
    level = ok(shop.get("/api/v1/stock/mad/MUG"))
    assert (level["on_hand"], level["quarantined"]) == (0, 1)
    customer = ok(shop.get(f"/api/v1/customers/{order['customer_id']}"))
    assert customer["store_credit"] == {"EUR": "11.00"}
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "returned"
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_refund_per_line_includes_the_discount(shop: TestClient, associate) -> None:
    ok(shop.post("/api/v1/promotions", json={"code": "WELCOME5", "kind": "fixed", "value": "5.00",
                                             "currency": "EUR"}), 201)
    order = shipped_web_order(shop, associate, ("MUG", 2), ("TEE-M", 1), total="37.00", code="WELCOME5")

    first = ok(shop.post("/api/v1/returns", headers=associate("bcn"), json={
        "order": order["id"], "lines": [{"sku": "MUG", "quantity": 1}], "location": "bcn",
        "condition": "resellable", "refund_method": "bizum"}), 201)
    rest = ok(shop.post("/api/v1/returns", headers=associate("bcn"), json={
        "order": order["id"], "lines": [{"sku": "MUG", "quantity": 1}, {"sku": "TEE-M", "quantity": 1}],
        "location": "bcn", "condition": "resellable", "refund_method": "original"}), 201)

    mug_line = next(line for line in order["lines"] if line["sku"] == "MUG")
    assert first["refund"]["method"] == "bizum"
    total_refunded = float(first["refund"]["amount"]) + float(rest["refund"]["amount"])
    assert f"{total_refunded:.2f}" == order["totals"]["total"]
    assert first["refund"]["amount"] == f"{float(mug_line['total']) / 2:.2f}"


def test_more_than_was_bought_cannot_be_returned(shop: TestClient, associate) -> None:
    order = shipped_web_order(shop, associate, ("MUG", 1), total="11.00")

    body = problem(shop.post("/api/v1/returns", headers=associate("bcn"), json={
        "order": order["id"], "lines": [{"sku": "MUG", "quantity": 2}], "location": "bcn",
        "condition": "resellable"}), 422, "invalid_return_line")

    assert body["returnable"] == 1
    assert ok(shop.get("/api/v1/stock/bcn/MUG"))["on_hand"] == 5
    problem(shop.post("/api/v1/returns", headers=associate("mad"), json={
        "order": order["id"], "lines": [{"sku": "MUG", "quantity": 1}], "location": "bcn",
        "condition": "resellable"}), 403, "location_not_allowed")


def test_exchange_at_the_counter_returns_and_sells_in_one_step(shop: TestClient, associate, db: Database,
                                                                clock: ManualClock) -> None:
    order = shipped_web_order(shop, associate, ("MUG", 2), total="22.00")

    result = ok(shop.post("/api/v1/returns", headers=associate("bcn"), json={
        "order": order["id"], "lines": [{"sku": "MUG", "quantity": 2}], "location": "bcn",
        "condition": "resellable", "exchange": {"channel": "store", "lines": [{"sku": "TEE-M", "quantity": 1}]}}),
        201)

    new_order = result["exchange_order"]
    assert (new_order["status"], new_order["channel"], new_order["totals"]["total"]) == ("collected", "store", "20.00")
    assert new_order["lines"][0]["location"] == "bcn"
    customer = ok(shop.get(f"/api/v1/customers/{order['customer_id']}"))
    assert customer["store_credit"] == {"EUR": "2.00"}
    assert ok(shop.get("/api/v1/stock/bcn/TEE-M"))["on_hand"] == 1
    assert ok(shop.post("/api/v1/inventory/check")) == []
