"""A limited code redeemed through real checkouts: 16 HTTP clients place orders at once; cancelling gives back."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, product, stock
from tests.integration.promotions.conftest import create
from tests.servers import server_thread

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

THREADS = 16


@pytest.fixture
def selling(admin: TestClient) -> TestClient:
    """A store that takes pickups, one product priced 60.00 in web and store, plenty of stock."""
    location(admin, "s1")
    product(admin, "SHOE", category="shoes")
    for code, kind in (("web", "web"), ("store", "store")):
        channel(admin, code, kind=kind, locations=["s1"])
        ok(admin.put(f"/api/v1/channels/{code}/prices", json=[{"sku": "SHOE", "amount": "60.00"}]))
    stock(admin, "s1", "SHOE", 100)
    return admin


def order(email: str) -> dict:
    return {"channel": "web", "customer": {"email": email}, "lines": [{"sku": "SHOE", "quantity": 1}],
            "fulfilment": {"type": "pickup", "location": "s1"}, "promotion_codes": ["limited"]}


def place_all(url: str, key: str, bodies: list[dict]) -> list[httpx.Response]:
    def place(body: dict) -> httpx.Response:
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            return http.post(f"{url}/api/v1/orders", json=body)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(place, bodies))


def test_parallel_checkouts_never_exceed_the_code_limits_and_cancelling_gives_a_use_back(
        selling: TestClient, settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> None:
    from omnihub.app import create_app

    code = create(selling, code="LIMITED", kind="percent", value="10", usage_limit=5, per_customer_limit=1)
    people = [f"fan{n % 8}@correo.es" for n in range(THREADS)]  # eight known customers, two devices each
    for email in set(people):
        ok(selling.post("/api/v1/customers", json={"identities": [{"kind": "email", "value": email}]}), 201)

    with server_thread(create_app(settings, db=db, clock=clock)) as url:
        responses = place_all(url, admin_key, [order(email) for email in people])

    won = [r.json() for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(won) == 5
    assert len({o["customer_id"] for o in won}) == 5
    assert {(r.status_code, r.json()["code"]) for r in refused} <= {(409, "promotion_limit_reached"),
                                                                   (422, "invalid_promotion_code")}
    assert {o["totals"]["discount"] for o in won} == {"6.00"}
    assert ok(selling.get(f"/api/v1/promotions/{code['id']}"))["used"] == 5
    assert ok(selling.get("/api/v1/stock/s1/SHOE"))["reserved"] == 5  # refused orders held nothing

    ok(selling.post(f"/api/v1/orders/{won[0]['id']}/cancel"))

    assert ok(selling.get(f"/api/v1/promotions/{code['id']}"))["used"] == 4
    again = ok(selling.post("/api/v1/orders", json=order("newcomer@correo.es")), 201)
    assert again["totals"]["discount"] == "6.00"
    assert ok(selling.get(f"/api/v1/promotions/{code['id']}"))["used"] == 5
