"""A product without a price in a channel cannot be sold there: it is not available there, and says why."""

from fastapi.testclient import TestClient
from tests.builders import channel, ok, product, stock

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

from .test_events_and_reconciliation import drain, events


def test_availability_is_zero_with_a_reason_where_the_product_has_no_price(shop: TestClient) -> None:
    product(shop, "CAP")  # priced nowhere yet
    stock(shop, "wh", "CAP", 6)
    channel(shop, "outlet", locations=["wh", "s1"])

    unpriced = ok(shop.get("/api/v1/availability/CAP", params={"channel": "web"}))
    assert (unpriced["available"], unpriced["reason"]) == (0, "price_missing")
    assert {loc["available"] for loc in unpriced["locations"]} == {0}
    order = shop.post("/api/v1/orders", json={"channel": "web", "lines": [{"sku": "CAP", "quantity": 1}],
                                              "fulfilment": {"type": "pickup", "location": "s1"}})
    assert order.status_code == 422 and order.json()["code"] == "price_missing"  # what the reason says

    ok(shop.put("/api/v1/channels/web/prices", json=[{"sku": "CAP", "amount": "9.00"}]))
    priced = ok(shop.get("/api/v1/availability/CAP", params={"channel": "web"}))
    assert (priced["available"], priced["reason"]) == (6, None)
    assert ok(shop.get("/api/v1/availability/CAP", params={"channel": "outlet"}))["reason"] == "price_missing"
    assert ok(shop.get("/api/v1/availability/MUG", params={"channel": "web"}))["reason"] is None


def test_published_availability_follows_the_price(shop: TestClient, db: Database, clock: ManualClock) -> None:
    product(shop, "CAP")
    stock(shop, "wh", "CAP", 6)
    drain(db, clock)
    assert [e for e in events(db, "availability.changed") if e["sku"] == "CAP" and e["available"]] == []

    ok(shop.put("/api/v1/channels/market/prices", json=[{"sku": "CAP", "amount": "9.00"}]))
    drain(db, clock)
    published = [(e["channel"], e["available"]) for e in events(db, "availability.changed") if e["sku"] == "CAP"]
    assert published[-1] == ("market", 4)  # 6 less the marketplace's buffer of 2
    assert ("web", 6) not in published
