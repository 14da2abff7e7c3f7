"""Parallel checkouts on the last units, and parallel redemptions of a limited code, never exceed their limits."""

from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient
from tests.builders import ok, stock
from tests.servers import server_thread

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

CLIENTS = 12


def post_orders(url: str, key: str, bodies: list[dict]) -> list[httpx.Response]:
    def place(body: dict) -> httpx.Response:
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            return http.post(f"{url}/api/v1/orders", json=body)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(place, bodies))


def test_parallel_orders_for_the_last_units_sell_each_unit_once(
        shop: TestClient, settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> None:
    from omnihub.app import create_app

    stock(shop, "vlc", "MUG", 5)
    bodies = [{"channel": "store", "customer": {"email": f"buyer{i}@correo.es"},
               "lines": [{"sku": "MUG", "quantity": 1}], "fulfilment": {"type": "in_store", "location": "vlc"},
               "payments": [{"method": "cash", "amount": "11.00"}]} for i in range(CLIENTS * 2)]

    with server_thread(create_app(settings, db=db, clock=clock)) as url:
        responses = post_orders(url, admin_key, bodies)

    codes = [r.status_code for r in responses]
    assert codes.count(201) == 5
    assert codes.count(409) == len(bodies) - 5
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"insufficient_stock"}
    level = ok(shop.get("/api/v1/stock/vlc/MUG"))
    assert (level["on_hand"], level["reserved"]) == (0, 0)
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_parallel_redemptions_never_exceed_the_code_limits(
        shop: TestClient, settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> None:
    from omnihub.app import create_app

    promotion = ok(shop.post("/api/v1/promotions", json={
        "code": "FLASH3", "kind": "percent", "value": "50", "usage_limit": 3, "per_customer_limit": 1}), 201)
    people = [f"fan{i % 6}@correo.es" for i in range(CLIENTS * 2)]  # six people, four tries each
    bodies = [{"channel": "web", "customer": {"email": email}, "lines": [{"sku": "TEE-M", "quantity": 1}],
               "fulfilment": {"type": "pickup", "location": "mad" if i % 2 else "bcn"},
               "promotion_codes": ["FLASH3"]} for i, email in enumerate(people)]

    with server_thread(create_app(settings, db=db, clock=clock)) as url:
        responses = post_orders(url, admin_key, bodies)

    won = [r.json() for r in responses if r.status_code == 201]
    assert len(won) == 3
    assert len({o["customer_id"] for o in won}) == 3
    assert {r.json()["code"] for r in responses if r.status_code != 201} <= {"promotion_limit_reached",
                                                                              "invalid_promotion_code"}
    assert ok(shop.get(f"/api/v1/promotions/{promotion['id']}"))["used"] == 3
    assert ok(shop.get("/api/v1/stock/TEE-M"))["reserved"] == 3


def test_parallel_orders_that_lose_a_location_race_are_sourced_again(
        shop: TestClient, settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> None:
    """Stock is claimed last in an order's transaction: an order whose planned location ran out meanwhile
    is sourced again from what is left, and its lines say where its units really came from."""
    from omnihub.app import create_app

    for code, units in (("wh", 2), ("vlc", 3), ("bcn", 5)):  # nearest to Madrid first: wh runs out first
        stock(shop, code, "MUG", units)
    address = {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
               "lat": 40.4155, "lon": -3.7074}
    bodies = [{"channel": "web", "customer": {"email": f"fan{i}@correo.es"}, "lines": [{"sku": "MUG", "quantity": 1}],
               "fulfilment": {"type": "ship", "address": address},
               "payments": [{"method": "card", "amount": "11.00"}]} for i in range(CLIENTS * 2)]

    with server_thread(create_app(settings, db=db, clock=clock)) as url:
        responses = post_orders(url, admin_key, bodies)

    won = [r.json() for r in responses if r.status_code == 201]
    assert len(won) == 10, [r.text for r in responses if r.status_code not in (201, 409)]
    assert {r.json()["code"] for r in responses if r.status_code != 201} == {"insufficient_stock"}
    taken: dict[str, int] = {}
    for order in won:
        for line in order["lines"]:
            taken[line["location"]] = taken.get(line["location"], 0) + line["quantity"]
    assert taken == {"wh": 2, "vlc": 3, "bcn": 5}
    for code, units in taken.items():
        assert ok(shop.get(f"/api/v1/stock/{code}/MUG"))["reserved"] == units
    assert len({o["number"] for o in won}) == 10
    assert ok(shop.post("/api/v1/inventory/check")) == []
