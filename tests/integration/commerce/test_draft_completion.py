"""A draft completed in another channel is written like any new order: its pickup slot is booked and kept, and
it is promised what the same order placed directly would be promised (the draft path used to drift: no slot,
always two days). Another channel's key cannot take a draft over: the back office (admin) moves it."""

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


def _headers(db: Database, clock: ManualClock, role: str, **scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(db, clock, role, **scope)}"}


def _slot(api: TestClient, headers: dict[str, str], clock: ManualClock, capacity: int) -> dict[str, Any]:
    start = clock.now() + timedelta(hours=3)
    return ok(api.post("/api/v1/fulfilment/pickup-slots", headers=headers, json={
        "location": "mad", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(),
        "capacity": capacity}), 201)


def _booked(api: TestClient, slot_id: str) -> int:
    return next(s["booked"] for s in ok(api.get("/api/v1/fulfilment/pickup-slots", params={"location": "mad"}))
                if s["id"] == slot_id)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_draft_completed_for_pickup_in_another_channel_keeps_its_slot_and_the_order_promise(
        shop: TestClient, db: Database, clock: ManualClock) -> None:
    app, web = _headers(db, clock, "channel", channel="app"), _headers(db, clock, "channel", channel="web")
    slot = _slot(shop, _headers(db, clock, "associate", location="mad"), clock, capacity=2)
    pickup = {"type": "pickup", "location": "mad", "slot": slot["id"]}
    direct = ok(shop.post("/api/v1/orders", headers=web, json={
        "channel": "web", "customer": {"email": "luis@correo.es"}, "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": pickup, "payments": [{"method": "card", "amount": "20.00"}]}), 201)
    started = ok(shop.post("/api/v1/orders", headers=app, json={
        "draft": True, "channel": "app", "customer": {"email": "ana@correo.es"},
        "lines": [{"sku": "TEE-M", "quantity": 2}]}), 201)

    completed = ok(shop.post(f"/api/v1/orders/{started['id']}/submit", json={  # the back office moves it
        "channel": "web", "fulfilment": pickup, "payments": [{"method": "card", "amount": "40.00"}]}))

    assert direct["pickup"]["slot"] == slot["id"]
    assert completed["pickup"]["slot"] == slot["id"]
    assert (completed["pickup"]["location"], completed["pickup"]["status"]) == ("mad", "preparing")
    assert _booked(shop, slot["id"]) == 2
    # The store holds it all: ready in two hours, as for the order placed directly — not in two days.
    assert _at(direct["promised_at"]) - clock.now() == timedelta(hours=2)
    assert _at(completed["promised_at"]) - clock.now() == timedelta(hours=2)
    assert ok(shop.get(f"/api/v1/orders/{started['id']}"))["pickup"]["slot"] == slot["id"]


def test_a_draft_completed_into_a_full_slot_is_refused_and_stays_a_draft(
        shop: TestClient, db: Database, clock: ManualClock) -> None:
    app, web = _headers(db, clock, "channel", channel="app"), _headers(db, clock, "channel", channel="web")
    slot = _slot(shop, _headers(db, clock, "associate", location="mad"), clock, capacity=1)
    pickup = {"type": "pickup", "location": "mad", "slot": slot["id"]}
    ok(shop.post("/api/v1/orders", headers=web, json={
        "channel": "web", "customer": {"email": "luis@correo.es"}, "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": pickup, "payments": [{"method": "card", "amount": "20.00"}]}), 201)
    started = ok(shop.post("/api/v1/orders", headers=app, json={
        "draft": True, "channel": "app", "customer": {"email": "ana@correo.es"},
        "lines": [{"sku": "TEE-M", "quantity": 1}]}), 201)

    problem(shop.post(f"/api/v1/orders/{started['id']}/submit", json={
        "channel": "web", "fulfilment": pickup, "payments": [{"method": "card", "amount": "20.00"}]}),
        409, "slot_full")

    assert ok(shop.get(f"/api/v1/orders/{started['id']}"))["status"] == "draft"
    assert _booked(shop, slot["id"]) == 1
    assert ok(shop.get("/api/v1/stock/mad/TEE-M"))["reserved"] == 1


def test_a_draft_completed_at_the_counter_is_promised_now(shop: TestClient, db: Database, clock: ManualClock
                                                         ) -> None:
    app = _headers(db, clock, "channel", channel="app")
    started = ok(shop.post("/api/v1/orders", headers=app, json={
        "draft": True, "channel": "app", "customer": {"email": "ana@correo.es"},
        "lines": [{"sku": "TEE-M", "quantity": 1}]}), 201)

    completed = ok(shop.post(f"/api/v1/orders/{started['id']}/submit", json={
        "channel": "store", "fulfilment": {"type": "in_store", "location": "mad"},
        "payments": [{"method": "cash", "amount": "20.00"}]}))

    assert completed["status"] == "collected"
    assert _at(completed["promised_at"]) == clock.now()
