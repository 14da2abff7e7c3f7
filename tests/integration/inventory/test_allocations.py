"""`reserve_allocations`: an order's claims at the locations sourcing chose — all or nothing, one guarded change
per line (on PostgreSQL several lines without a channel quota are one statement), each with its ledger row and
`stock.changed` event. A refused claim only happens when the stock moved after sourcing looked (a race), so
these tests call the use case directly."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, stock

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.errors import DomainError
from omnihub.inventory.allocations import reserve_allocations


def level(api: TestClient, location: str, sku: str) -> tuple[int, int]:
    found = ok(api.get(f"/api/v1/stock/{location}/{sku}"))
    return found["on_hand"], found["reserved"]


def ledger(api: TestClient, location: str, sku: str) -> list[tuple[str, int, int, int, int]]:
    rows = ok(api.get(f"/api/v1/stock/{location}/{sku}/ledger"))["items"]
    return [(r["kind"], r["on_hand_delta"], r["reserved_delta"], r["on_hand_after"], r["reserved_after"])
            for r in rows]


@pytest.fixture
def stocked(shop: TestClient) -> TestClient:
    stock(shop, "wh", "MUG", 5)
    stock(shop, "s1", "MUG", 3)
    stock(shop, "s1", "TEE-M", 2)
    return shop


def test_several_claims_are_held_together_each_with_its_ledger_row(
        stocked: TestClient, db: Database, clock: ManualClock) -> None:
    with db.transaction() as conn:
        reserve_allocations(conn, clock, channel="web", reference="ord-1",
                            allocations=[("MUG", "wh", 2), ("TEE-M", "s1", 2), ("MUG", "s1", 1)])

    assert (level(stocked, "wh", "MUG"), level(stocked, "s1", "MUG"), level(stocked, "s1", "TEE-M")) == \
        ((5, 2), (3, 1), (2, 2))
    assert ledger(stocked, "wh", "MUG")[0] == ("reservation", 0, 2, 5, 2)
    assert ledger(stocked, "s1", "TEE-M")[0] == ("reservation", 0, 2, 2, 2)
    assert ok(stocked.post("/api/v1/inventory/check")) == []


def test_a_sale_of_several_lines_takes_them_off_the_shelf(
        stocked: TestClient, db: Database, clock: ManualClock) -> None:
    with db.transaction() as conn:
        reserve_allocations(conn, clock, channel="store", reference="ord-2", sale="counter sale",
                            allocations=[("MUG", "s1", 2), ("TEE-M", "s1", 1)])

    assert (level(stocked, "s1", "MUG"), level(stocked, "s1", "TEE-M")) == ((1, 0), (1, 0))
    assert ledger(stocked, "s1", "MUG")[0] == ("sale", -2, 0, 1, 0)
    assert ok(stocked.post("/api/v1/inventory/check")) == []


def test_one_refused_claim_among_several_holds_nothing_and_says_which(
        stocked: TestClient, db: Database, clock: ManualClock) -> None:
    stock(stocked, "s1", "TEE-M", 2, safety_stock=1)  # one of the two is kept back

    with pytest.raises(DomainError) as refused, db.transaction() as conn:
        reserve_allocations(conn, clock, channel="web", reference="ord-3",
                            allocations=[("MUG", "wh", 2), ("TEE-M", "s1", 2), ("MUG", "s1", 1)])

    assert refused.value.code == "insufficient_stock"
    assert (refused.value.data["sku"], refused.value.data["requested"], refused.value.data["available"]) == \
        ("TEE-M", 2, 1)
    assert (level(stocked, "wh", "MUG"), level(stocked, "s1", "MUG"), level(stocked, "s1", "TEE-M")) == \
        ((5, 0), (3, 0), (2, 0))


def test_orders_claiming_the_same_rows_in_opposite_orders_neither_deadlock_nor_oversell(
        stocked: TestClient, db: Database, clock: ManualClock) -> None:
    """Each claim set is taken in (sku, location) order whatever order it was given in; no retries here, so a
    deadlock would surface as an error. 48 claims of one unit at each of two rows holding 45: 45 held, 3 clean
    refusals."""
    stock(stocked, "wh", "MUG", 45)
    stock(stocked, "s1", "MUG", 45)
    start = threading.Barrier(8)

    def claim(n: int) -> str:
        allocations = [("MUG", "wh", 1), ("MUG", "s1", 1)]
        start.wait()
        outcomes = []
        for _ in range(6):
            try:
                with db.transaction() as conn:
                    reserve_allocations(conn, clock, channel="web", reference=f"ord-{n}",
                                        allocations=allocations if n % 2 else allocations[::-1])
                outcomes.append("held")
            except DomainError as refused:
                outcomes.append(refused.code)
        return ",".join(outcomes)

    with ThreadPoolExecutor(8) as pool:
        outcomes = ",".join(pool.map(claim, range(8))).split(",")

    assert sorted(set(outcomes)) == ["held", "insufficient_stock"]
    assert (outcomes.count("held"), outcomes.count("insufficient_stock")) == (45, 3)
    assert (level(stocked, "wh", "MUG"), level(stocked, "s1", "MUG")) == ((45, 45), (45, 45))
    assert ok(stocked.post("/api/v1/inventory/check")) == []
