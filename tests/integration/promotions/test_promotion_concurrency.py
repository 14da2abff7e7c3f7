"""Usage limits hold under concurrency: 16 threads redeem one code at once, each in its own transaction."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from fastapi.testclient import TestClient
from tests.builders import ok
from tests.integration.promotions.conftest import create

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.errors import DomainError
from omnihub.promotions import queries, service
from omnihub.promotions.rules import Basket, BasketLine

THREADS = 16


def basket(clock: ManualClock, customer_id: str) -> Basket:
    return Basket(channel="web", currency="EUR", customer_id=customer_id, customer_tags=frozenset(),
                  lines=(BasketLine("SHOE", "shoes", 1, Decimal("60.00")),), shipping=Decimal(0),
                  now=clock.now(), codes=("LIMITED",))


def race(db: Database, clock: ManualClock, customers: list[str], *, price_too: bool) -> list[str]:
    """Each thread prices (optionally) and redeems in one transaction; returns "ok" or the error code."""
    with db.read() as conn:
        priced_once = service.price_basket(conn, clock, basket(clock, "cus_x"))
    start = threading.Barrier(len(customers))

    def attempt(n: int) -> str:
        start.wait()
        try:
            with db.transaction() as conn:
                discounts = (service.price_basket(conn, clock, basket(clock, customers[n])) if price_too
                             else priced_once)
                service.redeem(conn, clock, discounts, order_id=f"ord_{n}", customer_id=customers[n])
            return "ok"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(len(customers)) as pool:
        return list(pool.map(attempt, range(len(customers))))


def redeemed_orders(db: Database) -> set[str]:
    with db.read() as conn:
        return {f"ord_{n}" for n in range(THREADS) if queries.redemptions_of_order(conn, f"ord_{n}")}


def test_sixteen_customers_racing_for_five_uses(shop: TestClient, db: Database, clock: ManualClock) -> None:
    code = create(shop, code="LIMITED", kind="percent", value="10", usage_limit=5, per_customer_limit=1)
    customers = [f"cus_{n}" for n in range(THREADS)]

    outcomes = race(db, clock, customers, price_too=False)

    assert outcomes.count("ok") == 5
    assert outcomes.count("promotion_limit_reached") == THREADS - 5
    assert ok(shop.get(f"/api/v1/promotions/{code['id']}"))["used"] == 5
    assert len(redeemed_orders(db)) == 5


def test_one_customer_racing_from_sixteen_devices_gets_one_use(shop: TestClient, db: Database,
                                                               clock: ManualClock) -> None:
    code = create(shop, code="LIMITED", kind="percent", value="10", usage_limit=5, per_customer_limit=1)

    outcomes = race(db, clock, ["cus_same"] * THREADS, price_too=False)

    assert outcomes.count("ok") == 1
    assert outcomes.count("promotion_limit_reached") == THREADS - 1
    assert ok(shop.get(f"/api/v1/promotions/{code['id']}"))["used"] == 1
    with db.read() as conn:
        assert queries.customer_usage(conn, [code["id"]], "cus_same") == {code["id"]: 1}


def test_pricing_and_redeeming_in_one_transaction_never_exceeds_either_limit(
        shop: TestClient, db: Database, clock: ManualClock) -> None:
    code = create(shop, code="LIMITED", kind="percent", value="10", usage_limit=5, per_customer_limit=1)
    customers = [f"cus_{n % 8}" for n in range(THREADS)]  # eight customers, each on two devices

    outcomes = race(db, clock, customers, price_too=True)

    winners = [customers[n] for n, outcome in enumerate(outcomes) if outcome == "ok"]
    assert len(winners) == 5
    assert len(set(winners)) == 5
    assert set(outcomes) <= {"ok", "promotion_limit_reached", "invalid_promotion_code"}
    assert ok(shop.get(f"/api/v1/promotions/{code['id']}"))["used"] == 5
