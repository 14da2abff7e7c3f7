"""A placeholder e-mail never refuses a sale and never joins two people: it stays on the order as its contact."""

from fastapi.testclient import TestClient
from tests.builders import ok, problem

PICKUP = {"type": "pickup", "location": "mad"}


def _order(api: TestClient, customer: dict[str, str], sku: str = "MUG", price: str = "11.00") -> dict:
    return ok(api.post("/api/v1/orders", json={
        "channel": "web", "customer": customer, "lines": [{"sku": sku, "quantity": 1}], "fulfilment": {
            "type": "ship", "address": {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013",
                                        "country": "ES"}},
        "payments": [{"method": "card", "amount": price}]}), 201)


def test_an_order_with_only_a_placeholder_email_goes_through_as_a_guest_with_that_contact(shop: TestClient) -> None:
    order = _order(shop, {"email": "No@Email.com"})

    assert order["status"] == "paid"
    assert order["customer_id"] is None
    assert order["contact"] == {"email": "no@email.com"}
    assert ok(shop.get(f"/api/v1/orders/{order['number']}"))["contact"] == {"email": "no@email.com"}
    assert ok(shop.get("/api/v1/customers"))["items"] == []


def test_a_placeholder_email_never_joins_two_people(shop: TestClient) -> None:
    first = _order(shop, {"email": "cliente@example.com", "phone": "+34 611 222 333"})
    second = _order(shop, {"email": "cliente@example.com", "phone": "+34 622 333 444"})

    assert first["customer_id"] and second["customer_id"]
    assert first["customer_id"] != second["customer_id"]
    assert first["contact"] == second["contact"] == {"email": "cliente@example.com"}
    for order in (first, second):
        profile = ok(shop.get(f"/api/v1/customers/{order['customer_id']}"))
        assert [i["kind"] for i in profile["identities"]] == ["phone"]
    ordinary = _order(shop, {"email": "marta.ruiz@correo.es"})
    assert ordinary["contact"] is None and ordinary["customer_id"]


def test_a_cart_opened_and_checked_out_with_a_placeholder_sells(shop: TestClient) -> None:
    cart = ok(shop.post("/api/v1/carts", json={"channel": "web", "identity": {"email": "test@test.com"}}), 201)
    assert cart["customer_id"] is None
    ok(shop.put(f"/api/v1/carts/{cart['id']}/lines", json=[{"sku": "MUG", "quantity": 1}]))
    order = ok(shop.post(f"/api/v1/carts/{cart['id']}/checkout", json={
        "customer": {"email": "test@test.com"}, "fulfilment": PICKUP,
        "payments": [{"method": "card", "amount": "11.00"}]}), 201)
    assert order["customer_id"] is None and order["contact"] == {"email": "test@test.com"}


def test_creating_a_profile_from_a_placeholder_is_still_refused(shop: TestClient) -> None:
    problem(shop.post("/api/v1/customers", json={"identities": {"email": "no@email.com"}, "channel": "web"}),
            422, "identity_blocked")


def test_erasing_the_buyer_clears_the_orders_contact(shop: TestClient) -> None:
    order = _order(shop, {"email": "someone@example.com", "phone": "+34 633 444 555"})
    ok(shop.delete(f"/api/v1/customers/{order['customer_id']}"))
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["contact"] is None
