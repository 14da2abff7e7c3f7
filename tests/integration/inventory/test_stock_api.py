from fastapi.testclient import TestClient
from tests.builders import ok, problem, stock
from tests.conftest import make_key

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def ledger(api: TestClient, loc: str, sku: str) -> list[dict]:
    return ok(api.get(f"/api/v1/stock/{loc}/{sku}/ledger", params={"limit": 500}))["items"]


def test_stock_count_sets_on_hand_and_writes_the_difference_to_the_ledger(shop: TestClient) -> None:
    stock(shop, "wh", "TEE-M", 10)
    level = stock(shop, "wh", "TEE-M", 7, safety_stock=2)

    assert (level["on_hand"], level["reserved"], level["safety_stock"], level["available"]) == (7, 0, 2, 5)
    entries = ledger(shop, "wh", "TEE-M")
    assert [(e["kind"], e["on_hand_delta"], e["on_hand_after"]) for e in entries] == [
        ("adjustment", -3, 7), ("adjustment", 10, 10)]


def test_receipt_adjustment_and_transfer_move_stock_and_balance_the_ledger(shop: TestClient) -> None:
    stock(shop, "wh", "TEE-M", 10)

    body = ok(shop.post("/api/v1/stock/movements", json={"movements": [
        {"kind": "receipt", "location": "wh", "sku": "TEE-M", "quantity": 5, "reference": "PO-1"},
        {"kind": "adjustment", "location": "wh", "sku": "TEE-M", "delta": -1, "reason": "damaged in aisle"},
        {"kind": "transfer", "from_location": "wh", "to_location": "s1", "sku": "TEE-M", "quantity": 4},
    ]}), 201)

    transfer_ref = body["movements"][2]["reference"]
    assert ok(shop.get("/api/v1/stock/wh/TEE-M"))["on_hand"] == 10
    assert ok(shop.get("/api/v1/stock/s1/TEE-M"))["on_hand"] == 4
    assert {(e["kind"], e["reference"]) for e in ledger(shop, "s1", "TEE-M")} == {("transfer_in", transfer_ref)}
    for loc in ("wh", "s1"):
        level = ok(shop.get(f"/api/v1/stock/{loc}/TEE-M"))
        assert sum(e["on_hand_delta"] for e in ledger(shop, loc, "TEE-M")) == level["on_hand"]


def test_a_failing_movement_rolls_back_the_whole_batch(shop: TestClient) -> None:
    stock(shop, "wh", "TEE-M", 3)

    body = problem(shop.post("/api/v1/stock/movements", json={"movements": [
        {"kind": "receipt", "location": "wh", "sku": "TEE-M", "quantity": 5},
        {"kind": "transfer", "from_location": "wh", "to_location": "s1", "sku": "TEE-M", "quantity": 50},
    ]}), 409, "insufficient_stock")

    assert body["sku"] == "TEE-M"
    assert ok(shop.get("/api/v1/stock/wh/TEE-M"))["on_hand"] == 3
    assert len(ledger(shop, "wh", "TEE-M")) == 1


def test_counting_below_reserved_is_refused(shop: TestClient) -> None:
    stock(shop, "wh", "TEE-M", 5)
    ok(shop.post("/api/v1/reservations", json={"channel": "market", "lines": [{"sku": "TEE-M", "quantity": 3}]}), 201)

    problem(shop.put("/api/v1/stock/wh/TEE-M", json={"on_hand": 2}), 409, "stock_below_reserved")

    assert ok(shop.get("/api/v1/stock/wh/TEE-M"))["on_hand"] == 5


def test_unknown_location_or_sku_is_404_and_bad_body_is_422(shop: TestClient) -> None:
    problem(shop.put("/api/v1/stock/nowhere/TEE-M", json={"on_hand": 1}), 404, "location_not_found")
    problem(shop.put("/api/v1/stock/wh/NOPE", json={"on_hand": 1}), 404, "product_not_found")
    body = problem(shop.put("/api/v1/stock/wh/TEE-M", json={"on_hand": -1}), 422, "validation_error")
    assert body["field"] == "on_hand"
    body = problem(shop.post("/api/v1/stock/movements", json={"movements": [
        {"kind": "adjustment", "location": "wh", "sku": "TEE-M", "delta": 1}]}), 422, "validation_error")
    assert body["field"] == "movements.0.adjustment.reason"
    problem(shop.get("/api/v1/stock/wh/TEE-M"), 404, "stock_level_not_found")


def test_stock_overview_lists_every_location(shop: TestClient) -> None:
    stock(shop, "wh", "MUG", 10)
    stock(shop, "s2", "MUG", 4, safety_stock=1)

    body = ok(shop.get("/api/v1/stock/MUG"))

    assert (body["on_hand"], body["available"]) == (14, 13)
    assert [(x["location"], x["available"]) for x in body["locations"]] == [("s2", 3), ("wh", 10)]


def test_associate_moves_only_its_own_locations_stock(shop: TestClient, db: Database, clock: ManualClock) -> None:
    key = make_key(db, clock, "associate", location="s1")
    as_associate = {"Authorization": f"Bearer {key}"}
    stock(shop, "wh", "MUG", 10)

    ok(shop.put("/api/v1/stock/s1/MUG", json={"on_hand": 3}, headers=as_associate))
    problem(shop.put("/api/v1/stock/wh/MUG", json={"on_hand": 0}, headers=as_associate), 403, "location_not_allowed")
    body = problem(shop.post("/api/v1/stock/movements", headers=as_associate, json={"movements": [
        {"kind": "transfer", "from_location": "wh", "to_location": "s1", "sku": "MUG", "quantity": 1}]}),
        403, "location_not_allowed")

    assert body["field"] == "movements.0.from_location"
    assert ok(shop.get("/api/v1/stock/wh/MUG"))["on_hand"] == 10
    problem(shop.post("/api/v1/products", headers=as_associate, json={"sku": "X", "name": "x", "category": "c"}),
            403, "role_not_allowed")
