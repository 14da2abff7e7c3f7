from fastapi.testclient import TestClient
from tests.builders import ok, problem, stock
from tests.conftest import make_key

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.inventory.reservations import release_expired_reservations


def reserve(api: TestClient, channel: str, *lines: tuple[str, int], **extra: object):
    return api.post("/api/v1/reservations",
                    json={"channel": channel, "lines": [{"sku": s, "quantity": q} for s, q in lines], **extra})


def available(api: TestClient, sku: str, channel: str) -> int:
    return ok(api.get(f"/api/v1/availability/{sku}", params={"channel": channel}))["available"]


def test_reservation_holds_stock_until_released(shop: TestClient) -> None:
    stock(shop, "wh", "TEE-M", 5)

    held = ok(reserve(shop, "web", ("TEE-M", 3), ttl_seconds=600), 201)

    assert held["status"] == "active"
    assert held["lines"] == [{"sku": "TEE-M", "quantity": 3, "location": "wh"}]
    assert available(shop, "TEE-M", "web") == 2
    released = ok(shop.delete(f"/api/v1/reservations/{held['id']}"))
    assert released["status"] == "released"
    assert available(shop, "TEE-M", "web") == 5
    problem(shop.delete(f"/api/v1/reservations/{held['id']}"), 409, "reservation_not_active")


def test_out_of_stock_is_a_409_and_holds_nothing(shop: TestClient) -> None:
    stock(shop, "wh", "TEE-M", 2)
    stock(shop, "wh", "MUG", 9)

    body = problem(reserve(shop, "web", ("MUG", 1), ("TEE-M", 3)), 409, "insufficient_stock")

    assert (body["sku"], body["requested"], body["available"]) == ("TEE-M", 3, 2)
    assert ok(shop.get("/api/v1/stock/wh/MUG"))["reserved"] == 0


def test_a_reservation_splits_across_locations_when_none_can_fill_it(shop: TestClient) -> None:
    stock(shop, "wh", "TEE-M", 2)
    stock(shop, "s1", "TEE-M", 3)
    stock(shop, "s2", "TEE-M", 1)

    held = ok(reserve(shop, "web", ("TEE-M", 5)), 201)

    assert sorted((x["location"], x["quantity"]) for x in held["lines"]) == [("s1", 3), ("wh", 2)]


def test_location_can_be_pinned_and_must_serve_the_channel(shop: TestClient) -> None:
    stock(shop, "wh", "TEE-M", 5)
    stock(shop, "s1", "TEE-M", 5)

    held = ok(reserve(shop, "web", ("TEE-M", 2), location="s1"), 201)

    assert held["lines"][0]["location"] == "s1"
    problem(reserve(shop, "market", ("TEE-M", 1), location="s1"), 422, "location_not_in_channel")


def test_committed_reservation_is_a_sale(shop: TestClient) -> None:
    stock(shop, "wh", "TEE-M", 5)
    held = ok(reserve(shop, "web", ("TEE-M", 2)), 201)

    ok(shop.post(f"/api/v1/reservations/{held['id']}/commit"))

    level = ok(shop.get("/api/v1/stock/wh/TEE-M"))
    assert (level["on_hand"], level["reserved"]) == (3, 0)
    kinds = [e["kind"] for e in ok(shop.get("/api/v1/stock/wh/TEE-M/ledger"))["items"]]
    assert kinds == ["sale", "reservation", "adjustment"]


def test_expired_reservations_are_released_by_the_worker_job(shop: TestClient, db: Database,
                                                             clock: ManualClock) -> None:
    stock(shop, "wh", "TEE-M", 5)
    short = ok(reserve(shop, "web", ("TEE-M", 2), ttl_seconds=60), 201)
    long = ok(reserve(shop, "web", ("TEE-M", 1), ttl_seconds=3600), 201)

    clock.advance(seconds=61)
    with db.transaction() as conn:
        released = release_expired_reservations(conn, clock)

    assert released == 1
    assert ok(shop.get(f"/api/v1/reservations/{short['id']}"))["status"] == "expired"
    assert ok(shop.get(f"/api/v1/reservations/{long['id']}"))["status"] == "active"
    assert ok(shop.get("/api/v1/stock/wh/TEE-M"))["reserved"] == 1


def test_a_sold_out_refusal_writes_nothing_and_a_freed_unit_sells_again(shop: TestClient) -> None:
    stock(shop, "wh", "MUG", 2)
    first = ok(reserve(shop, "web", ("MUG", 2)), 201)
    entries = ok(shop.get("/api/v1/stock/wh/MUG/ledger", params={"limit": 500}))["items"]

    for _ in range(3):  # the rush after the sell-out
        body = problem(reserve(shop, "web", ("MUG", 1)), 409, "insufficient_stock")
        assert (body["field"], body["requested"], body["available"]) == ("lines.0.quantity", 1, 0)

    assert ok(shop.get("/api/v1/stock/wh/MUG/ledger", params={"limit": 500}))["items"] == entries
    ok(shop.delete(f"/api/v1/reservations/{first['id']}"))
    assert ok(reserve(shop, "web", ("MUG", 1)), 201)["lines"] == [{"sku": "MUG", "quantity": 1, "location": "wh"}]
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_channel_buffer_is_held_back_from_that_channel_only(shop: TestClient) -> None:
    stock(shop, "wh", "MUG", 5)

    assert available(shop, "MUG", "market") == 3
    assert available(shop, "MUG", "web") == 5
    problem(reserve(shop, "market", ("MUG", 4)), 409, "insufficient_stock")
    ok(reserve(shop, "market", ("MUG", 3)), 201)


def test_quota_ring_fences_units_for_one_channel(shop: TestClient) -> None:
    stock(shop, "s1", "MUG", 5)
    ok(shop.put("/api/v1/stock/s1/MUG/quotas/store", json={"units": 2}))  # the store keeps 2 for walk-ins

    assert available(shop, "MUG", "web") == 3
    assert available(shop, "MUG", "store") == 5
    problem(reserve(shop, "web", ("MUG", 4)), 409, "insufficient_stock")
    held = ok(reserve(shop, "store", ("MUG", 1)), 201)
    assert ok(shop.get("/api/v1/stock/s1/MUG"))["quotas"] == {"store": 1}
    assert available(shop, "MUG", "web") == 3

    ok(shop.delete(f"/api/v1/reservations/{held['id']}"))

    level = ok(shop.get("/api/v1/stock/s1/MUG"))
    assert (level["quotas"], level["ring_fenced"], level["reserved"]) == ({"store": 2}, 2, 0)


def test_channel_key_acts_only_for_its_channel(shop: TestClient, db: Database, clock: ManualClock) -> None:
    stock(shop, "wh", "MUG", 5)
    web = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='web')}"}
    market = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='market')}"}

    problem(shop.post("/api/v1/reservations", headers=web,
                      json={"channel": "market", "lines": [{"sku": "MUG", "quantity": 1}]}), 403, "channel_not_allowed")
    held = ok(shop.post("/api/v1/reservations", headers=web,
                        json={"channel": "web", "lines": [{"sku": "MUG", "quantity": 1}]}), 201)

    problem(shop.delete(f"/api/v1/reservations/{held['id']}", headers=market), 404, "reservation_not_found")
    problem(shop.get("/api/v1/availability/MUG", params={"channel": "market"}, headers=web), 403,
            "channel_not_allowed")
    assert ok(shop.get("/api/v1/availability/MUG", headers=web))["available"] == 4
    assert ok(shop.get(f"/api/v1/reservations/{held['id']}"))["status"] == "active"


def test_bad_reservations_are_422_and_change_nothing(shop: TestClient) -> None:
    stock(shop, "wh", "MUG", 5)

    problem(reserve(shop, "web", ("MUG", 0)), 422, "validation_error")
    problem(reserve(shop, "web", ("MUG", 1), ttl_seconds=0), 422, "invalid_ttl")
    problem(reserve(shop, "nope", ("MUG", 1)), 404, "channel_not_found")
    body = problem(reserve(shop, "web", ("MUG", 1), ("GHOST", 1)), 404, "product_not_found")
    assert body["field"] == "lines.0.sku"
    single = problem(reserve(shop, "web", ("GHOST", 1)), 404, "product_not_found")  # the one-statement path
    assert single["field"] == "lines.0.sku"
    problem(shop.post("/api/v1/reservations", json={"channel": "web", "lines": []}), 422, "validation_error")

    assert ok(shop.get("/api/v1/stock/wh/MUG"))["reserved"] == 0


def test_idempotency_key_returns_the_first_reservation_again(shop: TestClient) -> None:
    stock(shop, "wh", "MUG", 5)
    body = {"channel": "web", "lines": [{"sku": "MUG", "quantity": 2}]}

    first = shop.post("/api/v1/reservations", json=body, headers={"Idempotency-Key": "k-1"})
    again = shop.post("/api/v1/reservations", json=body, headers={"Idempotency-Key": "k-1"})

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert ok(shop.get("/api/v1/stock/wh/MUG"))["reserved"] == 2
    problem(shop.post("/api/v1/reservations", json={**body, "lines": [{"sku": "MUG", "quantity": 1}]},
                      headers={"Idempotency-Key": "k-1"}), 422, "idempotency_key_reused")
