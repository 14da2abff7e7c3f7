"""Journey 1's last step: a sale at the counter takes the units off the shelf at once — one guarded decrement
and one `sale` ledger row per line, never more than the store has, ring-fenced units only for their channel."""

from fastapi.testclient import TestClient
from tests.builders import ok, problem


def sell(api: TestClient, quantity: int, *, channel: str = "store", amount: str | None = None):
    return api.post("/api/v1/orders", json={
        "channel": channel, "lines": [{"sku": "MUG", "quantity": quantity}],
        "fulfilment": {"type": "in_store", "location": "bcn"},
        "payments": [{"method": "cash", "amount": amount or f"{11 * quantity}.00"}]})


def ledger(api: TestClient) -> list[dict]:
    return ok(api.get("/api/v1/stock/bcn/MUG/ledger"))["items"]


def test_a_counter_sale_is_one_sale_per_line_and_nothing_stays_held(shop: TestClient) -> None:
    order = ok(sell(shop, 2), 201)

    level = ok(shop.get("/api/v1/stock/bcn/MUG"))
    assert (level["on_hand"], level["reserved"]) == (3, 0)
    assert (order["status"], [(line["quantity"], line["fulfilled"]) for line in order["lines"]]) == (
        "collected", [(2, 2)])
    entries = [e for e in ledger(shop) if e["reference"] == order["id"]]
    assert [(e["kind"], e["on_hand_delta"], e["reserved_delta"], e["on_hand_after"], e["reason"])
            for e in entries] == [("sale", -2, 0, 3, "counter sale")]
    assert ok(shop.get(f"/api/v1/orders/{order['id']}")) == order  # what was answered is what was stored
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_more_than_the_store_has_is_refused_and_nothing_moves(shop: TestClient) -> None:
    before = ledger(shop)
    refused = problem(sell(shop, 6), 409, "insufficient_stock")

    assert refused["field"] == "lines.0.quantity"
    assert ledger(shop) == before
    level = ok(shop.get("/api/v1/stock/bcn/MUG"))
    assert (level["on_hand"], level["reserved"]) == (5, 0)


def test_units_ring_fenced_for_the_store_are_sold_at_its_counter_only(shop: TestClient) -> None:
    ok(shop.put("/api/v1/stock/bcn/MUG/quotas/store", json={"units": 4}))  # 5 on hand, 4 for the store

    ok(sell(shop, 4), 201)

    level = ok(shop.get("/api/v1/stock/bcn/MUG"))
    assert (level["on_hand"], level["ring_fenced"], level["quotas"]) == (1, 0, {"store": 0})
    assert ok(shop.post("/api/v1/inventory/check")) == []
