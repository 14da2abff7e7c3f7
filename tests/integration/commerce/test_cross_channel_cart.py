"""Journey 1: a cart started in the app is found at the store counter and sold at the POS."""

from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key
from tests.integration.connectors.conftest import receiver, work  # noqa: F401  (fixtures)

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def test_app_cart_is_sold_at_the_store_with_an_in_store_offer_and_every_channel_hears_of_it(
        shop: TestClient, associate, db: Database, clock: ManualClock, receiver, work) -> None:  # noqa: F811
    app = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='app')}"}
    hook = receiver()
    ok(shop.post("/api/v1/webhooks", json={"url": hook.url, "events": ["availability.changed"]}), 201)
    work()  # publish the starting availability
    hook.requests.clear()
    ok(shop.post("/api/v1/promotions", json={"code": "TIENDA10", "kind": "percent", "value": "10",
                                             "channels": ["store"], "name": "In-store 10%"}), 201)

    # In the app: browse, then fill a cart.
    ok(shop.post("/api/v1/events", headers=app, json=[{
        "type": "product_viewed", "channel": "app", "at": clock.now().isoformat(),
        "identity": {"email": "lucia.mora@correo.es", "phone": "+34 611 222 333"},
        "properties": {"sku": "TEE-M", "category": "apparel"}}]))
    cart = ok(shop.post("/api/v1/carts", headers=app, json={
        "channel": "app", "identity": {"email": "lucia.mora@correo.es"}}), 201)
    ok(shop.put(f"/api/v1/carts/{cart['id']}/lines", headers=app, json=[{"sku": "TEE-M", "quantity": 2}]))

    # At the store: the associate finds her by phone and sees the cart and her browsing.
    mad = associate("mad")
    found = ok(shop.get("/api/v1/customers/lookup", params={"phone": "611222333", "channel": "store"},
                        headers={"Authorization": f"Bearer {make_key(db, clock, 'admin')}"}))
    assert found["id"] == cart["customer_id"]
    assert found["open_cart"]["id"] == cart["id"]
    assert [line["sku"] for line in found["open_cart"]["lines"]] == ["TEE-M"]
    assert any(item["type"] == "product_viewed" for item in found["recent_activity"])

    # The in-store code is not valid in the app.
    problem(shop.post(f"/api/v1/carts/{cart['id']}/checkout", headers=app, json={
        "fulfilment": {"type": "pickup", "location": "mad"}, "promotion_codes": ["TIENDA10"]}),
        422, "invalid_promotion_code")

    order = ok(shop.post(f"/api/v1/carts/{cart['id']}/checkout", headers=mad, json={
        "channel": "store", "fulfilment": {"type": "in_store", "location": "mad"},
        "promotion_codes": ["tienda10"], "payments": [{"method": "card", "amount": "36.00"}]}), 201)

    assert (order["status"], order["channel"], order["customer_id"]) == ("collected", "store", cart["customer_id"])
    assert order["totals"] | {} == {"subtotal": "40.00", "discount": "4.00", "shipping": "0.00", "shipping_tax": "0.00",
                                    "tax": order["totals"]["tax"], "total": "36.00", "currency": "EUR"}
    assert order["promotions"][0]["code"] == "TIENDA10"
    assert ok(shop.get("/api/v1/stock/mad/TEE-M"))["on_hand"] == 1
    assert ok(shop.get(f"/api/v1/carts/{cart['id']}"))["status"] == "checked_out"

    # Every channel's availability moved, and subscribers were told.
    assert ok(shop.get("/api/v1/availability/TEE-M", params={"channel": "store"}))["available"] == 3
    work()
    told = {(r.json["data"]["channel"], r.json["data"]["available"]) for r in hook.requests}
    assert {("web", 53), ("app", 53), ("store", 3)} <= told
    assert ok(shop.get(f"/api/v1/customers/{cart['customer_id']}"))["stats"]["orders_count"] == 1


def test_price_change_since_the_cart_was_built_is_a_clear_409(shop: TestClient) -> None:
    cart = ok(shop.post("/api/v1/carts", json={"channel": "web", "identity": {"anonymous_id": "dev-77"}}), 201)
    ok(shop.put(f"/api/v1/carts/{cart['id']}/lines", json=[{"sku": "MUG", "quantity": 1}]))
    ok(shop.put("/api/v1/channels/web/prices", json=[{"sku": "MUG", "amount": "12.50"}]))

    assert ok(shop.get(f"/api/v1/carts/{cart['id']}"))["lines"][0] == {
        "sku": "MUG", "quantity": 1, "unit_price": "12.50", "price_changed": True}
    body = problem(shop.post(f"/api/v1/carts/{cart['id']}/checkout", json={
        "fulfilment": {"type": "pickup", "location": "bcn"}}), 409, "price_changed")

    assert body["changes"] == [{"sku": "MUG", "was": "11.00", "now": "12.50"}]
    assert ok(shop.get("/api/v1/stock/bcn/MUG"))["reserved"] == 0
    order = ok(shop.post(f"/api/v1/carts/{cart['id']}/checkout", json={
        "fulfilment": {"type": "pickup", "location": "bcn"}, "accept_price_changes": True}), 201)
    assert order["totals"]["total"] == "12.50"


def test_cart_hold_keeps_units_while_shopping_and_hands_them_to_the_order(shop: TestClient) -> None:
    ok(shop.patch("/api/v1/channels/app", json={"cart_hold_minutes": 20}))
    cart = ok(shop.post("/api/v1/carts", json={"channel": "app", "identity": {"anonymous_id": "dev-1"}}), 201)

    held = ok(shop.put(f"/api/v1/carts/{cart['id']}/lines", json=[{"sku": "TEE-M", "quantity": 2}]))

    assert held["hold"]["status"] == "active"
    assert ok(shop.get("/api/v1/stock/TEE-M"))["reserved"] == 2
    problem(shop.put(f"/api/v1/carts/{cart['id']}/lines", json=[{"sku": "TEE-M", "quantity": 99}]),
            409, "insufficient_stock")
    assert ok(shop.get("/api/v1/stock/TEE-M"))["reserved"] == 2

    order = ok(shop.post(f"/api/v1/carts/{cart['id']}/checkout", json={
        "fulfilment": {"type": "pickup", "location": "mad"}}), 201)

    assert ok(shop.get("/api/v1/stock/TEE-M"))["reserved"] == 2
    assert order["lines"][0]["location"] == "mad"
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_checking_out_twice_is_refused(shop: TestClient) -> None:
    cart = ok(shop.post("/api/v1/carts", json={"channel": "web", "identity": {}}), 201)
    problem(shop.post(f"/api/v1/carts/{cart['id']}/checkout", json={
        "fulfilment": {"type": "pickup", "location": "mad"}}), 422, "cart_empty")
    ok(shop.put(f"/api/v1/carts/{cart['id']}/lines", json=[{"sku": "TEE-M", "quantity": 1}]))
    ok(shop.post(f"/api/v1/carts/{cart['id']}/checkout", json={"fulfilment": {"type": "pickup", "location": "mad"}}),
       201)

    problem(shop.post(f"/api/v1/carts/{cart['id']}/checkout", json={
        "fulfilment": {"type": "pickup", "location": "mad"}}), 409, "cart_not_open")
