"""Gift cards: issued (code shown once), checked from any channel, topped up, spent in part at checkout next to
another tender, refused when short or expired (nothing changes), refunds back onto the card or onto a new one,
and one card spent by many orders at once on PostgreSQL: never below zero."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

ADDRESS = {"country": "ES", "city": "Madrid", "postal_code": "28001", "line1": "Calle Mayor 1"}


def issue(api: TestClient, amount: str = "30.00", **extra: Any) -> dict[str, Any]:
    return ok(api.post("/api/v1/gift-cards", json={"amount": amount, "currency": "EUR", **extra}), 201)


def order(api: TestClient, payments: list[dict[str, Any]], quantity: int = 1) -> Any:
    return api.post("/api/v1/orders", json={
        "channel": "web", "lines": [{"sku": "TEE-M", "quantity": quantity}],
        "fulfilment": {"type": "ship", "address": ADDRESS}, "customer": {"email": "eva@example.com"},
        "payments": payments})


def balance(api: TestClient, code: str) -> str:
    return ok(api.post("/api/v1/gift-cards/balance", json={"code": code}))["balance"]


def test_issue_check_top_up_and_spend_in_part(shop: TestClient, client: TestClient, db: Database,
                                              clock: ManualClock) -> None:
    card = issue(shop)
    assert card["code"].startswith("GC-") and card["last4"] == card["code"][-4:] and card["balance"] == "30.00"
    web = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='web')}"}
    checked = ok(client.post("/api/v1/gift-cards/balance", json={"code": card["code"].lower()}, headers=web))
    assert checked["code"] is None and checked["balance"] == "30.00"  # the code is never shown again
    assert ok(shop.post("/api/v1/gift-cards/top-ups", json={"code": card["code"], "amount": "5.00"}))["balance"] == \
        "35.00"

    paid = ok(order(shop, [{"method": "gift_card", "amount": "25.00", "code": card["code"]},
                           {"method": "card", "amount": "15.00"}], quantity=2), 201)
    assert paid["payment_status"] == "paid" and balance(shop, card["code"]) == "10.00"

    short = order(shop, [{"method": "gift_card", "amount": "20.00", "code": card["code"]}])
    assert problem(short, 409, "insufficient_gift_card_balance")["field"] == "payments.0.code"
    problem(order(shop, [{"method": "gift_card", "amount": "20.00", "code": "GC-NOPE-NOPE-NOPE-NOPE"}]), 404,
            "gift_card_not_found")
    problem(order(shop, [{"method": "gift_card", "amount": "20.00"}]), 422, "gift_card_code_required")
    assert balance(shop, card["code"]) == "10.00"  # refusals changed nothing


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # one engine: PostgreSQL runs test_stripe and the races
def test_cards_expire(shop: TestClient, clock: ManualClock, db: Database, settings: Any) -> None:
    card = issue(shop, expires_at=clock.now().replace(year=clock.now().year + 1).isoformat())
    clock.advance(days=400)
    problem(order(shop, [{"method": "gift_card", "amount": "20.00", "code": card["code"]}]), 409,
            "gift_card_expired")
    assert ok(shop.post("/api/v1/gift-cards/balance", json={"code": card["code"]}))["status"] == "expired"
    from omnihub.worker import Worker

    worker = Worker(settings, db, clock)
    try:
        assert worker.run_job(next(j for j in worker.jobs if j.name == "billing.expire_gift_cards")) == 1
    finally:
        worker.close()
    assert balance(shop, card["code"]) == "0.00"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # one engine: PostgreSQL runs test_stripe and the races
def test_refunds_go_back_to_each_tender_or_onto_a_new_card(shop: TestClient) -> None:
    card = issue(shop, "20.00")
    placed = ok(order(shop, [{"method": "gift_card", "amount": "20.00", "code": card["code"]},
                             {"method": "card", "amount": "40.00"}], quantity=3), 201)
    ok(shop.post(f"/api/v1/orders/{placed['id']}/shipments", json={"carrier": "SEUR", "tracking_number": "G1"}), 201)
    # One line to the original tenders: most recent first (the card terminal), one to a new gift card.
    ok(shop.post("/api/v1/returns", json={"order": placed["id"], "location": "wh", "condition": "resellable",
                                           "lines": [{"sku": "TEE-M", "quantity": 1}]}), 201)
    ok(shop.post("/api/v1/returns", json={"order": placed["id"], "location": "wh", "condition": "resellable",
                                           "lines": [{"sku": "TEE-M", "quantity": 1}], "refund_method": "gift_card"}),
       201)
    money = ok(shop.get("/api/v1/payments", params={"order": placed["id"]}))
    legs = [(r["method"], r["amount"], r["reference"]) for r in money["refunds"]]
    assert legs[0] == ("card", "20.00", legs[0][2])
    method, amount, reference = legs[1]
    assert (method, amount) == ("gift_card", "20.00") and reference.startswith("gift_card-new:GC-")
    assert balance(shop, reference.split(":", 1)[1]) == "20.00"  # the new card holds the refund
    ok(shop.post("/api/v1/returns", json={"order": placed["id"], "location": "wh", "condition": "resellable",
                                           "lines": [{"sku": "TEE-M", "quantity": 1}]}), 201)
    assert balance(shop, card["code"]) == "20.00"  # the last 20.00 went back onto the card it came from


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_one_card_cannot_be_spent_twice_at_once_on_postgres(shop: TestClient) -> None:
    card = issue(shop, "20.00")
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def spend() -> None:
        barrier.wait()
        results.append(order(shop, [{"method": "gift_card", "amount": "20.00", "code": card["code"]}]))

    threads = [threading.Thread(target=spend) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409, 409, 409, 409, 409], [r.text for r in results]
    assert balance(shop, card["code"]) == "0.00"
