"""The list endpoints a shop owner looks for first: orders, pickups, returns, reservations, payments, invoices and
customers — cursor-paged like every list, filtered, and scoped like their detail routes."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

ADDRESS = {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
           "lat": 40.4155, "lon": -3.7074}


def _order(api: TestClient, channel: str, customer: dict[str, str], sku: str, quantity: int, amount: str,
           fulfilment: dict[str, Any]) -> dict[str, Any]:
    return ok(api.post("/api/v1/orders", json={
        "channel": channel, "customer": customer, "lines": [{"sku": sku, "quantity": quantity}],
        "fulfilment": fulfilment, "payments": [{"method": "card", "amount": amount}]}), 201)


def _all(api: TestClient, path: str, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
    """Every page, following next_cursor with pages of 2 (so paging itself is exercised)."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 2, **params}
    while True:
        answer = ok(api.get(path, params=query, headers=headers))
        items += answer["items"]
        if answer["next_cursor"] is None:
            return items
        query["cursor"] = answer["next_cursor"]


@pytest.fixture
def sales(shop: TestClient, associate, clock: ManualClock) -> dict[str, Any]:
    """Five orders over three days and two channels: two click & collect (one ready), three shipped, one return."""
    ana = {"email": "ana.garcia@correo.es", "phone": "+34 600 111 222"}
    luis = {"email": "luis.perez@correo.es"}
    made = {}
    made["ana_web_pickup"] = _order(shop, "web", ana, "TEE-M", 1, "20.00", {"type": "pickup", "location": "mad"})
    clock.advance(days=1)
    made["luis_web_ship"] = _order(shop, "web", luis, "MUG", 2, "22.00", {"type": "ship", "address": ADDRESS})
    made["ana_app_pickup"] = _order(shop, "app", ana, "MUG", 1, "11.00", {"type": "pickup", "location": "bcn"})
    clock.advance(days=1)
    made["luis_market"] = _order(shop, "market", luis, "TEE-M", 1, "22.00", {"type": "ship", "address": ADDRESS})
    made["ana_app_ship"] = _order(shop, "app", ana, "TEE-M", 2, "40.00", {"type": "ship", "address": ADDRESS})
    ok(shop.post(f"/api/v1/orders/{made['ana_app_pickup']['id']}/ready", headers=associate("bcn")))
    shipped = made["luis_web_ship"]
    location = shipped["lines"][0]["location"]
    ok(shop.post(f"/api/v1/orders/{shipped['id']}/shipments",
                 headers=associate(location) if location != "wh" else {},
                 json={"carrier": "correos", "tracking_number": "PQ1", "location": location}), 201)
    made["return"] = ok(shop.post("/api/v1/returns", headers=associate("bcn"), json={
        "order": shipped["number"], "lines": [{"sku": "MUG", "quantity": 1}], "location": "bcn",
        "condition": "resellable"}), 201)
    return made


def _numbers(items: list[dict[str, Any]]) -> list[str]:
    return [i["number"] for i in items]


def test_orders_list_pages_newest_first_and_filters(shop: TestClient, sales: dict[str, Any],
                                                    clock: ManualClock) -> None:
    everything = _all(shop, "/api/v1/orders")
    expected = ["ana_app_ship", "luis_market", "ana_app_pickup", "luis_web_ship", "ana_web_pickup"]
    assert _numbers(everything) == [sales[k]["number"] for k in expected]
    assert all(o["lines"] for o in everything)

    assert _numbers(_all(shop, "/api/v1/orders", channel="app")) == [sales["ana_app_ship"]["number"],
                                                                      sales["ana_app_pickup"]["number"]]
    assert _numbers(_all(shop, "/api/v1/orders", status="ready_for_pickup")) == [sales["ana_app_pickup"]["number"]]
    assert _numbers(_all(shop, "/api/v1/orders", location="bcn")) == [sales["ana_app_pickup"]["number"]]
    ana = sales["ana_web_pickup"]["customer_id"]
    assert len(_all(shop, "/api/v1/orders", customer=ana)) == 3
    assert _numbers(_all(shop, "/api/v1/orders", q="LUIS.perez@correo.es")) == [
        sales["luis_market"]["number"], sales["luis_web_ship"]["number"]]
    assert _numbers(_all(shop, "/api/v1/orders", q=sales["luis_market"]["number"])) == [
        sales["luis_market"]["number"]]
    first_day = sales["ana_web_pickup"]["created_at"]
    second_day = sales["luis_web_ship"]["created_at"]
    assert _numbers(_all(shop, "/api/v1/orders", to=second_day)) == [sales["ana_web_pickup"]["number"]]
    assert _numbers(_all(shop, "/api/v1/orders", to=second_day, channel="web", **{"from": first_day})) == [
        sales["ana_web_pickup"]["number"]]
    clock.advance(seconds=1)
    assert _all(shop, "/api/v1/orders", **{"from": clock.now().isoformat()}) == []

    problem(shop.get("/api/v1/orders", params={"status": "lost"}), 422, "validation_error")
    problem(shop.get("/api/v1/orders", params={"limit": 501}), 422, "validation_error")
    problem(shop.get("/api/v1/orders", params={"cursor": "%%%"}), 422, "invalid_cursor")
    problem(shop.get("/api/v1/orders", params={"from": second_day, "to": first_day}), 422,
            "invalid_range")


def test_orders_list_is_scoped_like_one_order(shop: TestClient, sales: dict[str, Any], associate,
                                              db: Database, clock: ManualClock) -> None:
    app_key = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='app')}"}
    assert {o["channel"] for o in _all(shop, "/api/v1/orders", headers=app_key)} == {"app"}
    problem(shop.get("/api/v1/orders", params={"channel": "web"}, headers=app_key), 403, "channel_not_allowed")

    bcn = associate("bcn")
    seen = _all(shop, "/api/v1/orders", headers=bcn)
    assert _numbers(seen) == [sales["ana_app_pickup"]["number"]]
    assert seen[0]["pickup"]["code"]  # the store hands it over: it sees the code
    problem(shop.get("/api/v1/orders", params={"location": "mad"}, headers=bcn), 403, "location_not_allowed")
    for order in seen:
        ok(shop.get(f"/api/v1/orders/{order['id']}", headers=bcn))  # the detail route agrees

    marketer = {"Authorization": f"Bearer {make_key(db, clock, 'marketer')}"}
    problem(shop.get("/api/v1/orders", headers=marketer), 403, "role_not_allowed")


def test_pickups_by_store_and_status_without_a_location_for_an_admin(shop: TestClient, sales: dict[str, Any],
                                                                     associate) -> None:
    assert _numbers(_all(shop, "/api/v1/pickups")) == [sales["ana_app_pickup"]["number"],
                                                       sales["ana_web_pickup"]["number"]]
    ready = _all(shop, "/api/v1/pickups", status="ready")
    assert _numbers(ready) == [sales["ana_app_pickup"]["number"]]
    assert ready[0]["pickup"]["code"]
    assert _numbers(_all(shop, "/api/v1/pickups", location="mad")) == [sales["ana_web_pickup"]["number"]]

    mad = _all(shop, "/api/v1/pickups", headers=associate("mad"))
    assert _numbers(mad) == [sales["ana_web_pickup"]["number"]]
    problem(shop.get("/api/v1/pickups", params={"location": "bcn"}, headers=associate("mad")), 403,
            "location_not_allowed")


def test_returns_list_filters_and_scope(shop: TestClient, sales: dict[str, Any], associate, db: Database,
                                        clock: ManualClock) -> None:
    returned = sales["return"]
    assert [r["id"] for r in _all(shop, "/api/v1/returns")] == [returned["id"]]
    assert [r["id"] for r in _all(shop, "/api/v1/returns", order=sales["luis_web_ship"]["number"])] == [
        returned["id"]]
    assert _all(shop, "/api/v1/returns", condition="damaged") == []
    assert len(_all(shop, "/api/v1/returns", headers=associate("bcn"))) == 1
    assert _all(shop, "/api/v1/returns", headers=associate("mad")) == []
    web = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='web')}"}
    app = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='app')}"}
    assert len(_all(shop, "/api/v1/returns", headers=web)) == 1
    assert _all(shop, "/api/v1/returns", headers=app) == []


def test_reservations_list_filters_and_scope(shop: TestClient, sales: dict[str, Any], db: Database,
                                             clock: ManualClock) -> None:
    web = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='web')}"}
    held = ok(shop.post("/api/v1/reservations", headers=web, json={
        "channel": "web", "lines": [{"sku": "MUG", "quantity": 1}], "reference": "cart-77"}), 201)
    everything = _all(shop, "/api/v1/reservations")
    assert len(everything) == 6 and everything[0]["id"] == held["id"]  # five orders' holds and this one
    assert [r["id"] for r in _all(shop, "/api/v1/reservations", reference="cart-77")] == [held["id"]]
    assert [r["reference"] for r in _all(shop, "/api/v1/reservations", channel="app")] == [
        sales["ana_app_ship"]["id"], sales["ana_app_pickup"]["id"]]
    assert {r["id"] for r in _all(shop, "/api/v1/reservations", location="bcn")} == {
        r["id"] for r in everything if any(line["location"] == "bcn" for line in r["lines"])}
    assert len(_all(shop, "/api/v1/reservations", sku="TEE-M")) == 3

    mine = _all(shop, "/api/v1/reservations", headers=web)
    assert {r["channel"] for r in mine} == {"web"} and held["id"] in {r["id"] for r in mine}
    problem(shop.get("/api/v1/reservations", params={"channel": "app"}, headers=web), 403, "channel_not_allowed")


def test_payments_and_invoices_lists(shop: TestClient, sales: dict[str, Any], db: Database,
                                     clock: ManualClock) -> None:
    payments = _all(shop, "/api/v1/payments")
    assert [p["order_id"] for p in payments] == [sales[k]["id"] for k in (
        "ana_app_ship", "luis_market", "ana_app_pickup", "luis_web_ship", "ana_web_pickup")]
    luis = sales["luis_market"]["customer_id"]
    assert [p["amount"] for p in _all(shop, "/api/v1/payments", customer=luis)] == ["22.00", "22.00"]
    assert _all(shop, "/api/v1/payments", method="cash") == []
    one = ok(shop.get("/api/v1/payments", params={"order": sales["luis_market"]["id"]}))  # the per-order shape
    assert one["status"] == "paid" and len(one["payments"]) == 1

    invoices = _all(shop, "/api/v1/invoices")
    assert [i["order_id"] for i in invoices] == [p["order_id"] for p in payments]
    assert [i["order_id"] for i in _all(shop, "/api/v1/invoices", series="INV-APP")] == [
        sales["ana_app_ship"]["id"], sales["ana_app_pickup"]["id"]]
    assert len(_all(shop, "/api/v1/invoices", to=sales["luis_web_ship"]["created_at"])) == 1

    web = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='web')}"}
    problem(shop.get("/api/v1/payments", headers=web), 403, "role_not_allowed")
    problem(shop.get("/api/v1/invoices", headers=web), 403, "role_not_allowed")


def test_customers_list_by_identity_name_tag_and_time(shop: TestClient, sales: dict[str, Any], associate,
                                                      db: Database, clock: ManualClock) -> None:
    ana = sales["ana_web_pickup"]["customer_id"]
    luis = sales["luis_market"]["customer_id"]
    assert [c["id"] for c in _all(shop, "/api/v1/customers")] == [luis, ana]
    assert [c["id"] for c in _all(shop, "/api/v1/customers", q="ANA.garcia@correo.es")] == [ana]
    assert [c["id"] for c in _all(shop, "/api/v1/customers", q="+34600111222")] == [ana]
    ok(shop.post("/api/v1/customers", json={"name": "Luisa Fernández", "identities": {"email": "luisa@correo.es"},
                                            "channel": "web"}), 201)
    assert [c["name"] for c in _all(shop, "/api/v1/customers", q="fernán")] == ["Luisa Fernández"]
    assert shop.put(f"/api/v1/customers/{luis}/tags/vip").status_code == 204
    tagged = _all(shop, "/api/v1/customers", tag="vip")
    assert [c["id"] for c in tagged] == [luis] and "vip" in tagged[0]["tags"]
    assert tagged[0]["identities"][0]["value"] == "luis.perez@correo.es"
    assert [c["id"] for c in _all(shop, "/api/v1/customers", to=sales["luis_web_ship"]["created_at"])] == [
        ana]

    assert len(_all(shop, "/api/v1/customers", headers=associate("mad"))) == 3
    web = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='web')}"}
    problem(shop.get("/api/v1/customers", headers=web), 403, "role_not_allowed")
