"""Reference data (channels, locations, tax rates, payment methods, capacity limits) is kept in memory by each
server process: a change made through one process is what the next order placed through another one uses."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.builders import location, ok, problem, stock
from tests.conftest import SECRET, make_key

from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

ADDRESS = {"line1": "Carrer de Verdi 12", "city": "Barcelona", "postal_code": "08012", "country": "ES",
           "lat": 41.4036, "lon": 2.1570}


@pytest.fixture
def other_process(db_url: str, clock: ManualClock, db: Database) -> Iterator[TestClient]:
    """A second server on the same database with its own engine, so its own in-memory reference data."""
    database = Database(db_url, pool_size=5)
    app = create_app(Settings(database_url=db_url, secret_key=SECRET, api_key_cache_seconds=0), db=database,
                     clock=clock)
    with TestClient(app, raise_server_exceptions=False) as api:
        api.headers["Authorization"] = f"Bearer {make_key(db, clock, 'admin')}"
        yield api
    database.dispose()


def order(api: TestClient, *, method: str = "card", amount: str, to: dict = ADDRESS, **extra: object) -> dict:
    body = {"channel": "web", "lines": [{"sku": "TEE-M", "quantity": 1}],
            "fulfilment": {"type": "ship", "address": to}, "payments": [{"method": method, "amount": amount}],
            **extra}
    return api.post("/api/v1/orders", json=body)


def test_changes_made_through_one_process_reach_the_next_order_in_another(shop: TestClient,
                                                                       other_process: TestClient) -> None:
    """One change at a time, each followed by an order in the other process: every writer must move the token."""
    stock(shop, "bcn", "TEE-M", 20)  # the nearest store can fill every order below
    first = ok(order(other_process, amount="20.00"), 201)  # the second process has read everything once
    assert (first["totals"]["tax"], first["totals"]["shipping"], first["lines"][0]["location"]) == (
        "3.47", "0.00", "bcn")

    ok(shop.put("/api/v1/tax-rates/standard/ES", json={"rate": "10"}))
    assert ok(order(other_process, amount="20.00"), 201)["totals"]["tax"] == "1.82"  # 10 % inside 20.00

    ok(shop.patch("/api/v1/channels/web", json={"shipping_fee": "5.00"}))
    assert ok(order(other_process, amount="25.00"), 201)["totals"]["shipping"] == "5.00"

    ok(shop.put("/api/v1/fulfilment/capacity/bcn", json={"daily_orders": 1}))
    capped = ok(order(other_process, amount="25.00"), 201)  # bcn's first order under its new cap
    after_cap = ok(order(other_process, amount="25.00"), 201)
    assert capped["lines"][0]["location"] == "bcn"
    assert after_cap["lines"][0]["location"] != "bcn"
    assert after_cap["sourcing"]["skipped_at_capacity"] == ["bcn"]

    ok(shop.patch("/api/v1/payment-methods/card", json={"active": False}))
    refused = problem(order(other_process, amount="25.00"), 422, "payment_method_unknown")
    assert refused["field"] == "payments.0.method"
    assert ok(order(other_process, method="bizum", amount="25.00"), 201)["payment_status"] == "paid"


def test_a_new_method_location_and_channel_made_elsewhere_are_known_at_once(shop: TestClient,
                                                                    other_process: TestClient) -> None:
    ok(order(other_process, amount="20.00"), 201)

    ok(shop.post("/api/v1/payment-methods", json={"code": "voucher", "name": "Gift voucher"}), 201)
    assert ok(order(other_process, method="voucher", amount="20.00"), 201)["payment_status"] == "paid"

    location(shop, "gir", lat=41.9794, lon=2.8214, name="Girona Centre")
    stock(shop, "gir", "TEE-M", 4)
    ok(shop.patch("/api/v1/channels/web", json={"locations": ["gir"]}))
    ok(shop.post("/api/v1/channels", json={"code": "kiosk", "name": "Kiosk", "kind": "store", "currency": "EUR",
                                           "locations": ["gir"]}), 201)

    moved = ok(order(other_process, amount="20.00"), 201)
    assert moved["lines"][0]["location"] == "gir"
    assert ok(other_process.get("/api/v1/channels/kiosk"))["locations"] == ["gir"]
    assert ok(other_process.get("/api/v1/locations/gir"))["name"] == "Girona Centre"
