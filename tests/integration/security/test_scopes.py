"""Issue 14, authorization: keys stay in their lane (their channel, their location), through HTTP."""

from typing import Any

from fastapi.testclient import TestClient
from tests.builders import ok, problem

ADDRESS = {"line1": "Gran Via 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
           "lat": 40.42, "lon": -3.70}


def _reserved(api: TestClient, location: str, sku: str) -> int:
    return ok(api.get(f"/api/v1/stock/{location}/{sku}"))["reserved"]


def test_a_channel_key_checks_out_another_channels_cart_in_its_own_channel_only(shop: TestClient, key) -> None:
    app, web = key("channel", channel="app"), key("channel", channel="web")
    cart = ok(shop.post("/api/v1/carts", headers=app, json={"channel": "app",
                                                            "identity": {"email": "lucia@correo.es"}}), 201)
    ok(shop.put(f"/api/v1/carts/{cart['id']}/lines", headers=app, json=[{"sku": "MUG", "quantity": 1}]))

    problem(shop.post(f"/api/v1/carts/{cart['id']}/checkout", headers=web, json={
        "channel": "app", "fulfilment": {"type": "ship", "address": ADDRESS}}), 403, "channel_not_allowed")
    assert _reserved(shop, "wh", "MUG") == 0

    order = ok(shop.post(f"/api/v1/carts/{cart['id']}/checkout", headers=web, json={
        "fulfilment": {"type": "ship", "address": ADDRESS}}), 201)

    assert order["channel"] == "web"  # the sale happens where the caller is, not in the cart's channel
    assert ok(shop.get(f"/api/v1/orders/{order['id']}", headers=web))["id"] == order["id"]
    problem(shop.get(f"/api/v1/orders/{order['id']}", headers=app), 404, "order_not_found")


def test_a_channel_key_cannot_submit_another_channels_draft_even_with_a_customer(shop: TestClient, key) -> None:
    market, web = key("channel", channel="market"), key("channel", channel="web")
    draft = ok(shop.post("/api/v1/orders", headers=market, json={
        "draft": True, "channel": "market", "customer": {"email": "compras@norte.es"},
        "lines": [{"sku": "MUG", "quantity": 2}]}), 201)
    assert draft["customer_id"] is not None

    problem(shop.post(f"/api/v1/orders/{draft['id']}/submit", headers=web, json={
        "fulfilment": {"type": "ship", "address": ADDRESS}}), 404, "order_not_found")
    problem(shop.post(f"/api/v1/orders/{draft['id']}/submit", headers=web, json={
        "channel": "web", "fulfilment": {"type": "ship", "address": ADDRESS}}), 404, "order_not_found")
    problem(shop.put(f"/api/v1/orders/{draft['id']}/lines", headers=web,
                     json={"lines": [{"sku": "MUG", "quantity": 9}]}), 404, "order_not_found")

    assert ok(shop.get(f"/api/v1/orders/{draft['id']}"))["status"] == "draft"
    assert _reserved(shop, "wh", "MUG") == 0
    done = ok(shop.post(f"/api/v1/orders/{draft['id']}/submit", headers=market, json={
        "fulfilment": {"type": "ship", "address": ADDRESS}, "payments": [{"method": "card", "amount": "24.00"}]}))
    assert (done["channel"], done["status"]) == ("market", "paid")


def _ship_order(channel: str) -> dict[str, Any]:
    return {"channel": channel, "customer": {"email": "a@b.es"}, "lines": [{"sku": "MUG", "quantity": 2}],
            "fulfilment": {"type": "ship", "address": ADDRESS}}


def test_an_associate_sells_only_in_the_store_channels_of_its_own_location(shop: TestClient, key) -> None:
    mad = key("associate", location="mad")

    problem(shop.post("/api/v1/orders", headers=mad, json=_ship_order("market")), 403, "channel_not_allowed")
    problem(shop.post("/api/v1/orders", headers=mad, json=_ship_order("web")), 403, "channel_not_allowed")
    problem(shop.post("/api/v1/carts", headers=mad, json={"channel": "market"}), 403, "channel_not_allowed")
    assert _reserved(shop, "wh", "MUG") == 0

    ok(shop.post("/api/v1/channels", json={"code": "outlet", "name": "Outlet", "kind": "store", "currency": "EUR",
                                           "locations": ["bcn"]}), 201)
    problem(shop.post("/api/v1/orders", headers=mad, json={
        "channel": "outlet", "lines": [{"sku": "MUG", "quantity": 1}],
        "fulfilment": {"type": "in_store", "location": "mad"}}), 403, "channel_not_allowed")

    # Its own store channel, at its own counter, and ship-from-store in that channel, are its job.
    sale = ok(shop.post("/api/v1/orders", headers=mad, json={
        "channel": "store", "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": {"type": "in_store", "location": "mad"}, "payments": [{"method": "card", "amount": "20.00"}]}),
        201)
    assert (sale["channel"], sale["status"]) == ("store", "collected")
    shipped = ok(shop.post("/api/v1/orders", headers=mad, json={**_ship_order("store"),
                                                                 "lines": [{"sku": "TEE-M", "quantity": 1}]}), 201)
    assert shipped["channel"] == "store" and {line["location"] for line in shipped["lines"]} <= {"mad", "bcn", "vlc"}


def test_an_associate_checks_out_a_cart_only_in_a_store_channel_of_its_location(shop: TestClient, key) -> None:
    app, mad = key("channel", channel="app"), key("associate", location="mad")
    cart = ok(shop.post("/api/v1/carts", headers=app, json={"channel": "app"}), 201)
    ok(shop.put(f"/api/v1/carts/{cart['id']}/lines", headers=app, json=[{"sku": "MUG", "quantity": 1}]))

    problem(shop.post(f"/api/v1/carts/{cart['id']}/checkout", headers=mad, json={
        "fulfilment": {"type": "ship", "address": ADDRESS}}), 403, "channel_not_allowed")  # the cart's: app
    problem(shop.post(f"/api/v1/carts/{cart['id']}/checkout", headers=mad, json={
        "channel": "market", "fulfilment": {"type": "ship", "address": ADDRESS}}), 403, "channel_not_allowed")
    assert ok(shop.get(f"/api/v1/carts/{cart['id']}"))["status"] == "open"


def test_a_return_is_read_only_within_its_orders_scope_or_at_its_store(shop: TestClient, key) -> None:
    sale = ok(shop.post("/api/v1/orders", json={
        "channel": "store", "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": {"type": "in_store", "location": "mad"}, "payments": [{"method": "card", "amount": "20.00"}]}),
        201)
    returned = ok(shop.post("/api/v1/returns", headers=key("associate", location="bcn"), json={
        "order": sale["id"], "lines": [{"sku": "TEE-M", "quantity": 1}], "location": "bcn",
        "condition": "resellable"}), 201)
    url = f"/api/v1/returns/{returned['id']}"

    for stranger in (key("channel", channel="market"), key("channel", channel="web"),
                     key("associate", location="vlc")):
        problem(shop.get(url, headers=stranger), 404, "return_not_found")
    problem(shop.get(url, headers=key("marketer")), 403, "role_not_allowed")
    for allowed in (key("channel", channel="store"), key("associate", location="mad"),
                    key("associate", location="bcn"), key("agent"), {}):
        assert ok(shop.get(url, headers=allowed))["id"] == returned["id"]


def test_an_associates_exchange_is_a_sale_in_a_store_channel_of_its_location(shop: TestClient, key) -> None:
    web_order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": "ana@correo.es"}, "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": {"type": "in_store", "location": "mad"}, "payments": [{"method": "card", "amount": "20.00"}]}),
        201)
    mad = key("associate", location="mad")
    swap = {"order": web_order["id"], "lines": [{"sku": "TEE-M", "quantity": 1}], "location": "mad",
            "condition": "resellable", "exchange": {"lines": [{"sku": "TEE-M", "quantity": 1}]}}

    problem(shop.post("/api/v1/returns", headers=mad, json=swap), 403, "channel_not_allowed")  # default: web
    problem(shop.post("/api/v1/returns", headers=mad, json={**swap, "exchange": {**swap["exchange"],
                                                                                "channel": "market"}}),
            403, "channel_not_allowed")
    assert ok(shop.get(f"/api/v1/orders/{web_order['id']}"))["status"] == "collected"

    done = ok(shop.post("/api/v1/returns", headers=mad, json={**swap, "exchange": {**swap["exchange"],
                                                                                  "channel": "store"}}), 201)
    assert done["exchange_order"]["channel"] == "store"


def test_a_channel_key_lists_its_own_channel_only(shop: TestClient, key) -> None:
    page = ok(shop.get("/api/v1/channels", headers=key("channel", channel="web")))
    assert [c["code"] for c in page["items"]] == ["web"]
    assert len(ok(shop.get("/api/v1/channels"))["items"]) == 4
