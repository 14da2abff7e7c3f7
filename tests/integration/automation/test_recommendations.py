"""Recommendations: item-to-item co-purchase from the order history, never an out-of-stock product, the channel's
own stock; what a person bought before comes back marked `buy_again` unless `include_owned=false`; a channel key
asks for its own channel only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.builders import ok, problem, product, stock
from tests.conftest import make_key

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

ADDRESS = {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"}


def buy(api: TestClient, email: str, lines: dict[str, int], amount: str) -> dict:
    return ok(api.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": email}, "lines": [{"sku": s, "quantity": q} for s, q in lines.items()],
        "fulfilment": {"type": "ship", "address": ADDRESS}, "payments": [{"method": "card", "amount": amount}]}), 201)


def test_bought_together_available_and_buy_again(shop: TestClient, db: Database, clock: ManualClock) -> None:
    product(shop, "SOCKS", category="apparel", name="Wool Socks")
    product(shop, "CAP", category="apparel", name="Cap")
    ok(shop.put("/api/v1/channels/web/prices", json=[{"sku": "SOCKS", "amount": "5.00"},
                                                    {"sku": "CAP", "amount": "9.00"}]))
    stock(shop, "wh", "SOCKS", 10)
    stock(shop, "wh", "CAP", 1)
    buy(shop, "a@correo.es", {"TEE-M": 1, "MUG": 1}, "31.00")
    buy(shop, "b@correo.es", {"TEE-M": 1, "MUG": 1}, "31.00")
    buy(shop, "c@correo.es", {"TEE-M": 1, "SOCKS": 1}, "25.00")
    # the last cap: now out of stock
    cap_buyer = buy(shop, "d@correo.es", {"TEE-M": 1, "CAP": 1}, "29.00")["customer_id"]

    related = ok(shop.get("/api/v1/products/TEE-M/related", params={"channel": "web"}))
    assert [r["sku"] for r in related] == ["MUG", "SOCKS"]  # CAP was bought with it too, but none is left
    assert related[0]["score"] > related[1]["score"] and related[0]["available"] > 0

    sock_buyer = buy(shop, "e@correo.es", {"SOCKS": 1}, "5.00")["customer_id"]
    suggested = ok(shop.get(f"/api/v1/customers/{sock_buyer}/recommendations", params={"channel": "web"}))
    marks = {s["sku"]: s["buy_again"] for s in suggested}
    assert marks["TEE-M"] is False and marks["SOCKS"] is True  # bought before: offered again, and marked
    assert [s["sku"] for s in suggested if s["buy_again"]] == ["SOCKS"]
    left_out = ok(shop.get(f"/api/v1/customers/{sock_buyer}/recommendations",
                           params={"channel": "web", "include_owned": "false"}))
    assert left_out[0]["sku"] == "TEE-M" and "SOCKS" not in [s["sku"] for s in left_out]
    assert not any(s["buy_again"] for s in left_out)
    assert [s["sku"] for s in left_out] == [s["sku"] for s in suggested if s["sku"] != "SOCKS"]
    assert not any(s["buy_again"] for s in related)  # a product's companions are nobody's purchases

    # the cap buyer owns TEE-M (offered again) and CAP, which is out of stock: never suggested, owned or not
    again = ok(shop.get(f"/api/v1/customers/{cap_buyer}/recommendations", params={"channel": "web", "limit": 50}))
    assert "CAP" not in [s["sku"] for s in again] and {s["sku"]: s["buy_again"] for s in again}["TEE-M"] is True
    problem(shop.get(f"/api/v1/customers/{cap_buyer}/recommendations",
                     params={"channel": "web", "include_owned": "perhaps"}), 422, "validation_error")

    market = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='market')}"}
    problem(shop.get("/api/v1/products/TEE-M/related", params={"channel": "web"}, headers=market), 403,
            "channel_not_allowed")
    problem(shop.get("/api/v1/products/NOPE/related", params={"channel": "web"}), 404, "product_not_found")
    problem(shop.get("/api/v1/products/TEE-M/related"), 422, "channel_required")
