"""Redeeming and releasing promotions through the service commerce calls, on SQLite and PostgreSQL."""

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.promotions.conftest import create

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.errors import Conflict, ValidationFailed
from omnihub.core.events import recent_events
from omnihub.promotions import queries, service
from omnihub.promotions.rules import Basket, BasketLine, Discounts


def basket(clock: ManualClock, *codes: str, customer_id: str | None = "cus_1", channel: str = "web") -> Basket:
    return Basket(channel=channel, currency="EUR", customer_id=customer_id, customer_tags=frozenset(),
                  lines=(BasketLine("SHOE", "shoes", 1, Decimal("60.00")),
                         BasketLine("MUG", "home", 2, Decimal("20.00"))),
                  shipping=Decimal("5.00"), now=clock.now(), codes=codes)


def price(db: Database, clock: ManualClock, b: Basket) -> Discounts:
    with db.read() as conn:
        return service.price_basket(conn, clock, b)


def redeem(db: Database, clock: ManualClock, discounts: Discounts, order_id: str,
           customer_id: str | None = "cus_1") -> None:
    with db.transaction() as conn:
        service.redeem(conn, clock, discounts, order_id=order_id, customer_id=customer_id)


def used(api: TestClient, promotion: dict) -> int:
    return ok(api.get(f"/api/v1/promotions/{promotion['id']}"))["used"]


def test_redeeming_counts_the_use_and_emits_an_event(shop: TestClient, db: Database, clock: ManualClock) -> None:
    code = create(shop, code="TEN", kind="percent", value="10", usage_limit=5)
    discounts = price(db, clock, basket(clock, "ten"))

    redeem(db, clock, discounts, "ord_1")

    assert used(shop, code) == 1
    with db.read() as conn:
        events = [e.data for e in recent_events(conn, type_="promotion.redeemed")]
        redemptions = queries.redemptions_of_order(conn, "ord_1")
    assert events == [{"promotion_id": code["id"], "code": "TEN", "kind": "percent", "order_id": "ord_1",
                       "customer_id": "cus_1", "amount": "10.00", "currency": "EUR"}]
    assert [(r["promotion_id"], r["amount"], r["released_at"]) for r in redemptions] == [
        (code["id"], Decimal("10.00"), None)]


def test_a_used_up_code_is_refused_when_pricing(shop: TestClient, db: Database, clock: ManualClock) -> None:
    create(shop, code="ONCE", kind="percent", value="10", usage_limit=1)
    redeem(db, clock, price(db, clock, basket(clock, "ONCE")), "ord_1")

    with pytest.raises(ValidationFailed) as caught:
        price(db, clock, basket(clock, "ONCE", customer_id="cus_2"))

    assert (caught.value.code, caught.value.field, caught.value.data["reason"]) == (
        "invalid_promotion_code", "promotion_codes.0", "exhausted")


def test_a_customer_who_used_up_a_code_is_refused_when_pricing(shop: TestClient, db: Database,
                                                               clock: ManualClock) -> None:
    create(shop, code="MINE", kind="percent", value="10", per_customer_limit=1)
    redeem(db, clock, price(db, clock, basket(clock, "MINE")), "ord_1")

    with pytest.raises(ValidationFailed) as caught:
        price(db, clock, basket(clock, "MINE"))
    other = price(db, clock, basket(clock, "MINE", customer_id="cus_2"))

    assert caught.value.data["reason"] == "exhausted"
    assert other.total == Decimal("10.00")


def test_pricing_checks_the_window_with_the_clock(shop: TestClient, db: Database, clock: ManualClock) -> None:
    create(shop, code="TODAY", kind="percent", value="10", ends_at="2026-01-06T00:00:00Z")
    stale = basket(clock, "TODAY")
    clock.advance(days=1)

    with pytest.raises(ValidationFailed) as caught:
        price(db, clock, stale)

    assert caught.value.data["reason"] == "expired"


def test_a_reached_limit_rolls_back_the_whole_order(shop: TestClient, db: Database, clock: ManualClock) -> None:
    automatic = create(shop, kind="free_shipping")
    code = create(shop, code="LAST", kind="percent", value="10", usage_limit=1)
    discounts = price(db, clock, basket(clock, "LAST"))
    redeem(db, clock, discounts, "ord_1")

    with pytest.raises(Conflict) as caught:
        redeem(db, clock, discounts, "ord_2", customer_id="cus_2")

    assert (caught.value.code, caught.value.data["scope"]) == ("promotion_limit_reached", "total")
    assert (used(shop, automatic), used(shop, code)) == (1, 1)
    with db.read() as conn:
        assert queries.redemptions_of_order(conn, "ord_2") == []


def test_the_per_customer_limit_holds_at_redemption(shop: TestClient, db: Database, clock: ManualClock) -> None:
    code = create(shop, code="ONEEACH", kind="percent", value="10", per_customer_limit=1)
    discounts = price(db, clock, basket(clock, "ONEEACH"))
    redeem(db, clock, discounts, "ord_1")

    with pytest.raises(Conflict) as same_customer:
        redeem(db, clock, discounts, "ord_2")
    with pytest.raises(Conflict) as anonymous:
        redeem(db, clock, discounts, "ord_3", customer_id=None)
    redeem(db, clock, discounts, "ord_4", customer_id="cus_2")

    assert same_customer.value.data["scope"] == anonymous.value.data["scope"] == "customer"
    assert used(shop, code) == 2


def test_one_order_cannot_redeem_a_promotion_twice(shop: TestClient, db: Database, clock: ManualClock) -> None:
    code = create(shop, code="TWICE", kind="percent", value="10")
    discounts = price(db, clock, basket(clock, "TWICE"))
    redeem(db, clock, discounts, "ord_1")

    with pytest.raises(Conflict) as caught:
        redeem(db, clock, discounts, "ord_1")

    assert caught.value.code == "promotion_already_redeemed"
    assert used(shop, code) == 1


def test_cancelling_gives_the_uses_back_once(shop: TestClient, db: Database, clock: ManualClock) -> None:
    code = create(shop, code="BACK", kind="percent", value="10", usage_limit=1, per_customer_limit=1)
    discounts = price(db, clock, basket(clock, "BACK"))
    redeem(db, clock, discounts, "ord_1")

    for _ in range(2):
        with db.transaction() as conn:
            service.release_redemptions(conn, clock, "ord_1")

    assert used(shop, code) == 0
    with db.read() as conn:
        released = [e.data["order_id"] for e in recent_events(conn, type_="promotion.released")]
        assert queries.customer_usage(conn, [code["id"]], "cus_1") == {code["id"]: 0}
    assert released == ["ord_1"]
    redeem(db, clock, price(db, clock, basket(clock, "BACK")), "ord_2")  # the same customer may use it again
    assert used(shop, code) == 1


def test_the_usage_limit_cannot_go_below_the_uses_made(shop: TestClient, db: Database, clock: ManualClock) -> None:
    code = create(shop, code="LOWER", kind="percent", value="10", usage_limit=5)
    for n in range(3):
        redeem(db, clock, price(db, clock, basket(clock, "LOWER", customer_id=f"cus_{n}")), f"ord_{n}",
               customer_id=f"cus_{n}")

    refused = shop.patch(f"/api/v1/promotions/{code['id']}", json={"usage_limit": 2})
    lowered = ok(shop.patch(f"/api/v1/promotions/{code['id']}", json={"usage_limit": 3}))

    assert problem(refused, 409, "promotion_limit_below_used")["used"] == 3
    assert (lowered["usage_limit"], lowered["used"]) == (3, 3)
