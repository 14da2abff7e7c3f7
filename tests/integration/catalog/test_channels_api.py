from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, problem, product
from tests.conftest import make_key

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def test_channel_lists_its_fulfilling_locations_in_order(admin: TestClient) -> None:
    location(admin, "wh", kind="warehouse")
    location(admin, "s1")

    created = channel(admin, "web", kind="web", locations=["s1", "wh"], stock_buffer=3)

    assert created["locations"] == ["s1", "wh"]
    assert ok(admin.get("/api/v1/channels/web")) == created
    assert [c["code"] for c in ok(admin.get("/api/v1/channels"))["items"]] == ["web"]


def test_unknown_location_or_kind_is_rejected_and_nothing_is_created(admin: TestClient) -> None:
    body = problem(admin.post("/api/v1/channels", json={"code": "web", "name": "Web", "kind": "web", "currency": "EUR",
                                                       "locations": ["ghost"]}), 422, "location_not_found")
    assert body["field"] == "locations"
    problem(admin.post("/api/v1/channels", json={"code": "web", "name": "Web", "kind": "fax", "currency": "EUR"}),
            422, "validation_error")
    problem(admin.post("/api/v1/channels", json={"code": "Bad Code", "name": "W", "kind": "web", "currency": "EUR"}),
            422, "validation_error")
    problem(admin.get("/api/v1/channels/web"), 404, "channel_not_found")


def test_prices_are_set_per_channel_as_decimal_strings(admin: TestClient) -> None:
    product(admin, "TEE")
    product(admin, "MUG")
    channel(admin, "web")
    channel(admin, "jp", currency="JPY", country="JP")

    ok(admin.put("/api/v1/channels/web/prices",
                 json=[{"sku": "TEE", "amount": "19.90"}, {"sku": "MUG", "amount": "7"}]))
    ok(admin.put("/api/v1/channels/jp/prices", json=[{"sku": "TEE", "amount": "2500"}]))

    web = ok(admin.get("/api/v1/channels/web/prices"))["items"]
    assert web == [{"sku": "MUG", "amount": "7.00", "currency": "EUR"},
                   {"sku": "TEE", "amount": "19.90", "currency": "EUR"}]
    assert ok(admin.get("/api/v1/channels/jp/prices"))["items"] == [{"sku": "TEE", "amount": "2500", "currency": "JPY"}]


def test_a_bad_price_list_changes_nothing(admin: TestClient) -> None:
    product(admin, "TEE")
    channel(admin, "web")
    ok(admin.put("/api/v1/channels/web/prices", json=[{"sku": "TEE", "amount": "10.00"}]))

    body = problem(admin.put("/api/v1/channels/web/prices", json=[{"sku": "TEE", "amount": "12.00"},
                                                                  {"sku": "GHOST", "amount": "1.00"}]),
                   404, "product_not_found")
    assert body["field"] == "1.sku"
    problem(admin.put("/api/v1/channels/web/prices", json=[{"sku": "TEE", "amount": "12.001"}]), 422, "invalid_amount")
    problem(admin.put("/api/v1/channels/web/prices", json=[{"sku": "TEE", "amount": "-1"}]), 422, "invalid_amount")

    assert ok(admin.get("/api/v1/channels/web/prices"))["items"][0]["amount"] == "10.00"


def test_channel_key_sees_only_its_own_channel_and_cannot_change_the_catalog(
        admin: TestClient, db: Database, clock: ManualClock) -> None:
    channel(admin, "web")
    channel(admin, "app", kind="app")
    web = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='web')}"}

    ok(admin.get("/api/v1/channels/web", headers=web))
    problem(admin.get("/api/v1/channels/app", headers=web), 403, "channel_not_allowed")
    problem(admin.get("/api/v1/channels/app/prices", headers=web), 403, "channel_not_allowed")
    problem(admin.post("/api/v1/products", headers=web, json={"sku": "X", "name": "X", "category": "c"}),
            403, "role_not_allowed")
    problem(admin.get("/api/v1/products/X"), 404, "product_not_found")
